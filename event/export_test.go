package event

// UnmarshalPlain lets tests see which events Unmarshal reads without
// encoding/json.
var UnmarshalPlain = unmarshalPlain
