package main

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/smtptest"
)

// TestExampleDiscountOnOpen runs examples/discount-on-open: the sent events
// as single objects, hookd killed and started again on its data, the opens
// as one Version 2 array, then, after a second restart, the array again as
// Mailjet's retry would. Ann's first open (2 h after sent) and Cat's (23 h)
// get the discount, one email each with a Message-ID of its own; Ann's
// second open, Bob's late open (30 h) and Dan's open of a message hookd
// never saw sent get nothing.
func TestExampleDiscountOnOpen(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := exampleDir(t, "discount-on-open", map[string]string{"port: 1025": "port: " + strconv.Itoa(srv.Port)})
	data := t.TempDir()
	p := startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	hook := p.hooks + "/hooks/mailjet"

	if out := hookdSend(t, "--concurrency", "1", "--file", filepath.Join(dir, "events", "sent.json"), hook); !strings.Contains(out, "3 requests") {
		t.Errorf("send sent.json:\n%s", out)
	}
	settle(t, p, 3)
	// The sent events are the rule's state: a crash between them and the
	// opens loses none of it.
	p.kill(t)
	p = startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	hook = p.hooks + "/hooks/mailjet"
	if out := hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "opens.json"), hook); !strings.Contains(out, "events accepted: 5  duplicates: 0\n") {
		t.Errorf("send opens.json:\n%s", out)
	}
	wantJobs := "discount-for-early-openers email email ann@example.com done \n" +
		"discount-for-early-openers email email cat@example.org done \n"
	if got := jobSummary(settle(t, p, 8)); got != wantJobs {
		t.Errorf("jobs:\n%s\nwant\n%s", got, wantJobs)
	}
	// Mailjet retries a delivery it did not see answered, here to a hookd
	// started again: all duplicates, and no job more.
	p.stop(t)
	p = startHookd(t, data, "--config", filepath.Join(dir, "hookd.yaml"))
	hook = p.hooks + "/hooks/mailjet"
	if out := hookdSend(t, "--group", "--file", filepath.Join(dir, "events", "opens.json"), hook); !strings.Contains(out, "events accepted: 0  duplicates: 5\n") {
		t.Errorf("redelivery:\n%s\nwant 5 duplicates", out)
	}
	if got := jobSummary(settle(t, p, 8)); got != wantJobs {
		t.Errorf("jobs after the redelivery:\n%s\nwant\n%s", got, wantJobs)
	}
	// Every job is done, so every email it sent was accepted: a third
	// would be a discount sent twice.
	msgs := srv.Wait(2, 30*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want 2", len(msgs))
	}
	// The two jobs have different targets, so they may run in either order.
	slices.SortFunc(msgs, func(a, b smtptest.Message) int { return strings.Compare(a.To[0], b.To[0]) })
	for i, to := range []string{"ann@example.com", "cat@example.org"} {
		m := msgs[i]
		if m.From != "shop@example.com" || strings.Join(m.To, ",") != to || m.Subject != "Your 10% discount" ||
			m.Header.Get("From") != `"Shop" <shop@example.com>` {
			t.Errorf("email %d: from %s (%s) to %v subject %q; want to %s", i, m.From, m.Header.Get("From"), m.To, m.Subject, to)
		}
		// The Message-ID is made from the job's key, in the sender's domain:
		// one of its own per discount, the same if the job ever sent again.
		if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") ||
			id == msgs[1-i].Header.Get("Message-ID") {
			t.Errorf("email %d: Message-ID %q, want <...@example.com> of its own", i, id)
		}
		if rule := m.Header.Get("X-Hookd-Rule"); rule != "discount-for-early-openers" {
			t.Errorf("email %d: X-Hookd-Rule %q", i, rule)
		}
		wantText := "Hello " + to + ",\r\n\r\nThank you for reading our news. Here is 10% off your next order:\r\nuse the code OPEN10 before the end of the month.\r\n\r\nThe Shop"
		if m.Text != wantText {
			t.Errorf("email %d text:\n%q\nwant\n%q", i, m.Text, wantText)
		}
		wantLink := `<a href="https://shop.example.com/?code=OPEN10&amp;to=` + strings.ReplaceAll(to, "@", "%40") + `">Shop now</a>`
		if !strings.Contains(m.HTML, "<p>Hello "+to+",</p>") || !strings.Contains(m.HTML, wantLink) {
			t.Errorf("email %d html:\n%s\nwant the greeting and %s", i, m.HTML, wantLink)
		}
	}
	p.stop(t)
}
