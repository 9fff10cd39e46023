package event

import "time"

// Quarantined is a request body that an authenticated source sent but that
// could not be decoded. The listener appends it to the log's quarantine topic
// (as JSON) before it answers 400, so the body can be inspected and replayed
// once the cause is fixed.
type Quarantined struct {
	// ID is unique per quarantined request.
	ID string `json:"id"`
	// Source is the configured source name the body was sent to.
	Source string `json:"source"`
	// Received is when hookd received the request.
	Received time.Time `json:"received"`
	// Error says why the body could not be decoded.
	Error string `json:"error"`
	// ContentType is the request's Content-Type header.
	ContentType string `json:"content_type"`
	// Body is the raw request body, byte for byte (base64 in JSON).
	Body []byte `json:"body"`
}
