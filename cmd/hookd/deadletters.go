package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/store"
)

func newDeadLettersCmd() *cobra.Command {
	var (
		flags  config.Flags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List dead action jobs and suspended targets, retry jobs, resume targets",
		Long: `deadletters works on the action jobs that died (their retries spent, or a
permanent error) and on the targets their death suspended, as the admin API's
/api/deadletters and /api/targets do, on the store in the data directory
directly: it needs no running server, and works beside a running one.

A job retried or a target resumed here runs on the next poll of a running
server's runner (within a second by default), or when hookd serve next starts.
A retried job whose target is still suspended waits until the target is
resumed; resuming a target leaves its dead jobs dead.

The data directory is --data, or the configuration's (--config), or ./data.
deadletters never creates it nor an empty store: it fails when they are
missing.`,
		Example: `  hookd deadletters list
  hookd deadletters retry 42
  hookd deadletters targets
  hookd deadletters resume 3
  hookd deadletters list --config /etc/hookd/hookd.yaml --json | jq .last_error`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&flags.File, "config", "", "configuration `file` naming the data directory and store (default: the built-in hookd.yaml)")
	pf.StringVar(&flags.Data, "data", "", "data `directory`, overriding the configuration's (default ./data)")
	pf.BoolVar(&asJSON, "json", false, "print JSON: one object per line")

	var (
		limit  int
		cursor string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead jobs, the most recently dead first",
		Long: `list prints the dead jobs, the most recently dead first, with the id to give
retry, the id of their target to give resume, and their last error, and
on stderr how many targets are suspended (hookd deadletters targets lists
them: a retried job is no longer dead, but its target stays suspended).
With --json, one job per line (NDJSON), each the JSON object that
/api/deadletters lists, secrets in its params shown as [redacted]. When
more than --limit jobs are dead, a note on stderr gives the --cursor that
continues the listing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxLimit {
				return usagef("deadletters list: --limit %d: want 1 to %d", limit, store.MaxLimit)
			}
			return withStore(cmd.Context(), "deadletters", flags, true, func(st *store.Store) error {
				return listDeadLetters(cmd, st, limit, cursor, asJSON)
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("list at most `N` jobs (at most %d)", store.MaxLimit))
	list.Flags().StringVar(&cursor, "cursor", "", "continue a listing where the previous one stopped")

	retry := &cobra.Command{
		Use:   "retry JOB_ID",
		Short: "Run a dead job again",
		Long: `retry makes the dead job JOB_ID pending again, due now, with its whole
retry policy again, and prints it. Its attempts are numbered on from the
last one (a job dead after attempt 21 has attempt 22 next), so its history
keeps every attempt under a number of its own. A running server's runner
picks it up on its next poll; if its target is suspended, it waits until
the target is resumed (hookd deadletters resume).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("deadletters retry", "job", args[0])
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), "deadletters", flags, false, func(st *store.Store) error {
				if err := st.RetryDeadLetter(cmd.Context(), id); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("deadletters retry: no dead job %d (hookd deadletters list shows them)", id)
				} else if err != nil {
					return fmt.Errorf("deadletters retry: %w", err)
				}
				j, err := st.Job(cmd.Context(), id)
				if err != nil {
					return fmt.Errorf("deadletters retry: %w", err)
				}
				if asJSON {
					return writeJSONLines(cmd.OutOrStdout(), redacted([]store.JobRecord{j}))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %d (rule %s, %s) is pending again\n", j.ID, cell(j.Rule), cell(j.Target))
				t, err := st.Target(cmd.Context(), j.Target)
				if err != nil {
					return fmt.Errorf("deadletters retry: %w", err)
				}
				if t.Suspended {
					fmt.Fprintf(cmd.OutOrStdout(), "its target %d is suspended: it runs after hookd deadletters resume %d\n", t.ID, t.ID)
				}
				return nil
			})
		},
	}

	targets := &cobra.Command{
		Use:   "targets",
		Short: "List the suspended targets",
		Long: `targets prints the targets that a dead job suspended, by name, with the id to
give resume, since when and why, and how many of their jobs are pending,
running and dead. A suspended target's pending jobs, dead jobs retried
among them, run only once it is resumed. With --json, one target per line
(NDJSON), each the JSON object that /api/targets lists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), "deadletters", flags, true, func(st *store.Store) error {
				all, err := st.Targets(cmd.Context())
				if err != nil {
					return fmt.Errorf("deadletters targets: %w", err)
				}
				suspended := slices.DeleteFunc(all, func(t store.Target) bool { return !t.Suspended })
				if asJSON {
					err = writeJSONLines(cmd.OutOrStdout(), suspended)
				} else {
					err = writeTargets(cmd.OutOrStdout(), suspended)
				}
				if err != nil {
					return fmt.Errorf("deadletters targets: %w", err)
				}
				return nil
			})
		},
	}

	resume := &cobra.Command{
		Use:   "resume TARGET_ID",
		Short: "Lift a target's suspension",
		Long: `resume lifts the suspension of target TARGET_ID, which a dead job of it
caused, so that its pending jobs run on a running server's runner's next
poll, and prints the target. Its dead jobs stay dead: retry them one by one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("deadletters resume", "target", args[0])
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), "deadletters", flags, false, func(st *store.Store) error {
				if err := st.ResumeTarget(cmd.Context(), id); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("deadletters resume: no target %d (hookd deadletters targets lists the suspended ones)", id)
				} else if err != nil {
					return fmt.Errorf("deadletters resume: %w", err)
				}
				targets, err := st.Targets(cmd.Context())
				if err != nil {
					return fmt.Errorf("deadletters resume: %w", err)
				}
				for _, t := range targets {
					if t.ID != id {
						continue
					}
					if asJSON {
						return writeJSONLines(cmd.OutOrStdout(), []store.Target{t})
					}
					fmt.Fprintf(cmd.OutOrStdout(), "target %d (%s) resumed: %d pending, %d dead\n", t.ID, cell(t.Name), t.Pending, t.Dead)
					return nil
				}
				return fmt.Errorf("deadletters resume: no target %d", id)
			})
		},
	}
	cmd.AddCommand(list, retry, targets, resume)
	return cmd
}

// parseID reads the id of a job or target.
func parseID(op, what, v string) (int64, error) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, usagef("%s: %s id %q is not a positive integer", op, what, v)
	}
	return id, nil
}

// listDeadLetters prints the first limit dead jobs after cursor, as a
// table or as NDJSON, and the cursor that continues the listing on stderr
// when more are dead. It reads them a store page at a time, printing each
// page before reading the next, since a page of jobs with large events
// holds fewer than limit (store.PageBytes): the listing is as long as
// --limit asks, and only one page of jobs' events is in memory at once.
func listDeadLetters(cmd *cobra.Command, st *store.Store, limit int, cursor string, asJSON bool) error {
	out := cmd.OutOrStdout()
	// The table, and the targets it names, come after the first page: a
	// cursor the store refuses prints nothing.
	var tw *deadLettersTable
	for {
		page, err := st.DeadLetters(cmd.Context(), limit, cursor)
		if qe, ok := errors.AsType[*store.QueryError](err); ok {
			return usagef("deadletters list: --%s", qe.Error())
		}
		if err != nil {
			return fmt.Errorf("deadletters list: %w", err)
		}
		if asJSON {
			if err := writeJSONLines(out, redacted(page.Jobs)); err != nil {
				return fmt.Errorf("deadletters list: %w", err)
			}
		} else {
			if tw == nil {
				targets, err := st.Targets(cmd.Context())
				if err != nil {
					return fmt.Errorf("deadletters list: %w", err)
				}
				tw = newDeadLettersTable(out, cmd.ErrOrStderr(), targets, len(page.Jobs) == 0)
			}
			tw.writeRows(page.Jobs)
		}
		if limit -= len(page.Jobs); page.Next == "" || limit == 0 {
			if tw != nil {
				if err := tw.finish(); err != nil {
					return fmt.Errorf("deadletters list: %w", err)
				}
			}
			if page.Next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more jobs are dead: repeat with --cursor %s\n", page.Next)
			}
			return nil
		}
		cursor = page.Next
	}
}

// deadLettersTable prints dead jobs as aligned columns, with the id of
// their target: writeRows adds to it, and finish prints it aligned.
type deadLettersTable struct {
	tw     *tabwriter.Writer
	stderr io.Writer
	// ids are the targets' ids by name.
	ids map[string]int64
	// suspended counts the suspended targets, which may have no dead job
	// (one was retried) and so not be in the table.
	suspended int
}

// newDeadLettersTable starts a table on w of dead jobs whose targets are
// among targets; with none, it says so instead of printing a header.
// Notes go to stderr.
func newDeadLettersTable(w, stderr io.Writer, targets []store.Target, none bool) *deadLettersTable {
	t := &deadLettersTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), stderr: stderr, ids: make(map[string]int64, len(targets))}
	for _, target := range targets {
		t.ids[target.Name] = target.ID
		if target.Suspended {
			t.suspended++
		}
	}
	if none {
		fmt.Fprintln(t.tw, "no dead letters")
	} else {
		fmt.Fprintln(t.tw, "JOB\tDEAD_SINCE\tRULE\tACTION\tATTEMPTS\tEVENT\tTARGET_ID\tTARGET\tLAST_ERROR")
	}
	return t
}

// finish prints the table aligned, and on stderr how many targets are
// suspended.
func (t *deadLettersTable) finish() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if t.suspended == 0 {
		return nil
	}
	_, err := fmt.Fprintf(t.stderr, "%s suspended: hookd deadletters targets lists them\n", plural(t.suspended, "target"))
	return err
}

// writeRows adds a row per job.
func (t *deadLettersTable) writeRows(jobs []store.JobRecord) {
	for _, j := range jobs {
		fmt.Fprintf(t.tw, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", j.ID, j.Updated.UTC().Format(time.RFC3339),
			cell(j.Rule), cell(j.Action), j.Attempts, cell(j.EventID), t.ids[j.Target], cell(j.Target), cell(j.LastError))
	}
}

// redacted returns jobs with the secrets of their parameters replaced by
// "[redacted]", as /api/deadletters shows them (actions.Redact).
func redacted(jobs []store.JobRecord) []store.JobRecord {
	for i := range jobs {
		jobs[i].Params = actions.Redact(jobs[i].Action, jobs[i].Params)
	}
	return jobs
}

// writeTargets prints a table of targets.
func writeTargets(w io.Writer, targets []store.Target) error {
	if len(targets) == 0 {
		_, err := fmt.Fprintln(w, "no suspended targets")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET_ID\tSUSPENDED_SINCE\tPENDING\tRUNNING\tDEAD\tTARGET\tREASON")
	for _, t := range targets {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\t%s\n", t.ID, t.SuspendedAt.UTC().Format(time.RFC3339),
			t.Pending, t.Running, t.Dead, cell(t.Name), cell(t.Reason))
	}
	return tw.Flush()
}

// writeJSONLines prints each value as one line of JSON.
func writeJSONLines[T any](w io.Writer, values []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}
