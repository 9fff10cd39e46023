package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/store"
)

func newExplainCmd() *cobra.Command {
	var (
		flags  config.Flags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "explain EVENT_ID",
		Short: "Show what each rule did with a stored event, and why",
		Long: `explain prints, for the stored event EVENT_ID, what each rule did with it when
it was evaluated: fired (its actions were queued), held (it matched, but once
or cooldown kept it from firing), no (its when was false: the first false
condition and the values it saw) or error. The explanation was recorded with
the event; the rules are those that ran then, not the rule files of today.

It reads the store under --data (or the configuration's data) and works while
hookd serve runs on it.`,
		Example: `  hookd explain --data ./data mailjet:2f1c...
  hookd explain --config hookd.yaml --json mailjet:2f1c...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if id == "" {
				return usagef("explain: EVENT_ID given empty: give the id of a stored event (hookd events lists them)")
			}
			return withStore(cmd.Context(), "explain", flags, readStore, func(st *store.Store) error {
				e, err := st.Event(cmd.Context(), id)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("explain: event %q is not in the store", id)
				}
				if err != nil {
					return fmt.Errorf("explain: %w", err)
				}
				x, err := st.Explanation(cmd.Context(), id)
				if err != nil {
					return fmt.Errorf("explain: %w", err)
				}
				w := cmd.OutOrStdout()
				if asJSON {
					enc := json.NewEncoder(w)
					enc.SetEscapeHTML(false)
					return enc.Encode(x)
				}
				var b strings.Builder
				fmt.Fprintf(&b, "event %s: %s %s at %s\n", cell(e.ID), cell(e.Type), cell(e.Email), e.Time.UTC().Format(time.RFC3339Nano))
				writeExplanation(&b, x)
				_, err = io.WriteString(w, b.String())
				return err
			})
		},
	}
	dataFlags(cmd, &flags, "data directory and store")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	return cmd
}

// writeExplanation prints x, one rule a line; the lines a reason goes on
// to (the caret snippet of a rule's error) are indented under it.
func writeExplanation(b *strings.Builder, x *store.Explanation) {
	if x == nil {
		b.WriteString("  not evaluated by the rules when it arrived (or at the last rebuild); a replay does not add an explanation\n")
		return
	}
	for _, r := range x.Rules {
		fmt.Fprintf(b, "  %-5s  %s", r.Result, r.Rule)
		switch {
		case r.Condition != "":
			fmt.Fprintf(b, ": %s is false: %s", r.Condition, r.Saw)
		case r.Reason != "":
			fmt.Fprintf(b, ": %s", strings.ReplaceAll(r.Reason, "\n", "\n         "))
		}
		b.WriteByte('\n')
	}
}

// dataFlags registers --config and --data, as hookd serve takes them;
// read is what the command reads of the configuration file, for --config's
// usage: "data directory and store", or "data directory, store and rules"
// for a command that loads the rules and so needs every ${VAR} set.
func dataFlags(cmd *cobra.Command, flags *config.Flags, read string) {
	f := cmd.Flags()
	flags.Var(f, "config", "configuration `file` naming the "+read+" (default: the built-in hookd.yaml)")
	flags.Var(f, "data", "data `directory`, overriding the configuration's (default ./data)")
}
