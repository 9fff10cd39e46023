package exec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	execaction "github.com/hookd/hookd/actions/exec"
	hookdevent "github.com/hookd/hookd/event"
	"github.com/hookd/hookd/rules"
)

const event = `{"id":"ev1","type":"bounce","email":"a@example.com"}`

// script writes a program, a shell script run directly (hookd runs the
// file; the kernel reads its #! line), into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// do runs the registered exec action once with params.
func do(ctx context.Context, t *testing.T, params map[string]any) error {
	t.Helper()
	kind, err := actions.Lookup(execaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	return kind.Action().Do(ctx, actions.Call{
		Key: "rule/0/ev1", Attempt: 3, Rule: "rule", EventID: "ev1",
		Params: params, Event: json.RawMessage(event),
	})
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDoPassesArgsStdinEnv checks that each argument arrives as one
// argument, untouched by any shell, with the event on stdin and hookd's
// variables in the environment, but not hookd's own environment.
func TestDoPassesArgsStdinEnv(t *testing.T) {
	// Secrets a configuration expands stay in hookd: not passed on.
	t.Setenv("MJ_APIKEY_PRIVATE", "mailjet-secret")
	t.Setenv("LC_TIME", "C")
	dir := t.TempDir()
	prog := script(t, dir, "record", `for a in "$@"; do printf '[%s]\n' "$a"; done > "$OUT/args"
cat > "$OUT/stdin"
env > "$OUT/env"
`)
	args := []any{"plain", "with  spaces", `it's "quoted"`, "$(touch pwned)", "", "*", "a;b|c", "two\nlines", json.Number("42")}
	err := do(t.Context(), t, map[string]any{
		"command": prog,
		"args":    args,
		"env":     map[string]any{"OUT": dir, "GREETING": "hello world"},
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	want := "[plain]\n[with  spaces]\n[it's \"quoted\"]\n[$(touch pwned)]\n[]\n[*]\n[a;b|c]\n[two\nlines]\n[42]\n"
	if got := read(t, filepath.Join(dir, "args")); got != want {
		t.Errorf("args:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat("pwned"); err == nil {
		t.Error("an argument was run as a command")
	}
	if got := read(t, filepath.Join(dir, "stdin")); got != event {
		t.Errorf("stdin = %q, want the event %q", got, event)
	}
	env := "\n" + read(t, filepath.Join(dir, "env"))
	for _, v := range []string{"HOOKD_IDEMPOTENCY_KEY=rule/0/ev1", "HOOKD_ATTEMPT=3", "HOOKD_RULE=rule", "HOOKD_EVENT_ID=ev1",
		"GREETING=hello world", "OUT=" + dir, "PATH=" + os.Getenv("PATH"), "LC_TIME=C"} {
		if !strings.Contains(env, "\n"+v+"\n") {
			t.Errorf("environment lacks %s", v)
		}
	}
	if strings.Contains(env, "MJ_APIKEY_PRIVATE") {
		t.Errorf("hookd's environment passed on to the program:\n%s", env)
	}
}

func TestDoOutcomes(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notProgram := filepath.Join(dir, "not-a-program")
	if err := os.WriteFile(notProgram, []byte("\x00\x01\x02 neither ELF nor #!\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 10000)
	tests := []struct {
		name          string
		command       string
		wantErr       []string // all in the error; none: success
		wantPermanent bool
		wantRefused   bool
	}{
		{name: "exit 0", command: script(t, dir, "ok", "echo fine\n")},
		{name: "bare name in PATH", command: "true"},
		{
			name:    "exit 3",
			command: script(t, dir, "fail", "echo to stdout\necho to stderr >&2\nexit 3\n"),
			wantErr: []string{"exec " + dir + "/fail: exit status 3", "to stdout", "to stderr"},
		},
		{
			name:    "exit 75",
			command: script(t, dir, "tempfail", "exit 75\n"),
			wantErr: []string{"exit status 75"},
		},
		{
			name:          "exit 65 refuses the event",
			command:       script(t, dir, "dataerr", "echo cannot read this event >&2\nexit 65\n"),
			wantErr:       []string{"exit status 65", "EX_DATAERR", "cannot read this event"},
			wantPermanent: true,
			wantRefused:   true,
		},
		{
			name:    "killed by a signal",
			command: script(t, dir, "suicide", "kill -TERM $$\n"),
			wantErr: []string{"signal: terminated"},
		},
		{
			name:    "long output keeps its end",
			command: script(t, dir, "chatty", "echo "+long+"\necho the end >&2\nexit 1\n"),
			wantErr: []string{`output: "...xxx`, `the end"`},
		},
		{
			name:    "megabytes of output",
			command: script(t, dir, "flood", "head -c 8000000 /dev/zero | tr '\\0' x\nhead -c 8000000 /dev/zero | tr '\\0' y >&2\necho the end >&2\nexit 1\n"),
			wantErr: []string{"exit status 1", `yyy`, `the end"`},
		},
		{name: "missing program", command: filepath.Join(dir, "nope"), wantErr: []string{"start:", "no such file"}, wantPermanent: true},
		{name: "missing from PATH", command: "hookd-test-no-such-program", wantErr: []string{"executable file not found"}, wantPermanent: true},
		{name: "not executable", command: notExec, wantErr: []string{"permission denied"}, wantPermanent: true},
		{name: "not a program", command: notProgram, wantErr: []string{"exec format error"}, wantPermanent: true},
		{name: "a directory", command: dir, wantErr: []string{"start:"}, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := do(t.Context(), t, map[string]any{"command": tt.command})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Do succeeded, want an error containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Do = %v, want it to contain %q", err, w)
				}
			}
			if actions.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("Do = %v: permanent %v, want %v", err, actions.IsPermanent(err), tt.wantPermanent)
			}
			if actions.IsRefused(err) != tt.wantRefused {
				t.Errorf("Do = %v: refused %v, want %v", err, actions.IsRefused(err), tt.wantRefused)
			}
			if len(err.Error()) > 3000 {
				t.Errorf("error is %d bytes long, want the output truncated", len(err.Error()))
			}
		})
	}
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// pids reads the process ids the family script wrote.
func pids(t *testing.T, dir string) []int {
	t.Helper()
	var out []int
	for _, f := range []string{"child", "grandchild"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil // written half
		}
		out = append(out, pid)
	}
	return out
}

// family is a program that starts a child and waits, forever, recording
// both process ids, the grandchild's last.
const family = `sleep 1000 &
echo $$ > "$OUT/child.tmp" && mv "$OUT/child.tmp" "$OUT/child"
echo $! > "$OUT/grandchild.tmp" && mv "$OUT/grandchild.tmp" "$OUT/grandchild"
wait
`

// waitDead waits, at most 10 s, until none of pids runs.
func waitDead(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestDoCancelKillsProcessGroup cancels a job while its program and the
// program's child run: both are killed.
func TestDoCancelKillsProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to watch processes")
	}
	dir := t.TempDir()
	prog := script(t, dir, "family", family)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	kind, _ := actions.Lookup(execaction.Name)
	go func() {
		errc <- kind.Action().Do(ctx, actions.Call{Key: "k", Attempt: 1, Params: map[string]any{
			"command": prog, "timeout": "1h", "env": map[string]any{"OUT": dir},
		}})
	}()
	var procs []int
	deadline := time.Now().Add(10 * time.Second)
	for procs = pids(t, dir); procs == nil; procs = pids(t, dir) {
		if time.Now().After(deadline) {
			t.Fatal("the program did not start its child")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "process group killed") {
			t.Errorf("Do = %v, want context.Canceled, process group killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return when its ctx was cancelled")
	}
	waitDead(t, procs)
}

// TestDoTimeout runs a program past its timeout: the attempt fails, to be
// retried, and the program and its child are killed.
func TestDoTimeout(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "family", family)
	err := do(t.Context(), t, map[string]any{"command": prog, "timeout": "200ms", "env": map[string]any{"OUT": dir}})
	if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), "timed out after 200ms (process group killed)") {
		t.Fatalf("Do = %v, want a retryable timeout", err)
	}
	// Had the program not started its child before the kill, the child
	// never was; if it was, it is killed.
	if procs := pids(t, dir); procs != nil {
		waitDead(t, procs)
	}
}

// TestDoFailedKillsLeftovers runs programs that start a child and exit
// with status 3, the child holding their output or not: the attempt fails,
// to be retried, with the program's output, and the child is killed, so
// that it does not run beside the next attempt's (nor pile up, one per
// attempt).
func TestDoFailedKillsLeftovers(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to watch processes")
	}
	for _, tc := range []struct{ name, child string }{
		{"child holds the output", "sleep 1000 &"},
		{"child detached from the output", "sleep 1000 </dev/null >/dev/null 2>&1 &"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			prog := script(t, dir, "failing", tc.child+`
echo $! > "$OUT/bg.tmp" && mv "$OUT/bg.tmp" "$OUT/bg"
echo "cannot reach the API"
exit 3
`)
			var pid int
			t.Cleanup(func() {
				if pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			err := do(t.Context(), t, map[string]any{"command": prog, "env": map[string]any{"OUT": dir}})
			b, rerr := os.ReadFile(filepath.Join(dir, "bg"))
			if rerr != nil {
				t.Fatalf("the program did not start its child: %v", rerr)
			}
			if pid, rerr = strconv.Atoi(strings.TrimSpace(string(b))); rerr != nil {
				t.Fatal(rerr)
			}
			if err == nil || actions.IsPermanent(err) || !strings.Contains(err.Error(), `exit status 3; output: "cannot reach the API"`) {
				t.Errorf("Do = %v, want a retryable exit status 3 with the output", err)
			}
			waitDead(t, []int{pid})
		})
	}
}

// TestDoLeavesBackgroundChild runs a program that exits 0 leaving a child
// that holds its output: the attempt succeeds once the program exited, and
// the child is left running.
func TestDoLeavesBackgroundChild(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "daemon", `sleep 1000 &
echo $! > "$OUT/bg"
exit 0
`)
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "bg")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if err := do(t.Context(), t, map[string]any{"command": prog, "env": map[string]any{"OUT": dir}}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bg"))
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || !alive(pid) {
		t.Errorf("the background child %s (%v) does not run after the program exited 0", b, err)
	}
}

func TestTarget(t *testing.T) {
	kind, err := actions.Lookup(execaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	for params, want := range map[string]string{
		"/usr/local/bin/notify": "exec /usr/local/bin/notify",
		"notify-send":           "exec notify-send",
		"./notify":              "exec (invalid parameters)",
	} {
		if got := kind.Target(map[string]any{"command": params, "args": []any{"{{ .email }}"}}); got != want {
			t.Errorf("Target(command %s) = %q, want %q", params, got, want)
		}
	}
}

// TestRedact checks the parameters shown for a job: the values of env
// are "[redacted]", the rest is as it was.
func TestRedact(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   map[string]any
	}{
		{"no env",
			map[string]any{"command": "notify", "args": []any{"a@example.com"}},
			map[string]any{"command": "notify", "args": []any{"a@example.com"}}},
		{"env",
			map[string]any{"command": "notify", "env": map[string]any{"API_TOKEN": "t-s3cret", "N": json.Number("5")}, "timeout": "5s"},
			map[string]any{"command": "notify", "env": map[string]any{"API_TOKEN": "[redacted]", "N": "[redacted]"}, "timeout": "5s"}},
		{"env not a mapping",
			map[string]any{"command": "notify", "env": "API_TOKEN=t-s3cret"},
			map[string]any{"command": "notify", "env": "[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.params)
			got := actions.RedactParams(execaction.Name, tt.params)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RedactParams(%v)\n = %v\nwant %v", tt.params, got, tt.want)
			}
			if after := fmt.Sprint(tt.params); after != before {
				t.Errorf("RedactParams changed its argument: %s, was %s", after, before)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]any
		wantParam string // "": valid
		wantErr   string
	}{
		{"minimal", map[string]any{"command": "/usr/bin/notify"}, "", ""},
		{"everything", map[string]any{
			"command": "notify-send", "args": []any{"--to", "{{ .email }}", int64(3)}, "timeout": "5s",
			"env": map[string]any{"TOKEN": "x", "EMAIL": "{{ .email }}"},
		}, "", ""},
		{"no command", map[string]any{}, "command", "required"},
		{"empty command", map[string]any{"command": ""}, "command", "required"},
		{"command template", map[string]any{"command": "/bin/{{ .type }}"}, "command", "must not be a template"},
		{"relative command", map[string]any{"command": "bin/notify"}, "command", "not a relative path"},
		{"args not a list", map[string]any{"command": "true", "args": "--to x"}, "args", "want a list"},
		{"arg not text", map[string]any{"command": "true", "args": []any{"a", map[string]any{}}}, "args[1]", "want text, got a mapping"},
		{"timeout", map[string]any{"command": "true", "timeout": "30"}, "timeout", "want a positive duration"},
		{"env not a mapping", map[string]any{"command": "true", "env": []any{"A=b"}}, "env", "want a mapping"},
		{"env name", map[string]any{"command": "true", "env": map[string]any{"A=B": "x"}}, "env.A=B", "not a valid variable name"},
		{"env reserved", map[string]any{"command": "true", "env": map[string]any{"HOOKD_ATTEMPT": "1"}}, "env.HOOKD_ATTEMPT", "set by hookd"},
		{"arg with NUL", map[string]any{"command": "true", "args": []any{"a\x00b"}}, "args[0]", "holds a NUL byte"},
		{"longest arg", map[string]any{"command": "true", "args": []any{strings.Repeat("a", execaction.MaxArg)}}, "", ""},
		{"arg too long", map[string]any{"command": "true", "args": []any{"--", strings.Repeat("a", execaction.MaxArg+1)}}, "args[1]", "more than a program can be given"},
		{"env too long", map[string]any{"command": "true", "env": map[string]any{"URL": strings.Repeat("a", execaction.MaxArg-3)}}, "env.URL", "more than a program can be given"},
		{"too long together", map[string]any{"command": "true", "args": slices.Repeat([]any{strings.Repeat("a", execaction.MaxArg)}, 9)}, "args", "more than a program is given"},
		{"unknown", map[string]any{"command": "true", "shell": true}, "shell", "unknown parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := actions.Validate(execaction.Name, tt.params)
			if tt.wantParam == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *rules.ParamError
			if !errors.As(err, &pe) || pe.Param != tt.wantParam || !strings.Contains(pe.Err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want a ParamError at %s containing %q", err, tt.wantParam, tt.wantErr)
			}
		})
	}
}

// TestRuleArgsFromEvent renders a rule whose argument comes from the
// event's data for events a sender made up: an argument that no attempt
// could pass to the program (a NUL byte, longer than the kernel takes)
// fails the rule on that event, and no job is made. Such a job was retried
// for hours, then dead-lettered, and suspended the target "exec COMMAND",
// holding back the jobs of every later event until an operator resumed it.
func TestRuleArgsFromEvent(t *testing.T) {
	dir := t.TempDir()
	src := `rules:
  - name: notify
    when: type == "click"
    actions:
      - exec: { command: /bin/true, args: ["--", "{{ .data.url }}"], env: { REF: "{{ .data.ref }}" } }
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(context.Background(), []string{"rules.yaml"}, rules.Options{Dir: dir, Action: actions.Validate, Check: actions.CheckerOf})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, ref string
		wantErr        string // "": a job is made
	}{
		{name: "ordinary", url: "https://example.com/p", ref: "r"},
		{name: "NUL byte", url: "https://example.com/a\x00b", wantErr: "args[1]: holds a NUL byte"},
		{name: "longer than the kernel takes", url: "https://example.com/?q=" + strings.Repeat("a", 140<<10), wantErr: "args[1]: 143383 bytes long"},
		{name: "variable longer than the kernel takes", url: "https://example.com/p", ref: strings.Repeat("r", 140<<10), wantErr: "env.REF: 143364 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(map[string]string{"event": "click", "url": tt.url, "ref": tt.ref})
			if err != nil {
				t.Fatal(err)
			}
			e := hookdevent.Event{ID: "mailjet:1", Source: "mailjet", Provider: "mailjet", Type: "click",
				Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Email: "a@example.com", Domain: "example.com", Data: data}
			matches, err := set.Eval(context.Background(), e, nil)
			if err != nil || len(matches) != 1 {
				t.Fatalf("Eval: %v %+v", err, matches)
			}
			m := matches[0]
			if tt.wantErr == "" {
				if m.Err != nil || len(m.Actions) != 1 {
					t.Fatalf("rule error %v, %d actions; want one job", m.Err, len(m.Actions))
				}
				return
			}
			if m.Err == nil || !strings.Contains(m.Err.Error(), tt.wantErr) || len(m.Actions) != 0 {
				t.Fatalf("rule error %v, %d actions; want no job and an error containing %q", m.Err, len(m.Actions), tt.wantErr)
			}
		})
	}
}

// TestDoControlCharacterInEventID runs a job whose event id, which a
// generic source's sender chooses, holds a NUL byte and a line break: the
// program runs, with the key and the id percent-escaped in its
// environment, where starting it failed on every attempt ("environment
// variable contains NUL"), dead-lettering the job and suspending the
// target that every event's jobs share.
func TestDoControlCharacterInEventID(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "record", `env > "$OUT/env"`)
	kind, err := actions.Lookup(execaction.Name)
	if err != nil {
		t.Fatal(err)
	}
	id := "generic:app:a\x00b\nc"
	err = kind.Action().Do(t.Context(), actions.Call{
		Key: "rule/0/" + id, Attempt: 1, Rule: "rule", EventID: id,
		Params: map[string]any{"command": prog, "env": map[string]any{"OUT": dir}}, Event: json.RawMessage(event),
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	env := read(t, filepath.Join(dir, "env"))
	for _, want := range []string{"HOOKD_IDEMPOTENCY_KEY=rule%2F0%2Fgeneric:app:a%00b%0Ac\n", "HOOKD_EVENT_ID=generic:app:a%00b%0Ac\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %q:\n%s", want, env)
		}
	}
}

// TestDoOutputKeepsEnvSecret runs programs that print the values of their
// env, as a script under set -x or curl -v does with the token it is
// given: the error, which the dead letters, the API, the dashboard and
// the log show, has each value of four bytes or more blanked, as the
// parameters shown have env blanked; a value cut in half by the end of
// the output kept is blanked too. Short values are left, which blanking
// would garble the output for.
func TestDoOutputKeepsEnvSecret(t *testing.T) {
	const secret = "tok-3f9a1c7e5b2d8f0a"
	dir := t.TempDir()
	tests := []struct {
		name, body string
		wantIn     []string
	}{
		{"set -x", "set -x\ncurl_like() { :; }\ncurl_like -H \"Authorization: Bearer $API_TOKEN\"\nexit 1\n", []string{"Authorization: Bearer [redacted]", "exit status 1"}},
		{"printed", "echo \"token=$API_TOKEN n=$N\" >&2\nexit 2\n", []string{"token=[redacted] n=42"}},
		// The output kept begins inside the token: the part of it that
		// is left must not show.
		{"cut at the token", "printf '%s' \"$API_TOKEN\"\nprintf 'y%.0s' $(seq 2040)\nexit 3\n", []string{`output: "...[redacted]yyy`}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := do(context.Background(), t, map[string]any{
				"command": script(t, dir, fmt.Sprintf("leak%d", i), tt.body),
				"env":     map[string]any{"API_TOKEN": secret, "N": "42"},
			})
			if err == nil {
				t.Fatal("Do succeeded, want the program's failure")
			}
			for n := 4; n <= len(secret); n++ {
				if part := secret[len(secret)-n:]; strings.Contains(err.Error(), part) {
					t.Fatalf("the error shows %q of the token: %v", part, err)
				}
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q in it", err, w)
				}
			}
		})
	}
}
