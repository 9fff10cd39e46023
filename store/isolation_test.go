package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/actions"
	_ "github.com/hookd/hookd/actions/email"
)

// silentSMTP is a mail server on loopback that accepts connections and
// never greets them, as a relay that hung does; it counts the
// connections it accepted.
type silentSMTP struct {
	host  string
	port  int
	conns atomic.Int32
}

func newSilentSMTP(t *testing.T) *silentSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open []net.Conn
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range open {
			c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	s := &silentSMTP{host: addr.IP.String(), port: addr.Port}
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open = append(open, c)
			s.conns.Add(1)
		}
	}()
	return s
}

// emailJob is the job of an email action to rcpt.
func emailJob(t *testing.T, rcpt, e string) actions.Job {
	t.Helper()
	ps := map[string]any{"to": rcpt, "subject": "Your discount", "text": "10% off", "timeout": "1m"}
	params, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	kind, err := actions.Lookup("email")
	if err != nil {
		t.Fatal(err)
	}
	return actions.Job{
		Key: "discount/0/" + e, Rule: "discount", Action: "email", Target: kind.Target(ps),
		Params: params, EventID: e,
	}
}

// TestRunnerHungRelaySpareWorker checks that a mail relay that accepts
// connections and never answers, whose jobs are one target per
// recipient, does not hold up the jobs of other actions: with all
// workers waiting for the relay (for their timeout, a minute), the
// spare worker runs an alert queued behind the mail of more recipients
// than there are workers, where it waited until the relay's attempts
// timed out, one worker's worth of recipients after the other.
func TestRunnerHungRelaySpareWorker(t *testing.T) {
	st := openStore(t, t.TempDir())
	relay := newSilentSMTP(t)
	alerts := newFlaky(t, 0)
	const workers = 4
	var mail []actions.Job
	for i := range 2 * workers {
		mail = append(mail, emailJob(t, fmt.Sprintf("r%d@example.com", i), fmt.Sprintf("m%d", i)))
	}
	enqueue(t, st, mail...)
	time.Sleep(time.Millisecond) // the alert is due after every mail job
	enqueue(t, st, httpJob(t, alerts.URL, "alert", ""))
	startRunner(t, st, actions.RunnerConfig{Poll: 20 * time.Millisecond, Workers: workers, Grace: 100 * time.Millisecond,
		Settings: actions.Settings{SMTP: &actions.SMTP{Host: relay.host, Port: relay.port, TLS: "none", From: "shop@example.com"}}})

	waitFor(t, "the alert is done", func() bool { return status(t, st, jobByEvent(t, st, "alert").ID) == actions.Done })
	waitFor(t, "the relay holds every worker", func() bool { return relay.conns.Load() == workers })
	for _, j := range mail {
		if s := status(t, st, jobByEvent(t, st, j.EventID).ID); s == actions.Done || s == actions.Dead {
			t.Errorf("mail job %s is %s, want pending or running: the relay never answered", j.EventID, s)
		}
	}
	if n := relay.conns.Load(); n != workers {
		t.Errorf("the relay got %d connections, want %d: one a worker, none the spare", n, workers)
	}
}

// TestQueueClaimExcept checks that a claim leaving an action out claims
// the due targets of the others, in their order, and none of its.
func TestQueueClaimExcept(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	mail := func(e, target string) actions.Job {
		j := job("r", e, target)
		j.Action = "email"
		return j
	}
	enqueue(t, st, mail("m1", "email a@example.com"), job("r", "l1", "log"), mail("m2", "email b@example.com"))
	now := time.Now().Add(time.Millisecond)
	got, err := st.Claim(ctx, "me", now, 10, 10, time.Minute, "email")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"l1"}; !slices.Equal(events(got), want) {
		t.Fatalf("claim except email = %v, want %v", events(got), want)
	}
	if got = claim(t, st, "me", now, 10); !slices.Equal(events(got), []string{"m1", "m2"}) {
		t.Fatalf("claim = %v, want [m1 m2]", events(got))
	}
}
