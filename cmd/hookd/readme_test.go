package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the text of the README's fenced yaml blocks.
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)\n```yaml\n(.*?)```\n").FindAllStringSubmatch(string(b), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// readmeTable returns the example column of the README's table of rule
// names and functions, "—" rows left out.
func readmeTable(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| name | what it is | example |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README: the table of rule names and functions is gone")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var examples []string
	for row := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(strings.Trim(row, "| "), " | ")
		ex := cells[len(cells)-1]
		if ex == "—" {
			continue
		}
		if !strings.HasPrefix(ex, "`") || !strings.HasSuffix(ex, "`") {
			t.Fatalf("README table row %q: the example is not code", row)
		}
		examples = append(examples, strings.Trim(ex, "`"))
	}
	return examples
}

// mjEvent is a Mailjet event of type typ to email at time at, of message
// id, as hookd test reads them.
func mjEvent(typ, email string, at time.Time, id int64, extra map[string]any) map[string]any {
	e := map[string]any{"event": typ, "time": at.Unix(), "MessageID": id, "Message_GUID": fmt.Sprint("g-", id),
		"email": email, "mj_campaign_id": 7300, "mj_contact_id": 0, "customcampaign": "november-news", "CustomID": "", "Payload": ""}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// hookdTest runs hookd test with rules (a rule file's text) on events and
// returns each rule's outcomes, in event order, failing on a rule that
// does not load.
func hookdTest(t *testing.T, rules string, events []map[string]any) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	raw, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"hookd.yaml": "sources:\n  - name: mailjet\n    provider: mailjet\n" +
			"smtp: { host: 127.0.0.1, port: 19625, tls: none, from: \"Shop <shop@example.com>\" }\n" +
			"rules:\n  - rules.yaml\n",
		"rules.yaml":  rules,
		"events.json": string(raw),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, err := runHookd(t, "test", "--config", filepath.Join(dir, "hookd.yaml"), "--event", filepath.Join(dir, "events.json"), "--json")
	if err != nil && stdout == "" {
		t.Fatalf("hookd test: %v %s\n%s", err, stderr, rules)
	}
	got := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var r testResult
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		for _, rt := range r.Rules {
			o := rt.Outcome
			if o == "error" || o == "no" {
				o += ": " + rt.Why
			}
			got[rt.Rule] = append(got[rt.Rule], o)
		}
	}
	return got
}

// TestReadmeRules runs what the README's Rules section shows: every rule
// file and action list in it loads and matches where it should, the
// blocked-surge rule alerts on more than 60% of a domain's mail blocked
// and not on less, and every example of its table of names and functions
// holds on an open two hours after its sent.
func TestReadmeRules(t *testing.T) {
	t.Setenv("ALERT_URL", "https://chat.example.com/hook")
	t0 := time.Date(2025, 11, 3, 9, 0, 0, 0, time.UTC)
	sent := mjEvent("sent", "ann@example.com", t0, 1, nil)
	open := mjEvent("open", "ann@example.com", t0.Add(2*time.Hour), 1, map[string]any{"agent": "Mozilla/5.0", "geo": "FR", "ip": "192.0.2.1"})

	var alerts string
	t.Run("rule files and actions", func(t *testing.T) {
		n := 0
		for _, b := range readmeBlocks(t) {
			var rules string
			switch first, _, _ := strings.Cut(b, "\n"); {
			case strings.HasPrefix(first, "# rules/"):
				rules = b
				if first == "# rules/alerts.yaml" {
					alerts = b
				}
			case first == "actions:":
				rules = "rules:\n  - name: readme-actions\n    when: type == \"open\"\n" + indent(b, "    ")
			case strings.HasPrefix(first, "- "):
				rules = "rules:\n  - name: readme-actions\n    when: type == \"open\"\n    actions:\n" + indent(b, "      ")
			default:
				continue
			}
			n++
			got := hookdTest(t, rules, []map[string]any{sent, open})
			for rule, outcomes := range got {
				for _, o := range outcomes {
					if strings.HasPrefix(o, "error") {
						t.Errorf("README rule %s: %s\n%s", rule, o, rules)
					}
				}
			}
			if o := got["readme-actions"]; o != nil && o[1] != "match" {
				t.Errorf("README actions on an open: %q\n%s", o, rules)
			}
		}
		if n < 4 || alerts == "" {
			t.Errorf("%d README rule files and actions, want the 4 at least, rules/alerts.yaml among them", n)
		}
	})

	t.Run("blocked-surge", func(t *testing.T) {
		if alerts == "" {
			t.Skip("no rules/alerts.yaml")
		}
		// sent messages, then blocked ones, to x.com 30 s apart; the
		// rule's outcome on each blocked event.
		tests := []struct {
			name          string
			sent, blocked int
			want          []string
		}{
			{"44% blocked", 9, 7, []string{"no", "no", "no", "no", "no", "no", "no"}},
			{"2 blocked, 0 sent", 0, 2, []string{"no", "no"}},
			{"5 blocked of 8", 3, 5, []string{"no", "no", "no", "no", "match"}},
			{"60% blocked is not more than 60%", 4, 6, []string{"no", "no", "no", "no", "no", "no"}},
			{"then 7 of 11, then held by the cooldown", 4, 8, []string{"no", "no", "no", "no", "no", "no", "match", "held"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var events []map[string]any
				for i := range tt.sent + tt.blocked {
					typ := "sent"
					if i >= tt.sent {
						typ = "blocked"
					}
					events = append(events, mjEvent(typ, fmt.Sprintf("u%d@x.com", i), t0.Add(time.Duration(i)*30*time.Second), int64(100+i),
						map[string]any{"error_related_to": "recipient", "error": "blocked"}))
				}
				got := hookdTest(t, alerts, events)["blocked-surge"]
				var short []string
				for _, o := range got[tt.sent:] {
					short = append(short, strings.SplitN(o, ":", 2)[0])
				}
				if !slices.Equal(short, tt.want) {
					t.Errorf("outcomes on the blocked events %q, want %q", got[tt.sent:], tt.want)
				}
			})
		}
	})

	t.Run("table of names and functions", func(t *testing.T) {
		examples := readmeTable(t)
		if len(examples) < 10 {
			t.Fatalf("%d examples in the README's table, want 10 at least", len(examples))
		}
		var rules strings.Builder
		rules.WriteString("rules:\n")
		for i, ex := range examples {
			fmt.Fprintf(&rules, "  - name: example-%d\n    when: %q\n    actions: [ { log: {} } ]\n", i, ex)
		}
		got := hookdTest(t, rules.String(), []map[string]any{sent, open})
		for i, ex := range examples {
			if o := got[fmt.Sprintf("example-%d", i)]; len(o) != 2 || o[1] != "match" {
				t.Errorf("README example %s on an open 2h after its sent: %q, want match", ex, o)
			}
		}
	})
}

// indent puts prefix before every line of s that is not empty.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// readmeText returns the README.
func readmeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeConfigs checks the configurations the README shows: every yaml
// block that is a configuration file, or a section of one (given a source
// when it has none), passes hookd check, with the rule files the README
// shows in its rules folder and the variables the blocks name set, and
// bad.yaml gives the error printed under it.
func TestReadmeConfigs(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"MAILJET_HOOK_PASSWORD":       "change-me-0123456789",
		"MJ_APIKEY_PUBLIC":            "public-key",
		"MJ_APIKEY_PRIVATE":           "private-key",
		"SENDGRID_WEBHOOK_PUBLIC_KEY": base64.StdEncoding.EncodeToString(der),
		"MAILGUN_SIGNING_KEY":         "key-0123456789abcdef0123456789abcdef",
		"MAILGUN_PRIMARY_SIGNING_KEY": "key-fedcba9876543210fedcba9876543210",
		"PM_HOOK_PASSWORD":            "postmark-0123456789",
		"APP_WEBHOOK_SECRET":          "whsec_" + base64.StdEncoding.EncodeToString([]byte("a secret of 24 bytes....")),
		"APP_WEBHOOK_PUBLIC_KEY":      "whpk_" + base64.StdEncoding.EncodeToString(ed),
		"GH_SECRET":                   "github-0123456789",
		"ALERT_URL":                   "https://chat.example.com/hook",
		"SMTP_USER":                   "shop",
		"SMTP_PASSWORD":               "smtp-0123456789",
	} {
		t.Setenv(name, value)
	}
	readme := readmeText(t)
	bad := regexp.MustCompile("(?s)With this `bad.yaml`:\n\n```yaml\n(.*?)```\n\n```\n\\$ go run ./cmd/hookd check --config bad.yaml\n(.*?)\n```\n").FindStringSubmatch(readme)
	if bad == nil {
		t.Fatal("README: the bad.yaml example of the Configuration section is gone")
	}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o750); err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, b := range readmeBlocks(t) {
		first, _, _ := strings.Cut(b, "\n")
		switch {
		case b == bad[1]:
		case strings.HasPrefix(first, "# rules/"):
			name := strings.TrimPrefix(first, "# ")
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(first, "# hookd.yaml"), regexp.MustCompile(`^(sources|smtp|mailjet):`).MatchString(first):
			configs = append(configs, b)
		}
	}
	if len(configs) < 5 {
		t.Errorf("%d configurations in the README, want 5 at least", len(configs))
	}
	for _, c := range configs {
		if !regexp.MustCompile(`(?m)^sources:`).MatchString(c) {
			c += "sources: [ { name: mailjet, provider: mailjet } ]\n"
		}
		file := filepath.Join(dir, "hookd.yaml")
		if err := os.WriteFile(file, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, err := runHookd(t, "check", "--config", file); err != nil || !strings.Contains(stdout, ": ok (") {
			t.Errorf("hookd check of the README's\n%s: %v\n%s%s", c, err, stdout, stderr)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, _, err = runHookd(t, "check", "--config", "bad.yaml")
	if got := fmt.Sprint("hookd: ", err); got != bad[2] {
		t.Errorf("hookd check --config bad.yaml prints\n%s\nthe README says\n%s", got, bad[2])
	}
}

// TestReadmeExplainBacktest runs the commands of the README's Explain,
// backtest, replay, rebuild section on the discount-on-open scenario, as
// serve stored it, and compares what each prints with the lines the README
// shows under it.
func TestReadmeExplainBacktest(t *testing.T) {
	_, section, ok := strings.Cut(readmeText(t), "## Explain, backtest, replay, rebuild\n")
	if !ok {
		t.Fatal("README: the Explain, backtest, replay, rebuild section is gone")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	const scenario = "cmd/hookd/testdata/scenarios/discount-on-open"
	if !strings.Contains(section, "S="+scenario+"\n") {
		t.Fatalf("README: the section no longer sets S=%s", scenario)
	}
	data, _, _ := runScenario(t, "discount-on-open")

	type run struct{ args, want string }
	var runs []run
	lines := strings.Split(section, "\n")
	for i, l := range lines {
		cmd, ok := strings.CutPrefix(l, "go run ./cmd/hookd ")
		if !ok || !strings.Contains(cmd, "/tmp/hookd-demo") || strings.HasPrefix(cmd, "serve ") || strings.HasPrefix(cmd, "send ") {
			continue
		}
		var want strings.Builder
		for _, o := range lines[i+1:] {
			o, ok := strings.CutPrefix(o, "# ")
			if !ok {
				break
			}
			want.WriteString(strings.ReplaceAll(o, scenario, "testdata/scenarios/discount-on-open") + "\n")
		}
		cmd = strings.NewReplacer("$S", "testdata/scenarios/discount-on-open", "/tmp/hookd-demo", data).Replace(cmd)
		runs = append(runs, run{cmd, want.String()})
	}
	if len(runs) != 4 {
		t.Fatalf("%d commands with output in the README's section, want 4 (explain, backtest, replay, rebuild): %q", len(runs), runs)
	}
	for _, r := range runs {
		stdout, stderr, err := runHookd(t, strings.Fields(r.args)...)
		if err != nil {
			t.Fatalf("hookd %s: %v\n%s", r.args, err, stderr)
		}
		if stdout != r.want {
			t.Errorf("hookd %s prints\n%s\nthe README says\n%s", r.args, stdout, r.want)
		}
	}
}
