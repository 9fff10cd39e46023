package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/golden"

	"github.com/goccy/go-yaml"
	"github.com/spf13/pflag"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/listener"
	_ "github.com/hookd/hookd/listener/generic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/errors")

// known is what a binary with three providers and three log backends would
// pass; of the providers, generic checks its sources' verify and map.
var known = config.Known{Providers: []string{"generic", "mailjet", "ses"}, Backends: []string{"nats", "postgres", "sqlite"},
	Source: listener.CheckSource}

// secret is the value of HOOKD_TEST_SECRET: YAML's special characters, so
// that a naive textual expansion would change the document.
const secret = `p#ss: "w'rd" {x}, - [y] & *z ! % @ ` + "`\nline2"

func setEnv(t *testing.T) {
	t.Setenv("HOOKD_TEST_SECRET", secret)
	t.Setenv("HOOKD_TEST_USER", `a" #b`)
	t.Setenv("HOOKD_TEST_SIZE", "2MiB")
	t.Setenv("HOOKD_TEST_DURATION", "45s")
	t.Setenv("HOOKD_TEST_COUNT", "250")
	t.Setenv("HOOKD_TEST_EMPTY", "")
	for _, name := range []string{"HOOKD_TEST_UNSET", "HOOKD_TEST_UNSET_TOKEN"} {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
}

// defaults is what minimal.yaml, which has only sources, loads as: data
// is "data" beside the file, or "./data" of the working directory for the
// built-in configuration.
func defaults(file string) *config.Config {
	data := "./data"
	if file != "" {
		data = filepath.Join(filepath.Dir(file), "data")
	}
	return &config.Config{
		Listen: ":8080",
		Admin: config.Admin{Listen: "127.0.0.1:8081", QueryTimeout: 30 * time.Second,
			Throttle: config.Throttle{Failures: 10, Window: time.Minute}},
		Data:  data,
		Log:   eventlog.Config{Backend: "sqlite"},
		Store: config.Store{Driver: "sqlite"},
		Limits: config.Limits{
			MaxBody:           1 << 20,
			MaxEvents:         10000,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			BatchWait:         250 * time.Microsecond,
			BatchSize:         1000,
			WriteTimeout:      90 * time.Second,
			MaxConcurrent:     1024,
			MaxInflight:       16 << 20,
		},
		RequestLog: "all",
		Sources:    []config.Source{{Name: "mailjet", Provider: "mailjet", Path: "/hooks/mailjet"}},
		Mailjet:    config.Mailjet{APIURL: "https://api.mailjet.com", CheckInterval: 15 * time.Minute},
		File:       file,
	}
}

func TestLoad(t *testing.T) {
	setEnv(t)
	tests := []struct {
		name string
		path string
		want func() *config.Config
	}{
		{
			name: "only sources gets every default",
			path: "testdata/minimal.yaml",
			want: func() *config.Config { return defaults("testdata/minimal.yaml") },
		},
		{
			name: "built-in default",
			path: "",
			want: func() *config.Config { return defaults("") },
		},
		{
			name: "every key set",
			path: "testdata/full.yaml",
			want: func() *config.Config {
				return &config.Config{
					Listen: "0.0.0.0:9000",
					Admin: config.Admin{Listen: "127.0.0.1:9001", Token: "an-admin-token-of-32-bytes-length",
						QueryTimeout: 10 * time.Second, Hosts: []string{"hookd.example.com", "10.0.0.5"}, SecureCookie: true,
						Throttle: config.Throttle{Failures: 5, Window: 10 * time.Minute}},
					Data:  "/var/lib/hookd",
					Log:   eventlog.Config{Backend: "postgres", DSN: "postgres://hookd@db/hookd"},
					Store: config.Store{Driver: "postgres", DSN: "postgres://hookd@db/hookd"},
					Limits: config.Limits{
						MaxBody:           512 << 10,
						MaxEvents:         2000,
						ReadHeaderTimeout: 5 * time.Second,
						ReadTimeout:       time.Minute,
						BatchWait:         2 * time.Millisecond,
						BatchSize:         100,
						WriteTimeout:      150 * time.Second,
						MaxConcurrent:     64,
						MaxInflight:       4 << 20,
					},
					RequestLog: "failures",
					Sources: []config.Source{{
						Name: "mailjet", Provider: "mailjet", Path: "/in/mj",
						Auth: config.Auth{Token: &config.TokenAuth{Value: "0123456789abcdef", Param: "token"}},
					}, {
						Name: "app", Provider: "generic", Path: "/hooks/app", MaxBody: 64 << 10, MaxEvents: 100,
						RateLimit: config.RateLimit{Rate: 2.5, Burst: 10},
						Verify: config.Verify{
							Tolerance: 2 * time.Minute,
							Header:    &config.HeaderSecret{Name: "X-Token", Value: "header-token-from-a-file"},
							HMAC: &config.HMAC{Header: "Stripe-Signature", Algorithm: "sha256", Encoding: "hex",
								Secret: "hmac secret: from a file", Payload: "timestamp.body", Format: "stripe"},
						},
						Map: config.Map{Type: "event", Time: "ts", ID: "id", Email: "to", MessageID: "msg", Campaign: "c",
							Category: `"open"`, BounceClass: "nil"},
					}, {
						Name: "ses", Provider: "ses", Path: "/hooks/ses",
						Verify: config.Verify{TopicARNs: []string{"arn:aws:sns:eu-west-1:123456789012:ses-events"}, ConfirmSubscription: true},
					}},
					SMTP: config.SMTP{Host: "smtp.example.com", Port: 2525, TLS: "tls", Username: "shop",
						Password: "smtp-password", From: "Shop <shop@example.com>"},
					Mailjet: config.Mailjet{APIURL: "https://api.us.mailjet.com", APIKey: "public-key",
						APISecret: "private-key", CheckInterval: 5 * time.Minute},
					Rules:     []string{"rules/*.yaml", "extra.yaml"},
					Retention: config.Retention{Events: config.Period(90 * 24 * time.Hour), Log: config.Period(400 * 24 * time.Hour)},
					File:      "testdata/full.yaml",
				}
			},
		},
		{
			name: "environment variables expand in values without changing the document",
			path: "testdata/env.yaml",
			want: func() *config.Config {
				c := defaults("testdata/env.yaml")
				c.Admin.Token = secret
				c.Limits.MaxBody = 2 << 20
				c.Limits.MaxEvents = 20000 // 10000 a MiB of max_body
				c.Limits.ReadTimeout = 45 * time.Second
				c.Limits.WriteTimeout = 45*time.Second + time.Minute
				c.Limits.BatchSize = 250
				c.Sources = []config.Source{
					{Name: "plain", Provider: "mailjet", Path: "/hooks/plain",
						Auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: secret}}},
					{Name: "quoted", Provider: "mailjet", Path: "/hooks/quoted",
						Auth: config.Auth{Basic: &config.BasicAuth{User: `u-a" #b`, Password: secret}}},
					{Name: "single-quoted", Provider: "mailjet", Path: "/hooks/single-quoted",
						Auth: config.Auth{Token: &config.TokenAuth{Value: secret + secret, Param: "token"}}},
					{Name: "literal", Provider: "mailjet", Path: "/hooks/${literal}/$x"},
				}
				return c
			},
		},
		{
			name: "anchors, aliases and merge keys",
			path: "testdata/anchors.yaml",
			want: func() *config.Config {
				c := defaults("testdata/anchors.yaml")
				auth := config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: secret}}
				c.Sources = []config.Source{
					{Name: "mailjet", Provider: "mailjet", Path: "/hooks/mailjet", Auth: auth},
					{Name: "mailjet-eu", Provider: "mailjet", Path: "/hooks/mailjet-eu", Auth: auth},
					{Name: "mailjet-us", Provider: "mailjet", Path: "/hooks/mailjet-us", Auth: auth},
				}
				return c
			},
		},
		{
			name: "merge keys: a key written wins, the first merged next",
			path: "testdata/merge-override.yaml",
			want: func() *config.Config {
				c := defaults("testdata/merge-override.yaml")
				auth := config.Auth{Token: &config.TokenAuth{Value: secret, Param: "token"}}
				c.Sources = []config.Source{
					{Name: "mailjet-eu", Provider: "mailjet", Path: "/in/eu", Auth: auth},
					{Name: "mailjet-us", Provider: "mailjet", Path: "/in/us", Auth: auth},
					{Name: "sendgrid", Provider: "generic", Path: "/in/sendgrid", Auth: auth},
					{Name: "again", Provider: "mailjet", Path: "/in/again", Auth: auth},
					{Name: "again-too", Provider: "mailjet", Path: "/in/again-too", Auth: auth},
				}
				return c
			},
		},
		{
			name: "numbers and booleans in string fields keep their text",
			path: "testdata/numbers.yaml",
			want: func() *config.Config {
				c := defaults("testdata/numbers.yaml")
				c.Sources = []config.Source{
					{Name: "0123", Provider: "mailjet", Path: "/hooks/0123",
						Auth: config.Auth{Basic: &config.BasicAuth{User: "true", Password: "0123"}}},
					{Name: "1e3", Provider: "mailjet", Path: "/hooks/1e3",
						Auth: config.Auth{Basic: &config.BasicAuth{User: "0x1F", Password: "1e3"}}},
				}
				return c
			},
		},
		{
			name: "smtp defaults: port 465 with tls, 587 otherwise",
			path: "testdata/smtp.yaml",
			want: func() *config.Config {
				c := defaults("testdata/smtp.yaml")
				c.SMTP = config.SMTP{Host: "localhost", Port: 465, TLS: "tls", From: "shop@example.com"}
				return c
			},
		},
		{
			name: "a relative smtp.ca_file resolves against the file's directory",
			path: "testdata/sub/smtp-ca.yaml",
			want: func() *config.Config {
				c := defaults("testdata/sub/smtp-ca.yaml")
				c.SMTP = config.SMTP{Host: "relay.internal", Port: 587, TLS: "starttls", From: "shop@example.com",
					CAFile: filepath.Join("testdata", "sub", "relay-ca.pem")}
				return c
			},
		},
		{
			name: "relative data resolves against the file's directory",
			path: "testdata/sub/relative-data.yaml",
			want: func() *config.Config {
				c := defaults("testdata/sub/relative-data.yaml")
				c.Data = filepath.Join("testdata", "sub", "state")
				return c
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.path, known)
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.path, err)
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("Load(%q) =\n%s\nwant\n%s", tt.path, dump(t, got), dump(t, want))
			}
		})
	}
}

func dump(t *testing.T, c *config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "file: " + c.File
}

func TestLoadExample(t *testing.T) {
	t.Setenv("HOOKD_ADMIN_TOKEN", "admin-token-0123456789")
	t.Setenv("MAILJET_HOOK_PASSWORD", "hook-password")
	t.Setenv("MAILJET_TRANSACTIONAL_TOKEN", "transactional-token-0123456789")
	path := filepath.Join("..", "configs", "hookd-example.yaml")
	c, err := config.Load(path, known)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	if c.Admin.Token != "admin-token-0123456789" {
		t.Errorf("admin.token = %q", c.Admin.Token)
	}
	if want := (config.Throttle{Failures: 10, Window: time.Minute}); c.Admin.Throttle != want {
		t.Errorf("admin.throttle = %+v, want %+v", c.Admin.Throttle, want)
	}
	if c.Data != filepath.Join("..", "configs", "data") {
		t.Errorf("data = %q, want it relative to the file", c.Data)
	}
	want := []config.Source{
		{Name: "mailjet", Provider: "mailjet", Path: "/hooks/mailjet",
			Auth: config.Auth{Basic: &config.BasicAuth{User: "hookd", Password: "hook-password"}}},
		{Name: "mailjet-transactional", Provider: "mailjet", Path: "/in/transactional",
			Auth: config.Auth{Token: &config.TokenAuth{Value: "transactional-token-0123456789", Param: "key"}}},
	}
	if !reflect.DeepEqual(c.Sources, want) {
		t.Errorf("sources = %+v, want %+v", c.Sources, want)
	}
	if want := []string{"rules/*.yaml"}; !reflect.DeepEqual(c.Rules, want) {
		t.Errorf("rules = %q, want %q", c.Rules, want)
	}
	if want := (config.Retention{Events: config.Period(90 * 24 * time.Hour), Log: config.Period(400 * 24 * time.Hour)}); c.Retention != want {
		t.Errorf("retention = %+v, want %+v", c.Retention, want)
	}
}

// TestLoadErrors loads every testdata/errors/NAME.yaml and compares the
// error with NAME.golden; go test -update rewrites the golden files.
func TestLoadErrors(t *testing.T) {
	setEnv(t)
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(file, known)
			if err == nil {
				t.Fatalf("Load(%q) succeeded, want an error", file)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("Load(%q) error %T is not a *config.Error", file, err)
			}
			got := err.Error() + "\n"
			for _, s := range []string{secret, "short-secret", "long-enough", "postgres://"} {
				if strings.Contains(got, s) {
					t.Errorf("error reveals the secret %q:\n%s", s, got)
				}
			}
			goldenPath := strings.TrimSuffix(file, ".yaml") + ".golden"
			golden.Check(t, goldenPath, []byte(got), *update)
		})
	}
}

// TestDSNErrors: a PostgreSQL connection string that pgx cannot parse is
// an error of its field that says why, never with the password.
func TestDSNErrors(t *testing.T) {
	const password = "s3cret-pw"
	tests := []struct {
		name string
		yaml string // ${HOOKD_TEST_DSN} stands for dsn
		dsn  string
		want string // after the file's name
	}{
		{
			name: "log: bad sslmode",
			yaml: "log: { backend: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\n",
			dsn:  "postgres://hookd:" + password + "@db:5432/hookd?sslmode=bogus",
			want: ":1:32: log.dsn: cannot parse: failed to configure TLS (sslmode is invalid)",
		},
		{
			name: "log: port not a number",
			yaml: "log:\n  backend: postgres\n  dsn: ${HOOKD_TEST_DSN}\n",
			dsn:  "postgres://hookd:" + password + "@db:abc/hookd",
			want: ":3:8: log.dsn: cannot parse: invalid port",
		},
		{
			name: "store: bad escape in the password",
			yaml: "store: { driver: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\n",
			dsn:  "postgres://hookd:" + password + "%ZZ@db/hookd",
			want: ":1:33: store.dsn: cannot parse: failed to parse as URL (invalid percent-encoded token in password)",
		},
		{
			name: "store: keyword/value form, bad sslmode",
			yaml: "store: { driver: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\n",
			dsn:  "host=db user=hookd password=" + password + " sslmode=nope",
			want: ":1:33: store.dsn: cannot parse: failed to configure TLS (sslmode is invalid)",
		},
		{
			name: "store: keyword/value form, a password without its keyword",
			yaml: "store: { driver: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\n",
			dsn:  "host=db user=hookd " + password + " sslmode=disable",
			want: ":1:33: store.dsn: cannot parse: failed to parse as keyword/value (missing \"=\" after a word in connection info string)",
		},
		{
			name: "both, one string",
			yaml: "log: { backend: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\nstore: { driver: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\n",
			dsn:  "postgres://hookd:" + password + "@db/hookd?connect_timeout=soon",
			want: ":1:32: log.dsn: cannot parse: invalid connect_timeout (strconv.ParseInt: parsing \"soon\": invalid syntax)\n" +
				"FILE:2:33: store.dsn: cannot parse: invalid connect_timeout (strconv.ParseInt: parsing \"soon\": invalid syntax)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOOKD_TEST_DSN", tt.dsn)
			file := filepath.Join(t.TempDir(), "hookd.yaml")
			src := tt.yaml + "sources: [{ name: mailjet, provider: mailjet }]\n"
			if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(file, known)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error reveals the password: %v", err)
			}
			if want := file + strings.ReplaceAll(tt.want, "FILE", file); err.Error() != want {
				t.Errorf("Load: %v\nwant %s", err, want)
			}
		})
	}
	t.Run("parses", func(t *testing.T) {
		t.Setenv("HOOKD_TEST_DSN", "host=db user=hookd password='"+password+"' sslmode=verify-full")
		file := filepath.Join(t.TempDir(), "hookd.yaml")
		src := "log: { backend: postgres, dsn: \"postgres://hookd:" + password + "@db/hookd?sslmode=disable&pool_max_conns=4\" }\n" +
			"store: { driver: postgres, dsn: \"${HOOKD_TEST_DSN}\" }\nsources: [{ name: mailjet, provider: mailjet }]\n"
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(file, known); err != nil {
			t.Errorf("Load: %v", err)
		}
	})
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

// TestLoadMergeBomb loads a file whose merge keys merge mappings that
// merge a mapping several times, several times over: it is refused at
// once, the source that merges them saying why, where expanding it would
// not end.
func TestLoadMergeBomb(t *testing.T) {
	const file = "testdata/merge-bomb.yaml"
	done := make(chan error, 1)
	go func() {
		_, err := config.Load(file, known)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Load(%s) has not returned after 10 s", file)
	}
	want := file + ":17:5: sources[0]: merge key: expands the file to more than 100000 mappings"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(%s) = %v, want an error %q", file, err, want)
	}
}

// TestLoadUnknownNames checks that without known names any provider and
// backend pass, and that known names are checked.
func TestLoadUnknownNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.yaml")
	src := "log: {backend: kafka}\nsources: [{name: s, provider: sendgrid}]\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Errorf("Load without known names: %v", err)
	}
	_, err := config.Load(path, config.Known{Providers: []string{"mailjet"}}, config.Known{Backends: []string{"sqlite"}})
	want := path + `:1:16: log.backend: unknown backend "kafka" (known: sqlite)` + "\n" +
		path + `:2:31: sources[0].provider: unknown provider "sendgrid" (known: mailjet)`
	if err == nil || err.Error() != want {
		t.Errorf("Load with known names: %v\nwant %s", err, want)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(*config.Config)
		wantErr string
	}{
		{
			name: "no flags: the built-in default",
			want: func(*config.Config) {},
		},
		{
			name: "flags win over the file",
			args: []string{"--config", "testdata/sub/relative-data.yaml", "--listen", ":9000", "--admin-listen", "127.0.0.1:9001", "--data", "here"},
			want: func(c *config.Config) {
				c.File = "testdata/sub/relative-data.yaml"
				c.Listen, c.Admin.Listen, c.Data = ":9000", "127.0.0.1:9001", "here"
			},
		},
		{
			name:    "a bad flag value names the flag",
			args:    []string{"--listen", "nowhere", "--admin-listen", "localhost:http"},
			wantErr: `--listen: invalid address "nowhere": want host:port, such as ":8080" or "127.0.0.1:8081"`,
		},
		{
			name:    "an empty --data is an error, not the flag left out",
			args:    []string{"--config", "testdata/sub/relative-data.yaml", "--data", ""},
			wantErr: "--data: given empty: give a directory, or leave --data out for the configuration's data",
		},
		{
			name:    "an empty --config",
			args:    []string{"--config="},
			wantErr: "--config: given empty: give a configuration file, or leave --config out for the built-in hookd.yaml",
		},
		{
			name:    "an empty --listen",
			args:    []string{"--listen", ""},
			wantErr: "--listen: given empty: give an address such as :8080, or leave --listen out for the configuration's listen",
		},
		{
			name:    "an empty --admin-listen",
			args:    []string{"--admin-listen="},
			wantErr: "--admin-listen: given empty: give an address such as 127.0.0.1:8081, or leave --admin-listen out for the configuration's admin.listen",
		},
		{
			name:    "the file's errors still name the file",
			args:    []string{"--config", "testdata/errors/postgres.yaml", "--data", "here"},
			wantErr: "testdata/errors/postgres.yaml:1:1: log.dsn: required with backend postgres\ntestdata/errors/postgres.yaml:3:1: store.dsn: required with driver postgres",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f config.Flags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.Load(known)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Load: %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults("")
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%s\nwant\n%s", dump(t, got), dump(t, want))
			}
		})
	}
}

// TestOnly loads files as a command that reads only the store does: what
// is outside data and store may hold unset variables and missing secret
// files, but every key is still checked for shape, and data and store are
// expanded and validated as always.
func TestOnly(t *testing.T) {
	setEnv(t)
	t.Setenv("HOOKD_TEST_DATA", "/var/lib/hookd")
	tests := []struct {
		name     string
		file     string
		only     []string
		wantData string
		wantErr  string
	}{
		{
			name:     "secrets outside data and store are left alone",
			file:     "testdata/only/secrets-unset.yaml",
			only:     []string{"data", "store"},
			wantData: "/var/lib/hookd",
		},
		{
			name:    "without Only the same file fails",
			file:    "testdata/only/secrets-unset.yaml",
			wantErr: "testdata/only/secrets-unset.yaml:5:10: admin.token: environment variable HOOKD_TEST_UNSET_TOKEN is not set",
		},
		{
			name:    "the store's own variable and unknown keys anywhere are still errors",
			file:    "testdata/only/store-unset.yaml",
			only:    []string{"data", "store"},
			wantErr: "testdata/only/store-unset.yaml:4:8: store.dsn: environment variable HOOKD_TEST_UNSET is not set\ntestdata/only/store-unset.yaml:8:5: sources[0].bogus: unknown field \"bogus\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&config.Flags{File: tt.file, Only: tt.only}).Load(known)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.Data != tt.wantData || got.Store.Driver != "sqlite" {
				t.Errorf("data %q, store %+v; want %q and sqlite", got.Data, got.Store, tt.wantData)
			}
		})
	}
}

func TestName(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"", "built-in hookd.yaml"},
		{"/etc/hookd/hookd.yaml", "/etc/hookd/hookd.yaml"},
	} {
		if got := (&config.Config{File: tt.file}).Name(); got != tt.want {
			t.Errorf("Config{File: %q}.Name() = %q, want %q", tt.file, got, tt.want)
		}
	}
}

// TestValidate checks a Config built in code: the errors name the fields,
// with no file position, and SetDefaults does not hide a negative limit.
func TestValidate(t *testing.T) {
	c := &config.Config{
		Listen:  ":99999",
		Admin:   config.Admin{Listen: "localhost:no-such-service", QueryTimeout: -time.Second},
		Sources: []config.Source{{Name: "mailjet", Provider: "mailjet"}},
		Limits:  config.Limits{MaxBody: -1, MaxEvents: -1, ReadTimeout: -time.Second, BatchSize: -1, BatchWait: 50 * time.Second},
	}
	c.SetDefaults()
	err := c.Validate()
	want := "listen: invalid port \"99999\" in \":99999\": want 0 to 65535 or a service name\n" +
		"admin.listen: invalid port \"no-such-service\" in \"localhost:no-such-service\": want 0 to 65535 or a service name\n" +
		"limits.max_body: must be positive\nlimits.max_events: must be positive\nlimits.read_timeout: must be positive\nlimits.batch_size: must be positive\n" +
		"admin.query_timeout: must be positive\nlimits.batch_wait: 50s is longer than 1s: every request waits for it"
	if err == nil || err.Error() != want {
		t.Errorf("Validate: %v\nwant %s", err, want)
	}
	c.Listen, c.Admin, c.Limits = ":http", config.Admin{Listen: "127.0.0.1:0"}, config.Limits{}
	c.SetDefaults()
	if err := c.Validate(known); err != nil {
		t.Errorf("Validate with defaults: %v", err)
	}

	c.Admin.QueryTimeout = time.Minute
	c.Limits = config.Limits{ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second}
	c.Sources[0].Auth.Basic = &config.BasicAuth{User: "ho:okd", Password: "secret"}
	c.SetDefaults()
	err = c.Validate(known)
	want = "limits.write_timeout: 10s is not longer than limits.read_timeout (30s): it counts from the end of the request headers, so it must cover reading the body too\n" +
		"admin.query_timeout: 1m0s is not shorter than limits.write_timeout (10s): the admin listener could not send the answer to a query that takes that long\n" +
		"sources[0].auth.basic.user: must not contain \":\": basic auth splits user and password at the first one, so no request could match"
	if err == nil || err.Error() != want {
		t.Errorf("Validate: %v\nwant %s", err, want)
	}

	// A write timeout shorter than a minute, set before query_timeout
	// existed, keeps the file valid: the default is then half of it.
	c.Admin.QueryTimeout = 0
	c.Limits = config.Limits{ReadTimeout: 10 * time.Second, WriteTimeout: 20 * time.Second}
	c.Sources[0].Auth.Basic.User = "hookd"
	c.SetDefaults()
	if err := c.Validate(known); err != nil || c.Admin.QueryTimeout != 10*time.Second {
		t.Errorf("Validate with write_timeout 20s: %v; query_timeout %v, want 10s", err, c.Admin.QueryTimeout)
	}

	// The largest batch, and the longest prefix whose postgres table
	// names PostgreSQL keeps whole (63 bytes with _offsets_quarantine).
	c.Limits.BatchSize = 100000
	c.Log = eventlog.Config{Backend: "postgres", DSN: "postgres://hookd@db/hookd", Prefix: strings.Repeat("p", 44)}
	if err := c.Validate(known); err != nil {
		t.Errorf("Validate with batch_size 100000 and a 44-byte postgres prefix: %v", err)
	}

	// The longest prefix whose nats consumer names JetStream accepts (255
	// bytes with store_ and _quarantine; see eventlog/nats
	// TestLongestPrefix).
	c.Log = eventlog.Config{Backend: "nats", URL: "nats://127.0.0.1:4222", Prefix: strings.Repeat("p", 238)}
	if err := c.Validate(known); err != nil {
		t.Errorf("Validate with a 238-byte nats prefix: %v", err)
	}
}

// TestListenPorts: listen and admin.listen may not take one port, which
// serve could not start with, written alike or not.
func TestListenPorts(t *testing.T) {
	for _, tt := range []struct {
		listen, admin string
		clash         bool
	}{
		{":8080", ":8080", true},
		{":8080", "127.0.0.1:8080", true},
		{":http", "0.0.0.0:80", true},
		{"0.0.0.0:8080", "[::1]:8080", true},
		{"[::]:8080", "localhost:8080", true},
		{"localhost:8080", "127.0.0.1:8080", true},
		{"hooks.example.com:8080", ":8080", true},
		{":8080", "127.0.0.1:8081", false},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{"127.0.0.1:8080", "[::1]:8080", false},
		{"hooks.example.com:8080", "127.0.0.1:8080", false},
		{":0", "127.0.0.1:0", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
	} {
		t.Run(tt.listen+" "+tt.admin, func(t *testing.T) {
			c := &config.Config{Listen: tt.listen, Admin: config.Admin{Listen: tt.admin},
				Sources: []config.Source{{Name: "mailjet", Provider: "mailjet"}}}
			c.SetDefaults()
			err := c.Validate(known)
			if clash := err != nil && strings.Contains(err.Error(), "admin.listen: "); clash != tt.clash {
				t.Errorf("Validate: %v, want a clash of admin.listen: %v", err, tt.clash)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    config.ByteSize
		wantErr string
	}{
		{in: "1048576", want: 1 << 20},
		{in: "0", want: 0},
		{in: "512KiB", want: 512 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "2MB", want: 2_000_000},
		{in: "1 GiB", want: 1 << 30},
		{in: "1.5kib", want: 1536},
		{in: `"64kB"`, want: 64_000},
		{in: "-1", wantErr: `invalid size "-1"`},
		{in: "2XB", wantErr: `invalid size "2XB"`},
		{in: "lots", wantErr: `invalid size "lots"`},
		{in: `""`, wantErr: `invalid size ""`},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "8EiB", wantErr: `size "8EiB" is too large: at most 9223372036854775807 bytes (8EiB less one byte)`},
		{in: "16EiB", wantErr: `size "16EiB" is too large`},
		{in: "99999999999999999999", wantErr: `size "99999999999999999999" is too large`},
		{in: "[1]", wantErr: `want a size such as "1MiB", got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v struct {
				Size config.ByteSize `yaml:"size"`
			}
			err := yaml.Unmarshal([]byte("size: "+tt.in), &v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("unmarshal %s: %v, want an error containing %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || v.Size != tt.want {
				t.Errorf("unmarshal %s = %d, %v; want %d", tt.in, v.Size, err, tt.want)
			}
		})
	}
}

// TestLimitDefaults: left out, max_inflight admits the largest body a
// source takes, and max_events grows with max_body, so that a file that
// raised max_body before either existed loads as it did.
func TestLimitDefaults(t *testing.T) {
	tests := []struct {
		name, yaml   string
		source       string // lines added to the source
		inflight     config.ByteSize
		events       int
		sourceEvents int
		wantErr      string
	}{
		{name: "defaults", yaml: "", inflight: 16 << 20, events: 10000},
		{name: "a larger max_body", yaml: "limits: { max_body: 32MiB }\n", inflight: 32 << 20, events: 320000},
		{name: "a source's larger max_body", yaml: "", source: "    max_body: 20MiB\n", inflight: 20 << 20, events: 10000, sourceEvents: 200000},
		// A source's max_body no larger than limits.max_body leaves it
		// limits.max_events, as written.
		{name: "max_events written, a source's smaller max_body", yaml: "limits: { max_events: 3 }\n", source: "    max_body: 512KiB\n",
			inflight: 16 << 20, events: 3},
		{name: "max_events written, a source's equal max_body", yaml: "limits: { max_events: 3 }\n", source: "    max_body: 1MiB\n",
			inflight: 16 << 20, events: 3},
		{name: "max_events written, a source's larger max_body", yaml: "limits: { max_events: 3 }\n", source: "    max_body: 20MiB\n",
			inflight: 20 << 20, events: 3, sourceEvents: 200000},
		{name: "max_events written, a source's own", yaml: "limits: { max_events: 3 }\n", source: "    max_body: 20MiB\n    max_events: 7\n",
			inflight: 20 << 20, events: 3, sourceEvents: 7},
		{name: "max_inflight written too small", yaml: "limits: { max_body: 32MiB, max_inflight: 16MiB }\n",
			wantErr: "limits.max_inflight: 16 MiB is less than limits.max_body (32 MiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.yaml + "sources:\n  - name: mj\n    provider: mailjet\n"
			src += tt.source
			path := filepath.Join(t.TempDir(), "hookd.yaml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(path, known)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Limits.MaxInflight != tt.inflight || c.Limits.MaxEvents != tt.events || c.Sources[0].MaxEvents != tt.sourceEvents {
				t.Errorf("max_inflight %d, max_events %d, the source's %d; want %d, %d, %d",
					c.Limits.MaxInflight, c.Limits.MaxEvents, c.Sources[0].MaxEvents, tt.inflight, tt.events, tt.sourceEvents)
			}
		})
	}
}

// TestMovedData: a file that leaves data out gets data beside it; when
// that does not exist while ./data of the working directory holds hookd's
// files, where hookd looked before, Load refuses rather than start on an
// empty log and store.
func TestMovedData(t *testing.T) {
	for _, tt := range []struct {
		name          string
		old, beside   bool // ./data/hookd.db in the working directory; data beside the file
		written, flag string
		wantData      string // relative to the file's directory, or "wd/..."
		wantErr       bool
	}{
		{name: "a new set-up", wantData: "data"},
		{name: "the old directory", old: true, wantErr: true},
		{name: "the old directory and one beside the file", old: true, beside: true, wantData: "data"},
		{name: "data written", old: true, written: "./data", wantData: "data"},
		{name: "--data given", old: true, flag: "elsewhere", wantData: "wd/elsewhere"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			etc, wd := filepath.Join(root, "etc"), filepath.Join(root, "wd")
			for _, d := range []string{etc, wd} {
				if err := os.MkdirAll(d, 0o750); err != nil {
					t.Fatal(err)
				}
			}
			if tt.old {
				if err := os.MkdirAll(filepath.Join(wd, "data"), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(wd, "data", "hookd.db"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.beside {
				if err := os.MkdirAll(filepath.Join(etc, "data"), 0o750); err != nil {
					t.Fatal(err)
				}
			}
			src := "sources:\n  - name: mj\n    provider: mailjet\n"
			if tt.written != "" {
				src = "data: " + tt.written + "\n" + src
			}
			file := filepath.Join(etc, "hookd.yaml")
			if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Chdir(wd)
			c, err := (&config.Flags{File: file, Data: tt.flag}).Load(known)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "data: left out, data is "+filepath.Join(etc, "data")) {
					t.Fatalf("Load: %v, want the moved data directory refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(etc, tt.wantData)
			if rest, ok := strings.CutPrefix(tt.wantData, "wd/"); ok {
				want = rest
			}
			if c.Data != want {
				t.Errorf("data = %s, want %s", c.Data, want)
			}
		})
	}
}

// TestParsePeriod reads periods in days and as Go durations, up to
// config.MaxPeriod in either form: a longer one is refused as too long,
// with the limit, and anything else that is no period as invalid.
func TestParsePeriod(t *testing.T) {
	const tooLong = "is too long: at most 36600d (878400h), a hundred years"
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90d", want: 90 * 24 * time.Hour},
		{in: "0d", want: 0},
		{in: "36h", want: 36 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "36600d", want: config.MaxPeriod.Duration()},
		{in: "878400h", want: config.MaxPeriod.Duration()},
		{in: "36601d", wantErr: tooLong},
		{in: "878401h", wantErr: tooLong},
		{in: "106751d", wantErr: tooLong},
		{in: "2562047h", wantErr: tooLong},
		{in: "99999999999999999999d", wantErr: tooLong},
		{in: "9999999999999h", wantErr: tooLong},
		{in: "-1d", wantErr: "invalid period"},
		{in: "-99999999999999999999d", wantErr: "invalid period"},
		{in: "-1h", wantErr: "invalid period"},
		{in: "1.5d", wantErr: "invalid period"},
		{in: "7days", wantErr: "invalid period"},
		{in: "", wantErr: "invalid period"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParsePeriod(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, config.ErrPeriodTooLong) != (tt.wantErr == tooLong) {
					t.Fatalf("ParsePeriod(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Duration() != tt.want {
				t.Fatalf("ParsePeriod(%q) = %v, %v; want %v", tt.in, got.Duration(), err, tt.want)
			}
		})
	}
}

// TestPortWarning: the submission ports each speak one way (465 TLS from
// the first byte, 587 STARTTLS); another mode on them is warned of, any
// mode on another port is not.
func TestPortWarning(t *testing.T) {
	for _, tc := range []struct {
		port int
		tls  string
		want string
	}{
		{465, "tls", ""},
		{465, "starttls", "smtp: port 465 speaks TLS from the first byte: set tls: tls (or port: 587 for starttls)"},
		{465, "none", "smtp: port 465 speaks TLS from the first byte: set tls: tls (or port: 587 for none)"},
		{587, "starttls", ""},
		{587, "none", ""},
		{587, "tls", "smtp: port 587 upgrades with STARTTLS: set tls: starttls (or port: 465 for tls)"},
		{2525, "tls", ""},
	} {
		got := config.PortWarning(config.SMTP{Host: "smtp.example.com", Port: tc.port, TLS: tc.tls})
		if !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("PortWarning(port %d, tls %s) = %q, want %q", tc.port, tc.tls, got, tc.want)
		}
	}
	if got := config.PortWarning(config.SMTP{Port: 465, TLS: "starttls"}); got != "" {
		t.Errorf("PortWarning without smtp.host = %q, want none", got)
	}
}
