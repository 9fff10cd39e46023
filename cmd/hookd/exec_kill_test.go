package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/store"
)

// alive reports whether process pid runs: it exists and is not a zombie
// (a program killed after hookd died is reparented, and may wait there
// for a reaper that never comes).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// anything.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestExecDiesWithHookd kills hookd with SIGKILL while an exec action's
// program runs, as a crash would: the kernel kills the program with it, so
// the attempt the restarted hookd makes never runs beside the orphaned
// one. The program writes "start N" and, 4 s later, "end N"; only "end 2"
// may follow the kill. The restart records attempt 1 as interrupted in
// the job's history, where it would otherwise vanish.
func TestExecDiesWithHookd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	if testing.Short() {
		t.Skip("builds and kills hookd; run without -short")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := `echo "start $HOOKD_ATTEMPT $$" >> ` + out + `; sleep 4; echo "end $HOOKD_ATTEMPT" >> ` + out
	rule := fmt.Sprintf("rules:\n  - name: slow\n    when: type == \"open\"\n    actions:\n      - exec: { command: /bin/sh, args: [\"-c\", %q], timeout: 60s }\n", script)
	if err := os.WriteFile(filepath.Join(dir, "slow.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(config, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - slow.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := func() []string {
		b, _ := os.ReadFile(out)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	data := t.TempDir()
	p := startHookd(t, data, "--config", config)
	if a := postHook(t, p.hooks, openEvent(3)); a.Accepted != 1 {
		t.Fatalf("post: %+v", a)
	}
	waitFor(t, p, "the program's first attempt started", func() bool { return strings.HasPrefix(lines()[0], "start 1 ") })
	pid, err := strconv.Atoi(strings.Fields(lines()[0])[2])
	if err != nil {
		t.Fatal(err)
	}
	p.kill(t)

	// Well before the program's sleep ends.
	deadline := time.Now().Add(time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the program (pid %d) still runs 1 s after hookd was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	p = startHookd(t, data, "--config", config)
	waitFor(t, p, "the job done after the restart", func() bool { return jobsByStatus(t, data)[actions.Done] == 1 })
	p.stop(t)
	// Long enough for attempt 1 to have written "end 1", had it lived.
	time.Sleep(4500 * time.Millisecond)
	got := lines()
	for i, l := range got {
		if f := strings.Fields(l); len(f) > 2 {
			got[i] = strings.Join(f[:2], " ")
		}
	}
	if want := "start 1|start 2|end 2"; strings.Join(got, "|") != want {
		t.Errorf("the program wrote %q, want %q", got, want)
	}

	st, err := store.Open(context.Background(), store.Config{Dir: data, ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.Jobs(context.Background(), store.JobQuery{})
	if err != nil || len(page.Jobs) != 1 {
		t.Fatalf("jobs %+v, %v; want 1", page.Jobs, err)
	}
	j := page.Jobs[0]
	if h := j.History; j.Attempts != 2 || len(h) != 2 || h[0].Attempt != 1 || !strings.HasPrefix(h[0].Error, "interrupted:") ||
		h[1].Attempt != 2 || h[1].Error != "" {
		t.Errorf("job: %d attempts, history %+v; want attempt 1 interrupted and attempt 2 done", j.Attempts, h)
	}
}
