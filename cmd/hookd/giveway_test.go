package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProjectorGivesWay checks that serve's projector waits while many hook
// requests are in progress, and still stores every event: requests whose
// bodies are still arriving hold busyRequests and more of them in progress,
// events posted meanwhile are acknowledged, hookd_store_gave_way_seconds_total
// grows, and once the held requests complete, every event is in the store.
func TestProjectorGivesWay(t *testing.T) {
	p := startHookd(t, t.TempDir())
	addr := strings.TrimPrefix(p.hooks, "http://")
	at := time.Now().Add(-time.Minute)

	// Each held request has sent its headers and half of its body.
	type held struct {
		conn net.Conn
		rest string
	}
	var hold []held
	for i := range busyRequests + 4 {
		body := mailjetEvent("open", 1000+i, fmt.Sprintf("held%d@x.test", i), at, "")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		half := len(body) / 2
		if _, err := fmt.Fprintf(conn, "POST /hooks/mailjet HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			addr, len(body), body[:half]); err != nil {
			t.Fatal(err)
		}
		hold = append(hold, held{conn, body[half:]})
	}

	// Events posted now are answered, and the projector waits before it
	// stores them (at most giveWayMax at a time, so they are stored).
	posted := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("hookd_store_gave_way_seconds_total never grew\n%s", p.output())
		}
		postHook(t, p.hooks, mailjetEvent("open", posted, fmt.Sprintf("u%d@x.test", posted), at, ""))
		posted++
		time.Sleep(giveWayMax + 50*time.Millisecond)
		if scrape(t, p.admin)["hookd_store_gave_way_seconds_total"] > 0 {
			break
		}
	}

	for _, h := range hold {
		if _, err := h.conn.Write([]byte(h.rest)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("held request answered %d", resp.StatusCode)
		}
	}
	want := float64(posted + len(hold))
	for deadline := time.Now().Add(30 * time.Second); scrape(t, p.admin)[`hookd_store_projected_total{kind="event"}`] != want; {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not catch up to %v events\n%s", want, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop(t)
}
