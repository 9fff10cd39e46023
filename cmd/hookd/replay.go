package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

func newReplayCmd() *cobra.Command {
	var (
		flags        config.Flags
		since, until string
		rule         string
		dryRun       bool
	)
	cmd := &cobra.Command{
		Use:   "replay --since TIME",
		Short: "Evaluate stored events again with the current rules and queue the actions they fire",
		Long: `replay evaluates the stored events whose time is in [--since, --until), in log
order, with the rules of the configuration (only --rule NAME when given), as
the server did when it stored them: last() and count() as of each event,
once and cooldown applied. The jobs of the rules that fire are queued for
real, and hookd serve runs them.

Every job has an idempotency key (rule, action and event id, or once key),
and once and cooldown records are kept per event, so replaying a range that
was already evaluated with the same rules queues nothing, and a replay
after fixing a rule queues only what the fix makes fire. An action of a
rule is done for an event once it has a job for the event with the same
action type and target (an email's recipient, an http request's method and
URL), whatever its parameters: editing a template does not send again.
The key holds the action's position in its rule and the rule's once key,
so when actions were reordered or inserted since, or once changed, a job
whose event already has one of the same rule, action and target under
another key is not queued again, and a job whose key another action or
target holds is not queued either; both are listed. A once key that fired
stays fired: replay fires it again only for the event that fired it, and
so queues only actions added to the rule since. Explanations stay as
recorded when the events came in. --dry-run prints what would be queued
and writes nothing. A rule that fails on events (an expression or template
that does not work on their data) makes no job for them, as in serve: replay
says on how many events each rule failed, and the first error.

It writes to the store under --data (or the configuration's data) in short
transactions, so it runs beside hookd serve on the same data; a running
server picks the jobs up within a second. Times are as hookd events takes
them: RFC 3339, YYYY-MM-DD (its midnight UTC), or a duration such as 24h or
7d meaning that long ago.`,
		Example: `  hookd replay --config hookd.yaml --since 2025-03-01 --dry-run
  hookd replay --config hookd.yaml --since 24h
  hookd replay --config hookd.yaml --since 2025-03-01T00:00:00Z --until 2025-03-02 --rule discount-on-open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since == "" {
				return usagef("replay: --since TIME is required")
			}
			// Left out, --rule replays every rule and --until up to now.
			if err := givenEmpty(cmd, "replay", "rule", "until"); err != nil {
				return err
			}
			var q store.ReplayQuery
			var err error
			now := time.Now()
			if q.Since, err = parseWhen("replay", "--since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhen("replay", "--until", until, now); err != nil {
				return err
			}
			if !q.Until.IsZero() && !q.Until.After(q.Since) {
				return usagef("replay: --until must be after --since")
			}
			q.DryRun = dryRun
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			if len(cfg.Rules) == 0 {
				return fmt.Errorf("replay: the configuration has no rules")
			}
			set, err := rules.Load(cmd.Context(), cfg.Rules, ruleOptions(cfg))
			if err != nil {
				return err
			}
			if rule != "" {
				if set, err = set.Only(rule); err != nil {
					return usagef("replay: --rule: %w", err)
				}
			}
			en, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), "replay", flags, writeStore, func(st *store.Store) error {
				res, err := st.Replay(cmd.Context(), q, en)
				if err != nil {
					return err
				}
				_, err = io.WriteString(cmd.OutOrStdout(), formatReplay(res, dryRun))
				return err
			})
		},
	}
	dataFlags(cmd, &flags, "data directory, store and rules")
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "replay events at or after `TIME` (required; RFC 3339, YYYY-MM-DD, or a duration ago such as 24h or 7d)")
	f.StringVar(&until, "until", "", "replay events before `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago such as 1h)")
	f.StringVar(&rule, "rule", "", "replay this rule `NAME` only")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be queued; write nothing")
	return cmd
}

func formatReplay(res store.ReplayResult, dry bool) string {
	var b strings.Builder
	list := func(jobs []actions.Job) {
		for _, j := range jobs {
			fmt.Fprintf(&b, "  %s  %s  event %s\n", cell(j.Key), actionName(j.Action, j.Target), cell(j.EventID))
		}
	}
	verb := "queued"
	if dry {
		verb = "would queue"
	}
	fmt.Fprintf(&b, "replayed %s: %s %s\n", plural(res.Events, "event"), verb, plural(len(res.Jobs), "job"))
	list(res.Jobs)
	if len(res.Moved) > 0 {
		fmt.Fprintf(&b, "not queued, %s: the same action already has a job for the event under another key (its position in the rule's actions, or the rule's once, changed since)\n", plural(len(res.Moved), "job"))
		list(res.Moved)
	}
	if len(res.Taken) > 0 {
		fmt.Fprintf(&b, "not queued, %s: the key belongs to a job of another action or target (the rule's actions moved or changed since)\n", plural(len(res.Taken), "job"))
		list(res.Taken)
	}
	for _, f := range res.Failed {
		fmt.Fprintf(&b, "rule %s failed on %s, which it made no job for; the first, event %s: %s\n", cell(f.Rule),
			plural(f.Events, "event"), cell(f.FirstEvent), strings.ReplaceAll(f.FirstError, "\n", "\n  "))
	}
	return b.String()
}
