package actions

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Settings are what hookd's configuration gives every action: the
// connections that rules do not repeat (the SMTP server, the Mailjet API
// keys) and the suppression list. The Runner passes its
// RunnerConfig.Settings to every Call; a kind that needs a part of them
// says so through Requirer, so that a rule using it fails to load when the
// configuration lacks it.
type Settings struct {
	// SMTP is the mail server; nil when the configuration has none.
	SMTP *SMTP
	// Mailjet holds the Mailjet API keys; nil when the configuration has
	// none.
	Mailjet *Mailjet
	// Suppressions is hookd's own suppression list; nil when there is no
	// store (hookd check, hookd test).
	Suppressions Suppressions
}

// SMTP is a mail server to send through (see config.SMTP).
type SMTP struct {
	Host string
	Port int
	// TLS is "none", "starttls" or "tls".
	TLS string
	// Username and Password are for SMTP AUTH when Username is set. The
	// password must never appear in an error or a log line.
	Username, Password string
	// From is the sender, e.g. "Shop <shop@example.com>".
	From string
	// CAFile is a PEM file of the certificates that the server's
	// certificate must chain to, instead of the system's roots; "" trusts
	// the system's roots.
	CAFile string
}

// Mailjet is the Mailjet API and its keys (see config.Mailjet).
type Mailjet struct {
	// APIURL is the base URL, e.g. "https://api.mailjet.com".
	APIURL string
	// APIKey and APISecret authenticate as basic auth. The secret must
	// never appear in an error or a log line.
	APIKey, APISecret string
}

// Suppressions is hookd's suppression list: addresses that email and
// mailjet_send skip. The store implements it. Addresses are compared
// lower-cased. Methods are safe for concurrent use.
type Suppressions interface {
	// Suppressed reports whether email is on the list.
	Suppressed(ctx context.Context, email string) (bool, error)
	// Suppress puts email on the list with why it is there and which rule
	// and event put it there. Suppressing an address already on the list
	// changes nothing and is no error, so that a retried job is harmless.
	// added reports whether this call put it there.
	Suppress(ctx context.Context, email, reason, rule, eventID string) (added bool, err error)
}

// Requirer is implemented by a Kind whose actions need part of Settings.
// Require returns an error, naming the configuration key to add, when s
// lacks it.
type Requirer interface {
	Require(s Settings) error
}

// Validator returns a hook for rules.Options.Action: Validate, and for a
// kind that is a Requirer, its Require with s, so that a rule using an
// action the configuration cannot run fails to load.
func Validator(s Settings) func(name string, params map[string]any) error {
	return func(name string, params map[string]any) error {
		k, err := Lookup(name)
		if err != nil {
			return err
		}
		if err := k.Validate(params); err != nil {
			return err
		}
		if r, ok := k.(Requirer); ok {
			return r.Require(s)
		}
		return nil
	}
}

// skipped marks an action that decided not to act (a suppressed
// recipient): the job is done, with the reason recorded on the attempt.
type skipped struct{ reason string }

func (s skipped) Error() string { return "skipped: " + s.reason }

// Skip returns the error an Action returns when it chose not to act, for
// reason (e.g. "recipient a@example.com is suppressed"). The Runner records
// the job Done, not failed, with "skipped: reason" as the attempt's note.
func Skip(format string, args ...any) error {
	return skipped{fmt.Sprintf(format, args...)}
}

// SkipNote returns the note a Skip error records, and whether err is one.
func SkipNote(err error) (string, bool) {
	var s skipped
	if errors.As(err, &s) {
		return s.Error(), true
	}
	return "", false
}

// Bodies is implemented by a Kind whose parameters include message bodies
// (the email action's text and html): rules compile such a parameter from a
// template file or as an inline template, HTML ones with html/template.
type Bodies interface {
	// Bodies maps each body parameter to whether it is HTML.
	Bodies() map[string]bool
}

// Body reports whether param is a body parameter of the kind registered
// as typ, and whether HTML: the hook for rules.Options.Body.
func Body(typ, param string) (body, html bool) {
	k, err := Lookup(typ)
	if err != nil {
		return false, false
	}
	b, ok := k.(Bodies)
	if !ok {
		return false, false
	}
	html, body = b.Bodies()[param]
	return body, html
}

// JSONTexts is implemented by a Kind with parameters whose text is JSON
// (the http action's body when its content type is JSON): rules escape
// what a template in such a parameter prints for where it stands in the
// JSON, inside a string or outside one, so that event data can neither
// break the JSON nor add to it.
type JSONTexts interface {
	// JSONTexts lists the top-level parameters whose text is JSON, given
	// the parameters as a rule writes them, which Validate accepted.
	JSONTexts(params map[string]any) []string
}

// JSONText returns the parameters of an action of the kind registered as
// typ, with params as written, whose text is JSON: the hook for
// rules.Options.JSON.
func JSONText(typ string, params map[string]any) []string {
	k, err := Lookup(typ)
	if err != nil {
		return nil
	}
	j, ok := k.(JSONTexts)
	if !ok {
		return nil
	}
	return j.JSONTexts(params)
}

// Arguments is implemented by a Kind that runs a program with a list of
// arguments rendered from the event (exec's args): rules warn of an
// argument that may start with what the event holds before any "--"
// argument, since the program would take a value starting with - as an
// option.
type Arguments interface {
	// Arguments names the top-level parameter that is the program's
	// argument list with the parameters params (as written), or "" when
	// none of them can be an option (a shell's operands after -c SCRIPT).
	Arguments(params map[string]any) string
}

// ArgumentsOf returns the parameter of the kind registered as typ that is
// a program's argument list with the parameters params (as written), or ""
// when it has none: the hook for rules.Options.Args.
func ArgumentsOf(typ string, params map[string]any) string {
	k, err := Lookup(typ)
	if err != nil {
		return ""
	}
	a, ok := k.(Arguments)
	if !ok {
		return ""
	}
	return a.Arguments(params)
}

// Unsuppressed returns the recipients of rcpts that sup does not list,
// and the lower-cased addresses of those it does; with a nil sup, all of
// them. When every recipient is listed, err is a Skip: the job is done
// without acting. Another error is sup's, for a retry.
func Unsuppressed(ctx context.Context, sup Suppressions, rcpts []*mail.Address) (kept []*mail.Address, skipped []string, err error) {
	for _, a := range rcpts {
		if sup != nil {
			suppressed, err := sup.Suppressed(ctx, a.Address)
			if err != nil {
				return nil, nil, err
			}
			if suppressed {
				skipped = append(skipped, strings.ToLower(a.Address))
				continue
			}
		}
		kept = append(kept, a)
	}
	if len(kept) == 0 && len(skipped) > 0 {
		return nil, skipped, Skip("recipient %s is suppressed", strings.Join(skipped, ", "))
	}
	return kept, skipped, nil
}

// Checker is implemented by a Kind that can tell from a job's rendered
// parameters, and the event's recipient (the default address of actions
// that act on one), that every attempt would fail: an address that is not
// one, a body that is not JSON, a header with a line break. Such a job
// would be dead-lettered on its first attempt and suspend a target that
// the jobs of other events share; Check lets the rules engine refuse to
// make it instead, failing the rule on that event as a template error
// does, so that a fixed rule can still be replayed over it.
type Checker interface {
	Check(params map[string]any, email string) error
}

// WrittenChecker is a Checker that also compares the rendered parameters
// with those the rule wrote (after ${VAR} expansion, as Validate accepted
// them): email's and mailjet_send's to, where each template of the list
// written may render one recipient at most.
type WrittenChecker interface {
	Checker
	CheckWritten(written, params map[string]any, email string) error
}

// CheckerOf is the hook for rules.Options.Check: the check of an action
// of the kind named name whose parameters, as the rule wrote them, are
// written: CheckWritten when the kind is a WrittenChecker, Check when it
// is a Checker, else nil.
func CheckerOf(name string, written map[string]any) func(params map[string]any, email string) error {
	k, err := Lookup(name)
	if err != nil {
		return nil
	}
	if c, ok := k.(WrittenChecker); ok {
		return func(params map[string]any, email string) error { return c.CheckWritten(written, params, email) }
	}
	if c, ok := k.(Checker); ok {
		return c.Check
	}
	return nil
}
