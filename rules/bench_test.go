package rules_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/rules"
)

// BenchmarkEval100 evaluates 100 rules, none calling last or count, on one
// Mailjet open event; one rule matches and renders a template.
//
//   - same-type: every rule tests the event's type first, so all 100 are
//     candidates; the 75 whose next comparison names another domain,
//     campaign or message id are left out by the Set's index, and the 25
//     that test email with endsWith run: the worst case here.
//   - mixed-types: the rules spread over Mailjet's seven event types, as a
//     real rule set would be; the Set considers only the 15 of the event's
//     type.
//   - -data: a quarter of the rules read data, so the event's JSON object
//     is decoded too.
func BenchmarkEval100(b *testing.B) {
	open := mj(b, "open", nil)
	types := []string{"open", "click", "sent", "bounce", "blocked", "spam", "unsub"}
	for _, bench := range []struct {
		name      string
		data      bool
		typeOfNth func(i int) string
	}{
		{"same-type", false, func(int) string { return "open" }},
		{"same-type-data", true, func(int) string { return "open" }},
		{"mixed-types", false, func(i int) string { return types[i%len(types)] }},
		{"mixed-types-data", true, func(i int) string { return types[i%len(types)] }},
	} {
		b.Run(bench.name, func(b *testing.B) {
			var src strings.Builder
			src.WriteString("rules:\n")
			src.WriteString("  - name: r0\n    when: type == \"open\" && email == \"api@mailjet.com\"\n" +
				"    actions:\n      - log: { message: \"{{ .email }} opened {{ .message_id }}\" }\n")
			for i := 1; i < 100; i++ {
				typ := bench.typeOfNth(i)
				var cond string
				switch i % 4 {
				case 0:
					cond = fmt.Sprintf(`domain == "d%d.example.com"`, i)
				case 1:
					cond = fmt.Sprintf(`campaign == "c%d" || campaign == "x%d"`, i, i)
				case 2:
					cond = fmt.Sprintf(`email endsWith "@d%d.example.com"`, i)
				case 3:
					cond = fmt.Sprintf(`message_id in ["m%d", "n%d"]`, i, i)
					if bench.data {
						cond = fmt.Sprintf(`data.geo == "X%d"`, i)
					}
				}
				fmt.Fprintf(&src, "  - name: r%d\n    when: 'type == %q && (%s)'\n    actions:\n      - log: { message: \"{{ .email }}\" }\n", i, typ, cond)
			}
			path := filepath.Join(b.TempDir(), "rules.yaml")
			if err := os.WriteFile(path, []byte(src.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			set, err := rules.Load(context.Background(), []string{path}, rules.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				matches, err := set.Eval(ctx, open, nil)
				if err != nil || len(matches) != 1 {
					b.Fatalf("Eval = %v, %v; want r0", matches, err)
				}
			}
		})
	}
}
