// Package mailjetunsub is the "mailjet_unsubscribe" action: it takes an
// address off a Mailjet contact list, or excludes it from all campaigns,
// through Mailjet's API with the keys of the configuration's mailjet
// section. Import it for its side effect; it registers itself with the
// actions package.
//
// Parameters, one of two forms:
//
//	list_id  a contact list's id: POST /v3/REST/contactslist/{list_id}/managecontact
//	         with {"Email": ..., "Action": action}.
//	action   unsub (default: the contact stays on the list, unsubscribed)
//	         or remove (the contact leaves the list).
//
//	exclude  true: PUT /v3/REST/contact/{email} with
//	         {"IsExcludedFromCampaigns": true}; when Mailjet has no such
//	         contact (404), POST /v3/REST/contact with {"Email": ...,
//	         "IsExcludedFromCampaigns": true}, which creates it excluded.
//
//	email    the address, default the event's email (templates allowed).
//	timeout  how long to wait for each of Mailjet's answers, default 30s.
//
// Both requests set a state, so running one twice has the effect of
// running it once. 401 and 403 (bad keys), 404 (no such list) and other
// 4xx answers except 408 and 429 are permanent and dead-letter the job at
// once; 408, 429, 5xx and no answer are retried, no sooner than the
// answer's Retry-After asks (see actions.RetryAfter). Bad keys and a list
// that is not there (401, 403, 404, 405, 407, 410), and no keys in the
// configuration, also suspend the target; any other 4xx (an address
// Mailjet refuses) and an address that is not one refuse this job alone
// (actions.Refused), so that one event cannot stop every other
// event's unsubscription. The job's target is "mailjet_unsubscribe list
// ID" or "mailjet_unsubscribe exclude". Errors never hold the API secret.
package mailjetunsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
	"github.com/hookd/hookd/internal/mjapi"
)

// Name is the name the action is registered under.
const Name = "mailjet_unsubscribe"

func init() { actions.Register(Name, kind{}) }

// Interface guards.
var (
	_ actions.Kind     = kind{}
	_ actions.Requirer = kind{}
	_ actions.Action   = action{}
)

type params struct {
	listID  int64
	action  string
	exclude bool
	email   string
	timeout time.Duration
}

func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "list_id", "action", "exclude", "email", "timeout"); err != nil {
		return nil, err
	}
	var p params
	id, hasList, err := param.Literal(ps, "list_id", "the list is fixed in the rule")
	if err != nil {
		return nil, err
	}
	if hasList {
		if p.listID, err = strconv.ParseInt(id, 10, 64); err != nil || p.listID <= 0 {
			return nil, param.Errorf("list_id", "want a positive number, got %q", id)
		}
	}
	act, hasAction, err := param.Literal(ps, "action", "the action is fixed in the rule")
	if err != nil {
		return nil, err
	}
	switch {
	case !hasAction:
		p.action = "unsub"
	case act == "unsub" || act == "remove":
		p.action = act
	default:
		return nil, param.Errorf("action", "want unsub or remove, got %q", act)
	}
	if v, ok := ps["exclude"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool || !b {
			return nil, param.Errorf("exclude", "want true (or leave it out and give list_id)")
		}
		p.exclude = true
	}
	switch {
	case hasList && p.exclude:
		return nil, param.Errorf("exclude", "give either list_id or exclude, not both")
	case !hasList && !p.exclude:
		return nil, param.Errorf("list_id", "want list_id (with action unsub or remove) or exclude: true")
	case p.exclude && hasAction:
		return nil, param.Errorf("action", "only with list_id")
	}
	if p.email, _, err = param.Text(ps, "email"); err != nil {
		return nil, err
	}
	if p.timeout, err = param.Duration(ps, "timeout", mjapi.DefaultTimeout); err != nil {
		return nil, err
	}
	return &p, nil
}

type kind struct{}

// Validate checks the parameters as written.
func (kind) Validate(ps map[string]any) error {
	p, err := parse(ps)
	if err != nil {
		return err
	}
	if p.email != "" && !param.IsTemplate(p.email) {
		if _, err := mail.ParseAddress(p.email); err != nil {
			return param.Errorf("email", "%q is not an address: %v", p.email, err)
		}
	}
	return nil
}

var _ actions.Checker = kind{}

// Check checks that the address to unsubscribe, the rendered email or
// else the event's, is one.
func (kind) Check(ps map[string]any, email string) error {
	p, err := parse(ps)
	if err != nil {
		return err
	}
	_, err = param.Recipient(p.email, email)
	return err
}

// Require wants mailjet API keys.
func (kind) Require(s actions.Settings) error {
	if s.Mailjet == nil {
		return errors.New("the mailjet_unsubscribe action needs mailjet (api_key, api_secret) in the configuration")
	}
	return nil
}

// Target is "mailjet_unsubscribe list ID" or "mailjet_unsubscribe exclude".
func (kind) Target(ps map[string]any) string {
	p, err := parse(ps)
	switch {
	case err != nil:
		return Name + " (invalid parameters)"
	case p.exclude:
		return Name + " exclude"
	}
	return fmt.Sprintf("%s list %d", Name, p.listID)
}

func (kind) Action() actions.Action { return action{} }

type action struct{}

// Do makes the request.
func (action) Do(ctx context.Context, call actions.Call) error {
	mj := call.Settings.Mailjet
	if mj == nil {
		return actions.Permanent(errors.New("mailjet_unsubscribe: no mailjet keys in the configuration"))
	}
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("mailjet_unsubscribe: %w", err))
	}
	addr := p.email
	if addr == "" {
		var e struct {
			Email string `json:"email"`
		}
		if err := json.Unmarshal(call.Event, &e); err != nil {
			return actions.Refused(fmt.Errorf("mailjet_unsubscribe: read the event: %w", err))
		}
		addr = e.Email
	}
	a, err := param.Recipient(addr, "")
	if err != nil {
		return actions.Refused(fmt.Errorf("mailjet_unsubscribe: %w", err))
	}
	email := strings.ToLower(a.Address)
	client := &mjapi.Client{BaseURL: mj.APIURL, Key: mj.APIKey, Secret: mj.APISecret, Timeout: p.timeout}
	if p.exclude {
		err = exclude(ctx, client, email)
	} else {
		_, err = client.Do(ctx, http.MethodPost, fmt.Sprintf("/v3/REST/contactslist/%d/managecontact", p.listID),
			map[string]any{"Email": email, "Action": p.action}, nil)
	}
	if err != nil {
		err = fmt.Errorf("mailjet_unsubscribe %s: %w", email, err)
		return mjapi.ActionError(err)
	}
	return nil
}

// exclude excludes email from campaigns: it updates the contact, or
// creates it excluded when Mailjet has none of that address (404), as
// when the event came from another provider's source or the contact was
// deleted. A 404 left as it is would dead-letter the job and suspend the
// target that every exclusion shares; the contact created excluded is
// not mailed by a campaign that adds it later.
func exclude(ctx context.Context, client *mjapi.Client, email string) error {
	path := "/v3/REST/contact/" + url.PathEscape(email)
	body := map[string]any{"IsExcludedFromCampaigns": true}
	_, err := client.Do(ctx, http.MethodPut, path, body, nil)
	var se *mjapi.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		return err
	}
	_, err = client.Do(ctx, http.MethodPost, "/v3/REST/contact",
		map[string]any{"Email": email, "IsExcludedFromCampaigns": true}, nil)
	if errors.As(err, &se) && se.Code == http.StatusBadRequest {
		// Mailjet refuses to create a contact that exists: it came to
		// exist since the 404 (a send to the address, another job).
		_, err = client.Do(ctx, http.MethodPut, path, body, nil)
	}
	return err
}
