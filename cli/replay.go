package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/internal/replay"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/service"
)

// ReplayOptions are the flags of `chatwarden replay`.
type ReplayOptions struct {
	Ctx                             context.Context
	ConfigPath, Since, Rule, ChatID string
	DryRun                          bool
	// From is Since as a time, set when the flags are checked.
	From time.Time
}

// newCmdReplay builds `chatwarden replay`; runF, when set, runs instead of
// replayRun (tests check the options).
func newCmdReplay(e *env, runF func(*ReplayOptions) error) *cobra.Command {
	opts := &ReplayOptions{}
	cmd := &cobra.Command{
		Use:   "replay --since DURATION|TIME",
		Short: "Run stored events through the current rules again",
		Long: "replay reads the events stored since a time and runs them through the current rules, in\n" +
			"this process, with the same clients, audit records and idempotency records as the workers:\n" +
			"an action that is not idempotent and already ran for an event is not repeated. Use --dry-run\n" +
			"to see what the current rules would do without calling any API; decisions are audited as\n" +
			"dry_run. Delayed rules schedule their re-checks as usual (not in dry run: they record it).",
		Example: "  chatwarden replay --since 24h --dry-run\n  chatwarden replay --since 2026-11-20T00:00:00Z --rule unpin-abandoned-unassigned",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Since == "" {
				return usageError{fmt.Errorf("--since is required, e.g. --since 24h")}
			}
			from, err := dlq.ParseSince(opts.Since, time.Now())
			if err != nil {
				return usageError{fmt.Errorf("--since: %w", err)}
			}
			opts.Ctx, opts.From = cmd.Context(), from
			if runF != nil {
				return runF(opts)
			}
			return e.replayRun(opts)
		},
	}
	e.addConfigFlag(cmd, &opts.ConfigPath)
	cmd.Flags().StringVar(&opts.Since, "since", "", "replay events stored since a duration ago (24h, 7d) or a time (RFC 3339)")
	cmd.Flags().StringVar(&opts.Rule, "rule", "", "run only this rule")
	cmd.Flags().StringVar(&opts.ChatID, "chat", "", "only events of this chat")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "record what the rules would do; call no API")
	return cmd
}

// replayRun connects, loads the rules as the workers do, runs replay.Run and
// prints its counts.
func (e *env) replayRun(o *ReplayOptions) error {
	cfg, err := e.loadConfig(o.ConfigPath)
	if err != nil {
		return err
	}
	ctx := o.Ctx
	b, logger, closeBus, err := e.openOperatorBus(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeBus()
	clients, err := service.NewClients(ctx, cfg, b.JS, nil, logger)
	if err != nil {
		return err
	}
	engine, err := service.NewEngine(ctx, cfg, b, clients, logger, metrics.New(), nil)
	if err != nil {
		return err
	}
	set := engine.Rules()
	if o.Rule != "" {
		if set, err = set.Only(o.Rule); err != nil {
			return usageError{err}
		}
	}
	kv, err := bus.ProvisionDoneBucket(ctx, b.JS, cfg.NATS.Replicas, logger)
	if err != nil {
		return err
	}
	res, err := replay.Run(ctx, replay.Deps{JS: b.JS, Partitions: b.Partitions(), Rules: set, Clients: clients,
		Done: rules.KVDoneStore{KV: kv}, MaxPendingRechecks: cfg.Workers.MaxPendingRechecks, Logger: logger,
		Progress: func(n int) { fmt.Fprintf(e.stderr, "replayed %d events...\n", n) },
	}, replay.Params{Since: o.From, Chat: o.ChatID, DryRun: o.DryRun || cfg.RulesFile == "" || cfg.Workers.DryRun})
	if err != nil {
		return err
	}
	mode := ""
	if o.DryRun {
		mode = " (dry run)"
	}
	fmt.Fprintf(e.stdout, "replayed %s since %s through %s%s\n", quantity(res.Events, "event", "events"), o.From.Format(time.RFC3339),
		quantity(res.Rules, "rule", "rules"), mode)
	writeReplayCounts(e.stdout, res.Buckets)
	if res.Failed > 0 {
		fmt.Fprintf(e.stdout, "%s failed:\n", quantity(res.Failed, "event", "events"))
		for msg, n := range res.Errors {
			fmt.Fprintf(e.stdout, "  %dx %s\n", n, msg)
		}
		return fmt.Errorf("%d of %s failed; see `chatwarden audit --since %s`", res.Failed, quantity(res.Events, "event", "events"), o.Since)
	}
	_, err = fmt.Fprintf(e.stdout, "details: chatwarden audit --since %s\n", o.Since)
	return err
}

// writeReplayCounts prints the non-empty buckets in replay.Buckets order
// (unknown ones after, sorted) and their total, which is the number of
// events replayed.
func writeReplayCounts(w io.Writer, counts map[string]int) {
	names := slices.Clone(replay.Buckets)
	extra := make([]string, 0)
	total := 0
	for b, n := range counts {
		total += n
		if !slices.Contains(replay.Buckets, b) {
			extra = append(extra, b)
		}
	}
	sort.Strings(extra)
	for _, b := range append(names, extra...) {
		if n := counts[b]; n > 0 {
			fmt.Fprintf(w, "  %-10s %d\n", b, n)
		}
	}
	fmt.Fprintf(w, "  %-10s %d\n", "total", total)
}
