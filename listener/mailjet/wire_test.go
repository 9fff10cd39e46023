package mailjet

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWireFields checks what the fast path of readWire relies on and the
// compiler cannot: wireFields counts every field of wire, and fields()
// lists them in their order, so wireNames (read from the tags by index)
// names the field that readWire sets.
func TestWireFields(t *testing.T) {
	typ := reflect.TypeFor[wire]()
	if typ.NumField() != wireFields {
		t.Fatalf("wire has %d fields, wireFields says %d", typ.NumField(), wireFields)
	}
	var w wire
	v := reflect.ValueOf(&w).Elem()
	for i, f := range w.fields() {
		if want := v.Field(i).Addr().Interface().(*json.RawMessage); f != want {
			t.Errorf("fields()[%d] is not wire.%s", i, typ.Field(i).Name)
		}
	}
}
