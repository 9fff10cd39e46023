package dashboard_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/dashboard"
)

// from returns a client whose connections come from the loopback address
// ip (any of 127.0.0.0/8 on Linux), which is the address the server sees,
// and that follows no redirect nor keeps cookies.
func from(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// bearer is the header sending tok as a bearer token.
func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// throttled serves the dashboard and the API with a throttle of failures
// wrong tokens a minute for at most maxClients clients, by clk.
func throttled(t *testing.T, clk *clock, failures, maxClients int) (string, *dashboard.Throttle) {
	t.Helper()
	th := dashboard.NewThrottle(dashboard.ThrottleConfig{Failures: failures, Window: time.Minute, MaxClients: maxClients, Now: clk.now})
	srv := replica(t, openStore(t), dashboard.GuardConfig{Loopback: true}, dashboard.Config{Token: token, Throttle: th})
	return srv.URL, th
}

// TestThrottle guesses the token over HTTP from one loopback address
// until it is throttled: three wrong tokens a minute are answered 401, the
// fourth 429 with Retry-After and a JSON error, and so is the right token,
// as a bearer token or in the login form (which shows why), so that the
// answer tells nothing of a guess. A session cookie and another address
// are not throttled, nor is a client that only sends the right token. The
// throttle ends as the clock, which the test moves, passes a third of a
// minute: one more guess.
func TestThrottle(t *testing.T) {
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv, _ := throttled(t, clk, 3, 0)
	a, b := from(t, "127.0.0.1"), from(t, "127.0.0.2")
	id, _ := login(t, srv) // from 127.0.0.1, before the guesses
	status := func(c *http.Client, path string, header map[string]string) int {
		t.Helper()
		return do(t, c, http.MethodGet, srv+path, nil, header).status
	}

	for i := range 3 {
		if got := status(a, "/api/events", bearer("wrong")); got != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, got)
		}
	}
	for _, tt := range []struct {
		name, path string
		header     map[string]string
	}{
		{"a fourth wrong token", "/api/events", bearer("wrong")},
		{"the right token", "/api/events", bearer(token)},
		{"the right token on a dashboard file", "/ui/static/app.js", bearer(token)},
		{"a wrong token on the page", "/ui/", bearer("wrong")},
	} {
		r := do(t, a, http.MethodGet, srv+tt.path, nil, tt.header)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" {
			t.Errorf("%s from the throttled address: %d, Retry-After %q; want 429, 20 (a minute over 3 failures)", tt.name, r.status, r.header.Get("Retry-After"))
		}
		if want := `{"error":"too many wrong admin tokens from this address: retry in 20 s (the token was not checked)"}`; strings.TrimSpace(r.body) != want {
			t.Errorf("%s from the throttled address: body %s, want %s", tt.name, r.body, want)
		}
	}
	r := do(t, a, http.MethodPost, srv+"/ui/login", url.Values{"token": {token}}, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" || r.header.Get("Set-Cookie") != "" ||
		!strings.Contains(r.body, `<p class="error" id="login-error">Too many wrong tokens from your address: try again in 20 seconds.</p>`) ||
		!strings.Contains(r.body, `id="login-form"`) {
		t.Errorf("login with the right token from the throttled address: %d, Retry-After %q, Set-Cookie %q; want 429, 20, none, and the form saying why:\n%s",
			r.status, r.header.Get("Retry-After"), r.header.Get("Set-Cookie"), r.body)
	}
	if got := status(a, "/api/events", with(id)); got != http.StatusOK {
		t.Errorf("a session cookie from the throttled address: %d, want 200", got)
	}
	if got := status(a, "/api/events", nil); got != http.StatusUnauthorized {
		t.Errorf("no token from the throttled address: %d, want 401 (nothing guessed)", got)
	}

	// Another address has its own count, and the right token never
	// counts against it.
	for i := range 10 {
		if got := status(b, "/api/events", bearer(token)); got != http.StatusOK {
			t.Fatalf("right token %d from 127.0.0.2: %d, want 200", i+1, got)
		}
	}
	if got := status(b, "/api/events", bearer("wrong")); got != http.StatusUnauthorized {
		t.Errorf("a wrong token from 127.0.0.2: %d, want 401", got)
	}

	clk.add(20*time.Second - time.Millisecond)
	if r := do(t, a, http.MethodGet, srv+"/api/events", nil, bearer(token)); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Errorf("a millisecond before the throttle ends: %d, Retry-After %q; want 429, 1", r.status, r.header.Get("Retry-After"))
	}
	clk.add(time.Millisecond)
	if got := status(a, "/api/events", bearer(token)); got != http.StatusOK {
		t.Errorf("the right token once the throttle ended: %d, want 200", got)
	}
	if got := status(a, "/api/events", bearer("wrong")); got != http.StatusUnauthorized {
		t.Errorf("the one guess a third of a minute gives: %d, want 401", got)
	}
	if got := status(a, "/api/events", bearer("wrong")); got != http.StatusTooManyRequests {
		t.Errorf("a second guess: %d, want 429", got)
	}
	// Wrong tokens in the login form count as well.
	clk.add(time.Minute)
	for i := range 4 {
		want := http.StatusUnauthorized
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if r := do(t, a, http.MethodPost, srv+"/ui/login", url.Values{"token": {"wrong"}}, nil); r.status != want {
			t.Errorf("wrong token %d in the login form: %d, want %d", i+1, r.status, want)
		}
	}
}

// TestThrottleConcurrent sends twenty wrong tokens at once from one
// address: three are checked, whatever the order they come in, since each
// takes its attempt before its token is compared.
func TestThrottleConcurrent(t *testing.T) {
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv, _ := throttled(t, clk, 3, 0)
	c := from(t, "127.0.0.3")
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range 20 {
		wg.Go(func() {
			s := do(t, c, http.MethodGet, srv+"/api/events", nil, bearer("wrong")).status
			mu.Lock()
			counts[s]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[http.StatusUnauthorized] != 3 || counts[http.StatusTooManyRequests] != 17 {
		t.Errorf("20 wrong tokens at once: %v, want 3 answered 401 and 17 429", counts)
	}
}

// TestThrottleBounded guesses from more addresses than the throttle keeps:
// it never holds more than its bound, forgetting the address checked least
// recently first, and it forgets the addresses not seen for a minute.
func TestThrottleBounded(t *testing.T) {
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv, th := throttled(t, clk, 1, 4)
	guess := func(ip string) int {
		t.Helper()
		return do(t, from(t, ip), http.MethodGet, srv+"/api/events", nil, bearer("wrong")).status
	}
	if guess("127.0.0.1") != http.StatusUnauthorized || guess("127.0.0.1") != http.StatusTooManyRequests {
		t.Fatal("127.0.0.1 is not throttled after its one wrong token")
	}
	for i := 2; i <= 12; i++ {
		if got := guess(fmt.Sprintf("127.0.0.%d", i)); got != http.StatusUnauthorized {
			t.Errorf("first guess from address %d: %d, want 401", i, got)
		}
		if n := dashboard.ThrottleLen(th); n > 4 {
			t.Fatalf("the throttle holds %d clients, more than its 4", n)
		}
	}
	if n := dashboard.ThrottleLen(th); n != 4 {
		t.Errorf("the throttle holds %d clients, want its 4", n)
	}
	// 127.0.0.1 was forgotten for the newer ones: it guesses again.
	if got := guess("127.0.0.1"); got != http.StatusUnauthorized {
		t.Errorf("127.0.0.1 after 11 other addresses: %d, want 401 (forgotten)", got)
	}
	if got := guess("127.0.0.12"); got != http.StatusTooManyRequests {
		t.Errorf("127.0.0.12, among the 4 most recent: %d, want 429", got)
	}
	clk.add(time.Minute)
	if got := guess("127.0.0.1"); got != http.StatusUnauthorized {
		t.Errorf("127.0.0.1 a minute later: %d, want 401", got)
	}
	if n := dashboard.ThrottleLen(th); n != 1 {
		t.Errorf("a minute after the others' last guess the throttle holds %d clients, want 1 (the one just seen)", n)
	}
}

func TestThrottleClientOf(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"203.0.113.7:51234", "203.0.113.7"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::"},
		{"[2001:db8:1:2:bbbb::9]:443", "2001:db8:1:2::"},
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::"},
		{"[fe80::1%eth0]:80", "fe80::"},
		{"[::1]:80", "::"},
		{"@", "invalid IP"},
	} {
		if got := dashboard.ClientOf(tt.remote); got.String() != tt.want {
			t.Errorf("clientOf(%q) = %s, want %s", tt.remote, got, tt.want)
		}
	}
}
