package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/bus"
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
