package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/event"
)

// TestNative checks that every when run in Go decides as expr's VM does,
// on events that make each comparison true and false, and that a when with
// anything more stays with the VM.
func TestNative(t *testing.T) {
	for _, tc := range []struct {
		when   string
		native bool
	}{
		{`type == "open"`, true},
		{`"open" == type && domain == "gmail.com"`, true},
		{`type == "open" && (email endsWith "@gmail.com" || email startsWith "ann")`, true},
		{`email endsWith "@gmail.com"`, true},
		{`email startsWith "bob"`, true},
		{`email contains "n@g"`, true},
		{`campaign in ["spring", "summer"] and not (domain contains "example")`, true},
		{`source != "mailjet" || provider == "mailjet"`, true},
		{`category == "bounce" && bounce_class == "hard"`, true},
		{`message_id == "19421777396190490" && !(id == "x")`, true},
		{`true && type != ""`, true},
		{`type == "open" && data.geo == "US"`, false},
		{`type == "open" && since(time) < duration("1h")`, false},
		{`type == "open" && len(email) > 3`, false},
		{`type == "open" && email matches "^a"`, false},
		{`type == "open" && count("sent", "email", "1h") > 0`, false},
	} {
		t.Run(tc.when, func(t *testing.T) {
			src := fmt.Sprintf("rules:\n  - name: r\n    when: '%s'\n    actions:\n      - log: { message: m }\n", strings.ReplaceAll(tc.when, "'", "''"))
			path := filepath.Join(t.TempDir(), "r.yaml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			set, err := Load(context.Background(), []string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := set.Rules()[0]
			if (r.native != nil) != tc.native {
				t.Fatalf("native = %v, want %v", r.native != nil, tc.native)
			}
			if r.native == nil {
				return
			}
			for _, e := range nativeEvents() {
				ev := newEvaluation()
				ev.bind(context.Background(), &e, nil, allNames)
				out, err := ev.vm.Run(r.when.prog, ev.env)
				if err != nil {
					t.Fatalf("VM on %+v: %v", e, err)
				}
				if got, want := r.native(&e), out.(bool); got != want {
					t.Errorf("on %s/%s/%s/%s: native %v, VM %v", e.Type, e.Email, e.Domain, e.Campaign, got, want)
				}
				ev.release()
			}
		})
	}
}

// nativeEvents are events whose fields make the comparisons of
// TestNative true and false in many combinations.
func nativeEvents() []event.Event {
	var out []event.Event
	for _, typ := range []string{"open", "bounce", ""} {
		for _, email := range []string{"ann@gmail.com", "bob@example.com", ""} {
			for _, campaign := range []string{"spring", "autumn", ""} {
				domain := email[strings.IndexByte(email, '@')+1:]
				for _, src := range []string{"mailjet", "sendgrid"} {
					out = append(out, event.Event{ID: "x", Source: src, Provider: src, Type: typ, Email: email, Domain: domain,
						Campaign: campaign, MessageID: "19421777396190490", Category: event.Category(typ), BounceClass: "hard"})
				}
			}
		}
	}
	return out
}
