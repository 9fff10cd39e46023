package api

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/store"
)

// quarantined is the JSON of one quarantined body.
type quarantined struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Received    time.Time `json:"received"`
	Error       string    `json:"error"`
	ContentType string    `json:"content_type"`
	// Body is the body as text. When the body is not valid UTF-8, each run
	// of invalid bytes shows as U+FFFD here and BodyBase64 holds the exact
	// bytes.
	Body       string `json:"body"`
	BodyBase64 string `json:"body_base64,omitempty"`
}

// quarantine serves GET /quarantine: the bodies that authenticated sources
// sent but that could not be decoded, newest first by the time hookd
// received them.
//
// Parameters, all optional: source, the exact configured source name;
// limit, the page size, 100 by default and at most 1000; cursor, the next
// of the previous page.
//
// The body is {"quarantine": [{"id", "source", "received", "error",
// "content_type", "body"}], "next": "CURSOR"}, next empty on the last page.
// body is the raw body as text, which is how webhook bodies (JSON, form
// data) are read; a body that is not valid UTF-8 also has "body_base64"
// with its exact bytes, and each run of invalid bytes in "body" shows as
// U+FFFD.
//
// As with events, a page also ends before the body that would take the
// page's bodies past store.PageBytes (4 MiB), though it always holds one:
// a page may hold fewer than limit bodies while more follow, and a client
// follows next until it is empty.
func (h *handler) quarantine(c echo.Context) error {
	p, err := params(c, "source", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.QuarantineQuery{Source: p["source"], Cursor: p["cursor"]}
	if q.Limit, err = parseLimit(p["limit"]); err != nil {
		return err
	}
	page, err := h.st.Quarantine(c.Request().Context(), q)
	if err != nil {
		return err
	}
	// Each body is turned into its JSON form only as it is written, so
	// that the page is not held twice.
	return writeList(c, h.logger, "quarantine", len(page.Items), func(i int) any {
		q := page.Items[i]
		j := quarantined{
			ID: q.ID, Source: q.Source, Received: q.Received, Error: q.Error, ContentType: q.ContentType,
			Body: string(q.Body),
		}
		if !utf8.Valid(q.Body) {
			j.Body = strings.ToValidUTF8(j.Body, "\uFFFD")
			j.BodyBase64 = base64.StdEncoding.EncodeToString(q.Body)
		}
		return j
	}, page.Next)
}
