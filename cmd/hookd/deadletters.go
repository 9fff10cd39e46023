package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/actions"
	"github.com/hookd/hookd/api"
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

A job whose retries were spent, or whose error says its target is wrong (an
http 401, 403, 404, 405, 407 or 410, a missing program, no keys in the
configuration), suspends its target: the target's other jobs wait until it
is resumed. A job the target refused for its own content (another http 4xx,
an address Mailjet refuses, parameters that do not render) dies alone: its
target runs its other jobs on, and is not listed by targets.

A job retried or a target resumed here runs on the next poll of a running
server's runner (within a second by default), or when hookd serve next starts.
Retrying a dead job resumes its target, if suspended, so that the job runs;
the target's other pending jobs then run too, and its other dead jobs stay
dead. Resuming a target leaves its dead jobs dead.

After an outage (a mail relay down leaves one dead job and one suspended
target per recipient), retry in bulk: retry --all, or the dead jobs of one
--rule, one --action kind, or dead --since the outage began, in one
transaction; repeating it retries only what died again since.

The data directory is --data, or the configuration's (--config), or ./data.
deadletters never creates it nor an empty store: it fails when they are
missing.`,
		Example: `  hookd deadletters list
  hookd deadletters retry 42
  hookd deadletters retry --action email --since 2h
  hookd deadletters retry --all
  hookd deadletters targets
  hookd deadletters resume 3
  hookd deadletters resume --action email
  hookd deadletters list --config /etc/hookd/hookd.yaml --json | jq .last_error`,
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
		Short: "List dead jobs, the most recently dead first",
		Long: `list prints the dead jobs, the most recently dead first, with the id to give
retry, the id of their target to give resume, and their last error, and
on stderr how many targets are suspended (hookd deadletters targets lists
them).
With --json, one job per line (NDJSON), each the JSON object that
/api/deadletters lists, secrets in its params shown as [redacted]. When
more than --limit jobs are dead, a note on stderr gives the --cursor that
continues the listing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > store.MaxLimit {
				return usagef("deadletters list: --limit %d: want 1 to %d", limit, store.MaxLimit)
			}
			return withStore(cmd.Context(), "deadletters", flags, readStore, func(st *store.Store) error {
				return listDeadLetters(cmd, st, limit, cursor, asJSON)
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("list at most `N` jobs (at most %d)", store.MaxLimit))
	list.Flags().StringVar(&cursor, "cursor", "", "continue a listing where the previous one stopped")

	var dead bulkFlags
	retry := &cobra.Command{
		Use:   "retry JOB_ID | --all | [--rule NAME] [--action KIND] [--since TIME]",
		Short: "Run dead jobs again, resuming their targets",
		Long: `retry makes the dead job JOB_ID pending again, due now, with its whole
retry policy again, resumes its target if it is suspended (its other
pending jobs then run too; its other dead jobs stay dead), and prints it.
Its attempts are numbered on from the last one (a job dead after attempt 21
has attempt 22 next), so its history keeps every attempt under a number of
its own. A running server's runner picks it up on its next poll. With
--json it prints the job as POST /api/deadletters/{id}/retry answers: one
JSON object, with target_resumed (the retry resumed its target) and
target_suspended (a job of the target died again meanwhile).

With --all, or any of --rule, --action and --since instead of JOB_ID, it
retries every dead job they select (all the filters given must match), and
resumes the suspended targets among theirs, in one transaction, and prints
how many. --since takes the time the outage began, as events --since does
(an RFC 3339 time, a date, or a duration ago such as 2h), and selects the
jobs that died at or after it. --all retries jobs that died of other
causes too; those whose cause is permanent die again at once, and suspend
their target again when it is the target's (a missing program), or alone
when it is the job's (parameters their action refuses): filter to leave
them alone. Repeating a bulk retry retries only the
jobs that died again since.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := givenEmpty(cmd, "deadletters retry", "rule", "action", "since"); err != nil {
				return err
			}
			filtered := dead.rule != "" || dead.action != "" || dead.since != ""
			if len(args) == 1 && (dead.all || filtered) {
				return usagef("deadletters retry: give JOB_ID, or --all, or --rule, --action and --since, not both")
			}
			if len(args) == 1 {
				id, err := parseID("deadletters retry", "job", args[0])
				if err != nil {
					return err
				}
				return withStore(cmd.Context(), "deadletters", flags, writeStore, func(st *store.Store) error {
					return retryOne(cmd, st, id, asJSON)
				})
			}
			if err := dead.check("deadletters retry", "JOB_ID"); err != nil {
				return err
			}
			f := store.DeadFilter{Rule: dead.rule, Action: dead.action}
			var err error
			if f.Since, err = parseWhen("deadletters retry", "--since", dead.since, time.Now()); err != nil {
				return err
			}
			return withStore(cmd.Context(), "deadletters", flags, writeStore, func(st *store.Store) error {
				r, err := st.RetryDeadLetters(cmd.Context(), f)
				if err != nil {
					return fmt.Errorf("deadletters retry: %w", err)
				}
				if asJSON {
					return writeJSONLines(cmd.OutOrStdout(), []store.Retried{r})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s retried, %s resumed\n", plural(r.Jobs, "dead job"), plural(r.Targets, "target"))
				return nil
			})
		},
	}
	dead.define(retry, true)

	targets := &cobra.Command{
		Use:   "targets",
		Short: "List the suspended targets",
		Long: `targets prints the targets that a dead job suspended, by name, with the id to
give resume, since when and why, and how many of their jobs are pending,
running and dead. A suspended target's pending jobs run only once it is
resumed, or a dead job of it retried. With --json, one target per line
(NDJSON), each the JSON object that /api/targets lists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), "deadletters", flags, readStore, func(st *store.Store) error {
				suspended, err := suspendedTargets(cmd.Context(), st)
				if err != nil {
					return fmt.Errorf("deadletters targets: %w", err)
				}
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

	var susp bulkFlags
	resume := &cobra.Command{
		Use:   "resume TARGET_ID | --all | [--action KIND] [--since TIME]",
		Short: "Lift the suspension of targets",
		Long: `resume lifts the suspension of target TARGET_ID, which a dead job of it
caused, so that its pending jobs run on a running server's runner's next
poll, and prints the target. Its dead jobs stay dead: retry them (which
resumes their target too).

With --all, or --action and --since instead of TARGET_ID, it resumes every
suspended target they select, in one transaction, and prints how many:
--action the targets that jobs of that action kind were enqueued for,
--since those suspended (by their latest dead job) at or after that time,
as events --since takes it. Their dead jobs stay dead: after an outage,
deadletters retry with the same filters retries them and resumes their
targets at once.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := givenEmpty(cmd, "deadletters resume", "action", "since"); err != nil {
				return err
			}
			filtered := susp.action != "" || susp.since != ""
			if len(args) == 1 && (susp.all || filtered) {
				return usagef("deadletters resume: give TARGET_ID, or --all, or --action and --since, not both")
			}
			if len(args) == 1 {
				id, err := parseID("deadletters resume", "target", args[0])
				if err != nil {
					return err
				}
				return withStore(cmd.Context(), "deadletters", flags, writeStore, func(st *store.Store) error {
					return resumeOne(cmd, st, id, asJSON)
				})
			}
			if err := susp.check("deadletters resume", "TARGET_ID"); err != nil {
				return err
			}
			f := store.TargetFilter{Action: susp.action}
			var err error
			if f.Since, err = parseWhen("deadletters resume", "--since", susp.since, time.Now()); err != nil {
				return err
			}
			return withStore(cmd.Context(), "deadletters", flags, writeStore, func(st *store.Store) error {
				n, err := st.ResumeTargets(cmd.Context(), f)
				if err != nil {
					return fmt.Errorf("deadletters resume: %w", err)
				}
				if asJSON {
					return writeJSONLines(cmd.OutOrStdout(), []map[string]int{{"resumed": n}})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s resumed\n", plural(n, "target"))
				return nil
			})
		},
	}
	susp.define(resume, false)
	cmd.AddCommand(list, retry, targets, resume)
	return cmd
}

// bulkFlags select the dead jobs of retry, or the suspended targets of
// resume, in bulk.
type bulkFlags struct {
	all                 bool
	rule, action, since string
	hasRule             bool
}

// define adds the flags to cmd; --rule only when rule is set.
func (b *bulkFlags) define(cmd *cobra.Command, rule bool) {
	f := cmd.Flags()
	f.BoolVar(&b.all, "all", false, "select every one, instead of an id")
	if rule {
		f.StringVar(&b.rule, "rule", "", "select the dead jobs of the rule `NAME`")
		b.hasRule = true
	}
	f.StringVar(&b.action, "action", "", "select by action `KIND` (email, http, exec, ...)")
	f.StringVar(&b.since, "since", "", "select those dead or suspended at or after `TIME` (RFC 3339, a date, or a duration ago such as 2h)")
}

// givenEmpty refuses the flags of names that the command line of cmd (the
// command op) gave empty, as --rule "$RULE" does with RULE unset: left out,
// a filter selects more, so that a bulk retry or a replay would do more
// than was asked.
func givenEmpty(cmd *cobra.Command, op string, names ...string) error {
	for _, name := range names {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed && f.Value.String() == "" {
			return usagef("%s: --%s given empty: give a value, or leave --%s out", op, name, name)
		}
	}
	return nil
}

// check refuses an empty selection, and --all with a filter, for the
// command op whose single form takes the argument id.
func (b *bulkFlags) check(op, id string) error {
	var given []string
	if b.rule != "" {
		given = append(given, "--rule")
	}
	if b.action != "" {
		given = append(given, "--action")
	}
	if b.since != "" {
		given = append(given, "--since")
	}
	filters := "--action or --since"
	if b.hasRule {
		filters = "--rule, --action or --since"
	}
	switch {
	case b.all && len(given) > 0:
		return usagef("%s: --all selects every one: give it without %s", op, strings.Join(given, ", "))
	case !b.all && len(given) == 0:
		return usagef("%s: give %s, or --all, or %s", op, id, filters)
	case b.action != "" && !slices.Contains(actions.Kinds(), b.action):
		// A mistyped kind selects nothing, which would read as
		// "nothing is dead".
		return usagef("%s: --action %q is not an action kind (want one of: %s)", op, b.action, strings.Join(actions.Kinds(), ", "))
	}
	return nil
}

// retryOne retries the dead job id and prints it, and whether its target
// was resumed.
func retryOne(cmd *cobra.Command, st *store.Store, id int64, asJSON bool) error {
	r, err := st.RetryDeadLetter(cmd.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deadletters retry: no dead job %d (hookd deadletters list shows them)", id)
	} else if err != nil {
		return fmt.Errorf("deadletters retry: %w", err)
	}
	j, err := st.Job(cmd.Context(), id)
	if err != nil {
		return fmt.Errorf("deadletters retry: %w", err)
	}
	t, err := st.Target(cmd.Context(), j.Target)
	if err != nil {
		return fmt.Errorf("deadletters retry: %w", err)
	}
	if asJSON {
		return writeJSONLines(cmd.OutOrStdout(), []api.RetriedJob{{JobRecord: redacted([]store.JobRecord{j})[0], TargetResumed: r.Targets > 0, TargetSuspended: t.Suspended}})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "job %d (rule %s, %s) is pending again\n", j.ID, cell(j.Rule), cell(j.Target))
	switch {
	case r.Targets > 0:
		fmt.Fprintf(cmd.OutOrStdout(), "its target %d is resumed: %d pending, %d dead\n", t.ID, t.Pending, t.Dead)
	case t.Suspended:
		fmt.Fprintf(cmd.OutOrStdout(), "its target %d is suspended again: it runs after hookd deadletters resume %d\n", t.ID, t.ID)
	}
	return nil
}

// resumeOne resumes target id and prints it.
func resumeOne(cmd *cobra.Command, st *store.Store, id int64, asJSON bool) error {
	if err := st.ResumeTarget(cmd.Context(), id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deadletters resume: no target %d (hookd deadletters targets lists the suspended ones)", id)
	} else if err != nil {
		return fmt.Errorf("deadletters resume: %w", err)
	}
	page, err := st.ListTargets(cmd.Context(), store.TargetQuery{ID: id, Limit: 1})
	if err != nil {
		return fmt.Errorf("deadletters resume: %w", err)
	}
	if len(page.Targets) == 0 {
		return fmt.Errorf("deadletters resume: no target %d", id)
	}
	t := page.Targets[0]
	if asJSON {
		return writeJSONLines(cmd.OutOrStdout(), []store.Target{t})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "target %d (%s) resumed: %d pending, %d dead\n", t.ID, cell(t.Name), t.Pending, t.Dead)
	return nil
}

// suspendedTargets returns every suspended target, by name, a page of the
// store's listing at a time: there are few, where the targets of all jobs
// may be one per recipient.
func suspendedTargets(ctx context.Context, st *store.Store) ([]store.Target, error) {
	yes := true
	q := store.TargetQuery{Suspended: &yes, Limit: store.MaxLimit}
	var all []store.Target
	for {
		page, err := st.ListTargets(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Targets...)
		if page.Next == "" {
			return all, nil
		}
		q.Cursor = page.Next
	}
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
				suspended, err := suspendedTargets(cmd.Context(), st)
				if err != nil {
					return fmt.Errorf("deadletters list: %w", err)
				}
				tw = newDeadLettersTable(out, cmd.ErrOrStderr(), len(suspended), len(page.Jobs) == 0)
			}
			if err := tw.writeRows(cmd.Context(), st, page.Jobs); err != nil {
				return fmt.Errorf("deadletters list: %w", err)
			}
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
	// ids are the ids of the targets of the jobs written, by name.
	ids map[string]int64
	// suspended counts the suspended targets, which may have no dead job
	// (one was retried) and so not be in the table.
	suspended int
}

// newDeadLettersTable starts a table on w of dead jobs, suspended being
// the number of suspended targets; with none, it says so instead of
// printing a header. Notes go to stderr.
func newDeadLettersTable(w, stderr io.Writer, suspended int, none bool) *deadLettersTable {
	t := &deadLettersTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0), stderr: stderr, ids: map[string]int64{}, suspended: suspended}
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

// writeRows adds a row per job, looking up in st the id of each target it
// has not seen yet.
func (t *deadLettersTable) writeRows(ctx context.Context, st *store.Store, jobs []store.JobRecord) error {
	for _, j := range jobs {
		if _, ok := t.ids[j.Target]; !ok {
			target, err := st.Target(ctx, j.Target)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			t.ids[j.Target] = target.ID
		}
		fmt.Fprintf(t.tw, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", j.ID, j.Updated.UTC().Format(time.RFC3339),
			cell(j.Rule), cell(j.Action), j.Attempts, cell(j.EventID), t.ids[j.Target], cell(j.Target), cell(j.LastError))
	}
	return nil
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
