package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runHookd runs the hookd command line in-process and returns its output
// and the error main would print before exiting 1.
func runHookd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheck(t *testing.T) {
	t.Setenv("HOOKD_CHECK_TOKEN", "a-token-of-24-characters")
	good := writeFile(t, "good.yaml", `
sources:
  - name: mailjet
    provider: mailjet
  - name: transactional
    provider: mailjet
    path: /in/transactional
    auth:
      token:
        value: ${HOOKD_CHECK_TOKEN}
`)
	authOnly := writeFile(t, "auth-only.yaml", `
sources:
  - name: mailjet
    provider: mailjet
    auth: { basic: { user: hookd, password: "${HOOKD_CHECK_TOKEN}" } }
`)
	smtp465 := writeFile(t, "smtp-465.yaml", `
sources:
  - name: mailjet
    provider: mailjet
    auth: { basic: { user: hookd, password: "${HOOKD_CHECK_TOKEN}" } }
smtp: { host: smtp.example.com, port: 465, tls: starttls, from: "shop@example.com" }
`)
	noRules := writeFile(t, "no-rules.yaml", `
sources:
  - name: mailjet
    provider: mailjet
    auth: { basic: { user: hookd, password: "${HOOKD_CHECK_TOKEN}" } }
rules:
  - nothere/*.yaml
`)
	bad := writeFile(t, "bad.yaml", `
sources:
  - name: mailjet
    provider: nope
    auth:
      basic:
        user: hookd
`)
	retention := func(name, log string) string {
		return writeFile(t, name, log+`
retention: { events: 30d, log: 60d }
sources:
  - name: mailjet
    provider: mailjet
    auth: { basic: { user: hookd, password: "${HOOKD_CHECK_TOKEN}" } }
`)
	}
	retentionPostgres := retention("retention-postgres.yaml", `log: { backend: postgres, dsn: "postgres://hookd@db/hookd" }`)
	retentionNATS := retention("retention-nats.yaml", `log: { backend: nats, url: "nats://127.0.0.1:4222" }`)
	retentionSQLite := retention("retention-sqlite.yaml", `log: { backend: sqlite }`)
	badDSN := writeFile(t, "bad-dsn.yaml", `
log: { backend: postgres, dsn: "postgres://hookd:s3cret-pw@db:abc/hookd" }
store: { driver: postgres, dsn: "host=db password=s3cret-pw sslmode=nope" }
sources:
  - name: mailjet
    provider: mailjet
`)
	weak := writeFile(t, "weak.yaml", `
sources:
  - name: mailjet
    provider: mailjet
    auth: { basic: { user: hookd, password: "abc" } }
`)
	shortSecret := writeFile(t, "short-secret.yaml", `
sources:
  - name: app
    provider: standardwebhooks
    verify: { secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" }
`)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	// Rule files resolve against the directory of the configuration.
	ruleDir := t.TempDir()
	for name, content := range map[string]string{
		"rules/good.yaml": `
rules:
  - name: alert
    when: type == "blocked" && count("blocked", "domain", "15m") > 10
    cooldown: 1h
    actions:
      - http: { url: "https://alerts.example.com/hook" }
      - log: { message: "{{ .domain }} blocks" }
  - name: note
    when: type == "open"
    actions:
      - log: {}
`,
		"rules/bad.yaml": `
rules:
  - name: broken
    when: type == 1
    actions:
      - sms: { to: "{{ .email }}" }
      - http: { url: "{{ .data.url }}" }
`,
	} {
		path := filepath.Join(ruleDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	source := "sources:\n  - name: mailjet\n    provider: mailjet\n"
	withRules := filepath.Join(ruleDir, "rules.yaml")
	if err := os.WriteFile(withRules, []byte(source+"rules:\n  - rules/good.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(ruleDir, "bad-rules.yaml")
	if err := os.WriteFile(badRules, []byte(source+"rules:\n  - rules/*.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRuleFile := filepath.Join(ruleDir, "rules", "bad.yaml")
	// Each of these files holds problems in independent parts, and
	// others that would only follow from one of them.
	independent := map[string]string{
		// A misspelled key in one source, a bad port elsewhere: the
		// source's "provider: required" and "auth names no method"
		// follow from the misspelling.
		"unknown-key.yaml": `
listen: ":99999"
sources:
  - name: mailjet
    provder: mailjet
    auth: { tokn: { value: "${HOOKD_CHECK_TOKEN}" } }
  - name: other
    provider: nope
`,
		// A problem of the configuration, and of a rule file: the
		// rule files are compiled all the same.
		"with-rules.yaml": source + `limits: { read_timeout: soon }
store: { driver: mysql }
rules:
  - rules/*.yaml
`,
		// smtp did not decode: the rule files, whose email actions are
		// checked against it, are not compiled.
		"smtp-rules.yaml": source + `smtp: { hots: mail.example.com, from: shop@example.com }
listen: ":99999"
rules:
  - email-rules/*.yaml
`,
		"email-rules/email.yaml": `
rules:
  - name: mail
    when: type == "open"
    actions:
      - email: { to: "{{ .email }}", subject: hi, text: hi }
`,
	}
	for name, content := range independent {
		path := filepath.Join(ruleDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unknownKey := filepath.Join(ruleDir, "unknown-key.yaml")
	withRulesBad := filepath.Join(ruleDir, "with-rules.yaml")
	smtpRules := filepath.Join(ruleDir, "smtp-rules.yaml")
	const unauthenticated = `warning: source "mailjet" accepts unauthenticated requests: anyone who knows POST /hooks/mailjet can post events` + "\n"
	tests := []struct {
		name string
		args []string
		// want is the whole of stdout when the check passes, or the
		// lines the error must contain when it fails; stderr is the
		// whole of the warnings.
		want    string
		stderr  string
		wantErr []string
	}{
		{
			name:   "built-in default",
			args:   []string{"check"},
			want:   "built-in hookd.yaml: ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
			stderr: unauthenticated,
		},
		{
			name:   "good file",
			args:   []string{"check", "--config", good},
			want:   good + ": ok (2 sources: mailjet at POST /hooks/mailjet, transactional at POST /in/transactional; log sqlite; store sqlite; 0 rules)\n",
			stderr: unauthenticated,
		},
		{
			name: "every source authenticated: no warning",
			args: []string{"check", "--config", authOnly},
			want: authOnly + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
		},
		{
			name:   "a short basic auth password: a warning",
			args:   []string{"check", "--config", weak},
			want:   weak + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
			stderr: `warning: source "mailjet": auth.basic.password is shorter than 16 bytes: refused requests are not throttled, so a short one can be guessed` + "\n",
		},
		{
			name:   "a Standard Webhooks secret shorter than 24 bytes: a warning",
			args:   []string{"check", "--config", shortSecret},
			want:   shortSecret + ": ok (1 source: app at POST /hooks/app; log sqlite; store sqlite; 0 rules)\n",
			stderr: `warning: source "app": verify.secret is 16 bytes, shorter than the 24 the Standard Webhooks specification asks for: have the sender issue a new secret` + "\n",
		},
		{
			name:   "a rules pattern that matches nothing: a warning",
			args:   []string{"check", "--config", noRules},
			want:   noRules + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
			stderr: "warning: rules: " + filepath.Join(filepath.Dir(noRules), "nothere", "*.yaml") + " matches no file\n",
		},
		{
			name:   "an open admin listener without a token: a warning",
			args:   []string{"check", "--config", authOnly, "--admin-listen", "0.0.0.0:8081"},
			want:   authOnly + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
			stderr: "warning: admin listener 0.0.0.0:8081 is reachable beyond this machine without admin.token: anyone who reaches it can read every event and retry or delete\n",
		},
		{
			name:   "smtp port 465 with starttls: a warning",
			args:   []string{"check", "--config", smtp465},
			want:   smtp465 + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
			stderr: "warning: smtp: port 465 speaks TLS from the first byte: set tls: tls (or port: 587 for starttls), unless this relay is set up otherwise\n",
		},
		{
			name: "an admin listener on localhost: no warning",
			args: []string{"check", "--config", authOnly, "--admin-listen", "localhost:8081"},
			want: authOnly + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
		},
		{
			name: "retention.log with a postgres log: no warning",
			args: []string{"check", "--config", retentionPostgres},
			want: retentionPostgres + ": ok (1 source: mailjet at POST /hooks/mailjet; log postgres; store sqlite; 0 rules)\n",
		},
		{
			name: "retention.log with a nats log: no warning",
			args: []string{"check", "--config", retentionNATS},
			want: retentionNATS + ": ok (1 source: mailjet at POST /hooks/mailjet; log nats; store sqlite; 0 rules)\n",
		},
		{
			name: "retention.log with the sqlite log: no warning",
			args: []string{"check", "--config", retentionSQLite},
			want: retentionSQLite + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 0 rules)\n",
		},
		{
			name: "flags are applied",
			args: []string{"check", "--config", good, "--listen", "nowhere"},
			wantErr: []string{
				`--listen: invalid address "nowhere": want host:port, such as ":8080" or "127.0.0.1:8081"`,
			},
		},
		{
			name: "bad file",
			args: []string{"check", "--config", bad},
			wantErr: []string{
				bad + `:4:15: sources[0].provider: unknown provider "nope" (known: `,
				bad + `:6:7: sources[0].auth.basic.password: required`,
			},
		},
		{
			name:   "rules",
			args:   []string{"check", "--config", withRules},
			want:   withRules + ": ok (1 source: mailjet at POST /hooks/mailjet; log sqlite; store sqlite; 2 rules)\n",
			stderr: unauthenticated,
		},
		{
			name: "bad rules",
			args: []string{"check", "--config", badRules},
			wantErr: []string{
				badRuleFile + `:4:16: rule "broken": when: invalid operation: == (mismatched types string and int)`,
				` | type == 1`,
				` | .....^`,
				badRuleFile + `:6:9: rule "broken": actions[0].sms: action "sms": unknown action (known: email, exec, http, log, mailjet_send, mailjet_unsubscribe, suppress)`,
				badRuleFile + `:7:22: rule "broken": actions[1].http.url: must not be a template`,
			},
		},
		{
			name: "dsns that do not parse, without their password",
			args: []string{"check", "--config", badDSN},
			wantErr: []string{
				badDSN + `:2:32: log.dsn: cannot parse: invalid port`,
				badDSN + `:3:33: store.dsn: cannot parse: failed to configure TLS (sslmode is invalid)`,
			},
		},
		{
			name: "problems in independent parts of the file, in one run",
			args: []string{"check", "--config", unknownKey},
			wantErr: []string{
				unknownKey + `:2:9: listen: invalid port "99999" in ":99999"`,
				unknownKey + `:5:5: sources[0].provder: unknown field "provder"`,
				unknownKey + `:6:13: sources[0].auth.tokn: unknown field "tokn"`,
				unknownKey + `:8:15: sources[1].provider: unknown provider "nope"`,
			},
		},
		{
			name: "the configuration's problems, then the rule files'",
			args: []string{"check", "--config", withRulesBad},
			wantErr: []string{
				withRulesBad + `:4:25: limits.read_timeout: invalid duration "soon"`,
				withRulesBad + `:5:18: store.driver: unknown driver "mysql"`,
				badRuleFile + `:4:16: rule "broken": when: invalid operation: == (mismatched types string and int)`,
				` | type == 1`,
				` | .....^`,
				badRuleFile + `:6:9: rule "broken": actions[0].sms: action "sms": unknown action`,
				badRuleFile + `:7:22: rule "broken": actions[1].http.url: must not be a template`,
			},
		},
		{
			name: "no rule files compiled against an smtp that did not decode",
			args: []string{"check", "--config", smtpRules},
			wantErr: []string{
				smtpRules + `:4:9: smtp.hots: unknown field "hots"`,
				smtpRules + `:5:9: listen: invalid port "99999" in ":99999"`,
			},
		},
		{
			name:    "missing file",
			args:    []string{"check", "--config", missing},
			wantErr: []string{"load config: open " + missing + ": no such file or directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runHookd(t, tt.args...)
			if stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q (main prints the error)", stderr, tt.stderr)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("hookd %s: %v", strings.Join(tt.args, " "), err)
				}
				if stdout != tt.want {
					t.Errorf("stdout = %q, want %q", stdout, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("hookd %s succeeded with %q, want an error", strings.Join(tt.args, " "), stdout)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing on error", stdout)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error reveals a password: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.wantErr) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.wantErr), err)
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(lines[i], want) {
					t.Errorf("error line %d = %q, want it to contain %q", i+1, lines[i], want)
				}
			}
		})
	}
}

// publicKeyDER returns a new ECDSA P-256 public key in DER, the kind of
// key SendGrid verifies its events with.
func publicKeyDER(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCheckProviders checks a configuration with every provider: the good
// one passes, and each provider's verify and map problems are reported at
// their file, line, column and field, without the secrets.
func TestCheckProviders(t *testing.T) {
	der := publicKeyDER(t)
	t.Setenv("HOOKD_SG_KEY", base64.StdEncoding.EncodeToString(der))
	// PEM, as SendGrid's libraries write the key, in a variable and inline.
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	t.Setenv("HOOKD_SG_PEM", pemKey)
	t.Setenv("HOOKD_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t.Setenv("HOOKD_WHPK", "whpk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g=")
	good := writeFile(t, "providers.yaml", `
sources:
  - { name: sendgrid, provider: sendgrid, verify: { public_key: "${HOOKD_SG_KEY}" } }
  - { name: sendgrid-pem, provider: sendgrid, verify: { public_key: "${HOOKD_SG_PEM}" } }
  - name: sendgrid-inline-pem
    provider: sendgrid
    verify:
      public_key: |
        `+strings.ReplaceAll(strings.TrimSpace(pemKey), "\n", "\n        ")+`
  - { name: mailgun, provider: mailgun, verify: { signing_key: "key-0123456789abcdef0123" } }
  - { name: postmark, provider: postmark, auth: { basic: { user: pm, password: "a-postmark-password" } } }
  - { name: ses, provider: ses, verify: { topic_arns: ["arn:aws:sns:eu-west-1:123456789012:ses-events"] } }
  - { name: app, provider: standardwebhooks, verify: { secret: "${HOOKD_WHSEC}" } }
  - { name: github, provider: generic, verify: { hmac: { header: X-Hub-Signature-256, algorithm: sha256, encoding: hex, prefix: "sha256=", secret: "a-github-secret" } },
      map: { type: 'headers["X-Github-Event"]', id: 'headers["X-Github-Delivery"]' } }
  - { name: app-bare-secret, provider: standardwebhooks, verify: { secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } }
  - { name: app-public-key, provider: standardwebhooks, verify: { public_key: "${HOOKD_WHPK}" } }
  - { name: app-both, provider: standardwebhooks, verify: { public_key: "${HOOKD_WHPK}", secret: "${HOOKD_WHSEC}" } }
  - { name: mailgun-parent, provider: mailgun, verify: { parent_signing_key: "key-parent-0123456789abcdef" } }
`)
	out, stderr, err := runHookd(t, "check", "--config", good)
	if err != nil {
		t.Fatalf("check %s: %v", good, err)
	}
	if !strings.Contains(out, "12 sources") {
		t.Fatalf("check output: %s", out)
	}
	// postmark has credentials in auth; every other source verifies.
	if strings.Contains(stderr, "unauthenticated") {
		t.Fatalf("check warns of a source that verifies: %s", stderr)
	}

	bad := writeFile(t, "bad-providers.yaml", `
sources:
  - name: sendgrid
    provider: sendgrid
    verify: { public_key: "bm90IGEga2V5" }
  - name: app
    provider: standardwebhooks
    verify: { secret: "plain-secret-value" }
  - name: github
    provider: generic
    verify: { hmac: { header: X-Sig, algorithm: md5, secret: "a-github-secret" } }
    map: { type: 'event ==' }
  - name: ses
    provider: ses
    verify: { topic_arns: ["not-an-arn"] }
  - name: mj
    provider: mailjet
    verify: { secret: "plain-secret-value" }
  - name: sendgrid-certificate
    provider: sendgrid
    verify:
      public_key: |
        -----BEGIN CERTIFICATE-----
        bm90IGEga2V5
        -----END CERTIFICATE-----
  - name: sendgrid-neither
    provider: sendgrid
    verify: { public_key: "not a key at all" }
  - name: app-private-key
    provider: standardwebhooks
    verify: { public_key: "whsk_cGxhaW4tc2VjcmV0LXZhbHVlLXBsYWluLXNlY3JldC12YWx1ZQ==" }
  - name: app-nothing
    provider: standardwebhooks
    verify: { tolerance: 1m }
  - name: mailgun-parent
    provider: mailgun
    verify: { parent_signing_key: "plain-secret" }
`)
	_, _, err = runHookd(t, "check", "--config", bad)
	if err == nil {
		t.Fatal("check accepted bad provider settings")
	}
	msg := err.Error()
	for _, want := range []string{
		bad + ":5:27: sources[0].verify.public_key: not a DER public key",
		bad + ":8:23: sources[1].verify.secret: want the base64 of at least 16 bytes, after \"whsec_\" or without it",
		bad + ":11:49: sources[2].verify.hmac.algorithm: unknown algorithm \"md5\"",
		bad + ":12:18: sources[2].map.type: compile:",
		bad + ":15:28: sources[3].verify.topic_arns[0]: \"not-an-arn\" is not an SNS topic ARN",
		bad + ":18:5: sources[4].verify: mailjet signs nothing",
		bad + `:22:19: sources[5].verify.public_key: PEM block "CERTIFICATE": want PUBLIC KEY`,
		bad + ":28:27: sources[6].verify.public_key: neither base64 nor PEM: want the verification key as SendGrid's settings show it (base64), or as PEM (-----BEGIN PUBLIC KEY-----)",
		bad + `:31:27: sources[7].verify.public_key: a "whsk_" key is the sender's private signing key, which a receiver never needs: want "whpk_" and the base64 of a 32-byte Ed25519 public key`,
		bad + `:34:5: sources[8].verify.secret: required: the endpoint's secret ("whsec_" and base64), or verify.public_key ("whpk_" and base64) for asymmetric signatures`,
		bad + ":37:35: sources[9].verify.parent_signing_key: too short: want at least 16 bytes, the primary account's",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "plain-secret") || strings.Contains(msg, "a-github-secret") || strings.Contains(msg, "cGxhaW4tc2VjcmV0") {
		t.Errorf("error reveals a secret:\n%s", msg)
	}
}

// TestCheckExampleSources uncomments the example sources of
// configs/hookd-example.yaml, the lines "  # - name:" and those indented
// below them, and checks them with their variables and secret file set:
// what the example shows is a configuration hookd takes.
func TestCheckExampleSources(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "configs", "hookd-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	yaml.WriteString("sources:\n")
	in := false
	for line := range strings.Lines(string(example)) {
		switch {
		case strings.HasPrefix(line, "sources:"):
			in = true
		case in && line != "\n" && !strings.HasPrefix(line, " "):
			in = false
		case in:
			if rest, ok := strings.CutPrefix(line, "  # "); ok && (strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "  ")) {
				yaml.WriteString("  " + rest)
			}
		}
	}
	for _, want := range []string{"provider: sendgrid", "provider: mailgun", "parent_signing_key:", "provider: standardwebhooks", "public_key: \"${APP_WEBHOOK_PUBLIC_KEY}\"", "provider: generic", "timestamp_header:", "map:"} {
		if !strings.Contains(yaml.String(), want) {
			t.Fatalf("the example's commented sources lack %q:\n%s", want, yaml.String())
		}
	}
	der := publicKeyDER(t)
	t.Setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(der))
	t.Setenv("APP_WEBHOOK_PUBLIC_KEY", "whpk_NZHzzL1cq0FsjMyijqN1IWRXXoKHyF4sK6qY77Q5g6g=")
	t.Setenv("BILLING_WEBHOOK_SECRET", "billing-secret-0123456789")
	path := writeFile(t, "example-sources.yaml", yaml.String())
	if err := os.MkdirAll(filepath.Join(filepath.Dir(path), "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "secrets", "mailgun-primary.key"), []byte("key-primary-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runHookd(t, "check", "--config", path)
	if err != nil {
		t.Fatalf("check of the example's sources:\n%s\n%v", yaml.String(), err)
	}
	if !strings.Contains(out, "4 sources") || stderr != "" {
		t.Fatalf("check output: %s%s", out, stderr)
	}
}

// TestCheckTemplateFiles loads rules whose email bodies are template files
// that do not load: check and test name the rule file's place of the
// parameter and, after it, the template file's line and column.
func TestCheckTemplateFiles(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"hookd.yaml": "sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n",
		"rules/discount.yaml": `rules:
  - name: discount
    when: type == "open"
    actions:
      - email:
          to: "{{ .email }}"
          subject: "Your 10% discount"
          html: templates/discount.html
          text: templates/discount.txt
`,
		"rules/templates/discount.html": "<p>Hello,</p>\n<p>your code, {{ .emial }}</p>\n",
		"rules/templates/discount.txt":  "Hello,\nyour code {{ .email }\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, rules, templates := filepath.Join(dir, "hookd.yaml"), filepath.Join(dir, "rules", "discount.yaml"), filepath.Join(dir, "rules", "templates")
	want := []string{
		rules + `:8:17: rule "discount": actions[0].email.html: ` + filepath.Join(templates, "discount.html") + `:2:17: template reads .emial, which no event has`,
		rules + `:9:17: rule "discount": actions[0].email.text: ` + filepath.Join(templates, "discount.txt") + `:2: unexpected "}" in operand`,
	}
	for _, args := range [][]string{
		{"check", "--config", cfg},
		{"test", "--config", cfg, "--event", filepath.Join("testdata", "test", "bounce.json")},
	} {
		t.Run(args[0], func(t *testing.T) {
			_, _, err := runHookd(t, args...)
			if err == nil {
				t.Fatal("the rules loaded")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestCheckDataDirectory: check warns of a data directory that serve
// would refuse at start (a file, or missing with its parent, which serve
// does not make), without failing, since the configuration may be checked
// on another machine than serve's.
func TestCheckDataDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, warning string
	}{
		{"exists", dir, ""},
		{"made by serve", filepath.Join(dir, "new"), ""},
		{"a file", file, "warning: data " + file + " is not a directory: serve would refuse to start"},
		{"parent missing", filepath.Join(dir, "missing", "data"), "warning: data " + filepath.Join(dir, "missing", "data") + ": " + filepath.Join(dir, "missing") + " does not exist, and serve makes the data directory, not its parents"},
		{"parent a file", filepath.Join(file, "data"), "warning: data " + filepath.Join(file, "data") + ": " + file + " is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runHookd(t, "check", "--data", tc.data)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if got := strings.Contains(stderr, "warning: data "); got != (tc.warning != "") || !strings.Contains(stderr, tc.warning) {
				t.Errorf("check --data %s: stderr\n%s\nwant %q", tc.data, stderr, tc.warning)
			}
		})
	}
}

// TestCheckHTTPCAFile checks that an http action's ca_file is read when
// the rules load: one that is missing, or holds no certificate, is an
// error naming the rule file, line and column.
func TestCheckHTTPCAFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, caFile, want string }{
		{"missing", filepath.Join(dir, "missing.pem"), "open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"not PEM", notPEM, "no PEM certificate in " + notPEM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules := filepath.Join(t.TempDir(), "rules.yaml")
			if err := os.WriteFile(rules, []byte(`rules:
  - name: alert
    when: type == "bounce"
    actions:
      - http: { url: "https://alerts.example.com/", ca_file: "`+tt.caFile+`" }
`), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := writeFile(t, "hookd.yaml", "sources: [{name: mailjet, provider: mailjet}]\nrules: ["+rules+"]\n")
			_, _, err := runHookd(t, "check", "--config", cfg)
			if want := rules + `:5:62: rule "alert": actions[0].http.ca_file: ` + tt.want; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("hookd check = %v, want an error containing %q", err, want)
			}
		})
	}
}
