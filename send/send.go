// Package send is the client side of a hook: it POSTs Mailjet Event API
// deliveries to a URL the way Mailjet does (Version 1 single objects or
// Version 2 arrays, credentials from the URL as basic auth) and reports how
// the receiver answered.
//
// It is a top-level package rather than part of cmd/hookd or listener
// because two users need it: the `hookd send` command, with which a user
// tries a set-up before pointing Mailjet at it, and hookd's throughput
// benchmarks, which use it as their load generator. It therefore keeps the
// cost per request low: bodies are appended into reused buffers, keep-alive
// connections are reused, and latencies are merged only at the end.
package send

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultConcurrency = 8
	DefaultTimeout     = 10 * time.Second
)

// ErrFailed is returned (wrapped) by Run when any request failed: a
// transport error, a timeout or an answer other than 2xx.
var ErrFailed = errors.New("requests failed")

// Options configures Run.
type Options struct {
	// URL is where to POST, e.g. http://hookd:secret@localhost:8080/hooks/mailjet.
	// As Mailjet does, credentials in it are sent as basic auth; they are
	// removed from the URL itself and never appear in errors or reports.
	URL string
	// Source is what to send. Required.
	Source Source
	// Concurrency is the most requests in flight at once, each worker
	// reusing its keep-alive connection. Default DefaultConcurrency.
	Concurrency int
	// Rate caps the requests started per second; 0 means no cap. Time
	// lost while the receiver is slow is not made up with a burst.
	Rate float64
	// Timeout bounds each request, from sending to reading the whole
	// answer. Default DefaultTimeout.
	Timeout time.Duration
	// Client sends the requests. The default keeps Concurrency idle
	// connections per host and, like Mailjet, does not follow redirects
	// (a 3xx counts as a failure).
	Client *http.Client
	// RootCAs are the certificate authorities the default client trusts
	// for https:// URLs (see CertPool); nil: the system's. The
	// certificate is always verified.
	RootCAs *x509.CertPool
}

// CertPool returns the system's roots with the certificates of the PEM
// file added, for a receiver whose certificate is self-signed or from a
// private CA. A file without a certificate is an error.
func CertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("send: CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		// No system roots here: the file's alone.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("send: CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// Report says how a run went.
type Report struct {
	// Requests is how many requests were sent, Events how many events
	// they carried.
	Requests, Events int
	// Status counts the answers by HTTP status code.
	Status map[int]int
	// Accepted and Duplicates sum what hookd's 2xx answers say of their
	// events, {"accepted":N,"duplicates":D}; answers of any other form
	// add nothing, so both stay 0 against another receiver.
	Accepted, Duplicates int
	// Errors counts the requests that got no answer: transport errors
	// and timeouts.
	Errors int
	// FirstFailure describes the first failed request seen: its status
	// and the start of the answer's body, or its transport error.
	FirstFailure string
	// Elapsed is the duration of the whole run.
	Elapsed time.Duration
	// P50 and P99 are latency percentiles over all requests, from sending
	// to having read the whole answer (or failed).
	P50, P99 time.Duration
}

// Failed is the number of requests that got no answer or one other than 2xx.
func (r Report) Failed() int {
	n := r.Errors
	for code, c := range r.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

// RequestsPerSecond is Requests over Elapsed.
func (r Report) RequestsPerSecond() float64 { return perSecond(r.Requests, r.Elapsed) }

// EventsPerSecond is Events over Elapsed.
func (r Report) EventsPerSecond() float64 { return perSecond(r.Events, r.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// MarshalJSON writes the report with its rates, durations in seconds and
// latencies in milliseconds.
func (r Report) MarshalJSON() ([]byte, error) {
	status := make(map[string]int, len(r.Status))
	for code, n := range r.Status {
		status[fmt.Sprint(code)] = n
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.Marshal(struct {
		Requests          int            `json:"requests"`
		Events            int            `json:"events"`
		Status            map[string]int `json:"status"`
		Accepted          int            `json:"accepted"`
		Duplicates        int            `json:"duplicates"`
		Errors            int            `json:"errors"`
		Failed            int            `json:"failed"`
		FirstFailure      string         `json:"first_failure,omitempty"`
		ElapsedSeconds    float64        `json:"elapsed_seconds"`
		RequestsPerSecond float64        `json:"requests_per_second"`
		EventsPerSecond   float64        `json:"events_per_second"`
		LatencyP50Ms      float64        `json:"latency_p50_ms"`
		LatencyP99Ms      float64        `json:"latency_p99_ms"`
	}{
		r.Requests, r.Events, status, r.Accepted, r.Duplicates, r.Errors, r.Failed(), r.FirstFailure,
		r.Elapsed.Seconds(), r.RequestsPerSecond(), r.EventsPerSecond(), ms(r.P50), ms(r.P99),
	})
}

// Run sends every request of o.Source to o.URL, at most o.Concurrency at a
// time and o.Rate per second, and reports how the receiver answered.
//
// It returns an error without sending anything when the options are
// invalid, an error wrapping ErrFailed when any request failed, and one
// wrapping ctx.Err() when ctx ended first: then no further request starts,
// those in flight are cancelled, and the report covers what was sent.
func Run(ctx context.Context, o Options) (Report, error) {
	target, auth, err := parseURL(o.URL)
	if err != nil {
		return Report{}, err
	}
	if o.Source == nil {
		return Report{}, errors.New("send: no source of events")
	}
	if o.Concurrency < 0 || o.Rate < 0 || o.Timeout < 0 || math.IsNaN(o.Rate) {
		return Report{}, fmt.Errorf("send: negative concurrency %d, rate %v or timeout %v", o.Concurrency, o.Rate, o.Timeout)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	client := o.Client
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = o.Concurrency
		t.MaxIdleConnsPerHost = o.Concurrency
		if o.RootCAs != nil {
			t.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs}
		}
		defer t.CloseIdleConnections()
		client = &http.Client{
			Transport:     t,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	r := &runner{
		client:  client,
		url:     target,
		auth:    auth,
		timeout: o.Timeout,
		src:     o.Source,
		n:       o.Source.Len(),
		workers: max(min(o.Concurrency, o.Source.Len()), 1),
		total:   Report{Status: map[int]int{}},
	}
	if o.Rate > 0 {
		r.pace = &pacer{interval: time.Duration(float64(time.Second) / o.Rate)}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range r.workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()

	rep := r.total
	rep.Elapsed = time.Since(start)
	slices.Sort(r.latencies)
	rep.P50, rep.P99 = percentile(r.latencies, 50), percentile(r.latencies, 99)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("send: stopped after %d of %d requests: %w", rep.Requests, r.n, err)
	}
	if f := rep.Failed(); f > 0 {
		return rep, fmt.Errorf("send: %w: %d of %d (first: %s)", ErrFailed, f, rep.Requests, rep.FirstFailure)
	}
	return rep, nil
}

// Redact returns u as it may be shown: its password and the value of every
// query parameter replaced by "xxxxx", since hook URLs carry their secrets
// there (basic auth, or a token such as ?token=SECRET).
func Redact(u *url.URL) string {
	c := *u
	if q := c.Query(); len(q) > 0 {
		for _, vs := range q {
			for i := range vs {
				vs[i] = "xxxxx"
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// URLError is Run's error for a URL it cannot post to: it does not parse,
// or is not http:// or https:// with a host. It never quotes the URL's
// password.
type URLError struct{ err error }

func (e *URLError) Error() string { return e.err.Error() }
func (e *URLError) Unwrap() error { return e.err }

// parseURL checks raw and splits its credentials off as an Authorization
// header value. Errors are *URLError.
func parseURL(raw string) (target, auth string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return "", "", &URLError{fmt.Errorf("send: parse URL: %w", err)}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", &URLError{fmt.Errorf("send: URL %s: want http:// or https:// and a host", Redact(u))}
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))
		u.User = nil
	}
	return u.String(), auth, nil
}

// runner is the state of one Run shared by its workers.
type runner struct {
	client  *http.Client
	url     string
	auth    string
	timeout time.Duration
	src     Source
	n       int
	workers int
	pace    *pacer
	next    atomic.Int64

	mu        sync.Mutex
	total     Report
	latencies []time.Duration
}

// work sends requests until there are none left or ctx ends, then adds
// what it saw to the totals.
func (r *runner) work(ctx context.Context) {
	var (
		local = Report{Status: map[int]int{}}
		// Bounded: n may be huge when ctx, not n, ends the run.
		latencies = make([]time.Duration, 0, min(r.n/r.workers+1, 1<<14))
		buf       []byte
	)
	for {
		i := int(r.next.Add(1) - 1)
		if i >= r.n || ctx.Err() != nil {
			break
		}
		if r.pace != nil && !r.pace.wait(ctx) {
			break
		}
		body, events := r.src.AppendRequest(buf[:0], i)
		t0 := time.Now()
		a, err := r.post(ctx, body)
		latencies = append(latencies, time.Since(t0))
		local.Requests++
		local.Events += events
		if err != nil {
			local.Errors++
			a.failure = err.Error()
			// The transport may still be reading a body it failed to send.
			body = nil
		} else {
			local.Status[a.code]++
			local.Accepted += a.accepted
			local.Duplicates += a.duplicates
		}
		if a.failure != "" && local.FirstFailure == "" {
			local.FirstFailure = a.failure
		}
		buf = body
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.total.Requests += local.Requests
	r.total.Events += local.Events
	r.total.Errors += local.Errors
	r.total.Accepted += local.Accepted
	r.total.Duplicates += local.Duplicates
	for code, c := range local.Status {
		r.total.Status[code] += c
	}
	if r.total.FirstFailure == "" {
		r.total.FirstFailure = local.FirstFailure
	}
	r.latencies = append(r.latencies, latencies...)
}

// answer is what post read of an answer.
type answer struct {
	code int
	// failure describes an answer other than 2xx.
	failure string
	// accepted and duplicates are hookd's counts, when a 2xx answer
	// carries them.
	accepted, duplicates int
}

// post sends one body and reads the whole answer, so that the connection
// can be reused.
func (r *runner) post(ctx context.Context, body []byte) (a answer, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookd-send")
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = Redact(req.URL)
		}
		return a, err
	}
	defer resp.Body.Close()
	a.code = resp.StatusCode
	if a.code < 200 || a.code > 299 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		a.failure = resp.Status
		if t := bytes.TrimSpace(head); len(t) > 0 {
			a.failure += ": " + string(t)
		}
	} else if n := resp.ContentLength; n > 0 && n <= maxCounts {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return a, fmt.Errorf("read answer: %w", err)
		}
		a.accepted, a.duplicates = counts(b)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return a, fmt.Errorf("read answer: %w", err)
	}
	return a, nil
}

// maxCounts is the longest answer post reads hookd's counts from.
const maxCounts = 128

// counts returns the counts of hookd's answer b, {"accepted":N,"duplicates":D}
// as hookd writes it (listener's accepted.write), or zeros for any other
// answer. It reads that one form rather than any JSON because it runs for
// every answer of a load test, where encoding/json would cost more than a
// microsecond.
func counts(b []byte) (accepted, duplicates int) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	rest, ok := bytes.CutPrefix(b, []byte(`{"accepted":`))
	if !ok {
		return 0, 0
	}
	acc, rest, ok := bytes.Cut(rest, []byte(`,"duplicates":`))
	if !ok {
		return 0, 0
	}
	dup, ok := bytes.CutSuffix(rest, []byte("}"))
	if !ok {
		return 0, 0
	}
	a, errA := strconv.Atoi(string(acc))
	d, errD := strconv.Atoi(string(dup))
	if errA != nil || errD != nil || a < 0 || d < 0 {
		return 0, 0
	}
	return a, d
}

// pacer spaces request starts at least interval apart. A start that finds
// the schedule behind moves it to now instead of bursting to catch up.
type pacer struct {
	interval time.Duration
	mu       sync.Mutex
	due      time.Time
}

// wait blocks until the next start is due and reports whether it is,
// false when ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	p.mu.Lock()
	now := time.Now()
	at := p.due
	if at.Before(now) {
		at = now
	}
	p.due = at.Add(p.interval)
	p.mu.Unlock()

	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method, 0 for none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
