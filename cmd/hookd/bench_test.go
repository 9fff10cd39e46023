package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/send"
	"github.com/hookd/hookd/store"
)

var (
	ingestDuration    = flag.Duration("ingest.duration", 5*time.Second, "how long BenchmarkIngest drives each server")
	ingestConcurrency = flag.Int("ingest.concurrency", 64, "concurrent connections in BenchmarkIngest")
	ingestBackend     = flag.String("ingest.backend", "sqlite", "BenchmarkIngest's event log: sqlite (store sqlite), postgres (store postgres, HOOKD_TEST_POSTGRES_DSN) or nats (store postgres, HOOKD_TEST_NATS_URL too)")
	pipeDuration      = flag.Duration("pipe.duration", 5*time.Second, "how long BenchmarkPipeLatency sends events")
	pipeRate          = flag.Int("pipe.rate", 1000, "events per second BenchmarkPipeLatency sends at most")
	pipeConcurrency   = flag.Int("pipe.concurrency", 32, "concurrent connections in BenchmarkPipeLatency")
	pipeTargets       = flag.Int("pipe.targets", 1, "targets (1 to 10) BenchmarkPipeLatency spreads the events over")
)

// BenchmarkIngest drives POST /hooks/mailjet of a real hookd (SQLite log
// with fsync'd group commit, store projector running) with distinct Mailjet
// open events from 64 connections for a fixed time, and in the same run a
// bare echo handler that only reads the body and answers 200. It reports
// both throughputs, their latencies and the ratio. Run it once:
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./cmd/hookd/
//
// -ingest.backend=postgres runs hookd with its log and store in a fresh
// schema of HOOKD_TEST_POSTGRES_DSN's database; -ingest.backend=nats with
// its log on HOOKD_TEST_NATS_URL's JetStream (fresh streams) and its store
// in PostgreSQL.
//
// Between the two, it drives the quick prototype of echo and group commit
// into SQLite that the throughput target was set from (driveProto): it
// answers 200 only once a request's body is fsync'd, with hookd's group
// commit but none of hookd's work. It reports the prototype's throughput
// and ratio to the bare handler too, so that a run tells what this machine
// allows a durable server, and hookd's rate over the prototype's
// (hookd-proto-ratio), which tells what hookd's own work costs.
//
// For each of the three it also reports the process's CPU time an event
// while the load ran (cpu-us/event, the load generator included) and that
// time over what the CPUs had (busy): the first says what an event costs,
// the second how much of the machine went unused.
func BenchmarkIngest(b *testing.B) {
	for b.Loop() {
		bare := driveBare(b)
		proto := driveProto(b)
		hookd := driveHookd(b)
		b.ReportMetric(bare.eps, "bare-events/s")
		b.ReportMetric(hookd.eps, "hookd-events/s")
		b.ReportMetric(proto.eps, "proto-events/s")
		b.ReportMetric(proto.eps/bare.eps, "proto-ratio")
		b.ReportMetric(hookd.eps/bare.eps, "ratio")
		b.ReportMetric(hookd.eps/proto.eps, "hookd-proto-ratio")
		b.ReportMetric(float64(bare.p50.Microseconds())/1000, "bare-p50-ms")
		b.ReportMetric(float64(bare.p99.Microseconds())/1000, "bare-p99-ms")
		b.ReportMetric(float64(hookd.p50.Microseconds())/1000, "hookd-p50-ms")
		b.ReportMetric(float64(hookd.p99.Microseconds())/1000, "hookd-p99-ms")
		b.ReportMetric(hookd.projected, "projected-events/s")
		for _, l := range []struct {
			name string
			load
		}{{"bare", bare}, {"proto", proto}, {"hookd", hookd}} {
			if l.cpu > 0 {
				b.ReportMetric(float64(l.cpu.Nanoseconds())/1000, l.name+"-cpu-us/event")
				b.ReportMetric(l.busy, l.name+"-busy")
			}
		}
	}
}

type load struct {
	eps      float64
	p50, p99 time.Duration
	ok       int // requests answered 200, one event each
	// cpu is the process's CPU time (user and system, the load generator
	// included) an event answered 200, and busy that time over what all
	// CPUs had, while the load ran; both 0 where the system does not
	// tell (processCPU).
	cpu  time.Duration
	busy float64
	// projected is the events per second from the start of the run to
	// the last of them in the store (hookd only).
	projected float64
}

// drive posts generated open events to url for the configured time.
func drive(b *testing.B, url string, run uint32) load {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), *ingestDuration)
	defer cancel()
	cpu0 := processCPU()
	r, _ := send.Run(ctx, send.Options{
		URL:         url,
		Source:      send.Generated(send.Generator{Type: "open", Run: run}, 1<<30, 0),
		Concurrency: *ingestConcurrency,
	})
	ok := r.Status[http.StatusOK]
	if ok == 0 {
		b.Fatalf("no request to %s succeeded: %s", url, r.FirstFailure)
	}
	// Requests cut short by the end of the run fail; nothing else may.
	if failed := r.Failed(); failed > *ingestConcurrency {
		b.Fatalf("%d requests to %s failed: %s", failed, url, r.FirstFailure)
	}
	cpu := processCPU() - cpu0
	return load{
		eps: float64(ok) / r.Elapsed.Seconds(), p50: r.P50, p99: r.P99, ok: ok,
		cpu:  cpu / time.Duration(ok),
		busy: cpu.Seconds() / (r.Elapsed.Seconds() * float64(runtime.NumCPU())),
	}
}

func driveBare(b *testing.B) load {
	return driveEcho(b, func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	}, 1)
}

// driveEcho serves h at POST /hooks/mailjet of an echo server on a loopback
// port and drives it with generator run run.
func driveEcho(b *testing.B, h echo.HandlerFunc, run uint32) load {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/hooks/mailjet", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	defer srv.Close()
	return drive(b, "http://"+ln.Addr().String()+"/hooks/mailjet", run)
}

// driveProto drives the quick prototype of a durable webhook receiver that
// the throughput target was set from: an echo handler that reads the body
// and queues it for a group commit shaped as hookd's (the same wait for
// more requests and the same most events a batch), and answers 200 once
// the batch is committed into SQLite, as a prototype would do it: one table
// of rowid and body in WAL mode with synchronous=FULL (an fsync a commit)
// and SQLite's own checkpoints, one transaction a batch, one prepared
// INSERT a body. No decoding, no deduplication, no envelope, no store.
func driveProto(b *testing.B) load {
	ctx := context.Background()
	cfg, err := config.Load("")
	if err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "proto.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE events (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var st [3]*sql.Stmt
	for i, q := range []string{"BEGIN IMMEDIATE", "INSERT INTO events (body) VALUES (?)", "COMMIT"} {
		if st[i], err = conn.PrepareContext(ctx, q); err != nil {
			b.Fatal(err)
		}
		defer st[i].Close()
	}
	commit := func(batch []protoReq) error {
		if _, err := st[0].ExecContext(ctx); err != nil {
			return err
		}
		for _, r := range batch {
			if _, err := st[1].ExecContext(ctx, r.body); err != nil {
				_, _ = conn.ExecContext(ctx, "ROLLBACK")
				return err
			}
		}
		_, err := st[2].ExecContext(ctx)
		return err
	}

	queue := make(chan protoReq, 4*cfg.Limits.BatchSize)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var (
			batch []protoReq
			wait  = time.NewTimer(time.Hour)
		)
		for {
			select {
			case r := <-queue:
				batch = append(batch[:0], r)
			case <-stop:
				return
			}
			wait.Reset(cfg.Limits.BatchWait)
		gather:
			for len(batch) < cfg.Limits.BatchSize {
				select {
				case r := <-queue:
					batch = append(batch, r)
				case <-wait.C:
					break gather
				}
			}
			wait.Stop()
			err := commit(batch)
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	defer func() { close(stop); <-stopped }()

	return driveEcho(b, func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		r := protoReq{body: body, done: make(chan error, 1)}
		select {
		case queue <- r:
		case <-stopped:
			return c.NoContent(http.StatusServiceUnavailable)
		}
		select {
		case err = <-r.done:
		case <-stopped:
			return c.NoContent(http.StatusServiceUnavailable)
		}
		if err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.NoContent(http.StatusOK)
	}, 3)
}

// protoReq is a request's body waiting in driveProto's group commit.
type protoReq struct {
	body []byte
	done chan error
}

func driveHookd(b *testing.B) load {
	cfg, err := config.Load("")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = freeAddr(b), freeAddr(b)
	cfg.Data = b.TempDir()
	switch *ingestBackend {
	case "sqlite":
	case "postgres":
		dsn := testenv.PostgresSchema(b)
		cfg.Log.Backend, cfg.Log.DSN = "postgres", dsn
		cfg.Store.Driver, cfg.Store.DSN = "postgres", dsn
	case "nats":
		cfg.Store.Driver, cfg.Store.DSN = "postgres", testenv.PostgresSchema(b)
		cfg.Log.Backend = "nats"
		cfg.Log.URL, cfg.Log.Prefix = testenv.NATSPrefix(b)
	default:
		b.Fatalf("-ingest.backend=%s: want sqlite, postgres or nats", *ingestBackend)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, nil, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}()
	waitReady(b, "http://"+cfg.Listen)
	start := time.Now()
	l := drive(b, "http://"+cfg.Listen+"/hooks/mailjet", 2)
	// The store catches up with the log after the load: how long it takes
	// tells the projector's throughput.
	st, err := store.Open(context.Background(), store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN, Dir: cfg.Data, ReadOnly: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := st.Count(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n >= int64(l.ok) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events projected after 5 minutes", n, l.ok)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.projected = float64(l.ok) / time.Since(start).Seconds()
	return l
}

func freeAddr(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady waits until base answers /readyz 200: /healthz answers from
// the moment the port is bound, while the log and the store still open.
func waitReady(b *testing.B, base string) {
	for range 400 {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.Fatalf("%s never became ready", base)
}

// BenchmarkPipeLatency measures how long an event takes from hookd's 200
// to the request of the rule's http action it fires: a real hookd (as in
// BenchmarkIngest) with one rule whose http action fires on every open
// event receives distinct open events at up to -pipe.rate per second from
// -pipe.concurrency connections for -pipe.duration. The action's target (or
// -pipe.targets of them, one rule each) notes when each event's request
// arrives; the event id is the end of the Idempotency-Key. After the
// sending, it waits at most 30 s for the jobs left to arrive. It reports
// the p50 and p99 latency of the events delivered (an action may arrive
// before the client has read the 200: the latency is then negative), how
// many were acknowledged and delivered, and the rate acknowledged. Run it
// once:
//
//	go test -run '^$' -bench PipeLatency -benchtime 1x ./cmd/hookd/
func BenchmarkPipeLatency(b *testing.B) {
	for b.Loop() {
		acked, arrived := drivePipe(b)
		var lat []time.Duration
		for id, at := range arrived {
			if ok, found := acked[id]; found {
				lat = append(lat, at.Sub(ok))
			}
		}
		if len(lat) == 0 {
			b.Fatalf("none of %d events acknowledged reached the target", len(acked))
		}
		slices.Sort(lat)
		pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100].Microseconds()) / 1000 }
		b.ReportMetric(pct(50), "p50-ms")
		b.ReportMetric(pct(99), "p99-ms")
		b.ReportMetric(float64(len(acked)), "acked")
		b.ReportMetric(float64(len(lat)), "delivered")
		b.ReportMetric(float64(len(acked))/pipeDuration.Seconds(), "acked-events/s")
	}
}

// drivePipe runs hookd with the rule, sends events and returns when each
// event id was acknowledged and when its action's request arrived.
func drivePipe(b *testing.B) (acked, arrived map[string]time.Time) {
	b.Helper()
	var mu sync.Mutex
	arrived = map[string]time.Time{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		_, _ = io.Copy(io.Discard, req.Body)
		key := req.Header.Get("Idempotency-Key")
		id := key[strings.LastIndexByte(key, '/')+1:]
		mu.Lock()
		if _, ok := arrived[id]; !ok {
			arrived[id] = now
		}
		mu.Unlock()
	}))
	defer target.Close()

	dir := b.TempDir()
	rulesFile := filepath.Join(dir, "pipe.yaml")
	// The runner runs one job of a target at a time: with several
	// targets, the generator's ten recipient domains are spread over
	// them, one rule and URL each.
	rule := "rules:\n  - name: pipe\n    when: type == \"open\"\n    actions:\n" +
		"      - http: { url: \"" + target.URL + "/pipe\" }\n"
	if n := *pipeTargets; n > 1 {
		if n > 10 {
			b.Fatalf("-pipe.targets %d: at most 10", n)
		}
		var r strings.Builder
		r.WriteString("rules:\n")
		for t := range n {
			var domains []string
			for d := t; d < 10; d += n {
				domains = append(domains, fmt.Sprintf("%q", fmt.Sprintf("d%d.example", d)))
			}
			fmt.Fprintf(&r, "  - name: pipe%d\n    when: 'type == \"open\" && domain in [%s]'\n    actions:\n"+
				"      - http: { url: \"%s/pipe%d\" }\n", t, strings.Join(domains, ", "), target.URL, t)
		}
		rule = r.String()
	}
	if err := os.WriteFile(rulesFile, []byte(rule), 0o600); err != nil {
		b.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "hookd.yaml")
	if err := os.WriteFile(cfgFile, []byte("sources:\n  - name: mailjet\n    provider: mailjet\nrules:\n  - "+rulesFile+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgFile, knownNames())
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = freeAddr(b), freeAddr(b)
	cfg.Data = filepath.Join(dir, "data")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, nil, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + cfg.Listen
	waitReady(b, base)

	// The workers take turns from a ticker at the rate; a tick no worker
	// is free for is dropped, so the rate is a ceiling.
	acked = map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(*pipeRate))
	stop := time.After(*pipeDuration)
	var (
		wg    sync.WaitGroup
		next  int
		first error
	)
	ticks := make(chan int)
	client := &http.Client{Timeout: 10 * time.Second}
	for range *pipeConcurrency {
		wg.Go(func() {
			gen := send.Generator{Type: "open", Run: 3}
			for i := range ticks {
				body := gen.Append(nil, i)
				ids, err := idsOf(string(body))
				if err == nil {
					var resp *http.Response
					resp, err = client.Post(base+"/hooks/mailjet", "application/json", bytes.NewReader(body))
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("POST: %s", resp.Status)
						}
					}
				}
				now := time.Now()
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					acked[ids[0]] = now
				}
				mu.Unlock()
			}
		})
	}
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
			select {
			case ticks <- next:
				next++
			default:
			}
		}
	}
	tick.Stop()
	close(ticks)
	wg.Wait()
	if first != nil {
		b.Fatalf("sending: %v", first)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= len(acked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return acked, maps.Clone(arrived)
}
