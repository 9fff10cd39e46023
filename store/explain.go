package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// RuleSet describes the rules that explanations refer to. Its ID names its
// content (the rules engine hashes it), so that it is stored once however
// many events it explains.
type RuleSet struct {
	ID    string
	Rules []RuleInfo
}

// RuleInfo is one rule of a RuleSet as explanations need it.
type RuleInfo struct {
	Name string `json:"name"`
	// Types are the event types the rule can match, nil for any: an event
	// of another type is not evaluated and did not match by Conditions[0].
	Types []string `json:"types,omitempty"`
	// Conditions are the operands of its when's top-level && chain.
	Conditions []string `json:"conditions"`
}

// Result is what a rule did with an event.
type Result string

// Results of a rule on an event.
const (
	// Fired: the rule matched and its actions were enqueued.
	Fired Result = "fired"
	// Held: the rule matched, but once or cooldown kept it from firing.
	Held Result = "held"
	// NoMatch: the rule's when was false.
	NoMatch Result = "no"
	// Failed: the rule failed on the event (an expression or template
	// error), so it neither fired nor did not.
	Failed Result = "error"
)

var resultCodes = map[Result]string{Fired: "f", Held: "h", NoMatch: "n", Failed: "e"}

var codeResults = map[string]Result{"f": Fired, "h": Held, "n": NoMatch, "e": Failed}

// Outcome is what one rule of a RuleSet did with an event, as the engine
// records it.
type Outcome struct {
	// Rule is the rule's index in RuleSet.Rules.
	Rule   int
	Result Result
	// Condition is, for NoMatch, the index of the first false condition
	// in the rule's Conditions, -1 when it could not be told.
	Condition int
	// Detail is, for NoMatch, the values the condition saw; for Held and
	// Failed, why.
	Detail string
}

// Explanation says what each rule did with one event and why.
type Explanation struct {
	// RuleSet is the ID of the rule set that evaluated the event.
	RuleSet string `json:"rule_set"`
	// Rules has one entry per rule of the set, in its order.
	Rules []RuleExplanation `json:"rules"`
}

// RuleExplanation is one rule's part of an Explanation.
type RuleExplanation struct {
	Rule   string `json:"rule"`
	Result Result `json:"result"`
	// Condition is, for a rule that did not match, the first condition of
	// its when that was false, and Saw the values it saw.
	Condition string `json:"condition,omitempty"`
	Saw       string `json:"saw,omitempty"`
	// Reason says why a rule was held or failed.
	Reason string `json:"reason,omitempty"`
}

// encodeOutcomes is the compact form stored per event: a JSON array of
// [rule, code] for fired, [rule, code, reason] for held and failed and
// [rule, code, condition, saw] for no match.
func encodeOutcomes(outs []Outcome) ([]byte, error) {
	b := make([]byte, 0, 16*len(outs)+2)
	b = append(b, '[')
	for i, o := range outs {
		code, ok := resultCodes[o.Result]
		if !ok {
			return nil, fmt.Errorf("outcome of rule %d: unknown result %q", o.Rule, o.Result)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(o.Rule), 10)
		b = append(b, `,"`...)
		b = append(b, code...)
		b = append(b, '"')
		switch o.Result {
		case NoMatch:
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(o.Condition), 10)
			fallthrough
		case Held, Failed:
			d, err := json.Marshal(o.Detail)
			if err != nil {
				return nil, err
			}
			b = append(b, ',')
			b = append(b, d...)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// explain decodes an event's stored outcomes against its rule set: the
// rules without an outcome were not evaluated on an event of type typ.
func explain(setID, setJSON, outcomes, typ string) (*Explanation, error) {
	var rules []RuleInfo
	if err := json.Unmarshal([]byte(setJSON), &rules); err != nil {
		return nil, fmt.Errorf("rule set %s: %w", setID, err)
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal([]byte(outcomes), &rows); err != nil {
		return nil, fmt.Errorf("outcomes: %w", err)
	}
	x := &Explanation{RuleSet: setID, Rules: make([]RuleExplanation, len(rules))}
	for i, r := range rules {
		x.Rules[i] = RuleExplanation{Rule: r.Name, Result: NoMatch, Saw: "type = " + strconv.Quote(typ)}
		if len(r.Conditions) > 0 {
			x.Rules[i].Condition = r.Conditions[0]
		}
	}
	for _, row := range rows {
		var (
			idx  int
			code string
		)
		if len(row) < 2 || json.Unmarshal(row[0], &idx) != nil || json.Unmarshal(row[1], &code) != nil ||
			idx < 0 || idx >= len(rules) || codeResults[code] == "" {
			return nil, fmt.Errorf("outcomes: bad entry %s", row)
		}
		re := RuleExplanation{Rule: rules[idx].Name, Result: codeResults[code]}
		switch re.Result {
		case NoMatch:
			var cond int
			if len(row) != 4 || json.Unmarshal(row[2], &cond) != nil || json.Unmarshal(row[3], &re.Saw) != nil {
				return nil, fmt.Errorf("outcomes: bad entry %s", row)
			}
			if cond >= 0 && cond < len(rules[idx].Conditions) {
				re.Condition = rules[idx].Conditions[cond]
			}
		case Held, Failed:
			if len(row) != 3 || json.Unmarshal(row[2], &re.Reason) != nil {
				return nil, fmt.Errorf("outcomes: bad entry %s", row)
			}
		}
		x.Rules[idx] = re
	}
	return x, nil
}

// Explain records, for the event being evaluated, what each rule of set
// did with it: outs holds the rules the event was evaluated on; a rule of
// set without an outcome did not admit the event's type. The set is
// written with the first event of each transaction that it explains. A Tx
// of a replay does not record explanations: the ones recorded when the
// event was first evaluated stay; it notes the rules that failed instead
// (ReplayResult.Failed).
func (t *Tx) Explain(ctx context.Context, set *RuleSet, outs []Outcome) error {
	if t.record {
		t.noteFailures(set, outs)
	}
	if !t.explain || t.cur.seq == 0 {
		return nil
	}
	if !t.sets[set.ID] {
		rules, err := json.Marshal(set.Rules)
		if err != nil {
			return fmt.Errorf("explain event %s: rule set: %w", t.cur.id, err)
		}
		st, err := t.stmt(ctx, insertRuleSetSQL)
		if err == nil {
			_, err = st.ExecContext(ctx, set.ID, string(rules))
		}
		if err != nil {
			return fmt.Errorf("explain event %s: rule set: %w", t.cur.id, err)
		}
		if t.sets == nil {
			t.sets = map[string]bool{}
		}
		t.sets[set.ID] = true
	}
	body, err := encodeOutcomes(outs)
	if err != nil {
		return fmt.Errorf("explain event %s: %w", t.cur.id, err)
	}
	st, err := t.stmt(ctx, insertExplanationSQL)
	if err == nil {
		_, err = st.ExecContext(ctx, t.cur.seq, set.ID, string(body))
	}
	if err != nil {
		return fmt.Errorf("explain event %s: %w", t.cur.id, err)
	}
	return nil
}

// Explanation returns what the rules did with the event id and why: nil
// and no error when the event is stored but was not evaluated (there were
// no rules, or it was stored by Insert), ErrNotFound when it is not stored.
func (s *Store) Explanation(ctx context.Context, id string) (*Explanation, error) {
	var (
		typ                  string
		setID, set, outcomes sql.NullString
	)
	err := s.db.read.QueryRowContext(ctx, `SELECT e.type, x.rule_set, r.rules, x.outcomes
		FROM events e
		LEFT JOIN explanations x ON x.seq = e.seq
		LEFT JOIN rule_sets r ON r.id = x.rule_set
		WHERE e.id = ?`, id).Scan(&typ, &setID, &set, &outcomes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("explain event %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("explain event %q: %w", id, err)
	}
	if !setID.Valid {
		return nil, nil
	}
	if !set.Valid {
		return nil, fmt.Errorf("explain event %q: rule set %s is missing", id, setID.String)
	}
	x, err := explain(setID.String, set.String, outcomes.String, typ)
	if err != nil {
		return nil, fmt.Errorf("explain event %q: %w", id, err)
	}
	return x, nil
}

// The statements of Explain.
var (
	insertRuleSetSQL     = writeSQL(`INSERT INTO rule_sets (id, rules) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`)
	insertExplanationSQL = writeSQL(`INSERT INTO explanations (seq, rule_set, outcomes) VALUES (?, ?, ?)
		ON CONFLICT (seq) DO UPDATE SET rule_set = excluded.rule_set, outcomes = excluded.outcomes`)
)

// noteFailures adds the rules of outs that failed on the event evaluated
// to t.failed.
func (t *Tx) noteFailures(set *RuleSet, outs []Outcome) {
	for _, o := range outs {
		if o.Result != Failed || o.Rule < 0 || o.Rule >= len(set.Rules) {
			continue
		}
		t.failed = addFailures(t.failed, RuleFailures{Rule: set.Rules[o.Rule].Name, Events: 1, FirstEvent: t.cur.id, FirstError: o.Detail})
	}
}
