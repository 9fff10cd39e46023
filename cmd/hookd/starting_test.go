package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/store"
)

// TestServeAnswersWhileStarting starts serve with its event log on a
// "PostgreSQL server" that takes the connection and never answers: while
// serve waits for it, both ports answer /healthz 200, /readyz 503 (saying
// why on the admin listener) and a hook 503 with Retry-After, so that
// probes and providers get an answer instead of a hanging connection; then
// the start fails naming the server, and the ports close.
func TestServeAnswersWhileStarting(t *testing.T) {
	silent := testenv.Silent(t)
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = freeAddr(t), freeAddr(t)
	cfg.Data = t.TempDir()
	cfg.Log.Backend, cfg.Log.DSN = "postgres", "postgres://hookd@"+silent+"/x?sslmode=disable&connect_timeout=8"
	var logs testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(context.Background(), cfg, nil, slog.New(slog.NewTextHandler(&logs, nil))) }()

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(method, url string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(`{"event":"open"}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	hooks, admin := "http://"+cfg.Listen, "http://"+cfg.Admin.Listen
	// The ports are bound before serve returns to anything slow; wait
	// for the first answer, boundedly.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", cfg.Admin.Listen); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the admin port is not open")
		}
	}
	for _, base := range []string{hooks, admin} {
		if code, body, _ := get("GET", base+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
			t.Errorf("%s/healthz while starting: %d %s", base, code, body)
		}
	}
	var ready map[string]string
	code, body, _ := get("GET", admin+"/readyz")
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 503 || ready["status"] != "unavailable" || !strings.Contains(ready["error"], "starting") {
		t.Errorf("admin /readyz while starting: %d %s", code, body)
	}
	if code, body, _ := get("GET", hooks+"/readyz"); code != 503 || strings.Contains(body, "error") {
		t.Errorf("hooks /readyz while starting: %d %s, want 503 without the cause", code, body)
	}
	if code, body, hdr := get("POST", hooks+"/hooks/mailjet"); code != 503 || !strings.Contains(body, "starting") || hdr.Get("Retry-After") == "" {
		t.Errorf("a hook while starting: %d %s %v, want 503 with Retry-After", code, body, hdr)
	}

	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), silent) {
			t.Errorf("serve returned %v, want an error naming %s", err, silent)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not give up on a server that never answers")
	}
	if _, err := net.Dial("tcp", cfg.Listen); err == nil {
		t.Error("the hooks port still answers after serve returned")
	}
	if !strings.Contains(logs.String(), `msg="hookd starting: opening the event log and the store"`) {
		t.Errorf("the start is not logged:\n%s", logs.String())
	}
}

// TestOpenInvalidDSN: what serve opens on PostgreSQL (the event log, the
// store, the replay tokens) fails on a DSN that does not parse saying why,
// as hookd check does, and without its password.
func TestOpenInvalidDSN(t *testing.T) {
	ctx := context.Background()
	const dsn = "postgres://hookd:s3cret-pw@db:5432/hookd?sslmode=bogus"
	for _, tc := range []struct {
		name string
		open func() error
		want string
	}{
		{"event log", func() error {
			_, err := eventlog.Open(ctx, eventlog.Config{Backend: "postgres", DSN: dsn}, nil)
			return err
		}, `open event log "postgres": open postgres event log: invalid dsn: failed to configure TLS (sslmode is invalid)`},
		{"store", func() error {
			_, err := store.Open(ctx, store.Config{Driver: "postgres", DSN: dsn}, nil)
			return err
		}, "invalid dsn: failed to configure TLS (sslmode is invalid)"},
		{"replay tokens", func() error {
			_, err := listener.OpenPostgresNonces(ctx, dsn)
			return err
		}, "open nonces: postgres: invalid dsn: failed to configure TLS (sslmode is invalid)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("open: %v, want %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error reveals the password: %v", err)
			}
		})
	}
}

// TestStopWhileStarting: a signal while serve waits for its event log (a
// "PostgreSQL server" that never answers) stops it at once, as one while
// it serves does: serve returns no error, so hookd exits 0, and the ports
// close.
func TestStopWhileStarting(t *testing.T) {
	silent := testenv.Silent(t)
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = freeAddr(t), freeAddr(t)
	cfg.Data = t.TempDir()
	cfg.Log.Backend, cfg.Log.DSN = "postgres", "postgres://hookd@"+silent+"/x?sslmode=disable&connect_timeout=20"
	var logs testenv.Buffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, nil, slog.New(slog.NewTextHandler(&logs, nil))) }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "hookd starting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", logs.String())
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve stopped while starting returned %v, want nil (exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop while waiting for its event log")
	}
	if _, err := net.Dial("tcp", cfg.Listen); err == nil {
		t.Error("the hooks port still answers after serve returned")
	}
	if !strings.Contains(logs.String(), `msg="stopped while starting"`) {
		t.Errorf("the stop is not logged:\n%s", logs.String())
	}
}

// TestSignalsWhileStarting runs hookd as a supervisor does, with its event
// log on a "PostgreSQL server" that never answers: a SIGHUP while it
// starts (a reload sent too early) leaves it running, as one while it
// serves does, and a SIGTERM then stops it with exit status 0.
func TestSignalsWhileStarting(t *testing.T) {
	silent := testenv.Silent(t)
	cfg := writeFile(t, "hookd.yaml", `
log: { backend: postgres, dsn: "postgres://hookd@`+silent+`/x?sslmode=disable&connect_timeout=20" }
sources: [{ name: mailjet, provider: mailjet }]
`)
	cmd := exec.Command(hookdBinary(t), "serve", "--config", cfg, "--data", t.TempDir(),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	var logs testenv.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "hookd starting"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hookd did not start:\n%s", logs.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("hookd exited (%v) on a SIGHUP while starting:\n%s", err, logs.String())
	case <-time.After(500 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("hookd stopped while starting: %v, want exit status 0\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("hookd still runs 10 s after SIGTERM:\n%s", logs.String())
	}
}
