package sqlite

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/jsonenc"
)

// appendMetadata appends md to dst as a JSON object, leaving out a
// non-empty eventlog.DedupKey: that one is in the dedup_key column, and
// decodeMetadata puts it back. It leaves out eventlog.OffsetKey too, which
// a message has when a consumer publishes one it received: the offset is
// given on delivery, never stored. It exists so that the ingest path encodes metadata
// into one reused buffer instead of allocating through encoding/json for
// every message; the output is what json.Marshal would produce up to key
// order. It appends nothing when nothing is left to write, as for hookd's
// events, whose only metadata is their key.
func appendMetadata(dst []byte, md message.Metadata) []byte {
	first := true
	for k, v := range md {
		if k == eventlog.DedupKey && v != "" || k == eventlog.OffsetKey {
			continue
		}
		if first {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
		first = false
		dst = jsonenc.AppendString(dst, k)
		dst = append(dst, ':')
		dst = jsonenc.AppendString(dst, v)
	}
	if first {
		return dst
	}
	return append(dst, '}')
}

// decodeMetadata decodes the metadata column, NULL as an empty map, and sets
// eventlog.DedupKey to the dedup_key column's value when that is not NULL.
// Rows written before appendMetadata left the key out have it in both, the
// same.
func decodeMetadata(b, dedupKey []byte) (message.Metadata, error) {
	md := make(message.Metadata)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &md); err != nil {
			return nil, fmt.Errorf("decode metadata: %w", err)
		}
	}
	if dedupKey != nil {
		md[eventlog.DedupKey] = string(dedupKey)
	}
	return md, nil
}
