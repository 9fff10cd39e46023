package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/store"
)

func newSuppressionsCmd() *cobra.Command {
	var (
		flags  config.Flags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "suppressions",
		Short: "List hookd's suppression list, or take an address off it",
		Long: `suppressions works on hookd's own suppression list: the addresses that the
suppress action put there and that the email and mailjet_send actions skip.
It reads and writes the store in the data directory directly, as the admin
API's /api/suppressions does, so it needs no running server and works beside
a running one.

The data directory is --data, or the configuration's (--config), or ./data.`,
		Example: `  hookd suppressions list
  hookd suppressions remove ann@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	flags.Var(pf, "config", "configuration `file` naming the data directory and store (default: the built-in hookd.yaml)")
	flags.Var(pf, "data", "data `directory`, overriding the configuration's (default ./data)")
	pf.BoolVar(&asJSON, "json", false, "print JSON: one object per line")

	var (
		limit  int
		cursor string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the suppressed addresses in address order",
		Long: `list prints the suppressed addresses in address order, with when, why, and
the rule and event that suppressed them. With --json, one per line (NDJSON),
each the JSON object that /api/suppressions lists. When there are more than
--limit, a note on stderr gives the --cursor that continues the listing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxLimit {
				return usagef("suppressions list: --limit %d: want 1 to %d", limit, store.MaxLimit)
			}
			return withStore(cmd.Context(), "suppressions", flags, readStore, func(st *store.Store) error {
				page, err := st.Suppressions(cmd.Context(), limit, cursor)
				if qe, ok := errors.AsType[*store.QueryError](err); ok {
					return usagef("suppressions list: --%s", qe.Error())
				}
				if err != nil {
					return fmt.Errorf("suppressions list: %w", err)
				}
				if asJSON {
					err = writeJSONLines(cmd.OutOrStdout(), page.Suppressions)
				} else {
					err = writeSuppressions(cmd.OutOrStdout(), page.Suppressions)
				}
				if err != nil {
					return fmt.Errorf("suppressions list: %w", err)
				}
				if page.Next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more addresses are suppressed: repeat with --cursor %s\n", page.Next)
				}
				return nil
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 100, fmt.Sprintf("list at most `N` addresses (at most %d)", store.MaxLimit))
	list.Flags().StringVar(&cursor, "cursor", "", "continue a listing where the previous one stopped")

	remove := &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Take an address off the suppression list",
		Long: `remove takes EMAIL (any case) off the suppression list, so that email and
mailjet_send send to it again. It fails when the address is not on the list.
With --json it prints {"removed":"EMAIL"}, as DELETE /api/suppressions/{email}
answers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			email := strings.ToLower(strings.TrimSpace(args[0]))
			if !strings.Contains(email, "@") {
				return usagef("suppressions remove: %q is not an address", args[0])
			}
			return withStore(cmd.Context(), "suppressions", flags, writeStore, func(st *store.Store) error {
				if err := st.Unsuppress(cmd.Context(), email); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("suppressions remove: %s is not suppressed (hookd suppressions list shows the list)", email)
				} else if err != nil {
					return fmt.Errorf("suppressions remove: %w", err)
				}
				if asJSON {
					// As DELETE /api/suppressions/{email} answers.
					return writeJSONLines(cmd.OutOrStdout(), []map[string]string{{"removed": email}})
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s removed from the suppression list\n", email)
				return err
			})
		},
	}
	cmd.AddCommand(list, remove)
	return cmd
}

// prose is s for the last column of a table, where spaces are safe: as it
// is, unless it is not UTF-8 or has a character other than the space that
// strconv.Quote escapes (a control character, whose escape sequences a
// terminal would run; a zero-width or bidirectional formatting character,
// which hides text or shows it backwards), then quoted.
func prose(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// writeSuppressions prints a table of suppressions.
func writeSuppressions(w io.Writer, list []store.Suppression) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no suppressed addresses")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tSINCE\tRULE\tEVENT\tREASON")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(s.Email), s.Created.Format(time.RFC3339), cell(s.Rule), cell(s.EventID), prose(s.Reason))
	}
	return tw.Flush()
}
