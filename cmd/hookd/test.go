package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/backtest"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/mailjet"
	"github.com/hookd/hookd/rules"
)

func newTestCmd() *cobra.Command {
	var (
		flags      config.Flags
		eventsFile string
		at         string
		source     string
		headers    []string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Show what the rules would do with events from a file",
		Long: `test loads the configuration's rules as serve and check do, reads the events
in the file --event (a webhook body, as the source's provider posts it: for
Mailjet one event object or an array of them) and, for each event in order,
prints the rules that match it with the parameters of each of their actions
rendered for it (secrets such as an http action's header values and URL
password shown as [redacted]), and for the other rules why they do not match.
It runs no action and neither reads nor writes the data directory.

The file is decoded as serve decodes a body posted to the source: by its
provider's decoder with the source's settings (its map, for generic and
standardwebhooks sources), so ids, types, emails, campaign, time and data are
what serve would store. The source is the one --source names, whatever its
provider; without --source, the configuration's first Mailjet source, else
its only source when it has one, else a Mailjet source named "mailjet". test
has no request: it verifies no signature, header secret or credentials (so
the file need not be signed), and confirms no SNS subscription (a control
message gives no events, as in serve). Where decoding reads request headers
(a map that reads headers; Standard Webhooks' webhook-id, or svix-id), give
them with --header 'Name: value', once per header. A file the provider
cannot decode is an error naming the file and what the decoder said, as
serve would answer the body 400. An event without a time of its own (a
generic source without map.time) gets the time test runs, as serve gives it
the time it receives it; --at fixes it.

last() and count() see the events earlier in the file whose time is not after
the event's, as if the file were the whole event log; once and cooldown apply
within the file too, as serve applies them: a rule with once and no cooldown
fires for the first event of its key only; a rule with a cooldown fires when
it did not fire less than the cooldown before or after the event's time, in
event time whatever the order of the file, per once key when it has one (at
most once per cooldown per key, not once ever). An event with the id of one
earlier in the file (a provider's retry, such as Mailjet's of a callback,
which has the same event, message, time, address and URL) is shown as a
duplicate of it: serve stores it once and runs the rules on the first only.
--at gives every event that time instead of its own (RFC 3339), e.g. to test
a rule against count() in a window.

Each rule is shown as match (its actions would run, parameters below), no
(with why), held (it matched, but once or cooldown keeps its actions from
running) or error (it failed on the event). The output is text; with --json,
one JSON object per event, in order, with every field of the event as serve
stores it (source, provider, message_id, campaign, category, bounce_class,
data, ...). A rule file that does not load is an error naming its file and
line. test exits non-zero when a rule failed on an event (an outcome of
error, such as a template that reads a field the event lacks), after
printing every result: serve would make no job for it.`,
		Example: `  hookd test --config hookd.yaml --event bounce.json
  hookd test --config hookd.yaml --source sendgrid --event sendgrid-batch.json
  hookd test --config hookd.yaml --source resend --event bounced.json --header 'webhook-id: msg_123'
  hookd test --config hookd.yaml --event day.json --at 2025-03-01T12:00:00Z --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if eventsFile == "" {
				return usagef("test: --event FILE is required")
			}
			var when time.Time
			if at != "" {
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return usagef("test: --at %q: want an RFC 3339 time such as 2025-03-01T12:00:00Z", at)
				}
				when = t.UTC()
			}
			h, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			src, err := testSource(cfg.Sources, source)
			if err != nil {
				return err
			}
			set, err := rules.Load(cmd.Context(), cfg.Rules, ruleOptions(cfg))
			if err != nil {
				return err
			}
			body, err := os.ReadFile(eventsFile)
			if err != nil {
				return fmt.Errorf("test: %w", err)
			}
			events, err := listener.Preview(src, h, body)
			if err != nil {
				hint := ""
				if msg := strings.ToLower(err.Error()); len(h) == 0 && (strings.Contains(msg, "header") || strings.Contains(msg, "webhook-id")) {
					// What the decoder missed is a request header: the
					// file alone cannot give it.
					hint = " (give the request headers its decoding reads with --header 'Name: value')"
				}
				return usagef("test: %s: not a delivery the %s source %s takes: %w%s", eventsFile, src.Provider, src.Name, err, hint)
			}
			if len(events) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "test: %s holds no events (serve would answer it 200 and store nothing)\n", eventsFile)
			}
			now := time.Now().UTC()
			for i := range events {
				switch {
				case !when.IsZero():
					events[i].Time = when
				case events[i].Time.IsZero():
					events[i].Time = now
				}
				events[i].Received = events[i].Time
			}
			results, err := testEvents(cmd.Context(), set, events)
			if err != nil {
				return fmt.Errorf("test: %w", err)
			}
			if asJSON {
				err = writeJSONLines(cmd.OutOrStdout(), results)
			} else {
				err = writeTestResults(cmd.OutOrStdout(), results, filepath.Dir(cfg.File))
			}
			if err != nil {
				return fmt.Errorf("test: %w", err)
			}
			if n := failures(results); n > 0 {
				return fmt.Errorf("test: rule outcomes that are errors: %d (serve would make no job for them)", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	flags.Var(f, "config", "configuration `file` listing the rule files (default: the built-in hookd.yaml)")
	f.StringVar(&eventsFile, "event", "", "`file` holding a webhook body as the source's provider posts it (Mailjet: one JSON object or an array)")
	f.StringVar(&at, "at", "", "give every event this `TIME` (RFC 3339) instead of its own")
	f.StringVar(&source, "source", "", "the configured source, by `NAME`, whose provider and settings decode the file (default: the first Mailjet source, else the only source)")
	f.StringArrayVar(&headers, "header", nil, "a request header the decoding reads, as `'Name: value'` (a map's headers, Standard Webhooks' webhook-id); repeatable")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per event (NDJSON)")
	return cmd
}

// testSource returns the source whose events test shows, as serve
// would decode them: the one named name, whatever its provider, or, when
// name is empty, the configuration's first Mailjet source, else its only
// source when it has exactly one, else a Mailjet source named "mailjet".
// So rules on source decide as they do on that source's events in serve.
func testSource(sources []config.Source, name string) (config.Source, error) {
	if name != "" {
		for _, s := range sources {
			if s.Name == name {
				return s, nil
			}
		}
		return config.Source{}, usagef("test: --source %q: the configuration has no source of that name", name)
	}
	for _, s := range sources {
		if s.Provider == mailjet.Provider {
			return s, nil
		}
	}
	if len(sources) == 1 {
		return sources[0], nil
	}
	return config.Source{Name: mailjet.Provider, Provider: mailjet.Provider}, nil
}

// parseHeaders reads --header values, each "Name: value", into request
// headers, as a request to serve would carry them.
func parseHeaders(values []string) (http.Header, error) {
	h := http.Header{}
	for _, v := range values {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil, usagef("test: --header %q: want 'Name: value'", v)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// failures counts the outcomes of error in results.
func failures(results []testResult) int {
	n := 0
	for _, r := range results {
		for _, rt := range r.Rules {
			if rt.Outcome == "error" {
				n++
			}
		}
	}
	return n
}

// testResult is what test reports on one event.
type testResult struct {
	Index int       `json:"index"`
	Event testEvent `json:"event"`
	// DuplicateOf is, for an event with the id of an earlier one, the
	// index of that one; Rules is then empty, as serve evaluates no rule
	// on a duplicate.
	DuplicateOf int        `json:"duplicate_of,omitempty"`
	Rules       []ruleTest `json:"rules"`
}

// testEvent is an event in the output: its fields as serve would store
// them, but for the time serve receives it.
type testEvent struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Email       string            `json:"email"`
	Time        time.Time         `json:"time"`
	Source      string            `json:"source"`
	Provider    string            `json:"provider"`
	Domain      string            `json:"domain"`
	MessageID   string            `json:"message_id"`
	Campaign    string            `json:"campaign"`
	Category    event.Category    `json:"category"`
	BounceClass event.BounceClass `json:"bounce_class"`
	Data        json.RawMessage   `json:"data"`
}

// ruleTest is the outcome of one rule on one event.
type ruleTest struct {
	Rule string `json:"rule"`
	File string `json:"file"`
	Line int    `json:"line"`
	// Outcome is "match" (the actions would run), "held" (matched but once
	// or cooldown holds it back), "no" or "error".
	Outcome string       `json:"outcome"`
	Why     string       `json:"why,omitempty"`
	Key     string       `json:"once_key,omitempty"`
	Actions []actionTest `json:"actions,omitempty"`
}

// actionTest is an action that would run, with its rendered parameters,
// their secrets redacted (actions.RedactParams).
type actionTest struct {
	Type   string         `json:"type"`
	Line   int            `json:"line"`
	Params map[string]any `json:"params"`
}

// testEvents explains set's rules on each event in order, each seeing the
// ones before it as the event log, and applies once and cooldown within
// them as serve does (rules.Hold, with the in-memory ledger of a
// backtest). An event with the id of an earlier one is a duplicate, as the
// event log and the store take it: it is left out of the log that the
// events after it see, and no rule is evaluated on it.
func testEvents(ctx context.Context, set *rules.Set, events []event.Event) ([]testResult, error) {
	results := make([]testResult, 0, len(events))
	ledger := backtest.NewLedger()
	fired := map[[2]string][]int{} // rule and once key: the events that fired it
	first := map[string]int{}      // event id: the index of its first event
	var log fileLog                // the events before the one evaluated, duplicates left out
	for i, e := range events {
		res := testResult{Index: i + 1, Event: testEvent{ID: e.ID, Type: e.Type, Email: e.Email, Time: e.Time.UTC(),
			Source: e.Source, Provider: e.Provider, Domain: e.Domain, MessageID: e.MessageID, Campaign: e.Campaign,
			Category: e.Category, BounceClass: e.BounceClass, Data: e.Data}}
		if j, ok := first[e.ID]; ok {
			res.DuplicateOf, res.Rules = j+1, []ruleTest{}
			results = append(results, res)
			continue
		}
		first[e.ID] = i
		matches, err := set.Explain(ctx, e, log)
		if err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i+1, e.ID, err)
		}
		log = append(log, e)
		for _, m := range matches {
			rt := ruleTest{Rule: m.Rule.Name, File: m.Rule.File, Line: m.Rule.Line, Key: m.Key}
			key := [2]string{m.Rule.Name, m.Key}
			switch {
			case m.Err != nil:
				rt.Outcome, rt.Why = "error", m.Err.Error()
			case m.Why != "":
				rt.Outcome, rt.Why = "no", m.Why
			default:
				reason, why, err := rules.Hold(ctx, ledger, m, e)
				if err != nil {
					return nil, fmt.Errorf("event %d (%s): rule %s: %w", i+1, e.ID, m.Rule.Name, err)
				}
				if reason != "" {
					rt.Outcome, rt.Why = "held", why+heldBy(events, fired[key], e.Time)
					break
				}
				rt.Outcome = "match"
				fired[key] = append(fired[key], i)
				for _, a := range m.Actions {
					rt.Actions = append(rt.Actions, actionTest{Type: a.Action.Type, Line: a.Action.Line,
						Params: actions.RedactParams(a.Action.Type, a.Params)})
				}
			}
			res.Rules = append(res.Rules, rt)
		}
		results = append(results, res)
	}
	return results, nil
}

// heldBy names, of the events at indexes fired that fired a rule and key,
// the one nearest in time to at, which is the one that holds a cooldown
// (once without a cooldown has one only), for the reader to find it in the
// file.
func heldBy(events []event.Event, fired []int, at time.Time) string {
	if len(fired) == 0 {
		return ""
	}
	distance := func(i int) time.Duration { return max(at.Sub(events[i].Time), events[i].Time.Sub(at)) }
	by := fired[0]
	for _, i := range fired[1:] {
		if distance(i) < distance(by) {
			by = i
		}
	}
	return fmt.Sprintf(", by event %d at %s", by+1, events[by].Time.UTC().Format(time.RFC3339Nano))
}

// fileLog is the event log as the events of a file before the one
// evaluated: it implements rules.State over them.
type fileLog []event.Event

var _ rules.State = fileLog(nil)

// Last implements rules.State.
func (l fileLog) Last(_ context.Context, e event.Event, typ, field string) (*event.Event, error) {
	var last *event.Event
	for i := range l {
		p := &l[i]
		if l.matches(p, e, typ, field) && (last == nil || !p.Time.Before(last.Time)) {
			last = p
		}
	}
	if last == nil {
		return nil, nil
	}
	found := *last
	return &found, nil
}

// Count implements rules.State.
func (l fileLog) Count(_ context.Context, e event.Event, typ, field string, window time.Duration) (int, error) {
	n := 0
	for i := range l {
		if p := &l[i]; l.matches(p, e, typ, field) && p.Time.After(e.Time.Add(-window)) {
			n++
		}
	}
	return n, nil
}

// matches tells whether p is of type typ, not later than e, and has e's
// value of field.
func (fileLog) matches(p *event.Event, e event.Event, typ, field string) bool {
	if p.Type != typ || p.Time.After(e.Time) || p.ID == e.ID {
		return false
	}
	switch field {
	case "email":
		return p.Email == e.Email
	case "domain":
		return p.Domain == e.Domain
	case "message_id":
		return p.MessageID == e.MessageID
	case "campaign":
		return p.Campaign == e.Campaign
	case "source":
		return p.Source == e.Source
	}
	return false
}

// writeTestResults prints results as text, with rule files relative to
// dir where they are under it.
func writeTestResults(w io.Writer, results []testResult, dir string) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "event %d: %s %s at %s (id %s)\n", r.Index, cell(r.Event.Type), cell(r.Event.Email),
			r.Event.Time.Format(time.RFC3339Nano), cell(r.Event.ID))
		if r.DuplicateOf > 0 {
			fmt.Fprintf(&b, "  duplicate of event %d: serve stores it once and runs no rule on it again\n", r.DuplicateOf)
		}
		for _, rt := range r.Rules {
			file := rt.File
			if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
				file = rel
			}
			fmt.Fprintf(&b, "  %-5s  %s (%s:%d)", rt.Outcome, rt.Rule, file, rt.Line)
			if rt.Why != "" {
				fmt.Fprintf(&b, ": %s", strings.ReplaceAll(rt.Why, "\n", "\n         "))
			}
			b.WriteByte('\n')
			for i, a := range rt.Actions {
				fmt.Fprintf(&b, "         action %d: %s\n           ", i+1, a.Type)
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("           ", "  ")
				if err := enc.Encode(a.Params); err != nil {
					return fmt.Errorf("action %d of rule %s: %w", i+1, rt.Rule, err)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
