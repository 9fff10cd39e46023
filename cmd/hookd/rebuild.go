package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/eventlog"
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
If events of the store are no longer in the log (log retention deleted
them), rebuild stops and changes nothing.

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
			return withStore(ctx, "rebuild", flags, false, func(st *store.Store) error {
				lock, err := datalock.Acquire(cfg.Data)
				if errors.Is(err, datalock.ErrHeld) {
					return fmt.Errorf("rebuild: hookd serve is running on %s: stop it first, since rebuild replaces the events it reads and writes", cfg.Data)
				}
				if err != nil {
					return fmt.Errorf("rebuild: %w", err)
				}
				defer lock.Release()
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
				res, err := st.Rebuild(ctx, r, ev)
				if err != nil {
					return err
				}
				bodies := "quarantined bodies"
				if res.Quarantined == 1 {
					bodies = "quarantined body"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rebuilt %s and %d %s from the log; %s not in the store left for the projector; jobs, once keys and cooldowns kept\n",
					plural(res.Events, "event"), res.Quarantined, bodies, plural(res.Skipped, "message"))
				return nil
			})
		},
	}
	dataFlags(cmd, &flags)
	return cmd
}
