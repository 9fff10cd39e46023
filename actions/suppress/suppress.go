// Package suppress is the "suppress" action: it puts an address on hookd's
// own suppression list, which the email and mailjet_send actions honour by
// skipping it. The list is kept in the store and managed with GET
// /api/suppressions, DELETE /api/suppressions/{email} and `hookd
// suppressions`. Import it for its side effect; it registers itself with
// the actions package.
//
// Parameters:
//
//	reason  why, kept with the address (templates allowed), e.g.
//	        "{{ .data.error }}"; default "suppressed by rule RULE".
//	email   the address, default the event's email (templates allowed).
//	        An address longer than 254 bytes fails the rule on its event
//	        (see param.Recipient).
//
// Suppressing an address already on the list changes nothing (the first
// reason stays), so a retried job is harmless. The job's target is
// "suppress".
package suppress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
)

// Name is the name the action is registered under.
const Name = "suppress"

func init() { actions.Register(Name, kind{}) }

// Interface guards.
var (
	_ actions.Kind   = kind{}
	_ actions.Action = action{}
)

type kind struct{}

// Validate checks the parameters as written.
func (kind) Validate(ps map[string]any) error {
	if err := param.Known(ps, "reason", "email"); err != nil {
		return err
	}
	if _, _, err := param.Text(ps, "reason"); err != nil {
		return err
	}
	email, ok, err := param.Text(ps, "email")
	if err != nil {
		return err
	}
	if ok && !param.IsTemplate(email) {
		if _, err := mail.ParseAddress(email); err != nil {
			return param.Errorf("email", "%q is not an address: %v", email, err)
		}
	}
	return nil
}

var _ actions.Checker = kind{}

// Check checks that the address to suppress, the rendered email or else
// the event's, is one.
func (kind) Check(ps map[string]any, email string) error {
	addr, _, err := param.Text(ps, "email")
	if err != nil {
		return err
	}
	_, err = param.Recipient(addr, email)
	return err
}

// Target is "suppress": the list is one.
func (kind) Target(map[string]any) string { return Name }

func (kind) Action() actions.Action { return action{} }

type action struct{}

// Do puts the address on the list.
func (action) Do(ctx context.Context, call actions.Call) error {
	sup := call.Settings.Suppressions
	if sup == nil {
		return actions.Permanent(errors.New("suppress: no suppression list (no store)"))
	}
	// Every rule's suppress jobs share the target "suppress": what is
	// wrong with one job's address refuses that job alone.
	reason, _, err := param.Text(call.Params, "reason")
	if err != nil {
		return actions.Refused(fmt.Errorf("suppress: %w", err))
	}
	if reason == "" {
		reason = "suppressed by rule " + call.Rule
	}
	addr, _, err := param.Text(call.Params, "email")
	if err != nil {
		return actions.Refused(fmt.Errorf("suppress: %w", err))
	}
	if addr == "" {
		var e struct {
			Email string `json:"email"`
		}
		if err := json.Unmarshal(call.Event, &e); err != nil {
			return actions.Refused(fmt.Errorf("suppress: read the event: %w", err))
		}
		addr = e.Email
	}
	a, err := param.Recipient(addr, "")
	if err != nil {
		return actions.Refused(fmt.Errorf("suppress: %w", err))
	}
	if _, err := sup.Suppress(ctx, a.Address, reason, call.Rule, call.EventID); err != nil {
		return fmt.Errorf("suppress %s: %w", a.Address, err)
	}
	return nil
}
