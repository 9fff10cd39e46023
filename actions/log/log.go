// Package log is the "log" action: it writes one structured line to
// hookd's log for a rule match. Import it for its side effect; it registers
// itself with the actions package.
//
// Parameters:
//
//	message  the line's message, a template; default "rule matched".
//	level    debug, info (default), warn or error, written literally.
//	fields   a mapping of attributes added to the line, values templates.
//	         Nested mappings and lists are kept as they are.
//
// The line also carries the rule, the job's key and the event's id, as
// rule, key and event_id, which fields may therefore not use. It goes to
// the logger the Runner hands the action in Call.Logger (hookd's own, with
// its format and level), so the action holds no logger of its own and
// needs no setting up: a line below the configured level is dropped.
//
// All log jobs share the target "log". The action never fails.
package log

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/actions/internal/param"
)

// Name is the name the action is registered under.
const Name = "log"

// DefaultMessage is the message of a line whose rule gives none.
const DefaultMessage = "rule matched"

func init() {
	actions.Register(Name, kind{})
}

// Interface guards.
var (
	_ actions.Kind   = kind{}
	_ actions.Action = action{}
)

// levels are the levels a rule may write.
var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// reserved are the attribute names hookd writes on every line (slog's own
// and the action's).
var reserved = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey, "rule", "key", "event_id"}

// params are a log action's parameters, read and checked.
type params struct {
	message string
	level   slog.Level
	fields  map[string]any
}

func parse(ps map[string]any) (*params, error) {
	if err := param.Known(ps, "message", "level", "fields"); err != nil {
		return nil, err
	}
	p := params{message: DefaultMessage}
	msg, ok, err := param.Text(ps, "message")
	if err != nil {
		return nil, err
	}
	if ok {
		p.message = msg
	}
	lvl, ok, err := param.Literal(ps, "level", "the level is fixed in the rule")
	if err != nil {
		return nil, err
	}
	if ok {
		l, known := levels[strings.ToLower(lvl)]
		if !known {
			return nil, param.Errorf("level", "want debug, info, warn or error, got %q", lvl)
		}
		p.level = l
	}
	if p.fields, err = param.Map(ps, "fields"); err != nil {
		return nil, err
	}
	for name := range p.fields {
		if name == "" || slices.Contains(reserved, name) {
			return nil, param.Errorf("fields."+name, "not a field name a rule may use (reserved: %s)", strings.Join(reserved, ", "))
		}
	}
	return &p, nil
}

// kind is the registered Kind.
type kind struct{}

// Validate checks the parameters as a rule writes them.
func (kind) Validate(ps map[string]any) error {
	_, err := parse(ps)
	return err
}

// Target returns "log": the log is one target.
func (kind) Target(map[string]any) string { return Name }

// Action returns the action that writes the lines.
func (kind) Action() actions.Action { return action{} }

// action writes lines to Call.Logger.
type action struct{}

// Do writes the line. It fails only on parameters that do not parse, which
// refuses the job alone: every rule's log jobs share the target "log".
func (action) Do(ctx context.Context, call actions.Call) error {
	p, err := parse(call.Params)
	if err != nil {
		return actions.Refused(fmt.Errorf("log: %w", err))
	}
	logger := call.Logger
	if logger == nil || !logger.Enabled(ctx, p.level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, 3+len(p.fields))
	attrs = append(attrs, slog.String("rule", call.Rule), slog.String("key", call.Key), slog.String("event_id", call.EventID))
	for _, k := range slices.Sorted(maps.Keys(p.fields)) {
		attrs = append(attrs, slog.Any(k, p.fields[k]))
	}
	logger.LogAttrs(ctx, p.level, p.message, attrs...)
	return nil
}
