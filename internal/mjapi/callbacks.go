package mjapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookd/hookd/internal/redact"
)

// CallbackPath is the REST resource of event callback URLs.
const CallbackPath = "/v3/REST/eventcallbackurl"

// EventTypes are the event types a callback URL can be registered for,
// in Mailjet's order.
var EventTypes = []string{"sent", "open", "click", "bounce", "spam", "blocked", "unsub"}

// Callback is one eventcallbackurl record: where Mailjet posts one event
// type.
type Callback struct {
	ID        int64  `json:"ID,omitempty"`
	EventType string `json:"EventType"`
	URL       string `json:"Url"`
	// Version is 1 (one event per request) or 2 (grouped: arrays).
	Version int `json:"Version"`
	// IsBackup marks the URL Mailjet uses when the main one fails.
	IsBackup bool `json:"IsBackup"`
	// Status is "alive", or "dead" once Mailjet gave up on the URL.
	Status string `json:"Status,omitempty"`
}

// Callbacks lists the account's event callback URLs.
func (c *Client) Callbacks(ctx context.Context) ([]Callback, error) {
	var ans struct {
		Data []Callback `json:"Data"`
	}
	if _, err := c.Do(ctx, http.MethodGet, CallbackPath+"?Limit=1000", nil, &ans); err != nil {
		return nil, fmt.Errorf("list event callback URLs: %w", err)
	}
	return ans.Data, nil
}

// Change is what Register did for one event type.
type Change struct {
	EventType string
	// Action is "created", "updated", "recreated" or "unchanged".
	Action string
}

// Register makes sure that each of events is posted to u, with version
// (1 or 2) and as a backup URL or not, by an alive record. It reads the
// existing records and, per event type and backup flag:
//
//   - POSTs a missing record, Status "alive";
//   - PUTs Url, Version and Status "alive" to a record whose URL or
//     version differ;
//   - DELETEs a dead record whose URL is already u and POSTs a new one:
//     Mailjet's Event API guide says a suspended URL is reactivated by
//     updating it with a new URL ("To reactivate a suspended endpoint URL,
//     you need to update the URL with a new URL", dev.mailjet.com Event
//     API guide; github.com/mailjet/api-documentation
//     guides/_event-api.md), so a PUT of the same URL, even with Status
//     "alive", is not relied on to revive it. Status itself is a writable
//     property of eventcallbackurl (it has no read_only tag in the
//     resource types of Mailjet's Go library, mailjet-apiv3-go
//     resources/resources.go), so POST and PUT bodies carry it.
//
// Running it again changes nothing.
func (c *Client) Register(ctx context.Context, u string, events []string, version int, backup bool) ([]Change, error) {
	existing, err := c.Callbacks(ctx)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, ev := range events {
		i := slices.IndexFunc(existing, func(cb Callback) bool { return cb.EventType == ev && cb.IsBackup == backup })
		create := func() error {
			cb := Callback{EventType: ev, URL: u, Version: version, IsBackup: backup, Status: "alive"}
			if _, err := c.Do(ctx, http.MethodPost, CallbackPath, cb, nil); err != nil {
				return fmt.Errorf("register %s: %w", ev, err)
			}
			return nil
		}
		switch {
		case i < 0:
			if err := create(); err != nil {
				return changes, err
			}
			changes = append(changes, Change{ev, "created"})
		case existing[i].Status == "dead" && existing[i].URL == u:
			if _, err := c.Do(ctx, http.MethodDelete, fmt.Sprintf("%s/%d", CallbackPath, existing[i].ID), nil, nil); err != nil {
				return changes, fmt.Errorf("register %s: delete the dead record: %w", ev, err)
			}
			if err := create(); err != nil {
				return changes, err
			}
			changes = append(changes, Change{ev, "recreated"})
		case existing[i].URL != u || existing[i].Version != version || existing[i].Status != "alive":
			body := map[string]any{"Url": u, "Version": version, "Status": "alive"}
			if _, err := c.Do(ctx, http.MethodPut, fmt.Sprintf("%s/%d", CallbackPath, existing[i].ID), body, nil); err != nil {
				return changes, fmt.Errorf("register %s: %w", ev, err)
			}
			changes = append(changes, Change{ev, "updated"})
		default:
			changes = append(changes, Change{ev, "unchanged"})
		}
	}
	return changes, nil
}

// ParseEvents reads a --events value: "all", or a comma-separated list of
// EventTypes.
func ParseEvents(s string) ([]string, error) {
	if s == "all" {
		return slices.Clone(EventTypes), nil
	}
	var out []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if !slices.Contains(EventTypes, e) {
			return nil, fmt.Errorf("unknown event type %q (want all, or some of %s)", e, strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Redact returns u with the password of its userinfo, its query values and
// each path segment that may be a token (one of tokens, percent-encoded or
// not, or one that looks like a token, see redact.Path) replaced, for
// display: a callback URL carries the hook's credentials, as basic auth,
// as ?token=SECRET or as the last segment of its path
// (/hooks/mailjet/SECRET), and a URL registered before a token was
// rotated carries one that is no longer configured.
func Redact(u string, tokens ...string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(not a URL)"
	}
	if p.User != nil {
		if _, ok := p.User.Password(); ok {
			p.User = url.UserPassword(p.User.Username(), redact.Mask)
		}
	}
	escaped := redact.Path(p.EscapedPath(), tokens)
	if path, err := url.PathUnescape(escaped); err == nil && escaped != p.EscapedPath() {
		p.Path, p.RawPath = path, escaped
	}
	if p.RawQuery != "" {
		q := p.Query()
		for k := range q {
			q[k] = []string{redact.Mask}
		}
		p.RawQuery = q.Encode()
	}
	return p.String()
}
