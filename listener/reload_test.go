package listener_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/mailgun"
)

// TestSetSources swaps the sources of a running listener: the changes
// are named, a source added is served and one removed is 404, a source
// whose settings did not change, or changed but not in rate_limit, keeps
// its rate limiter, one whose rate_limit changed gets a new one, and
// sources that do not load leave the running ones in place.
func TestSetSources(t *testing.T) {
	limited := config.Source{Name: "limited", Provider: "mailjet", RateLimit: config.RateLimit{Rate: 0.001, Burst: 1}}
	l, _ := start(t, listener.Config{Sources: []config.Source{limited, {Name: "a", Provider: "mailjet"}}}, nil)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	n := 0
	want := func(step, path string, status int) {
		t.Helper()
		n++
		if r := post(t, "POST", srv.URL+path, openEvent(n), nil); r.status != status {
			t.Errorf("%s: POST %s: %d %v, want %d", step, path, r.status, r.body, status)
		}
	}
	set := func(step string, want listener.SourceChanges, srcs ...config.Source) {
		t.Helper()
		got, err := l.SetSources(srcs)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !slices.Equal(got.Added, want.Added) || !slices.Equal(got.Removed, want.Removed) || !slices.Equal(got.Changed, want.Changed) {
			t.Errorf("%s: changes %+v, want %+v", step, got, want)
		}
	}
	want("start", "/hooks/limited", 200)
	want("start", "/hooks/limited", 429)
	want("start", "/hooks/a", 200)

	set("a removed, b added", listener.SourceChanges{Added: []string{"b"}, Removed: []string{"a"}},
		limited, config.Source{Name: "b", Provider: "mailjet"})
	want("a removed, b added", "/hooks/limited", 429)
	want("a removed, b added", "/hooks/a", 404)
	want("a removed, b added", "/hooks/b", 200)

	other := limited
	other.MaxEvents = 5
	set("limited changed, not its rate", listener.SourceChanges{Changed: []string{"limited"}},
		other, config.Source{Name: "b", Provider: "mailjet"})
	want("limited changed, not its rate", "/hooks/limited", 429)

	other.RateLimit.Burst = 2
	set("limited's rate changed", listener.SourceChanges{Changed: []string{"limited"}},
		other, config.Source{Name: "b", Provider: "mailjet"})
	want("limited's rate changed", "/hooks/limited", 200)

	if _, err := l.SetSources([]config.Source{{Name: "c", Provider: "nosuch"}}); err == nil {
		t.Error("SetSources with an unknown provider: no error")
	}
	want("after sources that do not load", "/hooks/b", 200)
	want("after sources that do not load", "/hooks/c", 404)
}

// TestSetSourcesConcurrent serves requests from several goroutines while
// the sources are swapped again and again (run it with -race): every
// request is answered 200.
func TestSetSourcesConcurrent(t *testing.T) {
	a := config.Source{Name: "a", Provider: "mailjet"}
	l, _ := start(t, listener.Config{Sources: []config.Source{a}}, nil)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if r := post(t, "POST", srv.URL+"/hooks/a", openEvent(w*1000+i), nil); r.status != 200 {
					t.Errorf("POST /hooks/a during SetSources: %d %v", r.status, r.body)
					return
				}
			}
		})
	}
	for i := range 20 {
		changed := a
		changed.MaxBody = config.ByteSize(1<<20 + i%2)
		if _, err := l.SetSources([]config.Source{changed, {Name: "b" + strconv.Itoa(i), Provider: "mailjet"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
}

// TestSetSourcesKeepsNonces replays a Mailgun signature with another event
// after the source's settings changed: the token used before is still
// refused, as the replay tokens are the listener's, not the source's.
func TestSetSourcesKeepsNonces(t *testing.T) {
	const key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
	mg := config.Source{Name: "mg", Provider: "mailgun", Verify: config.Verify{SigningKey: key}}
	l, _ := start(t, listener.Config{Sources: []config.Source{mg}}, nil)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	opened, err := os.ReadFile("mailgun/testdata/opened.json")
	if err != nil {
		t.Fatal(err)
	}
	clicked, err := os.ReadFile("mailgun/testdata/clicked.json")
	if err != nil {
		t.Fatal(err)
	}
	var m, c map[string]json.RawMessage
	if err := json.Unmarshal(opened, &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(clicked, &c); err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 25)
	rand.Read(tok)
	token, ts := hex.EncodeToString(tok), strconv.FormatInt(time.Now().Unix(), 10)
	m["signature"], _ = json.Marshal(map[string]string{"timestamp": ts, "token": token,
		"signature": hex.EncodeToString(mailgun.Sign([]byte(key), ts, token))})
	signed, _ := json.Marshal(m)
	m["event-data"] = c["event-data"]
	forged, _ := json.Marshal(m)

	if r := post(t, "POST", srv.URL+"/hooks/mg", signed, nil); r.status != 200 {
		t.Fatalf("signed delivery: %d %v", r.status, r.body)
	}
	changed := mg
	changed.MaxEvents = 5
	if ch, err := l.SetSources([]config.Source{changed}); err != nil || !slices.Equal(ch.Changed, []string{"mg"}) {
		t.Fatalf("SetSources: %+v %v, want mg changed", ch, err)
	}
	if r := post(t, "POST", srv.URL+"/hooks/mg", forged, nil); r.status != 401 {
		t.Errorf("after SetSources, another event with a used token: %d %v, want 401", r.status, r.body)
	}
}
