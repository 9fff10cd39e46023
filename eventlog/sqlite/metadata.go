package sqlite

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/internal/jsonenc"
)

// appendMetadata appends md to dst as a JSON object. It exists so that the
// ingest path encodes metadata into one reused buffer instead of allocating
// through encoding/json for every message; the output is what json.Marshal
// would produce up to key order. An empty md appends nothing.
func appendMetadata(dst []byte, md message.Metadata) []byte {
	if len(md) == 0 {
		return dst
	}
	dst = append(dst, '{')
	first := true
	for k, v := range md {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = jsonenc.AppendString(dst, k)
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, v)
	}
	return append(dst, '}')
}

// decodeMetadata decodes the metadata column; NULL decodes to an empty map.
func decodeMetadata(b []byte) (message.Metadata, error) {
	md := make(message.Metadata)
	if len(b) == 0 {
		return md, nil
	}
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	return md, nil
}
