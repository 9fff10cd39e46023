package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/dashboard"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/datafile"
	"github.com/hookd/hookd/internal/datalock"
	"github.com/hookd/hookd/internal/mjapi"
	"github.com/hookd/hookd/internal/retention"
	"github.com/hookd/hookd/internal/tlsfile"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

// minLease is the shortest --runner-lease: a runner renews its claims every
// third of the lease.
const minLease = 3 * time.Second

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM, unless limits.read_timeout is longer: a request that may
// take that long to arrive gets that long.
const shutdownTimeout = 30 * time.Second

func newServeCmd() *cobra.Command {
	var (
		flags     config.Flags
		logFormat string
		logLevel  string
		lease     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive webhooks, store every event, run the rules, and serve the admin API",
		Long: `serve runs hookd: the hooks listener (public; --listen) where providers post
events, and the admin listener (--admin-listen; loopback by default) with the
API and metrics. Without --config it runs the built-in default: one
unauthenticated Mailjet source at POST /hooks/mailjet, with the event log and
store in SQLite files under --data.

The rule files the configuration lists are evaluated on every event as it is
stored; the actions of the rules that fire are queued in the store and run
with retries. The files, and the template files they name, reload when
they change, and on SIGHUP; files that do not load leave the running rules
in place. On SIGHUP serve also reads the configuration file again and, when
it loads as a whole, applies its sources (and their secret files): requests
in progress finish with the sources they started with. A change of any other
key is warned of, naming the keys, and applies at a restart.

With tls (or admin.tls), the hooks (or admin) listener serves HTTPS. Its
certificate and key files are read again on SIGHUP, and when they change
(looked at at most every 10s): a pair that does not load leaves the
previous certificate in place and is logged.

SIGTERM or SIGINT stops accepting, finishes the requests in flight, flushes
and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			if lease < minLease {
				return usagef("--runner-lease %s: must be at least %s, or the renewals of claims would keep the database busy and a slow one lose them", lease, minLease)
			}
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			load := func() (*config.Config, error) { return flags.Load(knownNames()) }
			return serve(cmd.Context(), cfg, load, logger, func(rc *actions.RunnerConfig) { rc.Lease = lease })
		},
	}
	flags.Register(cmd.Flags())
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().DurationVar(&lease, "runner-lease", actions.DefaultLease,
		"how long a claim on an action job lasts unless renewed (a runner renews its claims every third of it while it runs their jobs): a replica takes over the jobs of one that died once its claims lapsed")
	return cmd
}

// The store's projector gives way to the listener while at least
// busyRequests hook requests are in progress, for at most giveWayMax at a
// time: on a machine that cannot do both at full speed, a burst of webhook
// deliveries is answered first, and the store and the rules catch up when
// it ends. A steady 1,000 events/s keeps about 1 to 10 requests in
// progress, so it is projected without delay.
const (
	busyRequests = 16
	giveWayMax   = 200 * time.Millisecond
)

// serve runs hookd until ctx ends, then shuts down in order: stop accepting
// and finish in-flight requests, then stop the group commit, then the
// consumers, then close the log and the store. A ctx that ends while serve
// starts (a signal while it waits for PostgreSQL, say) stops it as asked:
// the start it cut off is no error. load loads the configuration again, as
// cfg was, for SIGHUP to apply a change of its sources; nil applies none.
func serve(ctx context.Context, cfg *config.Config, load func() (*config.Config, error), logger *slog.Logger, runnerOpts ...func(*actions.RunnerConfig)) (err error) {
	listening := false
	defer func() {
		if !listening && err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			logger.Info("stopped while starting", "cut_off", err)
			err = nil
		}
	}()
	// SIGHUP is caught from the start: its default ends the process,
	// and a reload sent while serve opens a slow database (a schema
	// upgrade, a server that does not answer) must not.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// What SIGHUP compares the configuration file with.
	started := readStartConfig(cfg, load, logger)
	// The rules first: rule files that do not load fail the start before
	// a port is bound or a database touched.
	var watcher *rules.Watcher
	if len(cfg.Rules) > 0 {
		// The watcher warns of a pattern that matches no file, at start
		// and whenever one comes to.
		var err error
		if watcher, err = rules.NewWatcher(ctx, cfg.Rules, ruleOptions(cfg), logger); err != nil {
			return err
		}
	}
	// The certificates next: a pair that does not load (changed since
	// the configuration was checked) fails the start, naming its field.
	hooksTLS, err := newTLS("tls", cfg.TLS, logger)
	if err != nil {
		return err
	}
	adminTLS, err := newTLS("admin.tls", cfg.Admin.TLS, logger)
	if err != nil {
		return err
	}
	for _, w := range settingWarnings(cfg, time.Now()) {
		logger.Warn(w)
	}
	// Then both ports: a taken port fails the start before anything is
	// created in the data directory. Shutdown closes them; an early
	// return closes them here.
	hooksLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError("hooks", "listen", cfg.File, err)
	}
	defer hooksLn.Close()
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return listenError("admin", "admin.listen", cfg.File, err)
	}
	defer adminLn.Close()
	// Both ports answer from now on, while the log and the store open (a
	// database that is slow to answer, a schema upgrade): probes get an
	// answer, not a connection that hangs, and a provider a 503 to retry.
	hooksHandler, adminHandler := newHandoff(startingHandler(logger, false)), newHandoff(startingHandler(logger, true))
	hooksSrv := newServer(cfg.Listen, hooksHandler, cfg.Limits, logger.With("listener", "hooks"))
	adminSrv := newServer(cfg.Admin.Listen, adminHandler, cfg.Limits, logger.With("listener", "admin"))
	defer hooksSrv.Close() // an early return; Shutdown below otherwise
	defer adminSrv.Close()
	serveErr := make(chan error, 2)
	for _, s := range []struct {
		srv *http.Server
		ln  net.Listener
		tls *tlsfile.Reloader
	}{{hooksSrv, hooksLn, hooksTLS}, {adminSrv, adminLn, adminTLS}} {
		if s.tls != nil {
			s.srv.TLSConfig = s.tls.ServerConfig()
		}
		go func() {
			var err error
			if s.tls == nil {
				err = s.srv.Serve(s.ln)
			} else {
				// ServeTLS offers HTTP/2 besides HTTP/1.1.
				err = s.srv.ServeTLS(s.ln, "", "")
			}
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	hooksAddr, adminAddr := listenAddr(hooksLn, hooksTLS), listenAddr(adminLn, adminTLS)
	bld := currentBuild()
	logger.Info("hookd starting: opening the event log and the store", "version", bld.String(),
		"hooks", hooksAddr, "admin", adminAddr)
	// The data directory is made, not its parents: a mistyped --data
	// fails rather than starting on an empty log and store.
	if err := os.Mkdir(cfg.Data, 0o750); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create data directory %s: %s does not exist (hookd makes the data directory, not its parents)", cfg.Data, filepath.Dir(cfg.Data))
	} else if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Held while serving, so that hookd rebuild refuses to run beside.
	lock, err := datalock.Acquire(cfg.Data)
	if errors.Is(err, datalock.ErrHeld) {
		return fmt.Errorf("data directory %s is in use by another hookd serve or rebuild", cfg.Data)
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := datalock.CheckWritable(cfg.Data); err != nil {
		return err
	}
	logCfg := cfg.Log
	logCfg.Dir = cfg.Data
	log, err := eventlog.Open(ctx, logCfg, logger)
	if err != nil {
		return err
	}
	defer log.Close()
	st, err := store.Open(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN, Dir: cfg.Data,
		AsyncCommit: cfg.Log.Backend == "postgres" && cfg.Log.DSN == cfg.Store.DSN}, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := checkLost(ctx, log, st, logger); err != nil {
		return err
	}
	if err := catchUp(ctx, log, st, logger); err != nil {
		return err
	}
	if adminExposed(cfg) {
		logger.Warn("the admin listener is reachable beyond this machine without admin.token: anyone who reaches it can read every event and retry or delete", "admin", cfg.Admin.Listen)
	}

	// Replay tokens (Mailgun's) are kept durably, so a restart does not
	// reopen the window for a replay: in the data directory, or beside a
	// PostgreSQL store, which replicas share, so that a token one replica
	// saw is refused with another body at every other.
	var nonces *listener.SQLNonces
	if cfg.Store.Driver == "postgres" {
		nonces, err = listener.OpenPostgresNonces(ctx, cfg.Store.DSN)
	} else {
		nonces, err = listener.OpenNonces(ctx, cfg.Data)
	}
	if err != nil {
		return err
	}
	defer nonces.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), st.Collector(), bld.collector())
	// watermill's metrics component does not fit here: the listener
	// appends with Append, not Publish, and its subscriber decorator hands
	// messages on through an unbuffered channel, which would cut the
	// projector's batches to one message.
	if lg, ok := log.(eventlog.Lagger); ok {
		reg.MustRegister(newLagCollector(lg, logger))
	}
	lis, err := listener.New(listener.Config{
		Sources:       cfg.Sources,
		MaxBody:       int64(cfg.Limits.MaxBody),
		MaxEvents:     cfg.Limits.MaxEvents,
		BatchSize:     cfg.Limits.BatchSize,
		BatchWait:     cfg.Limits.BatchWait,
		MaxConcurrent: cfg.Limits.MaxConcurrent,
		MaxInflight:   int64(cfg.Limits.MaxInflight),
		Nonces:        nonces,
		RequestLog:    cfg.RequestLog,
	}, log, logger, reg)
	if err != nil {
		return err
	}
	// A window of a batch lets the projector store what the log has in
	// one transaction instead of one per event.
	storeSub, err := log.Subscriber(store.Group, eventlog.InFlight(store.Batch))
	if err != nil {
		return err
	}
	// The projector evaluates the rules, if any, on each event it stores,
	// and the runner runs the jobs they make (and any left from before).
	var engine store.Evaluator
	if watcher != nil {
		en, err := rules.NewEngine(watcher.Current, logger, reg)
		if err != nil {
			return err
		}
		engine = en
	}
	owner, err := runnerOwner(cfg.Data)
	if err != nil {
		return err
	}
	warnExposed(cfg.Data, unusedDataFile(cfg), logger)
	// Jobs this data directory's previous process had in flight when it
	// died run again now, not when their lease expires.
	if n, err := st.ReleaseClaims(ctx, owner); err != nil {
		return err
	} else if n > 0 {
		logger.Info("jobs in flight at the last stop will run again", "jobs", n)
	}
	rc := actions.RunnerConfig{Owner: owner, Settings: actionSettings(cfg, st)}
	for _, o := range runnerOpts {
		o(&rc)
	}
	runner, err := actions.NewRunner(st, rc, logger, reg)
	if err != nil {
		return err
	}
	retentionFailed, err := registerHealth(reg, lis.Ready, watcher, log)
	if err != nil {
		return err
	}
	// With Mailjet keys, a dead event callback URL is logged and counted.
	var cw *callbackWatch
	if m := cfg.Mailjet; m.Configured() {
		client := &mjapi.Client{BaseURL: m.APIURL, Key: m.APIKey, Secret: m.APISecret}
		if cw, err = newCallbackWatch(client, m.CheckInterval, sourceTokens(cfg), logger, reg); err != nil {
			return err
		}
	}

	admin := listener.NewEcho(logger)
	admin.Pre(dashboard.Guard(dashboard.GuardConfig{Loopback: cfg.Admin.Loopback(), Hosts: cfg.Admin.Hosts}))
	rejects, err := newAdminRejects(reg, logger)
	if err != nil {
		return err
	}
	admin.Use(rejects.Middleware)
	listener.RouteHealthz(admin)
	listener.RouteReadyz(admin, lis.Ready, true)
	// Every GET route of the admin listener answers HEAD too (but the
	// API's stream, /api/live), as the API's routes do.
	admin.Match([]string{http.MethodGet, http.MethodHead}, "/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	apiGroup := admin.Group("/api")
	// The dashboard's sessions are kept in the store, which replicas
	// share: a login works at every replica, a logout ends it at all.
	// One throttle for both, so that wrong tokens at the API and at the
	// login form count together.
	dash := dashboard.Config{Token: cfg.Admin.Token, Sessions: st, SecureCookie: cfg.Admin.SecureCookie, Logger: logger,
		Throttle: dashboard.NewThrottle(dashboard.ThrottleConfig{Failures: cfg.Admin.Throttle.Failures, Window: cfg.Admin.Throttle.Window})}
	if cfg.Admin.Token != "" {
		apiGroup.Use(dashboard.APIAuth(dash))
	}
	dashboard.Register(admin, dash)
	// Closed when the admin server shuts down, to end live streams that
	// Shutdown would otherwise wait for.
	adminClosing := make(chan struct{})
	// A stream outlasts the admin server's write timeout; each of its
	// writes is bounded by it instead.
	deps := api.Deps{Store: st, Logger: logger, Shutdown: adminClosing, QueryTimeout: cfg.Admin.QueryTimeout, StreamWriteTimeout: cfg.Limits.WriteTimeout}
	if watcher != nil {
		deps.Rules = watcher.Status
	}
	api.Register(apiGroup, deps)

	adminSrv.RegisterOnShutdown(func() { close(adminClosing) })

	commitCtx, stopCommit := context.WithCancel(context.WithoutCancel(ctx))
	consumeCtx, stopConsumers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCommit()
	defer stopConsumers()
	var commitWG, consumeWG sync.WaitGroup
	commitWG.Go(func() { _ = lis.Run(commitCtx) })
	consumeWG.Go(func() {
		busy := func() bool { return lis.InFlight() >= busyRequests }
		if err := st.Run(consumeCtx, storeSub, engine, store.GiveWay(busy, giveWayMax)); err != nil && consumeCtx.Err() == nil {
			logger.Error("store projector stopped", "err", err)
		}
	})
	consumeWG.Go(func() { _ = runner.Run(consumeCtx) })
	if cw != nil {
		consumeWG.Go(func() { cw.Run(consumeCtx) })
	}
	consumeWG.Go(func() {
		retention.Run(consumeCtx, retention.Config{Events: cfg.Retention.Events.Duration(), Log: cfg.Retention.Log.Duration(),
			Cooldown: func() time.Duration { return longestCooldown(watcher) }, Failed: retentionFailed}, st, log, logger)
	})
	if watcher != nil {
		consumeWG.Go(func() {
			if err := watcher.Run(consumeCtx); err != nil {
				logger.Error("rule files are no longer watched; SIGHUP reloads them", "err", err)
			}
		})
	}
	// SIGHUP applies a change of the sources in the configuration file
	// (a file that does not load changes nothing) and reloads the rule
	// files; without rules or a file it does nothing, never ending hookd
	// as its default would.
	// A change of another key is only warned of: it applies at a restart.
	// One that came while serve started is handled now.
	if started != nil {
		started.apply = lis.SetSources
		if cw != nil {
			started.applied = func(srcs []config.Source) { cw.hide(sourceTokens(&config.Config{Sources: srcs})) }
		}
	}
	consumeWG.Go(func() {
		for {
			select {
			case <-consumeCtx.Done():
				return
			case <-hup:
				started.reload()
				for _, r := range []*tlsfile.Reloader{hooksTLS, adminTLS} {
					if r != nil {
						_ = r.Reload() // logs why it failed
					}
				}
				if watcher == nil {
					logger.Info("SIGHUP: no rule files to reload")
					continue
				}
				logger.Info("SIGHUP: reloading the rule files")
				_ = watcher.Reload(consumeCtx) // logs why it failed
			}
		}
	})

	hooksHandler.set(lis.Handler())
	adminHandler.set(admin)
	// The data directory absolute, as a relative one depends on where the
	// config file or the working directory is.
	data, absErr := filepath.Abs(cfg.Data)
	if absErr != nil {
		data = cfg.Data
	}
	logger.Info("hookd listening", "hooks", hooksAddr, "admin", adminAddr,
		"data", data, "log", logCfg.Backend, "sources", len(cfg.Sources), "rules", ruleCount(watcher))
	listening = true

	var runErr error
	grace := max(shutdownTimeout, cfg.Limits.ReadTimeout)
	select {
	case <-ctx.Done():
		if d := cfg.Limits.Drain; d > 0 {
			// /readyz turns first; requests are served meanwhile.
			lis.Drain()
			logger.Info("shutting down: /readyz answers 503, serving on while load balancers stop sending; a second signal stops at once", "drain", d.String())
			select {
			case <-time.After(d):
			case runErr = <-serveErr:
				logger.Error("listener failed", "err", runErr)
			}
		}
		logger.Info("shutting down: finishing the requests in flight; a second signal stops at once", "grace", grace)
	case runErr = <-serveErr:
		logger.Error("listener failed", "err", runErr)
	}

	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{hooksSrv, adminSrv} {
		wg.Go(func() {
			if err := srv.Shutdown(sctx); err != nil {
				logger.Warn("shutdown", "addr", srv.Addr, "err", err)
			}
		})
	}
	wg.Wait()
	stopCommit()
	commitWG.Wait()
	stopConsumers()
	consumeWG.Wait()
	if err := log.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close event log: %w", err)
	}
	if err := st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close store: %w", err)
	}
	if runErr == nil {
		logger.Info("stopped")
	}
	return runErr
}

// newTLS returns the reloading certificate of a listener's tls (field is
// its key in the configuration); nil when t is not enabled. A pair that
// does not load is an error naming the field of the file at fault.
func newTLS(field string, t config.TLS, logger *slog.Logger) (*tlsfile.Reloader, error) {
	if !t.Enabled() {
		return nil, nil
	}
	r, err := tlsfile.New(tlsfile.Config{Cert: t.Cert, Key: t.Key, Logger: logger.With("listener", field)})
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", field, tlsfile.At(err), err)
	}
	return r, nil
}

// listenError is the error of a listener that could not bind its address:
// it names the setting and the flag that set the address, and for an
// address in use says that another process holds it, so that the operator
// knows what to change. key is the configuration key (listen,
// admin.listen), whose flag is --key with the dot a dash; file is the
// configuration file, "" for the built-in one.
func listenError(listener, key, file string, err error) error {
	flag := "--" + strings.ReplaceAll(key, ".", "-")
	set := fmt.Sprintf("%s, or %s in a --config file", flag, key)
	if file != "" {
		set = fmt.Sprintf("%s in %s, or %s", key, file, flag)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s listener: %w: another process listens on this address (a hookd already running?): stop it, or give another address with %s", listener, err, set)
	}
	return fmt.Errorf("%s listener: %w (the address is set by %s)", listener, err, set)
}

// listenAddr returns the address ln listens on as the start's log lines
// give it: host:port for plain HTTP, as always, and https://host:port
// where the listener serves TLS (r not nil).
func listenAddr(ln net.Listener, r *tlsfile.Reloader) string {
	if r == nil {
		return ln.Addr().String()
	}
	return "https://" + ln.Addr().String()
}

// handoff serves one handler, then another from when set is called: the
// ports answer while serve starts, then serve for real.
type handoff struct{ h atomic.Pointer[http.Handler] }

func newHandoff(h http.Handler) *handoff {
	ho := &handoff{}
	ho.set(h)
	return ho
}

func (ho *handoff) set(h http.Handler) { ho.h.Store(&h) }

func (ho *handoff) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*ho.h.Load()).ServeHTTP(w, r) }

// errStarting is what /readyz says while serve opens the log and the store.
var errStarting = errors.New("hookd is starting: opening the event log and the store")

// startingHandler answers while serve starts: /healthz ok, /readyz 503
// (with why on the admin listener, detail), and anything else 503, which a
// provider retries.
func startingHandler(logger *slog.Logger, detail bool) http.Handler {
	e := listener.NewEcho(logger)
	listener.RouteHealthz(e)
	listener.RouteReadyz(e, func(context.Context) error { return errStarting }, detail)
	e.Any("/*", func(c echo.Context) error {
		c.Response().Header().Set("Retry-After", "5")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "hookd is starting, retry later")
	})
	return e
}

// newServer returns a server of h with timeouts that keep slow clients
// from holding connections forever.
func newServer(addr string, h http.Handler, lim config.Limits, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverLog{logger}, "", 0),
	}
}

// serverLog writes net/http's own log lines through logger, so that they
// take --log-format and --log-level as every other line does: a TLS
// handshake that fails (a scanner, a client that does not trust the
// certificate, plain HTTP to an HTTPS port), which anyone on the Internet
// can cause at will, at debug; anything else (an accept error, a handler
// that wrote its header twice) as a warning.
type serverLog struct{ logger *slog.Logger }

func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	s.logger.Log(context.Background(), level, msg)
	return len(p), nil
}

func newLogger(w interface{ Write([]byte) (int, error) }, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// ruleCount returns how many rules w runs; 0 when nil.
func ruleCount(w *rules.Watcher) int {
	if w == nil {
		return 0
	}
	return len(w.Current().Rules())
}

// longestCooldown returns the longest cooldown of the rules w runs; 0 when
// w is nil. Firings of rules removed since, whatever their cooldown was,
// are kept only that long past the events' horizon.
func longestCooldown(w *rules.Watcher) time.Duration {
	if w == nil {
		return 0
	}
	var d time.Duration
	for _, r := range w.Current().Rules() {
		d = max(d, r.Cooldown)
	}
	return d
}

// runnerOwner returns the action runner's owner name for the data directory:
// the host name and an id kept in the directory, the same across restarts,
// so that a restarted hookd can take back the jobs its previous process
// held. Replicas sharing one database each have their own data directory,
// hence their own owner.
func runnerOwner(data string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	path := filepath.Join(data, "runner-id")
	id, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		id = []byte(rand.Text()[:12])
		err = os.WriteFile(path, id, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("runner id: %w", err)
	}
	return host + "/" + strings.TrimSpace(string(id)), nil
}

// warnExposed logs one warning naming the files of the data directory that
// other users than hookd's may read or write. hookd creates its files 0600
// (see datafile.Create) and never changes the mode of a file that exists:
// one an older hookd made 0644, or one a user opened to a group on purpose
// (a backup agent's), stays as it is, and this says so at every start.
// Files that unused says serve does not use (an SQLite file left by an
// earlier configuration) are named in an info line instead.
func warnExposed(data string, unused func(name string) bool, logger *slog.Logger) {
	exposed, err := datafile.Exposed(data)
	if err != nil {
		logger.Warn("data directory: cannot check the modes of its files", "data", data, "err", err)
		return
	}
	exposed = splitUnused(exposed, unused, data, logger)
	if len(exposed) > 0 {
		logger.Warn("data files are open to other users: hookd creates its files 0600 but leaves the mode of existing ones as it is; chmod 600 them to keep the events private",
			"data", data, "files", exposed)
	}
}

// checkLost warns when the store and the log disagree in a way only a lost
// file explains. The store holds no events although its projector has
// consumed some from the log: store.db was deleted or replaced, and the
// projector will not deliver those events again. Or the store holds events
// although the projector has consumed nothing: the log (hookd.db) was
// deleted or replaced, and a provider's retry of a stored event is answered
// as new (the store keeps it once, and its rules do not fire again).
func checkLost(ctx context.Context, log eventlog.Log, st *store.Store, logger *slog.Logger) error {
	projected, err := projectedOffsets(ctx, log)
	if err != nil || projected == nil {
		return err
	}
	page, err := st.Events(ctx, store.EventQuery{Limit: 1})
	if err != nil {
		return err
	}
	switch offset := projected[eventlog.TopicEvents]; {
	case offset > 0 && len(page.Events) == 0:
		logger.Warn("the store holds no events, but its projector has consumed events from the log: store.db was deleted or replaced; stop hookd and run hookd rebuild to store them again",
			"log_offset", offset)
	case offset == 0 && len(page.Events) > 0:
		logger.Warn("the store holds events, but the event log has none its projector consumed: the log was deleted or replaced, or its backend changed; retried deliveries of stored events are answered as new (the store keeps each event once)")
	}
	return nil
}

// catchUp rewinds the store's consumer group to where the store is, when
// the store is behind it (see store.CatchUp): store.db was restored from a
// backup taken before the log's. The projector then stores and evaluates
// the messages in between, which nothing else would deliver again.
func catchUp(ctx context.Context, log eventlog.Log, st *store.Store, logger *slog.Logger) error {
	behind, err := st.CatchUp(ctx, log)
	if err != nil {
		return err
	}
	for _, b := range behind {
		if b.Rewound {
			logger.Warn("the store is behind its consumer group in the event log (store.db restored from an older copy than the log): the projector resumes from the store's offset and stores the messages in between",
				"topic", b.Topic, "store_offset", b.Stored, "group_offset", b.Acked)
			continue
		}
		logger.Warn("the store is behind its consumer group in the event log, which cannot rewind the group: messages in between are not stored; stop hookd and run hookd rebuild",
			"topic", b.Topic, "store_offset", b.Stored, "group_offset", b.Acked)
	}
	return nil
}
