package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
	eventlogsqlite "github.com/hookd/hookd/eventlog/sqlite"
	"github.com/hookd/hookd/internal/datalock"
	"github.com/hookd/hookd/rules"
	"github.com/hookd/hookd/store"
)

func newRebuildCmd() *cobra.Command {
	var flags config.Flags
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Rebuild the store's events from the event log",
		Long: `rebuild drops the store's events, quarantined bodies and explanations and
stores them again from the event log, which it only reads: every event and
body the store held, in log order and under the same sequence numbers, so
that the admin API answers exactly as before. Each event is explained again
with the configuration's current rules.

What the rules decided is kept as it is: the action jobs and their history,
targets, once keys and cooldown firings. A rebuild therefore never runs an
action again, and last() and count() answer from the rebuilt events. Events
the store did not hold yet are left for hookd serve to store and evaluate.
Events the projector had consumed but the store lacks (store.db was deleted
or replaced by an older copy) are stored again, without running their
rules' actions: whether those ran was recorded in the store that was lost;
but not those older than retention.events, which the store's retention
deleted on purpose. rebuild records how far in the log the store then is,
as the projector does, so that hookd serve does not take the rebuilt store
for an older copy and consume the log again from where that copy stopped.
If events of the store are no longer in the log (log retention deleted
them), rebuild stops and changes nothing; so it does when a SQLite log's
file (hookd.db in the data directory) is missing, and creates none.

It runs in one transaction, and refuses to run while hookd serve runs on the
same data directory: stop the server, rebuild, start it again.`,
		Example: `  hookd rebuild --config hookd.yaml
  hookd rebuild --data ./data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := flags.Load(knownNames())
			if err != nil {
				return err
			}
			var set *rules.Set
			if len(cfg.Rules) > 0 {
				if set, err = rules.Load(ctx, cfg.Rules, ruleOptions(cfg)); err != nil {
					return err
				}
			}
			// Opening a missing SQLite log would create an empty one, and
			// the store would be opened, perhaps migrated, for nothing. A
			// missing data directory is withStore's to report.
			if _, err := os.Stat(cfg.Data); err == nil && cfg.Log.Backend == "sqlite" {
				path := filepath.Join(cfg.Data, eventlogsqlite.FileName)
				if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("rebuild: the event log %s is missing: rebuild stores the events again from the log, so it has nothing to rebuild from; nothing was changed", path)
				}
			}
			return withStore(ctx, "rebuild", flags, migrateStore, func(st *store.Store) error {
				lock, err := datalock.Acquire(cfg.Data)
				if errors.Is(err, datalock.ErrHeld) {
					return fmt.Errorf("rebuild: hookd serve is running on %s: stop it first, since rebuild replaces the events it reads and writes", cfg.Data)
				}
				if err != nil {
					return fmt.Errorf("rebuild: %w", err)
				}
				defer lock.Release()
				if err := datalock.CheckWritable(cfg.Data); err != nil {
					return fmt.Errorf("rebuild: %w", err)
				}
				logCfg := cfg.Log
				logCfg.Dir = cfg.Data
				log, err := eventlog.Open(ctx, logCfg, nil)
				if err != nil {
					return fmt.Errorf("rebuild: %w", err)
				}
				defer log.Close()
				r, ok := log.(eventlog.Reader)
				if !ok {
					return fmt.Errorf("rebuild: the %s event log cannot be read back", logCfg.Backend)
				}
				var ev store.Evaluator
				if set != nil {
					en, err := rules.NewEngine(func() *rules.Set { return set }, nil, nil)
					if err != nil {
						return err
					}
					ev = en
				}
				projected, err := projectedOffsets(ctx, log)
				if err != nil {
					return fmt.Errorf("rebuild: %w", err)
				}
				// What retention deleted from the store stays deleted.
				var horizon time.Time
				if d := cfg.Retention.Events.Duration(); d > 0 {
					horizon = time.Now().Add(-d)
				}
				res, err := st.Rebuild(ctx, r, ev, projected, horizon)
				if err != nil {
					return err
				}
				bodies := "quarantined bodies"
				if res.Quarantined == 1 {
					bodies = "quarantined body"
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "rebuilt %s and %d %s from the log; jobs, once keys and cooldowns kept\n",
					plural(res.Events, "event"), res.Quarantined, bodies)
				if res.Restored > 0 {
					fmt.Fprintf(w, "restored %s the store had lost (the projector had consumed them); their rules' actions are not run again\n",
						plural(res.Restored, "message"))
				}
				if res.Expired > 0 {
					fmt.Fprintf(w, "skipped %s older than retention.events (%s), which retention had deleted from the store\n",
						plural(res.Expired, "message"), periodText(cfg.Retention.Events.Duration()))
				}
				if res.Skipped > 0 {
					fmt.Fprintf(w, "left %s for hookd serve to store and evaluate\n", plural(res.Skipped, "message"))
				}
				return nil
			})
		},
	}
	dataFlags(cmd, &flags, "data directory, store and rules")
	return cmd
}

// periodText writes d as the configuration would: "90d" when it is whole
// days.
func periodText(d time.Duration) string {
	if day := 24 * time.Hour; d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// projectedOffsets returns, per topic, the offset of the last message the
// store's projector acked in log, nil when log cannot tell.
func projectedOffsets(ctx context.Context, log eventlog.Log) (map[string]int64, error) {
	l, ok := log.(eventlog.Lagger)
	if !ok {
		return nil, nil
	}
	lags, err := l.Lag(ctx)
	if err != nil {
		return nil, err
	}
	projected := map[string]int64{}
	for _, g := range lags {
		if g.Group == store.Group {
			projected[g.Topic] = g.Acked
		}
	}
	return projected, nil
}
