// Package listener is hookd's public HTTP side: one route per configured
// source, body limits, per-source authentication, decoding through the
// source's provider, and the group commit that answers 200 only once a
// request's events are durably in the event log.
//
// Provider adapters live in subpackages (listener/mailjet, ...) and register
// themselves with Register; import them for their side effect.
package listener

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/eventlog"
)

// Config configures a Listener. Zero values take the defaults documented on
// config.Limits.
type Config struct {
	// Sources are the routes to serve; each needs a registered provider.
	Sources []config.Source
	// MaxBody is the largest body accepted (default 1 MiB); larger gets 413.
	MaxBody int64
	// BatchSize is the most events one group commit holds (default 1000).
	BatchSize int
	// BatchWait is how long a group commit that is not full waits for more
	// requests (default 0: commit what has queued while the previous
	// commit ran, which is what a loaded server wants).
	BatchWait time.Duration
}

// Listener serves the hook routes. Create it with New, start its group
// commit with Run, and serve Handler.
type Listener struct {
	echo    *echo.Echo
	log     eventlog.Log
	commit  *committer
	logger  *slog.Logger
	maxBody int64
	metrics *metrics
	bufs    sync.Pool
}

// New builds a Listener over log. logger nil discards; reg nil registers the
// metrics nowhere.
func New(cfg Config, log eventlog.Log, logger *slog.Logger, reg prometheus.Registerer) (*Listener, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		log:     log,
		logger:  logger,
		maxBody: cfg.MaxBody,
		metrics: m,
		bufs:    sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	l.commit = newCommitter(log, cfg.BatchSize, cfg.BatchWait, m.batch.Observe)
	l.echo = NewEcho(logger)
	l.echo.Use(l.logRequests)
	l.echo.GET("/healthz", Healthz)
	for _, src := range cfg.Sources {
		if err := l.route(src); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Handler returns the HTTP handler of the hook routes and /healthz.
func (l *Listener) Handler() http.Handler { return l.echo }

// Run runs the group commit until ctx ends. Stop serving (http.Server
// Shutdown) before ending ctx, so that no request is left waiting.
func (l *Listener) Run(ctx context.Context) error {
	l.commit.run(ctx)
	return nil
}

func (l *Listener) route(src config.Source) error {
	dec, err := Lookup(src.Provider)
	if err != nil {
		return fmt.Errorf("source %q: %w", src.Name, err)
	}
	auth, err := newAuth(src)
	if err != nil {
		return err
	}
	if auth == nil {
		l.logger.Warn("source accepts unauthenticated requests: anyone who knows the URL can post events",
			"source", src.Name, "path", pathOf(src))
	}
	h := &hook{l: l, src: src, dec: dec, auth: auth}
	path := pathOf(src)
	l.echo.POST(path, h.serve)
	if src.Auth.Token != nil {
		l.echo.POST(path+"/:token", h.serve)
	}
	return nil
}

func pathOf(src config.Source) string {
	if src.Path != "" {
		return src.Path
	}
	return "/hooks/" + src.Name
}

// hook serves one source.
type hook struct {
	l    *Listener
	src  config.Source
	dec  Decoder
	auth authenticator // nil: none
}

// accepted is the body of a 200 answer.
type accepted struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

func (h *hook) serve(c echo.Context) error {
	start := time.Now()
	l, req := h.l, c.Request()
	c.Set(logSource, h.src.Name)
	if h.auth != nil {
		if err := h.auth.check(c); err != nil {
			l.metrics.rejected.WithLabelValues(h.src.Name, "auth").Inc()
			return err
		}
	}
	if req.ContentLength > l.maxBody {
		l.metrics.rejected.WithLabelValues(h.src.Name, "too_large").Inc()
		return tooLarge(l.maxBody)
	}
	buf := l.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 {
			buf.Reset()
			l.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(req.Body, l.maxBody+1)); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "read body: "+err.Error()).SetInternal(err)
	}
	if int64(buf.Len()) > l.maxBody {
		l.metrics.rejected.WithLabelValues(h.src.Name, "too_large").Inc()
		return tooLarge(l.maxBody)
	}
	body := buf.Bytes()
	events, err := h.dec.Decode(body)
	if err == nil && len(body) == 0 {
		err = errors.New("empty body")
	}
	if err != nil {
		l.metrics.rejected.WithLabelValues(h.src.Name, "malformed").Inc()
		return h.quarantine(c, start, body, err)
	}
	c.Set(logEvents, len(events))
	msgs := make([]*message.Message, len(events))
	for i := range events {
		e := &events[i]
		e.Source = h.src.Name
		e.Received = start.UTC()
		payload, err := e.Marshal()
		if err != nil {
			return err
		}
		m := message.NewMessage(e.ID, payload)
		m.Metadata.Set(eventlog.DedupKey, e.ID)
		msgs[i] = m
	}
	var dup []bool
	if len(msgs) > 0 {
		dup, err = l.commit.submit(req.Context(), msgs)
		if err != nil {
			l.metrics.rejected.WithLabelValues(h.src.Name, "unavailable").Inc()
			l.logger.Error("event log unavailable", "source", h.src.Name, "events", len(msgs), "err", err)
			return unavailable(err)
		}
	}
	dups := l.metrics.observe(h.src.Name, events, dup, time.Since(start))
	c.Set(logDuplicates, dups)
	return c.JSON(http.StatusOK, accepted{Accepted: len(events) - dups, Duplicates: dups})
}

// quarantine keeps a body that could not be decoded in the log's quarantine
// topic, then answers 400. If even that fails the answer is 503, so the
// provider retries and nothing is lost.
func (h *hook) quarantine(c echo.Context, start time.Time, body []byte, derr error) error {
	q := event.Quarantined{
		ID:          event.Hash("quarantine", start, h.src.Name, strconv.FormatInt(start.UnixNano(), 10), string(body)),
		Source:      h.src.Name,
		Received:    start.UTC(),
		Error:       derr.Error(),
		ContentType: c.Request().Header.Get(echo.HeaderContentType),
		Body:        bytes.Clone(body),
	}
	payload, err := jsonMarshal(q)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), commitTimeout)
	defer cancel()
	if _, err := h.l.log.Append(ctx, eventlog.TopicQuarantine, []*message.Message{message.NewMessage(q.ID, payload)}); err != nil {
		h.l.logger.Error("quarantine failed", "source", h.src.Name, "err", err)
		return unavailable(err)
	}
	h.l.logger.Warn("malformed body quarantined", "source", h.src.Name, "quarantine_id", q.ID, "err", derr)
	return echo.NewHTTPError(http.StatusBadRequest, "malformed body (quarantined as "+q.ID+"): "+derr.Error())
}

func tooLarge(max int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("body larger than %d bytes", max))
}

func unavailable(err error) error {
	return echo.NewHTTPError(http.StatusServiceUnavailable, "event log unavailable, retry later").SetInternal(err)
}
