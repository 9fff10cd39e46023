// Package postmark accepts Postmark's webhooks: one JSON record per
// request, told apart by RecordType (Delivery, Bounce, SpamComplaint, Open,
// Click, SubscriptionChange). Postmark signs nothing; a source proves itself
// with basic auth in the webhook URL (auth.basic) and/or a custom header
// Postmark is told to send (verify.header). It registers itself as the
// "postmark" provider; import it for that side effect.
package postmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/internal/jsonerr"
)

// Provider is the registered name and the Provider of every event.
const Provider = "postmark"

// Postmark is the Provider.
type Postmark struct{}

var (
	_ listener.Provider = Postmark{}
	_ listener.Adapter  = (*Adapter)(nil)
)

func init() { listener.Register(Provider, Postmark{}) }

// New implements listener.Provider: verify takes only header.
func (Postmark) New(src config.Source, _ listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("postmark", "header")
	if err := src.Map.Unused(); err != nil {
		errs = append(errs, err)
	}
	h, err := listener.NewHeaderSecret(v.Header)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Adapter{header: h}, nil
}

// Adapter verifies and decodes one source.
type Adapter struct {
	header *listener.HeaderSecret // nil: basic auth alone
}

// Verify implements listener.Adapter: the configured header, if any (basic
// auth is checked by the listener before).
func (a *Adapter) Verify(_ context.Context, r *http.Request, _ []byte) error {
	if a.header == nil {
		return nil
	}
	return a.header.Check(r)
}

// Decode implements listener.Adapter.
func (a *Adapter) Decode(_ http.Header, body []byte) ([]event.Event, error) { return Decode(body) }

type wire struct {
	RecordType        string          `json:"RecordType"`
	ID                json.RawMessage `json:"ID"`
	Type              string          `json:"Type"`
	MessageID         string          `json:"MessageID"`
	Recipient         string          `json:"Recipient"`
	Email             string          `json:"Email"`
	Tag               string          `json:"Tag"`
	DeliveredAt       string          `json:"DeliveredAt"`
	BouncedAt         string          `json:"BouncedAt"`
	ReceivedAt        string          `json:"ReceivedAt"`
	ChangedAt         string          `json:"ChangedAt"`
	OriginalLink      string          `json:"OriginalLink"`
	SuppressSending   bool            `json:"SuppressSending"`
	SuppressionReason string          `json:"SuppressionReason"`
	Origin            string          `json:"Origin"`
}

// timeLayouts are the ISO 8601 forms Postmark writes its times in: with Z
// or an offset, with or without a colon in it, with any number of
// fractional digits (it writes seven), and without a zone.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"}

// parseTime reads a Postmark time. Postmark documents its times as ISO
// 8601 without promising a zone; one without is read as UTC.
func parseTime(s string) (time.Time, error) {
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// number is a JSON number.
var number = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// bounceTypes gives the category and class of a Bounce record's Type.
var bounceTypes = map[string]struct {
	c event.Category
	b event.BounceClass
}{
	"HardBounce":          {event.Bounce, event.Hard},
	"BadEmailAddress":     {event.Bounce, event.Hard},
	"ManuallyDeactivated": {event.Bounce, event.Hard},
	"SoftBounce":          {event.Bounce, event.Soft},
	"Transient":           {event.Bounce, event.Soft},
	"DnsError":            {event.Bounce, event.Soft},
	"Blocked":             {event.Bounce, event.Soft},
	"DMARCPolicy":         {event.Bounce, event.Soft},
	"SpamComplaint":       {event.Complaint, ""},
	"Unsubscribe":         {event.Unsubscribe, ""},
}

// Decode turns one record into its event. Type is RecordType; Time the
// record's DeliveredAt, BouncedAt, ReceivedAt or ChangedAt (ISO 8601, UTC
// when it has no zone); Email Recipient
// (Email for bounces and complaints); MessageID MessageID; Campaign Tag.
// Categories: Delivery delivered, Open open, Click click, SpamComplaint
// complaint, Bounce by its Type (HardBounce, BadEmailAddress and
// ManuallyDeactivated hard; SoftBounce, Transient, DnsError, Blocked and
// DMARCPolicy soft; other types such as AutoResponder have none), and
// SubscriptionChange unsubscribe when the recipient suppressed sending
// (SuppressionReason ManualSuppression with Origin Recipient, as Postmark
// records an unsubscribe); a manual suppression by the account (Origin
// Customer) or by Postmark (Admin), and a reactivation, have no category.
// Postmark sends no event id except a bounce's ID, so ID is
// "postmark:bounce:ID" for bounces and complaints and otherwise a hash of
// the record type, the time to its fraction of a second, message,
// recipient, (for clicks) link and (for subscription changes) whether
// sending is suppressed.
func Decode(body []byte) ([]event.Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("decode postmark record: want a JSON object")
	}
	var w wire
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&w); err != nil {
		return nil, fmt.Errorf("decode postmark record: %w", jsonerr.Explain("", err))
	}
	if d.More() {
		return nil, errors.New("decode postmark record: data after the object")
	}
	if w.RecordType == "" {
		return nil, errors.New(`decode postmark record: "RecordType": missing or empty`)
	}
	e := event.Event{Provider: Provider, Type: w.RecordType, MessageID: w.MessageID, Campaign: w.Tag,
		Data: bytes.Clone(body)}
	at := w.ReceivedAt
	addr := w.Recipient
	switch w.RecordType {
	case "Delivery":
		e.Category, at = event.Delivered, w.DeliveredAt
	case "Open":
		e.Category = event.Open
	case "Click":
		e.Category = event.Click
	case "Bounce", "SpamComplaint":
		at, addr = w.BouncedAt, w.Email
		if bt, ok := bounceTypes[w.Type]; ok {
			e.Category, e.BounceClass = bt.c, bt.b
		}
		if w.RecordType == "SpamComplaint" {
			e.Category, e.BounceClass = event.Complaint, ""
		}
	case "SubscriptionChange":
		at = w.ChangedAt
		// Postmark records a recipient's unsubscribe as a manual
		// suppression from the recipient; the account's own (an import
		// through the API, say) and Postmark's are not the recipient's
		// choice, and rules that answer an unsubscribe must not run on them.
		if w.SuppressSending && w.SuppressionReason == "ManualSuppression" && w.Origin == "Recipient" {
			e.Category = event.Unsubscribe
		}
	}
	if at == "" {
		return nil, fmt.Errorf("decode postmark record: %s: missing time", w.RecordType)
	}
	t, err := parseTime(at)
	if err != nil {
		return nil, fmt.Errorf("decode postmark record: %s: time %q: not ISO 8601 (2006-01-02T15:04:05Z)", w.RecordType, at)
	}
	e.Time = t.UTC()
	e.Email, e.Domain = event.NormalizeEmail(addr)
	if e.Email == "" {
		return nil, fmt.Errorf("decode postmark record: %s: missing recipient", w.RecordType)
	}
	// A number, or a string holding one, kept as written: IDs may
	// exceed 2^53.
	id := strings.Trim(string(w.ID), `"`)
	if id == "null" {
		id = ""
	}
	if id != "" && !number.MatchString(id) {
		return nil, errors.New(`decode postmark record: "ID": want a number`)
	}
	if (w.RecordType == "Bounce" || w.RecordType == "SpamComplaint") && id != "" {
		e.ID = Provider + ":bounce:" + id
	} else {
		// Hash keeps only the whole second of the time: the fraction
		// tells apart two opens, two clicks of one link, or a
		// suppression and its reactivation (no message id) within one
		// second, and SuppressSending the last two if they share even
		// that. A retry carries the same record, so the same id.
		e.ID = event.Hash(Provider, e.Time, w.RecordType, w.MessageID, e.Email, w.OriginalLink,
			strconv.Itoa(e.Time.Nanosecond()), strconv.FormatBool(w.SuppressSending))
	}
	return []event.Event{e}, nil
}
