package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/send"
)

var (
	ingestDuration    = flag.Duration("ingest.duration", 5*time.Second, "how long BenchmarkIngest drives each server")
	ingestConcurrency = flag.Int("ingest.concurrency", 64, "concurrent connections in BenchmarkIngest")
)

// BenchmarkIngest drives POST /hooks/mailjet of a real hookd (SQLite log
// with fsync'd group commit, store projector running) with distinct Mailjet
// open events from 64 connections for a fixed time, and in the same run a
// bare echo handler that only reads the body and answers 200. It reports
// both throughputs, their latencies and the ratio. Run it once:
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./cmd/hookd/
func BenchmarkIngest(b *testing.B) {
	for b.Loop() {
		bare := driveBare(b)
		hookd := driveHookd(b)
		b.ReportMetric(bare.eps, "bare-events/s")
		b.ReportMetric(hookd.eps, "hookd-events/s")
		b.ReportMetric(hookd.eps/bare.eps, "ratio")
		b.ReportMetric(float64(bare.p50.Microseconds())/1000, "bare-p50-ms")
		b.ReportMetric(float64(bare.p99.Microseconds())/1000, "bare-p99-ms")
		b.ReportMetric(float64(hookd.p50.Microseconds())/1000, "hookd-p50-ms")
		b.ReportMetric(float64(hookd.p99.Microseconds())/1000, "hookd-p99-ms")
	}
}

type load struct {
	eps      float64
	p50, p99 time.Duration
}

// drive posts generated open events to url for the configured time.
func drive(b *testing.B, url string, run uint32) load {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), *ingestDuration)
	defer cancel()
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
	return load{eps: float64(ok) / r.Elapsed.Seconds(), p50: r.P50, p99: r.P99}
}

func driveBare(b *testing.B) load {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/hooks/mailjet", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	defer srv.Close()
	return drive(b, "http://"+ln.Addr().String()+"/hooks/mailjet", 1)
}

func driveHookd(b *testing.B) load {
	cfg, err := config.Load("")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Listen, cfg.Admin.Listen = freeAddr(b), freeAddr(b)
	cfg.Data = b.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}()
	waitHealthy(b, "http://"+cfg.Listen)
	return drive(b, "http://"+cfg.Listen+"/hooks/mailjet", 2)
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(b *testing.B, base string) {
	for range 200 {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.Fatal(fmt.Sprintf("%s never became healthy", base))
}
