package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/internal/mjapi"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/mailjet"
)

func newMailjetCmd() *cobra.Command {
	var flags config.Flags
	cmd := &cobra.Command{
		Use:   "mailjet",
		Short: "Register hookd's URL with Mailjet and check that Mailjet still calls it",
		Long: `mailjet talks to Mailjet's API with the keys of the configuration's mailjet
section (api_url, api_key, api_secret): register points Mailjet's event
callbacks at hookd, status shows whether Mailjet still calls them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	flags.Var(cmd.PersistentFlags(), "config", "configuration `file` with the mailjet keys")

	var (
		target, events string
		group, backup  bool
	)
	register := &cobra.Command{
		Use:   "register --url URL",
		Short: "Create or update Mailjet's event callback URLs, one per event type",
		Long: `register makes Mailjet post each of --events to --url: it reads the account's
event callback URLs, updates those of the same event type (and backup flag)
whose URL, version or status differ, and creates the missing ones, so running
it again changes nothing. --group registers Version 2 (Mailjet groups events
into arrays); --backup registers the URL Mailjet falls back to when the main
one fails. A dead URL (Mailjet stopped calling it) is made alive again: a
dead record with the same URL is deleted and created anew, since Mailjet
revives a suspended record only when its URL changes.

Put the source's credentials in the URL: https://hookd:PASSWORD@host/hooks/mailjet.
Passwords, query values and the tokens of token auth sources are never
printed.`,
		Example: `  hookd mailjet register --config hookd.yaml --url https://hookd:PASSWORD@hooks.example.com/hooks/mailjet --group
  hookd mailjet register --config hookd.yaml --url https://backup.example.com/hooks/mailjet --events open,click --backup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if target == "" {
				return usagef("mailjet register: --url is required")
			}
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("mailjet register: --url: want an absolute http:// or https:// URL")
			}
			evs, err := mjapi.ParseEvents(events)
			if err != nil {
				return usagef("mailjet register: --events: %w", err)
			}
			client, cfg, err := mailjetClient(flags)
			if err != nil {
				return fmt.Errorf("mailjet register: %w", err)
			}
			// A warning, not a refusal: a proxy in front of hookd may
			// rewrite the path or take the credentials.
			if _, err := listener.Callback(mailjetSources(cfg), u); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %v: Mailjet's deliveries would be refused unless a proxy in front of hookd rewrites them\n", mjapi.Redact(target, sourceTokens(cfg)...), err)
			}
			version := 1
			if group {
				version = 2
			}
			changes, err := client.Register(cmd.Context(), target, evs, version, backup)
			out := cmd.OutOrStdout()
			for _, c := range changes {
				fmt.Fprintf(out, "%-8s %s\n", c.EventType, c.Action)
			}
			if err != nil {
				return fmt.Errorf("mailjet register: %w", err)
			}
			kind := "main"
			if backup {
				kind = "backup"
			}
			_, err = fmt.Fprintf(out, "Mailjet posts %s to %s (version %d, %s URL)\n", events, mjapi.Redact(target, sourceTokens(cfg)...), version, kind)
			return err
		},
	}
	register.Flags().StringVar(&target, "url", "", "the `URL` Mailjet posts events to (hookd's source path, credentials included)")
	register.Flags().StringVar(&events, "events", "all", "event `types`: all, or a comma-separated list of sent, open, click, bounce, spam, blocked, unsub")
	register.Flags().BoolVar(&group, "group", false, "register Version 2: events grouped into arrays")
	register.Flags().BoolVar(&backup, "backup", false, "register the backup URL")

	status := &cobra.Command{
		Use:   "status",
		Short: "List Mailjet's event callback URLs with their status",
		Long: `status lists the account's event callback URLs: event type, version, main or
backup, status and URL (password, query values and sources' tokens hidden). Mailjet marks a
URL dead when it failed for too long and stops calling it; status then exits
non-zero, and hookd mailjet register makes it alive again. It exits non-zero
as well when no URL is registered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, cfg, err := mailjetClient(flags)
			if err != nil {
				return fmt.Errorf("mailjet status: %w", err)
			}
			cbs, err := client.Callbacks(cmd.Context())
			if err != nil {
				return fmt.Errorf("mailjet status: %w", err)
			}
			if len(cbs) == 0 {
				return errors.New("mailjet status: no event callback URLs, so Mailjet posts no events: hookd mailjet register --url URL creates them")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EVENT\tVERSION\tKIND\tSTATUS\tURL")
			dead := 0
			for _, cb := range cbs {
				kind := "main"
				if cb.IsBackup {
					kind = "backup"
				}
				if cb.Status == "dead" {
					dead++
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cb.EventType, cb.Version, kind, cb.Status, mjapi.Redact(cb.URL, sourceTokens(cfg)...))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			switch {
			case dead == 1:
				return errors.New("mailjet status: 1 callback URL dead: Mailjet no longer calls it; fix the URL, then run hookd mailjet register")
			case dead > 1:
				return fmt.Errorf("mailjet status: %d callback URLs dead: Mailjet no longer calls them; fix the URLs, then run hookd mailjet register", dead)
			}
			return nil
		},
	}
	cmd.AddCommand(register, status)
	return cmd
}

// mailjetClient returns a client for the mailjet section of the
// configuration flags load, and that configuration.
func mailjetClient(flags config.Flags) (*mjapi.Client, *config.Config, error) {
	cfg, err := flags.Load(knownNames())
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Mailjet.Configured() {
		return nil, nil, fmt.Errorf("%s has no mailjet api_key and api_secret", cfg.Name())
	}
	return &mjapi.Client{BaseURL: cfg.Mailjet.APIURL, Key: cfg.Mailjet.APIKey, Secret: cfg.Mailjet.APISecret}, cfg, nil
}

// mailjetSources returns cfg's sources of the mailjet provider.
func mailjetSources(cfg *config.Config) []config.Source {
	var out []config.Source
	for _, src := range cfg.Sources {
		if src.Provider == mailjet.Provider {
			out = append(out, src)
		}
	}
	return out
}

// sourceTokens returns the token of every source of cfg with token auth,
// which a callback URL may carry as its last path segment: mjapi.Redact
// hides them.
func sourceTokens(cfg *config.Config) []string {
	var out []string
	for _, src := range cfg.Sources {
		if src.Auth.Token != nil {
			out = append(out, src.Auth.Token.Value)
		}
	}
	return out
}

// callbackWatch checks Mailjet's event callback URLs every interval from
// the start, and reports the dead ones: a warning naming each, its
// password, query values and tokens hidden, and the
// hookd_mailjet_callbacks_dead gauge.
type callbackWatch struct {
	client   *mjapi.Client
	interval time.Duration
	mu       sync.Mutex
	tokens   []string // hidden in the URLs logged (sourceTokens); guarded by mu
	logger   *slog.Logger
	dead     prometheus.Gauge
	errors   prometheus.Counter
}

func newCallbackWatch(client *mjapi.Client, interval time.Duration, tokens []string, logger *slog.Logger, reg prometheus.Registerer) (*callbackWatch, error) {
	w := &callbackWatch{
		client: client, interval: interval, tokens: tokens, logger: logger,
		dead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_mailjet_callbacks_dead",
			Help: "Mailjet event callback URLs whose Status is dead (Mailjet stopped calling them), as of the last check.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_mailjet_callback_check_errors_total",
			Help: "Checks of Mailjet's event callback URLs that failed (no answer, bad keys).",
		}),
	}
	for _, c := range []prometheus.Collector{w.dead, w.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register mailjet metrics: %w", err)
		}
	}
	return w, nil
}

// Run checks at once, then every interval, until ctx ends.
func (w *callbackWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hide adds tokens to those hidden in the URLs logged: the sources'
// tokens after a reload. Those of before stay hidden, as a callback URL
// registered with Mailjet may hold a token hookd no longer takes.
func (w *callbackWatch) hide(tokens []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range tokens {
		if !slices.Contains(w.tokens, t) {
			w.tokens = append(w.tokens, t)
		}
	}
}

// check reads the callback URLs once.
func (w *callbackWatch) check(ctx context.Context) {
	cbs, err := w.client.Callbacks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.errors.Inc()
			w.logger.Warn("cannot check Mailjet's event callback URLs", "error", err)
		}
		return
	}
	w.mu.Lock()
	tokens := slices.Clone(w.tokens)
	w.mu.Unlock()
	dead := 0
	for _, cb := range cbs {
		if cb.Status == "dead" {
			dead++
			w.logger.Warn("Mailjet marked an event callback URL dead and no longer calls it; run hookd mailjet register once it works",
				"event", cb.EventType, "url", mjapi.Redact(cb.URL, tokens...), "backup", cb.IsBackup)
		}
	}
	w.dead.Set(float64(dead))
}
