package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/backtest"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

func newBacktestCmd() *cobra.Command {
	var (
		flags        config.Flags
		ruleFiles    []string
		since, until string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "backtest --rules NEW.yaml",
		Short: "Compare what new rules would have fired on the stored events with what the current rules did",
		Long: `backtest runs every stored event, in log order, through the rules of --rules
(files or patterns, relative to the working directory) as the live engine
would have: last() and count() see only the events before it in the log and
not later than its time, and once and cooldown apply. No action runs and
nothing is written. For each rule it prints how many events the current
rules fired it on (the job queue's record) and how many the new rules would,
the events added and removed with sample ids, the actions that would
have run, and on how many events the rule failed (an expression or a
template that does not work on their data), with the first error.

--since and --until (RFC 3339, YYYY-MM-DD for its midnight UTC, or a
duration such as 7d meaning that long ago) bound the events compared,
by event time; every event is still evaluated, so that once and cooldown
start from what happened before. --json prints the report as JSON. A
progress line is shown on a terminal's stderr, never when it is piped.

It reads the store under --data (or the configuration's data) and works while
hookd serve runs on it; it sees the events stored when it starts.`,
		Example: `  hookd backtest --config hookd.yaml --rules rules/new.yaml
  hookd backtest --data ./data --rules new.yaml --since 2025-03-01 --until 2025-03-08 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(ruleFiles) == 0 {
				return usagef("backtest: --rules FILE is required")
			}
			var opts backtest.Options
			var err error
			now := time.Now()
			if opts.Since, err = parseWhen("backtest", "--since", since, now); err != nil {
				return err
			}
			if opts.Until, err = parseWhen("backtest", "--until", until, now); err != nil {
				return err
			}
			if !opts.Until.IsZero() && !opts.Until.After(opts.Since) {
				return usagef("backtest: --until must be after --since")
			}
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			patterns := make([]string, len(ruleFiles))
			for i, f := range ruleFiles {
				if patterns[i], err = filepath.Abs(f); err != nil {
					return fmt.Errorf("backtest: --rules %s: %w", f, err)
				}
			}
			set, err := rules.Load(cmd.Context(), patterns, ruleOptions(cfg))
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), "backtest", flags, readStore, func(st *store.Store) error {
				var bar *progress
				if f, ok := cmd.ErrOrStderr().(*os.File); ok && isatty.IsTerminal(f.Fd()) {
					bar = &progress{w: f, start: time.Now()}
					opts.Progress = bar.update
				}
				rep, err := backtest.Run(cmd.Context(), st, set, opts)
				bar.finish()
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetEscapeHTML(false)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				_, err = io.WriteString(cmd.OutOrStdout(), formatBacktest(rep, strings.Join(ruleFiles, ", ")))
				return err
			})
		},
	}
	dataFlags(cmd, &flags, "data directory, store and rules")
	f := cmd.Flags()
	f.StringSliceVar(&ruleFiles, "rules", nil, "rule `file`s or patterns to test (repeat or separate with commas)")
	f.StringVar(&since, "since", "", "compare events at or after `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago such as 7d)")
	f.StringVar(&until, "until", "", "compare events before `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago such as 1h)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// formatBacktest prints a report as text.
func formatBacktest(rep *backtest.Report, files string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backtest of %s on %s (%d in range); no action ran\n", files, plural(int(rep.Events), "event"), rep.InRange)
	fmt.Fprintf(&b, "%-32s %9s %9s %8s %8s\n", "rule", "live", "backtest", "added", "removed")
	for _, r := range rep.Rules {
		name := r.Rule
		if !r.New {
			name += " (gone)"
		}
		fmt.Fprintf(&b, "%-32s %9d %9d %8s %8s\n", cell(name), r.Live, r.Backtest, fmt.Sprintf("+%d", r.Added), fmt.Sprintf("-%d", r.Removed))
		if len(r.AddedSamples) > 0 {
			fmt.Fprintf(&b, "  added:   %s\n", samples(r.AddedSamples, r.Added))
		}
		if len(r.RemovedSamples) > 0 {
			fmt.Fprintf(&b, "  removed: %s\n", samples(r.RemovedSamples, r.Removed))
		}
		if r.Failed > 0 {
			fmt.Fprintf(&b, "  failed on %s, which it made no job for; the first, %s: %s\n", plural(r.Failed, "event"),
				cell(r.FirstFailure.Event), strings.ReplaceAll(r.FirstFailure.Error, "\n", "\n  "))
		}
		if len(r.Actions) > 0 {
			var acts []string
			for _, a := range r.Actions {
				acts = append(acts, fmt.Sprintf("%s ×%d", actionName(a.Action, a.Target), a.Jobs))
			}
			fmt.Fprintf(&b, "  would run: %s\n", strings.Join(acts, ", "))
		}
	}
	return b.String()
}

// actionName is an action type, with its target when that says more:
// "log", "http (http POST https://alerts.example/hook)".
func actionName(action, target string) string {
	if target == action {
		return action
	}
	return action + " (" + cell(target) + ")"
}

func samples(ids []string, n int) string {
	for i := range ids {
		ids[i] = cell(ids[i])
	}
	s := strings.Join(ids, " ")
	if n > len(ids) {
		s += fmt.Sprintf(" … (%d more)", n-len(ids))
	}
	return s
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
}

func (p *progress) update(done, total int64) {
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last, p.drawn = now, true
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	const width = 30
	fill := 0
	if total > 0 {
		fill = int(int64(width) * done / total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d events  %.0f/s  %s left ", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, total, rate, eta)
}

// finish ends the progress line, if one was drawn; p may be nil.
func (p *progress) finish() {
	if p != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
