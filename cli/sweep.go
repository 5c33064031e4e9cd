package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/service"
	"github.com/chatwarden/chatwarden/sweep"
)

// sweepCmd is `chatwarden sweep <kind>`: one subcommand per kind of sweep
// (sweep.Kinds), so other platforms' sweeps slot in beside
// livechat-unassigned.
func sweepCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "sweep KIND",
		Short: "Clean up a backlog: hand every matching chat to the workers (livechat-unassigned)",
		Long: `sweep finds chats through a platform's API and publishes one event per chat into the events
stream, so the workers apply the same rules, rate limits, audit records, retries and dead
letters to the backlog as to live webhooks. It works while "chatwarden serve" or "work" runs
(through nats.listen or nats.url).

Kinds:
  livechat-unassigned   LiveChat chats that are Unassigned (pinned and unassigned); the built-in
                        rule unpins each one that is still so when a worker checks it`,
		Example: "  chatwarden sweep livechat-unassigned --dry-run\n  chatwarden sweep livechat-unassigned --older-than 72h --group 2",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown kind of sweep %q; want one of: %s; see chatwarden sweep --help",
					args[0], strings.Join(sweep.Kinds(), ", "))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{fmt.Errorf("a kind of sweep is required: %s", strings.Join(sweep.Kinds(), ", "))}
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.AddCommand(newCmdSweepUnassigned(e, nil))
	return cmd
}

// SweepOptions are the flags of `chatwarden sweep livechat-unassigned`;
// those not given (see Set) take the sweep section of the configuration.
type SweepOptions struct {
	Ctx                context.Context
	ConfigPath         string
	Organization       string
	OlderThan, Wait    time.Duration
	Groups             []int
	Limit, Concurrency int
	MaxRate            float64
	DryRun, JSON       bool
	Set                func(flag string) bool // whether the flag was given
}

// newCmdSweepUnassigned builds `chatwarden sweep livechat-unassigned`;
// runF, when set, runs instead of sweepRun (tests check the options).
func newCmdSweepUnassigned(e *env, runF func(*SweepOptions) error) *cobra.Command {
	opts := &SweepOptions{}
	cmd := &cobra.Command{
		Use:   sweep.KindLiveChatUnassigned,
		Short: "Unpin LiveChat chats stuck in Unassigned",
		Long: `livechat-unassigned lists the LiveChat chats that are Unassigned (list_archives filtered on
routing.unassigned and routing.pinned), oldest first, one per chat, and hands each to the workers
as a livechat.sweep_unassigned event. The built-in rule "sweep-unpin-unassigned" fetches the
chat again and unpins it if it is still pinned, unassigned and older than --older-than; a rule
of your rule file with "on: [livechat.sweep_unassigned]" replaces it.

It lists everything first, then publishes at most --concurrency chats ahead of the workers'
decisions (and at most --max-rate per second), waits for the decisions and prints a summary:
found, unpinned, skipped, failed, with the audit query that shows each decision. On a terminal
it shows a progress bar.

Running it again is safe, also after an interruption: unpinned chats are no longer listed, and
the event of a chat is the same in every run (its id comes from the chat and its thread), so
one still queued is not stored twice. With --dry-run it only prints the chats it would hand
over and changes nothing.

Flags left out take the sweep section of the configuration (sweep.older_than, sweep.groups,
sweep.limit, sweep.concurrency, sweep.max_rate, sweep.wait).`,
		Example: `  chatwarden sweep livechat-unassigned --dry-run
  chatwarden sweep livechat-unassigned --older-than 72h --group 2 --group 5
  chatwarden sweep livechat-unassigned --limit 500 --max-rate 20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx, opts.Set = cmd.Context(), cmd.Flags().Changed
			if runF != nil {
				return runF(opts)
			}
			return e.sweepRun(opts)
		},
	}
	e.addConfigFlag(cmd, &opts.ConfigPath)
	fl := cmd.Flags()
	fl.DurationVar(&opts.OlderThan, "older-than", 0, "only chats whose thread started at least this long ago, e.g. 48h (default sweep.older_than, 48h)")
	fl.IntSliceVar(&opts.Groups, "group", nil, "only chats of this group id; repeat for several (default sweep.groups: every group)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the chats it would hand to the workers; change nothing")
	fl.IntVar(&opts.Limit, "limit", 0, "at most this many chats, oldest first (default sweep.limit; 0: no cap)")
	fl.IntVar(&opts.Concurrency, "concurrency", 0, "chats waiting for the workers' decision at once (default sweep.concurrency, 64)")
	fl.Float64Var(&opts.MaxRate, "max-rate", 0, "at most this many chats per second to the workers (default sweep.max_rate; 0: no cap)")
	fl.DurationVar(&opts.Wait, "wait", 0, "give up waiting when the workers decide nothing for this long (default sweep.wait, 2m)")
	fl.StringVar(&opts.Organization, "organization", "", "LiveChat organization id whose credentials to use (livechat.organizations); default: livechat.pat/token")
	fl.BoolVar(&opts.JSON, "json", false, "print JSON instead of a table and a summary")
	return cmd
}

// apply puts the flags that were given over the configuration's sweep
// section.
func (o *SweepOptions) apply(s config.Sweep) (config.Sweep, error) {
	set := o.Set
	if set("older-than") {
		if o.OlderThan < 0 {
			return s, usageError{fmt.Errorf("--older-than must not be negative, got %s", o.OlderThan)}
		}
		s.OlderThan = o.OlderThan
	}
	if set("group") {
		for _, g := range o.Groups {
			if g < 0 {
				return s, usageError{fmt.Errorf("--group must be a group id (0 or more), got %d", g)}
			}
		}
		s.Groups = o.Groups
	}
	if set("limit") {
		if o.Limit < 0 {
			return s, usageError{fmt.Errorf("--limit must be 0 (no cap) or more, got %d", o.Limit)}
		}
		s.Limit = o.Limit
	}
	if set("concurrency") {
		if o.Concurrency < 1 || o.Concurrency > config.MaxConcurrency {
			return s, usageError{fmt.Errorf("--concurrency must be between 1 and %d, got %d", config.MaxConcurrency, o.Concurrency)}
		}
		s.Concurrency = o.Concurrency
	}
	if set("max-rate") {
		if o.MaxRate < 0 || math.IsNaN(o.MaxRate) || math.IsInf(o.MaxRate, 0) {
			return s, usageError{fmt.Errorf("--max-rate must be 0 (no cap) or a positive number, got %v", o.MaxRate)}
		}
		s.MaxRate = o.MaxRate
	}
	if set("wait") {
		if o.Wait <= 0 {
			return s, usageError{fmt.Errorf("--wait must be a positive duration, got %s", o.Wait)}
		}
		s.Wait = o.Wait
	}
	return s, nil
}

// sweepRun connects, runs sweep.Run and renders its result.
func (e *env) sweepRun(o *SweepOptions) error {
	cfg, err := e.loadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	sc, err := o.apply(cfg.Sweep)
	if err != nil {
		return err
	}
	if o.Organization != "" {
		if _, ok := cfg.LiveChat.Organizations[o.Organization]; !ok {
			return usageError{fmt.Errorf("--organization %q is not in livechat.organizations", o.Organization)}
		}
	}
	params := sweep.RunParams{
		Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: sc.OlderThan, Groups: sc.Groups,
			Limit: sc.Limit, Tenant: o.Organization},
		DryRun: o.DryRun, MaxRate: sc.MaxRate, Window: sc.Concurrency, Idle: sc.Wait,
		Lookback: cfg.NATS.DuplicateWindow + time.Minute, StartedAt: time.Now(),
	}
	ctx := o.Ctx

	// The bus carries the events, and the OAuth tokens the service keeps in
	// JetStream; a dry run goes on without it.
	deps := sweep.Deps{}
	b, logger, closeBus, err := e.openOperatorBus(ctx, cfg)
	if err != nil {
		if !o.DryRun {
			return err
		}
		if logger, err = e.quietLogger(cfg.Log); err != nil {
			return err
		}
		defer func() { _ = logger.Sync() }()
	} else {
		defer closeBus()
		deps.Publisher = b
		// Without a running service nothing decides; with one, follow the
		// decisions (see sweep.RunParams.Lookback).
		if !b.Embedded() {
			deps.Decisions = b.JS
		}
	}
	deps.Logger = logger
	var js jetstream.JetStream
	if b != nil {
		js = b.JS
	}
	if deps.Lister, err = sweepLister(ctx, cfg, js, o.Organization, logger); err != nil {
		return err
	}

	prog := newSweepProgress(e.stderr, !o.JSON)
	defer prog.stop()
	deps.Progress = sweep.Progress{Following: prog.follow, Listed: prog.listed, Publishing: prog.publishing,
		Published: prog.published, Waiting: prog.waiting}
	out, runErr := sweep.Run(ctx, deps, params)
	prog.stop()
	if runErr != nil && !out.Listed {
		return runErr // nothing was handed over: the error says it all
	}

	res := sweepResult{Kind: params.Kind, OlderThan: sc.OlderThan.String(), Groups: sc.Groups, DryRun: o.DryRun,
		Found: len(out.Chats)}
	if res.Groups == nil {
		res.Groups = []int{}
	}
	if o.DryRun {
		return e.printDryRun(res, out.Chats, o.JSON, time.Now())
	}
	res.Published, res.AlreadyQueued, res.Decisions = out.Published.Stored, out.Published.Duplicates, out.Decisions
	res.Audit = e.sweepAuditQuery(cfg, params.StartedAt)
	failure := sweepFailure(ctx, runErr, res, params.StartedAt)
	if failure != nil {
		res.Error = failure.Error()
	}
	if o.JSON {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		e.printSweepSummary(res, deps.Decisions == nil, cfg, params.StartedAt)
	}
	return failure
}

// sweepLister is the LiveChat client of the organization (the top-level
// credentials for ""), which lists the chats; js holds the OAuth tokens the
// service keeps (nil without a broker).
func sweepLister(ctx context.Context, cfg *config.Config, js jetstream.JetStream, org string, logger *zap.Logger) (sweep.Lister, error) {
	clients, err := service.NewClients(ctx, cfg, js, nil, logger)
	if err != nil {
		return nil, err
	}
	api, err := clients.Client(event.LiveChat, org)
	if err != nil {
		return nil, fmt.Errorf("sweep needs LiveChat credentials to list chats: %w", err)
	}
	lister, ok := api.(sweep.Lister)
	if !ok {
		return nil, sweep.ErrNotLister
	}
	return lister, nil
}

// sweepFailure is the error a sweep ends with, saying what to do: runErr
// explained, or the failed decisions.
func sweepFailure(ctx context.Context, runErr error, res sweepResult, start time.Time) error {
	switch {
	case runErr != nil && ctx.Err() != nil:
		return fmt.Errorf("interrupted after handing %d of %s to the workers; run the same command again to continue "+
			"(chats already unpinned are not listed again, chats still queued are not queued twice)",
			res.Published+res.AlreadyQueued, quantity(res.Found, "chat", "chats"))
	case errors.Is(runErr, sweep.ErrNoProgress):
		return fmt.Errorf("%w; is `chatwarden work` (or serve) running with this configuration? The events stay stored "+
			"and are handled when the workers run", runErr)
	case runErr != nil:
		return runErr
	case res.Decisions != nil && res.Decisions.Failed > 0:
		return fmt.Errorf("%d of %s failed; see `chatwarden dlq list --since %s`", res.Decisions.Failed, quantity(res.Found, "chat", "chats"), sinceArg(start))
	}
	return nil
}

// quietLogger is the process logger at warn level unless debug is asked
// for: a command's output is its own.
func (e *env) quietLogger(c config.Log) (*zap.Logger, error) {
	if c.Level != "debug" {
		c.Level = "warn"
	}
	return e.newLogger(c)
}
