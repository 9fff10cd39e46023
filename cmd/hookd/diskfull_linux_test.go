package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull runs hookd on a data directory that is a small tmpfs, posts
// distinct events until its disk is full, and checks what an operator and a
// provider see: 503 (so Mailjet retries) and /readyz unavailable with the
// cause on the admin listener; the failure logged as one outage, not once a
// commit. Once the tmpfs is grown, the next request is accepted, /readyz is
// ready again, the end of the outage is logged, every event answered 200 is
// stored and no event answered 503 is, and all of them are still there after
// a clean restart.
//
// Mounting needs root (CAP_SYS_ADMIN): without it the test skips, unless CI
// is set, where it fails instead.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs through a built hookd; run without -short")
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=4m"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(data, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", data, err)
		}
	})

	p := startHookd(t, data)
	client := &http.Client{Timeout: 15 * time.Second}
	post := func(i int) (int, string) {
		t.Helper()
		body := openEvent(i)
		resp, err := client.Post(p.hooks+"/hooks/mailjet", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ids, err := idsOf(body)
		if err != nil || len(ids) != 1 {
			t.Fatalf("ids of %s: %v %v", body, ids, err)
		}
		if resp.StatusCode != 200 && resp.StatusCode != 503 {
			t.Fatalf("event %d: %d %s, want 200 or 503", i, resp.StatusCode, b)
		}
		return resp.StatusCode, ids[0]
	}
	acked := map[string]bool{}
	refused := map[string]int{} // id: the i of openEvent(i)
	n := 0
	// 4 MiB hold a few hundred events: stop at the first 503s, or fail
	// if there are none after far more than that.
	for ; len(refused) < 20 && n < 50000; n++ {
		status, id := post(n)
		if status == 200 {
			acked[id] = true
		} else {
			refused[id] = n
		}
	}
	t.Logf("%d events accepted, %d refused", len(acked), len(refused))
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("%d events accepted and %d refused of %d, want both", len(acked), len(refused), n)
	}
	readyz := func(base string) (int, map[string]string) {
		t.Helper()
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := readyz(p.admin); code != 503 || !strings.Contains(body["error"], "full") {
		t.Errorf("admin /readyz with the disk full = %d %v, want 503 naming the full disk", code, body)
	}
	if code, body := readyz(p.hooks); code != 503 || body["error"] != "" {
		t.Errorf("hooks /readyz with the disk full = %d %v, want 503 without the cause", code, body)
	}

	if err := syscall.Mount("tmpfs", data, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	// The refused events are what Mailjet would retry; the first retry
	// now succeeds. The others are left refused, to check they were not
	// stored half-way.
	var retried string
	for id := range refused {
		retried = id
		break
	}
	i := refused[retried]
	delete(refused, retried)
	if status, _ := post(i); status != 200 {
		t.Fatalf("a retried event after the disk was grown: %d, want 200", status)
	}
	acked[retried] = true
	if code, body := readyz(p.admin); code != 200 {
		t.Errorf("admin /readyz after a commit succeeded = %d %v, want 200", code, body)
	}
	if missing := waitStored(t, p.admin, acked); len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged events are not stored, e.g. %s", len(missing), len(acked), missing[0])
	}
	for id := range storedIDs(t, p.admin) {
		if _, ok := refused[id]; ok {
			t.Errorf("event %s was answered 503 and is stored", id)
		}
	}
	p.stop(t)
	logs := p.output()
	t.Logf("outages logged: %d", strings.Count(logs, `"msg":"event log unavailable: group commit failed"`))
	for msg, want := range map[string]int{
		`"msg":"event log unavailable: group commit failed"`: 1,
		`"msg":"event log available again"`:                  1,
	} {
		// Nearly full, a small commit may still fit between failed
		// ones, which ends one outage and starts the next: a few, not
		// one a failed commit.
		if got := strings.Count(logs, msg); got < want || got > len(refused)/4+want {
			t.Errorf("%s logged %d times for %d refused requests", msg, got, len(refused)+1)
		}
	}

	p = startHookd(t, data)
	defer p.stop(t)
	if missing := waitStored(t, p.admin, acked); len(missing) > 0 {
		t.Fatalf("after a restart, %d of %d acknowledged events are not stored, e.g. %s", len(missing), len(acked), missing[0])
	}
}
