// Package mailjetsend is the "mailjet_send" action: it sends one message
// through Mailjet's Send API v3.1 (POST /v3.1/send) with the API keys of
// the configuration's mailjet section. Import it for its side effect; it
// registers itself with the actions package.
//
// Parameters:
//
//	to                 required; one address or a comma-separated list
//	                   (templates allowed, e.g. "{{ .email }}").
//	subject            the subject (templates allowed).
//	text, html         the TextPart and HTMLPart: template files or inline
//	                   templates, html escaped with html/template (as for
//	                   the email action).
//	template_id        a Mailjet template's id, instead of text and html.
//	template_language  whether Mailjet renders the template's variables
//	                   (TemplateLanguage), default true with template_id.
//	variables          a mapping sent as Variables (values templated).
//	from               the sender, default smtp.from of the configuration;
//	                   without either, the template's sender.
//	timeout            how long to wait for Mailjet's answer, default 30s.
//
// Every message carries CustomID "hookd:" followed by the job's key
// (rule/action-index/event-id or once key), or by "sha256:" and the first
// 32 hex digits of the key's SHA-256 when that would be longer than
// MaxCustomID, and EventPayload, a JSON object {"rule","event_id","key"}
// with the whole key: Mailjet returns both in the events of the message,
// so that its sent, open or bounce traces back to the rule and the event
// that sent it.
//
// Suppressed recipients are left out; when all of them are, nothing is
// sent and the job is done with a "skipped" note. An answer is checked per
// message, not only by its HTTP code: a message whose Status is "error" in
// a 200 answer fails the job. 401 and 403 (bad keys), and other 4xx except
// 408 and 429, are permanent and dead-letter the job at once, and 401,
// 403, 404, 405, 407 and 410 also suspend the target, as no keys in the
// configuration do, where another 4xx (an address or a message Mailjet
// refuses) refuses this job alone (actions.Refused); 408, 429,
// 5xx and no answer are retried by the job's policy, no sooner than the
// answer's Retry-After asks (see actions.RetryAfter); so is a per-message
// error unless all its errors have a 4xx StatusCode other than 408 and
// 429. The job's target is "mailjet_send ADDRESS" (the first recipient).
// Errors never hold the API secret.
package mailjetsend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
	"github.com/hookd/hookd/internal/mjapi"
)

// Name is the name the action is registered under.
const Name = "mailjet_send"

// SendPath is the Send API v3.1 endpoint.
const SendPath = "/v3.1/send"

// MaxCustomID is the longest CustomID, in bytes, that messages carry.
// Mailjet's guides and API reference give CustomID no length; the limit
// is the one PostHog met in production, where Mailjet refused sends whose
// CustomID was longer than 64 characters (github.com/PostHog/posthog pull
// request 38506, "customId is limited to 64 characters", September 2025).
// No limit on EventPayload was found, so it carries the whole key.
const MaxCustomID = 64

// CustomID returns the CustomID of the messages of the job with key:
// "hookd:" and the key when that fits in MaxCustomID bytes, else
// "hookd:sha256:" and the first 32 hex digits of the key's SHA-256, the
// same for every attempt of the job.
func CustomID(key string) string {
	if id := "hookd:" + key; len(id) <= MaxCustomID {
		return id
	}
	sum := sha256.Sum256([]byte(key))
	return "hookd:sha256:" + hex.EncodeToString(sum[:16])
}

func init() { actions.Register(Name, kind{}) }

// Interface guards.
var (
	_ actions.Kind     = kind{}
	_ actions.Requirer = kind{}
	_ actions.Bodies   = kind{}
	_ actions.Action   = action{}
)

type params struct {
	to                  []string
	subject, text, html string
	hasText, hasHTML    bool
	templateID          int64
	templateLanguage    bool
	variables           map[string]any
	from                string
	hasSubject, hasTmpl bool
	hasTemplateLanguage bool
	timeout             time.Duration
}

func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "to", "subject", "text", "html", "template_id", "template_language", "variables", "from", "timeout"); err != nil {
		return nil, err
	}
	var p params
	to, ok, err := param.Text(ps, "to")
	if err != nil {
		return nil, err
	}
	if !ok || strings.TrimSpace(to) == "" {
		return nil, param.Errorf("to", "required")
	}
	for _, s := range param.SplitAddresses(to) {
		if s != "" {
			p.to = append(p.to, s)
		}
	}
	if p.subject, p.hasSubject, err = param.Text(ps, "subject"); err != nil {
		return nil, err
	}
	if p.text, p.hasText, err = param.Text(ps, "text"); err != nil {
		return nil, err
	}
	if p.html, p.hasHTML, err = param.Text(ps, "html"); err != nil {
		return nil, err
	}
	if id, ok, err := param.Literal(ps, "template_id", "a template is fixed in the rule"); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return nil, param.Errorf("template_id", "want a positive number, got %q", id)
		}
		p.templateID, p.hasTmpl = n, true
	}
	if v, ok := ps["template_language"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return nil, param.Errorf("template_language", "want true or false")
		}
		p.templateLanguage, p.hasTemplateLanguage = b, true
	} else {
		p.templateLanguage = true
	}
	if p.variables, err = param.Map(ps, "variables"); err != nil {
		return nil, err
	}
	if p.from, _, err = param.Text(ps, "from"); err != nil {
		return nil, err
	}
	if p.timeout, err = param.Duration(ps, "timeout", mjapi.DefaultTimeout); err != nil {
		return nil, err
	}
	switch {
	case p.hasTmpl && (p.hasText || p.hasHTML):
		return nil, param.Errorf("template_id", "give either template_id or text/html, not both")
	case !p.hasTmpl && !p.hasText && !p.hasHTML:
		return nil, param.Errorf("text", "want text, html or template_id")
	case !p.hasTmpl && !p.hasSubject:
		return nil, param.Errorf("subject", "required without template_id")
	case p.variables != nil && !p.hasTmpl:
		return nil, param.Errorf("variables", "only with template_id")
	case p.hasTemplateLanguage && !p.hasTmpl:
		return nil, param.Errorf("template_language", "only with template_id")
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
	return param.Addresses(p.to, p.from)
}

var _ actions.WrittenChecker = kind{}

// Check checks the rendered addresses as Validate checks those written,
// and refuses an event's email that is more than one address
// (param.OneRecipient).
func (k kind) Check(ps map[string]any, email string) error {
	if err := k.Validate(ps); err != nil {
		return err
	}
	to, _, _ := param.Text(ps, "to")
	return param.OneRecipient(to, email)
}

// CheckWritten checks as Check does, and refuses a rendered to of more
// recipients than the list written has items (param.Recipients): a
// template, of the event's data say, renders one address at most.
func (k kind) CheckWritten(written, ps map[string]any, email string) error {
	if err := param.Recipients(written, ps, email); err != nil {
		return err
	}
	return k.Check(ps, email)
}

// Require wants mailjet API keys.
func (kind) Require(s actions.Settings) error {
	if s.Mailjet == nil {
		return errors.New("the mailjet_send action needs mailjet (api_key, api_secret) in the configuration")
	}
	return nil
}

// Bodies names text and html.
func (kind) Bodies() map[string]bool { return map[string]bool{"text": false, "html": true} }

// Target is "mailjet_send ADDRESS", the first recipient.
func (kind) Target(ps map[string]any) string {
	p, err := parse(ps)
	if err != nil {
		return Name + " (invalid parameters)"
	}
	a, err := mail.ParseAddress(p.to[0])
	if err != nil {
		return Name + " (invalid parameters)"
	}
	return Name + " " + strings.ToLower(a.Address)
}

func (kind) Action() actions.Action { return action{} }

// accepted logs a 2xx answer to a send that could not be read as one: the
// job is done, as a retry could send the message twice.
func accepted(call actions.Call, err error) {
	if call.Logger != nil {
		call.Logger.Warn("mailjet_send: Mailjet accepted the message, but its answer could not be read; the message is not sent again",
			"rule", call.Rule, "key", call.Key, "err", err)
	}
}

type action struct{}

// Contact is a Send API address.
type Contact struct {
	Email string `json:"Email"`
	Name  string `json:"Name,omitempty"`
}

// Message is one Send API v3.1 message, as hookd sends it.
type Message struct {
	From             *Contact       `json:"From,omitempty"`
	To               []Contact      `json:"To"`
	Subject          string         `json:"Subject,omitempty"`
	TextPart         string         `json:"TextPart,omitempty"`
	HTMLPart         string         `json:"HTMLPart,omitempty"`
	TemplateID       int64          `json:"TemplateID,omitempty"`
	TemplateLanguage bool           `json:"TemplateLanguage,omitempty"`
	Variables        map[string]any `json:"Variables,omitempty"`
	CustomID         string         `json:"CustomID"`
	EventPayload     string         `json:"EventPayload"`
}

// answer is the Send API's answer.
type answer struct {
	Messages []struct {
		Status string `json:"Status"`
		Errors []struct {
			ErrorIdentifier string `json:"ErrorIdentifier"`
			ErrorCode       string `json:"ErrorCode"`
			StatusCode      int    `json:"StatusCode"`
			ErrorMessage    string `json:"ErrorMessage"`
			ErrorRelatedTo  []any  `json:"ErrorRelatedTo"`
		} `json:"Errors"`
	} `json:"Messages"`
}

// Do sends the message.
func (action) Do(ctx context.Context, call actions.Call) error {
	mj := call.Settings.Mailjet
	if mj == nil {
		return actions.Permanent(errors.New("mailjet_send: no mailjet keys in the configuration"))
	}
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("mailjet_send: %w", err))
	}
	msg := Message{Subject: p.subject, TextPart: p.text, HTMLPart: p.html, Variables: p.variables}
	if p.hasTmpl {
		msg.TemplateID, msg.TemplateLanguage = p.templateID, p.templateLanguage
	}
	rcpts := make([]*mail.Address, len(p.to))
	for i, s := range p.to {
		if rcpts[i], err = mail.ParseAddress(s); err != nil {
			return actions.Refused(fmt.Errorf("mailjet_send: to: %q is not an address: %w", s, err))
		}
	}
	kept, _, err := actions.Unsuppressed(ctx, call.Settings.Suppressions, rcpts)
	if err != nil {
		if _, skip := actions.SkipNote(err); skip {
			return err
		}
		return fmt.Errorf("mailjet_send: %w", err)
	}
	for _, a := range kept {
		msg.To = append(msg.To, Contact{Email: a.Address, Name: a.Name})
	}
	from := p.from
	if from == "" && call.Settings.SMTP != nil {
		from = call.Settings.SMTP.From
	}
	if from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil {
			return actions.Refused(fmt.Errorf("mailjet_send: from: %w", err))
		}
		msg.From = &Contact{Email: a.Address, Name: a.Name}
	}
	msg.CustomID = CustomID(call.Key)
	payload, _ := json.Marshal(map[string]string{"rule": call.Rule, "event_id": call.EventID, "key": call.Key})
	msg.EventPayload = string(payload)

	client := &mjapi.Client{BaseURL: mj.APIURL, Key: mj.APIKey, Secret: mj.APISecret, Timeout: p.timeout}
	var ans answer
	_, err = client.Do(ctx, http.MethodPost, SendPath, map[string]any{"Messages": []Message{msg}}, &ans)
	var unread *mjapi.AnswerError
	switch {
	case errors.As(err, &unread):
		// Mailjet took the message (2xx): sending it again could send it
		// twice.
		accepted(call, err)
		return nil
	case err != nil:
		err = fmt.Errorf("mailjet_send: %w", err)
		return mjapi.ActionError(err)
	case len(ans.Messages) != 1:
		accepted(call, fmt.Errorf("answer holds %d messages, want 1", len(ans.Messages)))
		return nil
	}
	m := ans.Messages[0]
	if m.Status == "success" {
		return nil
	}
	var (
		texts     []string
		permanent = len(m.Errors) > 0
		// refused tells that no error says the target is wrong: the
		// message alone is refused, and the target not suspended.
		refused = true
	)
	for _, e := range m.Errors {
		texts = append(texts, fmt.Sprintf("%s %d %s", e.ErrorCode, e.StatusCode, e.ErrorMessage))
		if e.StatusCode < 400 || e.StatusCode > 499 || e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests {
			permanent = false
		}
		if actions.TargetWrong(e.StatusCode) {
			refused = false
		}
	}
	err = fmt.Errorf("mailjet_send: message status %q: %s", m.Status, strings.Join(texts, "; "))
	switch {
	case permanent && refused:
		return actions.Refused(err)
	case permanent:
		return actions.Permanent(err)
	}
	return err
}
