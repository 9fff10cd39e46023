package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/hookd/hookd/actions/log"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// benchRules are ten rules of the kinds DESIGN.md describes, over the
// stream of benchEvent: guarded by type, most reading last or count.
const benchRules = `rules:
  - name: discount
    when: type == "open" && last("sent", "email") != nil && since(last("sent", "email").time) < duration("24h")
    once: email + "/" + campaign
    actions: [ log: { message: "discount for {{ .email }}" } ]
  - name: hard-bounce
    when: type == "bounce"
    actions: [ log: { message: "unsubscribe {{ .email }}" }, log: { message: "suppress {{ .email }}" } ]
  - name: blocked-surge
    when: type == "blocked" && count("blocked", "domain", "15m") > 0.6 * count("sent", "domain", "15m")
    cooldown: 1h
    actions: [ log: { message: "{{ .domain }} blocks" } ]
  - name: spam
    when: type == "spam"
    once: email
    actions: [ log: { message: "{{ .email }} complained" } ]
  - name: unsub
    when: type == "unsub"
    actions: [ log: {} ]
  - name: click-after-open
    when: type == "click" && last("open", "email") != nil
    actions: [ log: {} ]
  - name: first-open
    when: type == "open" && count("open", "email", "720h") == 0
    actions: [ log: {} ]
  - name: gmail-blocks
    when: type == "blocked" && domain == "gmail.com"
    cooldown: 10m
    actions: [ log: {} ]
  - name: campaign-clicks
    when: type == "click" && count("click", "campaign", "1h") > 1000
    cooldown: 1h
    actions: [ log: {} ]
  - name: vip
    when: type == "sent" && data.CustomID == "vip"
    actions: [ log: {} ]
`

// BenchmarkProjectRules is BenchmarkProjectLog with the rules engine
// evaluating every event in the projector's transactions: without an
// evaluator, with an engine on no rules, and on the ten benchRules.
func BenchmarkProjectRules(b *testing.B) {
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(benchRules), 0o600); err != nil {
		b.Fatal(err)
	}
	ten, err := rules.Load(ctx, []string{file}, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	none, err := rules.Load(ctx, nil, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		set  *rules.Set
	}{{"evaluator=none", nil}, {"rules=0", none}, {"rules=10", ten}} {
		b.Run(bc.name, func(b *testing.B) {
			var ev store.Evaluator
			if bc.set != nil {
				en, err := rules.NewEngine(func() *rules.Set { return bc.set }, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				ev = en
			}
			benchProjectLog(b, ev)
		})
	}
}
