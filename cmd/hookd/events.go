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
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/api"
	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/internal/suggest"
	"github.com/hookd/hookd/store"
)

func newEventsCmd() *cobra.Command {
	var (
		flags        config.Flags
		q            store.EventQuery
		since, until string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List stored events, newest first",
		Long: `events lists the events in the store, newest first by event time, as
GET /api/events does, reading the store in the data directory directly: it
needs no running server, and works beside a running one.

The data directory is --data, or the configuration's (--config), or ./data.
events never creates it nor an empty store: it fails when they are missing.

--since and --until take an RFC 3339 time (2025-03-01T12:00:00Z), a date
(2025-03-01, its midnight UTC) or a duration (90m, 24h, 7d) meaning that long ago; since is inclusive, until
exclusive. --email and --domain match in any case.

The output is a table, whose times have the event's fraction of a second
(a time copied from it selects its event as --since); with --json, one event per line (NDJSON), each the
JSON object that /api/events lists. When more than --limit events match, a
note on stderr gives the --cursor that continues the listing. When none
match and --type or --source is one that no stored event has, a note on
stderr says so, with the nearest one that some have and those there are.`,
		Example: `  hookd events --type bounce --since 24h
  hookd events --email ann@example.com --limit 100
  hookd events --config /etc/hookd/hookd.yaml --domain example.com --json | jq .data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Limit < 1 || q.Limit > store.MaxLimit {
				return usagef("events: --limit %d: want 1 to %d", q.Limit, store.MaxLimit)
			}
			now := time.Now()
			var err error
			if q.Since, err = parseWhen("events", "--since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhen("events", "--until", until, now); err != nil {
				return err
			}
			return withStore(cmd.Context(), "events", flags, readStore, func(st *store.Store) error {
				if err := listEvents(cmd, st, q, asJSON); err != nil {
					return fmt.Errorf("events: %w", err)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	flags.Var(f, "config", "configuration `file` naming the data directory and store (default: the built-in hookd.yaml)")
	flags.Var(f, "data", "data `directory`, overriding the configuration's (default ./data)")
	f.StringVar(&q.Type, "type", "", "only events of this `type`, e.g. open")
	f.StringVar(&q.Email, "email", "", "only events for this recipient `address`")
	f.StringVar(&q.Domain, "domain", "", "only events for recipients at this `domain`")
	f.StringVar(&q.Source, "source", "", "only events from this configured `source`")
	f.StringVar(&q.Campaign, "campaign", "", "only events of this `campaign`")
	f.StringVar(&q.Category, "category", "", fmt.Sprintf("only events of this `category`, shared by every provider, one of %v", event.Categories))
	f.StringVar(&q.BounceClass, "bounce-class", "", "only bounces of this `class`: hard or soft")
	f.StringVar(&since, "since", "", "only events at or after `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago such as 24h or 7d)")
	f.StringVar(&until, "until", "", "only events before `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago such as 1h)")
	f.IntVar(&q.Limit, "limit", 20, fmt.Sprintf("list at most `N` events (at most %d)", store.MaxLimit))
	f.StringVar(&q.Cursor, "cursor", "", "continue a listing where the previous one stopped")
	f.BoolVar(&asJSON, "json", false, "print one JSON event per line (NDJSON)")
	return cmd
}

// parseWhen reads a time flag of command name as api.ParseTime does, so
// the commands and the API take the same forms.
func parseWhen(name, flag, v string, now time.Time) (time.Time, error) {
	t, err := api.ParseTime(v, now)
	if err != nil {
		return time.Time{}, usagef("%s: %s %w", name, flag, err)
	}
	return t, nil
}

// listEvents prints the first q.Limit events q selects, as a table or as
// NDJSON, and the cursor that continues the listing on stderr when more
// match. It reads them a store page at a time, printing each page before
// reading the next, since a page of large events holds fewer than q.Limit
// (store.PageBytes): the listing is as long as --limit asks, and only one
// page of events' data is in memory at once.
func listEvents(cmd *cobra.Command, st *store.Store, q store.EventQuery, asJSON bool) error {
	out := cmd.OutOrStdout()
	// The table's header goes out with its rows, after the first page:
	// a query the store refuses prints nothing.
	var tw *tabwriter.Writer
	first := q.Cursor == ""
	for {
		page, err := st.Events(cmd.Context(), q)
		if qe, ok := errors.AsType[*store.QueryError](err); ok {
			return usagef("--%s: %s", strings.ReplaceAll(qe.Param, "_", "-"), qe.Problem)
		}
		if err != nil {
			return err
		}
		if asJSON {
			if err := writeNDJSON(out, page.Events); err != nil {
				return err
			}
		} else {
			if tw == nil {
				tw = newTable(out)
			}
			writeRows(tw, page.Events)
		}
		if q.Limit -= len(page.Events); page.Next == "" || q.Limit == 0 {
			if tw != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if page.Next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more events match: repeat with --cursor %s\n", page.Next)
			}
			if first && len(page.Events) == 0 {
				return hintNone(cmd.Context(), cmd.ErrOrStderr(), st, q)
			}
			return nil
		}
		q.Cursor = page.Next
	}
}

// maxHinted is the most stored types or sources hintNone lists.
const maxHinted = 20

// hintNone says on w, for a listing that found no event, when its --type
// or --source is one that no stored event has (a typo: clik), with the
// nearest one that some event has and those there are. A value that
// stored events have, or any value in an empty store, gets no hint: the
// listing's other filters left nothing, which is no mistake.
func hintNone(ctx context.Context, w io.Writer, st *store.Store, q store.EventQuery) error {
	for _, f := range []struct {
		name, value string
		stored      func(context.Context) ([]string, error)
	}{
		{"type", q.Type, st.Types},
		{"source", q.Source, st.Sources},
	} {
		if f.value == "" {
			continue
		}
		known, err := f.stored(ctx)
		if err != nil {
			return err
		}
		if len(known) == 0 || slices.Contains(known, f.value) {
			continue
		}
		msg := fmt.Sprintf("no stored event has %s %q", f.name, f.value)
		if near := suggest.Closest(f.value, known); near != "" {
			msg += fmt.Sprintf(": did you mean %s?", near)
		}
		list := strings.Join(known[:min(len(known), maxHinted)], ", ")
		if len(known) > maxHinted {
			list += fmt.Sprintf(" and %d more", len(known)-maxHinted)
		}
		fmt.Fprintf(w, "%s (%ss stored: %s)\n", msg, f.name, list)
	}
	return nil
}

// newTable starts a table of events: writeRows adds to it, and Flush
// prints it aligned.
func newTable(w io.Writer) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tEMAIL\tMESSAGE_ID\tCAMPAIGN\tSOURCE\tID")
	return tw
}

// writeRows adds a row per event to a table from newTable. The time has
// the fraction of a second the event's has, so that a time copied from the
// table selects its event with --since.
func writeRows(tw *tabwriter.Writer, events []event.Event) {
	for _, e := range events {
		t := "-"
		if !e.Time.IsZero() {
			t = e.Time.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t,
			cell(e.Type), cell(e.Email), cell(e.MessageID), cell(e.Campaign), cell(e.Source), cell(e.ID))
	}
}

// cell shows a field in the table: "-" when empty, and Go-quoted when it
// holds a space, which would make the columns ambiguous to a reader or to
// awk, or a character that strconv.Quote escapes: one that could drive
// the terminal (a control character), and one that shows as nothing or
// changes how the rest of the line shows (a zero-width space, a
// right-to-left override), with which a value would pass for another.
// The values come from the providers' requests.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// writeNDJSON prints each event as one line of JSON.
func writeNDJSON(w io.Writer, events []event.Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
