package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/listener/mailjet"
)

// binDir holds the hookd binary that the tests running it as a separate
// process share. buildHookd builds it on first use, so that a run of the
// in-process tests or benchmarks alone does not wait for the build.
var (
	binDir     string
	buildHookd = sync.OnceValues(func() (string, error) {
		path := filepath.Join(binDir, "hookd")
		if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
			return "", fmt.Errorf("build hookd: %v\n%s", err, out)
		}
		return path, nil
	})
)

// hookdBinary returns the path of the hookd binary, building it the first
// time; it fails t if the build fails.
func hookdBinary(t testing.TB) string {
	t.Helper()
	path, err := buildHookd()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "hookd-bin-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// proc is a running hookd process.
type proc struct {
	cmd   *exec.Cmd
	hooks string // base URL of the hooks listener
	admin string // base URL of the admin listener
	done  chan error
	mu    sync.Mutex // guards logs
	logs  *bytes.Buffer
}

// output returns what the process logged so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startHookd runs `hookd serve` on data with ports chosen by the kernel and
// waits until it listens.
func startHookd(t *testing.T, data string, args ...string) *proc {
	t.Helper()
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data", data, "--log-format", "json"}, args...)
	cmd := exec.Command(hookdBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1), logs: new(bytes.Buffer)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(line)
			p.logs.WriteByte('\n')
			p.mu.Unlock()
			var rec struct{ Msg, Hooks, Admin string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "hookd listening" {
				// An address without a scheme is plain HTTP; one
				// that serves TLS is logged https://host:port.
				p.hooks, p.admin = baseURL(rec.Hooks), baseURL(rec.Admin)
				close(ready)
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("hookd exited before listening: %v\n%s", err, p.output())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("hookd did not start listening\n%s", p.output())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// baseURL returns the URL of a listener as the start's log line gives it.
func baseURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "http://" + addr
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and asserts a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hookd exited with %v after SIGTERM\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("hookd did not exit after SIGTERM")
	}
}

// startWithConfig starts hookd on a data directory of its own with a
// configuration file that holds yaml.
func startWithConfig(t *testing.T, yaml string) *proc {
	t.Helper()
	config := filepath.Join(t.TempDir(), "hookd.yaml")
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startHookd(t, t.TempDir(), "--config", config)
}

// rulesConfig writes rules (YAML) to the rule file rules/name of a new
// directory and, beside it, hookd.yaml: head (YAML, an admin section say)
// followed by a mailjet source and the rule files rules/*.yaml. It returns
// the paths of hookd.yaml and of the rule file.
func rulesConfig(t *testing.T, head, name, rules string) (config, rulesFile string) {
	t.Helper()
	dir := t.TempDir()
	rulesFile = filepath.Join(dir, "rules", name)
	if err := os.MkdirAll(filepath.Dir(rulesFile), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte(head+"sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - rules/*.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config, rulesFile
}

// openEvent is a distinct Mailjet open event for each n.
func openEvent(n int) string {
	return fmt.Sprintf(`{"event":"open","time":%d,"MessageID":%d,"Message_GUID":"g-%d","email":"User%d@Example.com","mj_campaign_id":7173,"mj_contact_id":%d,"customcampaign":"","CustomID":"","Payload":"","ip":"127.0.0.1","geo":"US","agent":"test"}`,
		1433103519+n, 19421777396190490+n, n, n, n)
}

// idsOf decodes body the way hookd does and returns its event ids.
func idsOf(body string) ([]string, error) {
	events, err := mailjet.Decode([]byte(body))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids, nil
}

// ackLoad posts distinct Mailjet open events to a hookd from concurrent
// workers until stopped, and records the ids of the events of every
// request answered 200.
type ackLoad struct {
	mu     sync.Mutex
	acked  map[string]bool
	oks    atomic.Int64 // requests answered 200
	halt   chan struct{}
	halted sync.Once
	wg     sync.WaitGroup
}

// startLoad starts workers posting to hooks, half of them Version 2 batches
// of 10, numbering the events from next so that loads over one data
// directory never repeat an event, and adding the acknowledged ids to
// acked, which the caller reads once the load has stopped. A request that
// fails fails the test unless killed says that the test kills hookd
// under the load, in which case it ends its worker.
func startLoad(t *testing.T, hooks string, workers int, next *atomic.Int64, acked map[string]bool, killed bool) *ackLoad {
	t.Helper()
	l := &ackLoad{acked: acked, halt: make(chan struct{})}
	t.Cleanup(l.stop)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.halt:
					return
				default:
				}
				size := 1 + w%2*9
				parts := make([]string, size)
				for i := range parts {
					parts[i] = openEvent(int(next.Add(1)))
				}
				body := parts[0]
				if size > 1 {
					body = "[" + strings.Join(parts, ",") + "]"
				}
				resp, err := client.Post(hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
				if err != nil {
					if !killed {
						t.Error(err)
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue
				}
				ids, err := idsOf(body)
				if err != nil {
					t.Error(err)
					return
				}
				l.mu.Lock()
				for _, id := range ids {
					l.acked[id] = true
				}
				l.mu.Unlock()
				l.oks.Add(1)
			}
		})
	}
	return l
}

// stop stops the workers and waits for them; it may be called again.
func (l *ackLoad) stop() {
	l.halted.Do(func() { close(l.halt) })
	l.wg.Wait()
}

// ackedSoFar copies the ids acknowledged so far while the load runs.
func (l *ackLoad) ackedSoFar() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// storedIDs pages through /api/events and returns every id it lists.
func storedIDs(t *testing.T, admin string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	cursor := ""
	for {
		resp, err := http.Get(admin + "/api/events?limit=1000&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Events []struct{ ID string }
			Next   string
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /api/events: %d %v", resp.StatusCode, err)
		}
		for _, e := range page.Events {
			if ids[e.ID] {
				t.Fatalf("/api/events lists %s twice", e.ID)
			}
			ids[e.ID] = true
		}
		if page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

// waitStored waits until every id in want is listed by /api/events, for at
// most a bounded time, and returns the ids still missing.
func waitStored(t *testing.T, admin string, want map[string]bool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := storedIDs(t, admin)
		var missing []string
		for id := range want {
			if !got[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCrashLosesNoAcknowledgedEvent kills hookd with SIGKILL in the middle of
// a concurrent load, five times over the same data directory, and checks
// that every event answered 200 is stored after each restart.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes hookd five times; run without -short")
	}
	data := t.TempDir()
	acked := map[string]bool{}
	var next atomic.Int64
	for round := range 5 {
		p := startHookd(t, data)
		load := startLoad(t, p.hooks, 16, &next, acked, true)
		// Kill once some requests have been acknowledged, at a moment that
		// varies from round to round.
		deadline := time.Now().Add(20 * time.Second)
		for load.oks.Load() < int64(50+100*round) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		p.kill(t)
		load.stop()
		if load.oks.Load() == 0 {
			t.Fatalf("round %d: no request was acknowledged before the kill", round)
		}

		p = startHookd(t, data)
		if missing := waitStored(t, p.admin, acked); len(missing) > 0 {
			t.Fatalf("round %d: %d of %d acknowledged events lost after SIGKILL, e.g. %s",
				round, len(missing), len(acked), missing[0])
		}
		p.stop(t)
		t.Logf("round %d: %d acknowledged events, all stored", round, len(acked))
	}
}

// TestRestartKeepsEventsAndDuplicates stops hookd cleanly, starts it again on
// the same data, and checks the events are there and a retried delivery is
// still recognised as a duplicate.
func TestRestartKeepsEventsAndDuplicates(t *testing.T) {
	data := t.TempDir()
	body := "[" + openEvent(1) + "," + openEvent(2) + "]"
	ids, err := idsOf(body)
	if err != nil {
		t.Fatal(err)
	}

	p := startHookd(t, data)
	if got := postHook(t, p.hooks, body); got.Accepted != 2 || got.Duplicates != 0 {
		t.Fatalf("first delivery: %+v", got)
	}
	p.stop(t)

	p = startHookd(t, data)
	want := map[string]bool{ids[0]: true, ids[1]: true}
	if missing := waitStored(t, p.admin, want); len(missing) > 0 {
		t.Fatalf("after restart %v are missing", missing)
	}
	if got := postHook(t, p.hooks, body); got.Accepted != 0 || got.Duplicates != 2 {
		t.Fatalf("retried delivery after restart: %+v, want 2 duplicates", got)
	}
	if got := storedIDs(t, p.admin); len(got) != 2 {
		t.Fatalf("store holds %d events, want 2", len(got))
	}
	for _, base := range []string{p.hooks, p.admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + path)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s%s: %v %v", base, path, resp, err)
			}
			resp.Body.Close()
		}
	}
	p.stop(t)
}

type ack struct{ Accepted, Duplicates int }

func postHook(t *testing.T, hooks, body string) ack {
	t.Helper()
	return postHookTo(t, hooks, "mailjet", body)
}

// postHookTo posts body to the hook of source and checks that it is
// answered 200.
func postHookTo(t *testing.T, hooks, source, body string) ack {
	t.Helper()
	resp, err := http.Post(hooks+"/hooks/"+source, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a ack
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %d %v", resp.StatusCode, err)
	}
	return a
}

// TestServeRefusesBadConfig checks that serve exits non-zero, naming the
// problem, when its config is wrong or its port is taken.
func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("sources:\n  - name: mj\n    provder: mailjet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, hookdBinary(t), "serve", "--config", bad, "--data", dir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve with a bad config: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "bad.yaml:3") || !strings.Contains(string(out), "provder") {
		t.Fatalf("error does not name file, line and field:\n%s", out)
	}

	// A taken port fails the start before the data directory is made.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	data := filepath.Join(dir, "typo")
	// The error names the listener, the address and what sets it.
	out, err = exec.CommandContext(ctx, hookdBinary(t), "serve", "--listen", taken.Addr().String(), "--data", data).CombinedOutput()
	want := "hooks listener: listen tcp " + taken.Addr().String() + ": bind: address already in use: another process listens on this address (a hookd already running?): stop it, or give another address with --listen, or listen in a --config file"
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), want) {
		t.Fatalf("serve on a taken port: err %v, want a non-zero exit saying %q\n%s", err, want, out)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve on a taken port left %s behind (%v)", data, err)
	}
	takenAdmin := filepath.Join(dir, "taken-admin.yaml")
	if err := os.WriteFile(takenAdmin, []byte("admin: { listen: \""+taken.Addr().String()+"\" }\nsources: [ { name: mailjet, provider: mailjet } ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.CommandContext(ctx, hookdBinary(t), "serve", "--config", takenAdmin, "--listen", "127.0.0.1:0", "--data", data).CombinedOutput()
	want = "admin listener: listen tcp " + taken.Addr().String() + ": bind: address already in use: another process listens on this address (a hookd already running?): stop it, or give another address with admin.listen in " + takenAdmin + ", or --admin-listen"
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), want) {
		t.Fatalf("serve on a taken admin port: err %v, want a non-zero exit saying %q\n%s", err, want, out)
	}

	// A lease too short to renew claims in is refused.
	out, err = exec.CommandContext(ctx, hookdBinary(t), "serve", "--runner-lease", "1s", "--data", data).CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "--runner-lease 1s: must be at least 3s") {
		t.Fatalf("serve with a 1s lease: err %v, want exit code 2 (a usage error) naming the flag\n%s", err, out)
	}

	// A data directory whose parent is missing (a typo) is not made.
	deep := filepath.Join(dir, "nope", "deeper", "data")
	out, err = exec.CommandContext(ctx, hookdBinary(t), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data", deep).CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), filepath.Join(dir, "nope", "deeper")+" does not exist") {
		t.Fatalf("serve with a data directory under a missing one: err %v, want a non-zero exit naming the parent\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve with a data directory under a missing one made %s (%v)", filepath.Join(dir, "nope"), err)
	}

	// Rule files that do not load, or are not there, fail the start
	// before a port is bound or the data directory made.
	badRules := filepath.Join(dir, "bad-rules.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  - name: x\n    when: typ == \"open\"\n    actions: [{ log: {} }]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ rules, want string }{
		{"bad-rules.yaml", badRules + `:3:11: rule "x": when: unknown name typ`},
		{"rules/nothere.yaml", "norules.yaml:5:5: rules[0]: no file " + filepath.Join(dir, "rules", "nothere.yaml")},
	} {
		noRules := filepath.Join(dir, "norules.yaml")
		if err := os.WriteFile(noRules, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - "+tc.rules+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = exec.CommandContext(ctx, hookdBinary(t), "serve", "--config", noRules, "--listen", taken.Addr().String(), "--data", data).CombinedOutput()
		if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), tc.want) {
			t.Fatalf("serve with rules %s: err %v, want a non-zero exit saying %q\n%s", tc.rules, err, tc.want, out)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve with rules %s left %s behind (%v)", tc.rules, data, err)
		}
	}
}

// dialWithLimits runs hookd serve with one unauthenticated Mailjet source
// and limits (the inside of the limits map, such as "read_timeout: 2m"),
// and returns it with a raw connection to its hooks listener, closed when
// the test ends.
func dialWithLimits(t *testing.T, limits string) (*proc, net.Conn) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfg, []byte("limits: { "+limits+" }\nsources: [ { name: mailjet, provider: mailjet } ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHookd(t, filepath.Join(dir, "data"), "--config", cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.hooks, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return p, conn
}

// TestSecondSignalStops checks that a second signal ends serve at once
// while a slow request keeps the graceful stop of the first waiting: here
// read_timeout is 2 minutes, so the first alone would wait that long.
func TestSecondSignalStops(t *testing.T) {
	p, conn := dialWithLimits(t, "read_timeout: 2m")
	// The headers, with Expect: 100-continue: the server answers 100 once
	// the handler reads the body, so the request is then in flight, not
	// waiting to be accepted. Then 10 of the 100 bytes announced.
	if _, err := fmt.Fprintf(conn, "POST /hooks/mailjet HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, " 100 ") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	if _, err := fmt.Fprint(conn, `{"event":"`); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.output(), "shutting down"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown after SIGTERM:\n%s", p.output())
		}
	}
	select {
	case err := <-p.done:
		t.Fatalf("hookd exited (%v) with a request in flight:\n%s", err, p.output())
	case <-time.After(200 * time.Millisecond):
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("hookd still runs 20 s after a second SIGTERM:\n%s", p.output())
	}
}

// TestDrain checks limits.drain: after SIGTERM, /readyz answers 503 on
// both listeners while hook requests are still accepted, new connections
// included, and then hookd stops as usual, exit status 0.
func TestDrain(t *testing.T) {
	p, conn := dialWithLimits(t, "drain: 5s")
	conn.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, base := range []string{p.hooks, p.admin} {
		for deadline := time.Now().Add(4 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			resp, err := client.Get(base + "/readyz")
			if err != nil {
				t.Fatalf("%s/readyz while draining: %v\n%s", base, err, p.output())
			}
			resp.Body.Close()
			if resp.StatusCode == 503 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/readyz still answers %d after SIGTERM", base, resp.StatusCode)
			}
		}
	}
	client.CloseIdleConnections() // a new connection, as a load balancer's next one
	if got := postHook(t, p.hooks, openEvent(1)); got.Accepted != 1 {
		t.Fatalf("a hook while draining: %+v, want accepted", got)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hookd exited with %v after the drain:\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("hookd still runs 30 s after SIGTERM:\n%s", p.output())
	}
	if !strings.Contains(p.output(), `"drain":"5s"`) {
		t.Errorf("the drain is not logged:\n%s", p.output())
	}
}
