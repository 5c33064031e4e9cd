package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/dlq"
)

// dlqCmd builds `chatwarden dlq` and its subcommands. They call the same
// functions of package dlq as the admin API (/admin/dlq).
func dlqCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, retry and purge dead letters (events the workers gave up on)",
		Long: `Dead letters are events the workers gave up on: after a permanent failure (validation, not
found, authorization, missing credentials) or after workers.max_attempts retryable failures.
They are kept in the CHATWARDEN_DLQ stream with the original event, the rule and action that
failed, and why.

A dead letter is named by its number in CHATWARDEN_DLQ (the SEQ column of "dlq list"); its
event id works too.

These commands work while "chatwarden serve" runs with the embedded broker (they connect to
nats.listen), against nats.url when set, and with no service running (they open
nats.data_dir themselves). The admin HTTP API offers the same operations under /admin/dlq.`,
		Example: `  chatwarden dlq list --since 24h
  chatwarden dlq show 42
  chatwarden dlq retry 42
  chatwarden dlq retry --all --reason attempts_exhausted --dry-run
  chatwarden dlq purge --older-than 7d`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown dlq subcommand %q; want list, show, retry or purge; see chatwarden dlq --help", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{errors.New("a dlq subcommand is required: list, show, retry or purge")}
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.AddCommand(dlqListCmd(e), dlqShowCmd(e), dlqRetryCmd(e), dlqPurgeCmd(e))
	return cmd
}

func dlqListCmd(e *env) *cobra.Command {
	var (
		cfgPath, since, reason string
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Example: `  chatwarden dlq list
  chatwarden dlq list --since 24h --reason permanent
  chatwarden dlq list --since 2026-05-01 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := dlqFilterFlags(cmd, reason, since)
			if err != nil {
				return err
			}
			return e.withDeadLetters(cmd, cfgPath, func(ctx context.Context, st *dlq.Store, _ *bus.Bus) error {
				dls, err := st.List(ctx, f)
				if err != nil {
					return dlqCLIError(cmd, err)
				}
				if asJSON {
					return writeJSON(e.stdout, dlq.NewListing(dls))
				}
				return printDeadLetters(e.stdout, dls, f != dlq.Filter{}, time.Now(), e.termWidth())
			})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&since, "since", "", "only dead letters that failed since then: a duration back from now (24h, 7d), an RFC 3339 time or a date")
	cmd.Flags().StringVar(&reason, "reason", "", "only dead letters with this reason: "+strings.Join(dlq.Reasons, ", "))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as GET /admin/dlq) instead of a table")
	return cmd
}

func dlqShowCmd(e *env) *cobra.Command {
	var (
		cfgPath string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a dead letter: the event, the rule and action, every failed attempt and why it was given up",
		Long: `Show a dead letter: the original event, the rule and the action that failed, every failed
attempt with its error (from the audit records of the event), and why it was given up
(reason, cause, error). ID is the dead letter's number (SEQ in "dlq list") or its event id.`,
		Example: "  chatwarden dlq show 42\n  chatwarden dlq show 42 --json",
		Args:    exactlyOneRef,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withDeadLetters(cmd, cfgPath, func(ctx context.Context, st *dlq.Store, _ *bus.Bus) error {
				d, err := st.Get(ctx, args[0])
				if err != nil {
					return dlqCLIError(cmd, err)
				}
				if asJSON {
					return writeJSON(e.stdout, d)
				}
				return printDetail(e.stdout, d, time.Now())
			})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as GET /admin/dlq/ID) instead of text")
	return cmd
}

func dlqRetryCmd(e *env) *cobra.Command {
	var (
		cfgPath, since, reason string
		all, dryRun, asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "retry ID|--all",
		Short: "Publish dead-lettered events again so the workers handle them with the same rules",
		Long: `Publish the original event of a dead letter (or of all, with --all) into CHATWARDEN_EVENTS
again, so the workers handle it with the same rules, then remove the dead letter. Fix the cause
first (credentials, the rule, the platform's state): an event that fails again is dead-lettered
again, under a new number.

The event keeps its id, so audit records and idempotency stay the same; it is published with
the message id "<event id>-retry-<dead letter number>", which the events stream's duplicate
window does not confuse with the original delivery. Nothing is lost: the dead letter is removed
only after JetStream stored the event again. --all stops at the first failure and leaves the
rest in place; dead letters that cannot be retried (undecodable messages) are skipped.`,
		Example: `  chatwarden dlq retry 42
  chatwarden dlq retry --all --dry-run
  chatwarden dlq retry --all --reason attempts_exhausted --since 2h`,
		Args: refOrAll("--all", &all),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !all && (reason != "" || since != "") {
				return usageError{errors.New("--reason and --since select dead letters for --all; see chatwarden dlq retry --help")}
			}
			f, err := dlqFilterFlags(cmd, reason, since)
			if err != nil {
				return err
			}
			return e.withDeadLetters(cmd, cfgPath, func(ctx context.Context, st *dlq.Store, b *bus.Bus) error {
				offline := b.Embedded()
				if !all {
					res, err := st.Retry(ctx, args[0], dryRun)
					if res.Seq == 0 && err != nil {
						return dlqCLIError(cmd, err)
					}
					return e.dlqAnswer(cmd, asJSON, res, func() { printRetried(e.stdout, res, offline) }, err)
				}
				rep, err := st.RetryAll(ctx, f, dryRun)
				if rep == nil {
					return dlqCLIError(cmd, err)
				}
				return e.dlqAnswer(cmd, asJSON, rep, func() { printReport(e.stdout, rep, "retry", offline) }, err)
			})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&all, "all", false, "retry every dead letter (narrow with --reason and --since)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be retried and change nothing")
	cmd.Flags().StringVar(&reason, "reason", "", "with --all: only dead letters with this reason: "+strings.Join(dlq.Reasons, ", "))
	cmd.Flags().StringVar(&since, "since", "", "with --all: only dead letters that failed since then (24h, 7d, an RFC 3339 time or a date)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as the admin API) instead of text")
	return cmd
}

func dlqPurgeCmd(e *env) *cobra.Command {
	var (
		cfgPath, olderThan string
		dryRun, asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "purge ID|--older-than DURATION",
		Short: "Delete dead letters for good: one, or all older than a duration",
		Long: `Delete a dead letter (or every dead letter that failed more than DURATION ago) from
CHATWARDEN_DLQ, and print what was removed. The events are not handled again; use "dlq retry"
for that. --dry-run prints what would be removed.`,
		Example: `  chatwarden dlq purge 42
  chatwarden dlq purge --older-than 7d --dry-run
  chatwarden dlq purge --older-than 72h`,
		Args: refOrAll("--older-than", nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			var age time.Duration
			if olderThan != "" {
				var err error
				if age, err = dlq.ParseAge(olderThan); err != nil {
					return dlqCLIError(cmd, err)
				}
			}
			return e.withDeadLetters(cmd, cfgPath, func(ctx context.Context, st *dlq.Store, _ *bus.Bus) error {
				if olderThan == "" {
					res, err := st.Purge(ctx, args[0], dryRun)
					if res.Seq == 0 && err != nil {
						return dlqCLIError(cmd, err)
					}
					return e.dlqAnswer(cmd, asJSON, res, func() { printPurged(e.stdout, res) }, err)
				}
				rep, err := st.PurgeOlderThan(ctx, age, dryRun)
				if rep == nil {
					return dlqCLIError(cmd, err)
				}
				return e.dlqAnswer(cmd, asJSON, rep, func() { printReport(e.stdout, rep, "purge", false) }, err)
			})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete every dead letter that failed more than this long ago (30m, 24h, 7d)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as the admin API) instead of text")
	return cmd
}

// dlqAnswer prints the outcome of a dlq command (v as JSON, or text's
// output) and returns the command's error for err, which may come with a
// partial outcome.
func (e *env) dlqAnswer(cmd *cobra.Command, asJSON bool, v any, text func(), err error) error {
	if asJSON {
		if jerr := writeJSON(e.stdout, v); jerr != nil {
			return jerr
		}
	} else {
		text()
	}
	return dlqCLIError(cmd, err)
}

// openOperatorBus connects an operational command to the service's
// JetStream with bus.OpenForOperator, logging warnings and errors only (debug
// when log.level is debug). When no service was reachable and the command
// opened nats.data_dir itself, it says so on stderr. The caller must call
// closeBus.
func (e *env) openOperatorBus(ctx context.Context, cfg *config.Config) (b *bus.Bus, logger *zap.Logger, closeBus func(), err error) {
	logCfg := cfg.Log
	if lvl, perr := zapcore.ParseLevel(logCfg.Level); perr == nil && lvl > zapcore.DebugLevel && lvl < zapcore.WarnLevel {
		logCfg.Level = "warn"
	}
	logger, err = e.newLogger(logCfg)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err = bus.OpenForOperator(ctx, cfg.NATS, bus.WithLogger(logger), bus.WithPartitions(cfg.NATS.Partitions))
	if err != nil {
		_ = logger.Sync()
		return nil, nil, nil, err
	}
	if b.Embedded() {
		fmt.Fprintf(e.stderr, "chatwarden: no service reachable on nats.listen %q; using nats.data_dir %s directly\n",
			cfg.NATS.Listen, cfg.NATS.DataDir)
	}
	closeBus = func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := b.Close(cctx); cerr != nil {
			logger.Warn("closing the NATS connection", zap.Error(cerr))
		}
		_ = logger.Sync()
	}
	return b, logger, closeBus, nil
}

// withDeadLetters loads the configuration, connects, and runs fn with a
// dlq.Store.
func (e *env) withDeadLetters(cmd *cobra.Command, cfgPath string, fn func(context.Context, *dlq.Store, *bus.Bus) error) error {
	cfg, err := e.loadConfig(cfgPath)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	b, logger, closeBus, err := e.openOperatorBus(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeBus()
	st, err := dlq.New(b.JS, dlq.WithLogger(logger))
	if err != nil {
		return err
	}
	return fn(ctx, st, b)
}

// dlqFilterFlags builds a filter from --reason and --since; bad values are
// usage errors.
func dlqFilterFlags(cmd *cobra.Command, reason, since string) (dlq.Filter, error) {
	f := dlq.Filter{Reason: reason}
	if since != "" {
		t, err := dlq.ParseSince(since, time.Now())
		if err != nil {
			return f, dlqCLIError(cmd, err)
		}
		f.Since = t
	}
	if err := f.Validate(); err != nil {
		return f, dlqCLIError(cmd, err)
	}
	return f, nil
}

// dlqCLIError says what to do next: bad arguments are usage errors (exit 2)
// pointing at --help; an unknown dead letter points at `dlq list`.
func dlqCLIError(cmd *cobra.Command, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dlq.ErrInvalidArgument):
		return usageError{fmt.Errorf("%w; see %s --help", err, cmd.CommandPath())}
	case errors.Is(err, dlq.ErrNotFound):
		return fmt.Errorf("%w; see `chatwarden dlq list`", err)
	}
	return err
}

func exactlyOneRef(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s takes one dead letter: its number (SEQ in `chatwarden dlq list`) or event id; got %d arguments",
			cmd.CommandPath(), len(args))}
	}
	return nil
}

// refOrAll accepts either one dead-letter reference or the flag named
// bulkFlag (a bool pointed at by isSet, or a string flag checked by name).
func refOrAll(bulkFlag string, isSet *bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		bulk := cmd.Flags().Changed(strings.TrimPrefix(bulkFlag, "--"))
		if isSet != nil {
			bulk = *isSet
		}
		switch {
		case len(args) > 1:
			return usageError{fmt.Errorf("%s takes at most one dead letter, got %d; see %s --help", cmd.CommandPath(), len(args), cmd.CommandPath())}
		case len(args) == 1 && bulk:
			return usageError{fmt.Errorf("give a dead letter or %s, not both; see %s --help", bulkFlag, cmd.CommandPath())}
		case len(args) == 0 && !bulk:
			return usageError{fmt.Errorf("give a dead letter (its number in `chatwarden dlq list`, or its event id) or %s; see %s --help",
				bulkFlag, cmd.CommandPath())}
		}
		return nil
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printDeadLetters prints dls as a table within width columns: the CAUSE
// column (the first line of the last error) comes last and is never cut
// away entirely; when the table is too wide, the widest columns are cut
// with an ellipsis first.
func printDeadLetters(w io.Writer, dls []dlq.DeadLetter, filtered bool, now time.Time, width int) error {
	if len(dls) == 0 {
		if filtered {
			_, err := fmt.Fprintln(w, "No dead letters match.")
			return err
		}
		_, err := fmt.Fprintln(w, "No dead letters.")
		return err
	}
	rows := [][]string{{"SEQ", "AGE", "EVENT", "CHAT", "RULE", "REASON", "ATTEMPTS", "CAUSE"}}
	for _, dl := range dls {
		ev := dash(dl.Platform)
		if dl.Action != "" {
			ev += "." + dl.Action
		}
		rows = append(rows, []string{strconv.FormatUint(dl.Seq, 10), age(now.Sub(dl.FailedAt)), ev,
			dash(dl.ChatID), dash(dl.Rule), reasonText(dl), strconv.FormatUint(dl.Attempts, 10), dash(causeLine(dl))})
	}
	// SEQ, AGE and ATTEMPTS are never cut. The event (platform.action) is
	// cut first, then CAUSE down to minCauseWidth characters (it is never
	// cut further), then the widest of CHAT, RULE and REASON.
	if err := writeFitted(w, rows, width, []int{-1, -1, 0, 2, 2, 2, -1, 1}, minCauseWidth); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d dead %s. Details: chatwarden dlq show SEQ; retry: chatwarden dlq retry SEQ; delete: chatwarden dlq purge SEQ\n",
		len(dls), plural(len(dls), "letter", "letters"))
	return err
}

// minCauseWidth is the least of the CAUSE column that dlq list keeps.
const minCauseWidth = 24

// defaultTermWidth is the width dlq list fits its table in when neither
// the terminal nor $COLUMNS tells one.
const defaultTermWidth = 100

// termWidth is the width of the terminal stdout is, else $COLUMNS, else
// defaultTermWidth.
func (e *env) termWidth() int {
	if f, ok := e.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if w, err := strconv.Atoi(strings.TrimSpace(e.getenv("COLUMNS"))); err == nil && w > 0 {
		return w
	}
	return defaultTermWidth
}

// reasonText is the dead letter's reason, with "(outage)" when its
// attempts ran out on an outage (dlq.auto_retry retries it). A permanent
// failure's cause (validation, not_found) shows in CAUSE.
func reasonText(dl dlq.DeadLetter) string {
	if dl.Outage {
		return dl.Reason + " (outage)"
	}
	return dash(dl.Reason)
}

// causeLine is the first line of the dead letter's error, without the
// parts other columns show (see shortError) nor the "<platform>: <call>
// chat <chat id>: " of a platform call; a permanent failure's cause
// (validation, not_found) leads when the line does not name it.
func causeLine(dl dlq.DeadLetter) string {
	line, _, _ := strings.Cut(strings.TrimSpace(shortError(dl)), "\n")
	if rest, ok := strings.CutPrefix(line, dl.Platform+": "); ok && dl.Platform != "" && dl.ChatID != "" {
		if _, after, found := strings.Cut(rest, " chat "+dl.ChatID+": "); found {
			line = after
		}
	}
	if dl.Cause != "" && !strings.Contains(line, dl.Cause) {
		line = dl.Cause + ": " + line
	}
	return oneLine(line)
}

// writeFitted writes rows as columns two spaces apart, within width. While
// too wide, the widest column of the lowest tier that can still shrink
// loses a character (tier -1: never; a column keeps its header's width, at
// least 4, and the last column at least minLast); cut cells end with an
// ellipsis. The last column is not padded.
func writeFitted(w io.Writer, rows [][]string, width int, tiers []int, minLast int) error {
	const sep = 2
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	floor := make([]int, n)
	for i := range floor {
		floor[i] = widths[i]
		if tiers[i] >= 0 {
			floor[i] = min(widths[i], max(utf8.RuneCountInString(rows[0][i]), 4))
		}
	}
	floor[n-1] = min(widths[n-1], max(floor[n-1], minLast))
	total := sep * (n - 1)
	for _, x := range widths {
		total += x
	}
	for total > width {
		pick := -1
		for i := range widths {
			if widths[i] <= floor[i] {
				continue
			}
			if pick < 0 || tiers[i] < tiers[pick] || tiers[i] == tiers[pick] && widths[i] > widths[pick] {
				pick = i
			}
		}
		if pick < 0 {
			break // as narrow as it gets
		}
		widths[pick]--
		total--
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, c := range r {
			c = clip(c, widths[i])
			b.WriteString(c)
			if i < n-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+sep))
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

func printDetail(w io.Writer, d *dlq.Detail, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "Dead letter:\t%d\n", d.Seq)
	fmt.Fprintf(tw, "Event:\t%s\n", d.ID)
	fmt.Fprintf(tw, "Platform, action:\t%s %s\n", dash(d.Platform), dash(d.Action))
	fmt.Fprintf(tw, "Chat:\t%s\n", dash(d.ChatID))
	fmt.Fprintf(tw, "Rule:\t%s\n", dash(d.Rule))
	fmt.Fprintf(tw, "Action that failed:\t%s\n", dash(d.Operation))
	reason := dash(d.Reason)
	if d.Cause != "" {
		reason += " (" + d.Cause + ")"
	}
	fmt.Fprintf(tw, "Given up because:\t%s\n", reason)
	fmt.Fprintf(tw, "Error:\t%s\n", oneLine(d.Error))
	fmt.Fprintf(tw, "Deliveries:\t%d\n", d.Attempts)
	if !d.StoredAt.IsZero() {
		fmt.Fprintf(tw, "Stored:\t%s (CHATWARDEN_EVENTS sequence %d, %s)\n", stamp(d.StoredAt), d.StreamSeq, d.Subject)
	}
	fmt.Fprintf(tw, "Failed:\t%s (%s ago)\n", stamp(d.FailedAt), age(now.Sub(d.FailedAt)))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nFailed attempts (from the audit records of the event):")
	if len(d.FailedAttempts) == 0 {
		fmt.Fprintln(w, "  none recorded")
	} else {
		tw = newTable(w)
		fmt.Fprintln(tw, "  ATTEMPT\tTIME\tRULE\tACTION\tERROR")
		for _, a := range d.FailedAttempts {
			n := "-"
			if a.Attempt > 0 {
				n = fmt.Sprint(a.Attempt)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n, stamp(a.Time), dash(a.Rule), dash(a.Operation), oneLine(a.Error))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nOriginal event:")
	var buf bytes.Buffer
	if json.Indent(&buf, d.Event, "  ", "  ") == nil {
		fmt.Fprintf(w, "  %s\n", buf.String())
	} else {
		fmt.Fprintf(w, "  %s\n", d.Event)
	}
	_, err := fmt.Fprintf(w, "\nNext: fix the cause, then `chatwarden dlq retry %d`; or delete it with `chatwarden dlq purge %d`.\n", d.Seq, d.Seq)
	return err
}

func printRetried(w io.Writer, res dlq.Result, offline bool) {
	switch res.Outcome {
	case dlq.Retried:
		fmt.Fprintf(w, "Retried dead letter %d (event %s, chat %s): republished to CHATWARDEN_EVENTS as sequence %d "+
			"(message id %s) and removed from the dead-letter stream.\n", res.Seq, res.EventID, dash(res.ChatID), res.EventSeq, res.MsgID)
		if offline {
			fmt.Fprintln(w, "No service is running: the workers will handle it when `chatwarden serve` or `chatwarden work` starts.")
		} else {
			fmt.Fprintln(w, "The workers handle it again; if it fails again it comes back as a new dead letter.")
		}
	case dlq.WouldRetry:
		fmt.Fprintf(w, "Dry run: would republish event %s (chat %s) of dead letter %d with message id %s, then remove the dead letter. Nothing changed.\n",
			res.EventID, dash(res.ChatID), res.Seq, res.MsgID)
	default:
		fmt.Fprintf(w, "Dead letter %d (event %s): %s: %s\n", res.Seq, res.EventID, res.Outcome, res.Error)
	}
}

func printPurged(w io.Writer, res dlq.Result) {
	switch res.Outcome {
	case dlq.Purged:
		fmt.Fprintf(w, "Purged dead letter %d (event %s, chat %s, %s).\n", res.Seq, res.EventID, dash(res.ChatID), dash(res.Reason))
	case dlq.WouldPurge:
		fmt.Fprintf(w, "Dry run: would purge dead letter %d (event %s, chat %s, %s). Nothing changed.\n", res.Seq, res.EventID, dash(res.ChatID), dash(res.Reason))
	default:
		fmt.Fprintf(w, "Dead letter %d (event %s): %s: %s\n", res.Seq, res.EventID, res.Outcome, res.Error)
	}
}

// printReport prints a bulk retry or purge: one line per dead letter and a
// summary.
func printReport(w io.Writer, rep *dlq.Report, verb string, offline bool) {
	if len(rep.Results) == 0 {
		fmt.Fprintf(w, "No dead letters to %s.\n", verb)
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "SEQ\tEVENT\tCHAT\tREASON\tOUTCOME\tDETAIL")
	for _, r := range rep.Results {
		detail := r.Error
		if r.Outcome == dlq.Retried {
			detail = fmt.Sprintf("events sequence %d", r.EventSeq)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, dash(r.EventID), dash(r.ChatID), dash(r.Reason), r.Outcome, clip(detail, 90))
	}
	_ = tw.Flush()
	done := map[string]string{"retry": "retried", "purge": "purged"}[verb]
	if rep.DryRun {
		fmt.Fprintf(w, "\nDry run: would have %s %d, skipped %d. Nothing changed.\n", done, rep.Done, rep.Skipped)
		return
	}
	fmt.Fprintf(w, "\n%s %d, skipped %d, failed %d.\n", upperFirst(done), rep.Done, rep.Skipped, rep.Failed)
	if verb == "retry" && rep.Done > 0 && offline {
		fmt.Fprintln(w, "No service is running: the workers will handle them when `chatwarden serve` or `chatwarden work` starts.")
	}
}

// shortError is the dead letter's error without the parts other columns
// show (the rule and action that failed, the permanent cause).
func shortError(dl dlq.DeadLetter) string {
	msg := dl.Error
	if dl.Rule != "" || dl.Operation != "" {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("rule %s, action %s: ", dl.Rule, dl.Operation))
	}
	if dl.Cause != "" {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("permanent (%s): ", dl.Cause))
	}
	return strings.TrimPrefix(msg, "retryable: ")
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func clip(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
