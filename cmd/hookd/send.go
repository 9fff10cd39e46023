package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/send"
)

func newSendCmd() *cobra.Command {
	var (
		target      string
		file        string
		generate    int
		typ         string
		group       bool
		groupSize   int
		concurrency int
		rate        float64
		timeout     time.Duration
		asJSON      bool
		caFile      string
	)
	cmd := &cobra.Command{
		Use:   "send [URL]",
		Short: "POST Mailjet events to a hook URL, to try a set-up or to load-test it",
		Long: `send posts Mailjet Event API deliveries to URL the way Mailjet does, so a
set-up can be tried before Mailjet is pointed at it, and measured.

With --file, the file holds one event object or an array of them; each event
is sent as its own Version 1 request, or with --group as Version 2 arrays of
--group-size events. With --generate N, N distinct events of --type are made
up (each with its own MessageID above 2^53, recipient and time, and new ones
on every run; a --type other than Mailjet's seven gets only the fields common
to all), so deduplication cannot shortcut a benchmark; --group works
here too.

Credentials in the URL (http://user:pass@host/hooks/mailjet) are sent as basic
auth, as Mailjet does; the password is never printed. Keep-alive connections
are reused; redirects are not followed. An https:// URL's certificate is
verified against the system's roots, and the certificates of --ca if given
(for a self-signed one, or a private CA); verification cannot be turned off.

send prints the number of answers per status code, the events hookd's
answers count as accepted and as duplicates, the requests and events per
second, and the p50 and p99 latencies (--json prints the same as JSON; the
rates and latencies are left out of the text when every request failed).
It exits with status 1 if any request failed: a transport error, a timeout,
or an answer other than 2xx.`,
		Example: `  hookd send --file events.json http://hookd:secret@localhost:8080/hooks/mailjet
  hookd send --generate 100000 --group --concurrency 16 http://localhost:8080/hooks/mailjet
  hookd send --generate 600 --type click --rate 10 --url http://localhost:8080/hooks/mailjet
  hookd send --ca cert.pem --generate 10 https://localhost:8443/hooks/mailjet`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && target != "":
				return usagef("send: give the URL as an argument or with --url, not both")
			case len(args) == 1:
				target = args[0]
			case target == "":
				return usagef("send: no URL: give it as an argument or with --url")
			}
			flags := cmd.Flags()
			if flags.Changed("type") && file != "" {
				return usagef("send: --type applies to --generate only")
			}
			if flags.Changed("group-size") && !group {
				return usagef("send: --group-size needs --group")
			}
			if groupSize < 1 {
				return usagef("send: --group-size %d: want at least 1", groupSize)
			}
			if concurrency < 1 {
				return usagef("send: --concurrency %d: want at least 1", concurrency)
			}
			// NaN compares false with everything, and so does not
			// count as negative; a rate so low that its interval
			// overflows a time.Duration would be no cap at all.
			if rate < 0 || math.IsNaN(rate) || rate > 0 && float64(time.Second)/rate > math.MaxInt64 {
				return usagef("send: --rate %v: want 0 (no cap), or at least %.2g (a request every 292 years)", rate, float64(time.Second)/math.MaxInt64)
			}
			if timeout <= 0 {
				return usagef("send: --timeout %v: want more than 0", timeout)
			}
			size := 0
			if group {
				size = groupSize
			}

			var roots *x509.CertPool
			if caFile != "" {
				var err error
				if roots, err = send.CertPool(caFile); err != nil {
					return err
				}
			}

			var src send.Source
			if file != "" {
				events, err := readEventsFile(file, cmd.InOrStdin())
				if err != nil {
					return err
				}
				src = send.Events(events, size)
			} else {
				if generate < 1 {
					return usagef("send: --generate %d: want at least 1", generate)
				}
				// Events end now, and a random run keeps this run's events
				// apart from those of earlier runs.
				g := send.Generator{Type: typ, Run: rand.Uint32(), Start: time.Now().Unix() - int64(generate) + 1}
				src = send.Generated(g, generate, size)
			}

			rep, runErr := send.Run(cmd.Context(), send.Options{
				URL:         target,
				Source:      src,
				Concurrency: concurrency,
				Rate:        rate,
				Timeout:     timeout,
				RootCAs:     roots,
			})
			if rep.Requests > 0 || runErr == nil {
				if err := printReport(cmd.OutOrStdout(), target, rep, asJSON); err != nil {
					return err
				}
				if errors.Is(runErr, send.ErrFailed) {
					// The report above shows the first failure already.
					return fmt.Errorf("send: %w: %d of %s", send.ErrFailed, rep.Failed(), plural(rep.Requests, "request"))
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "url", "", "hook URL, instead of the argument")
	f.StringVar(&file, "file", "", `JSON file of events: one object or an array ("-" for standard input)`)
	f.IntVar(&generate, "generate", 0, "make up and send `N` distinct events")
	f.StringVar(&typ, "type", "open", "event type for --generate: sent, open, click, bounce, blocked, spam, unsub (any other: the common fields only)")
	f.BoolVar(&group, "group", false, "send Version 2 arrays of --group-size events instead of one event per request")
	f.IntVar(&groupSize, "group-size", 100, "events per request with --group")
	f.IntVar(&concurrency, "concurrency", send.DefaultConcurrency, "requests in flight at most")
	f.Float64Var(&rate, "rate", 0, "requests per second at most (0: no cap)")
	f.DurationVar(&timeout, "timeout", send.DefaultTimeout, "limit for each request")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&caFile, "ca", "", "PEM `file` of certificates to trust for an https URL, besides the system's roots")
	cmd.MarkFlagsMutuallyExclusive("file", "generate")
	cmd.MarkFlagsOneRequired("file", "generate")
	return cmd
}

// readEventsFile reads the events of --file, from stdin for "-".
func readEventsFile(name string, stdin io.Reader) ([]json.RawMessage, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		defer f.Close()
		r = f
	}
	events, err := send.ReadEvents(r)
	if err != nil {
		return nil, fmt.Errorf("send: %s: %w", name, err)
	}
	return events, nil
}

// printReport writes rep as text, or as JSON when asJSON.
func printReport(w io.Writer, target string, rep send.Report, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	shown := "the URL"
	if u, err := url.Parse(target); err == nil {
		shown = send.Redact(u)
	}
	_, err := fmt.Fprintf(w, "POST %s: %s, %s in %v\n",
		shown, plural(rep.Requests, "request"), plural(rep.Events, "event"), rep.Elapsed.Round(time.Millisecond))
	if err != nil {
		return err
	}
	codes := slices.Sorted(maps.Keys(rep.Status))
	for _, code := range codes {
		fmt.Fprintf(w, "%d: %d\n", code, rep.Status[code])
	}
	if rep.Accepted+rep.Duplicates > 0 {
		fmt.Fprintf(w, "events accepted: %d  duplicates: %d\n", rep.Accepted, rep.Duplicates)
	}
	if rep.Errors > 0 {
		fmt.Fprintf(w, "no answer: %d\n", rep.Errors)
	}
	if rep.FirstFailure != "" {
		fmt.Fprintf(w, "first failure: %s\n", rep.FirstFailure)
	}
	if rep.Failed() == rep.Requests {
		// Rates and latencies of requests that all failed would read as
		// the receiver's.
		return nil
	}
	_, err = fmt.Fprintf(w, "requests/s: %.1f  events/s: %.1f\nlatency p50: %v  p99: %v\n",
		rep.RequestsPerSecond(), rep.EventsPerSecond(),
		rep.P50.Round(time.Microsecond), rep.P99.Round(time.Microsecond))
	return err
}
