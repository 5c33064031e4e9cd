package cli

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/service"
)

// countingAuditor stores records and counts outcomes for the summary.
type countingAuditor struct {
	next   rules.Auditor
	counts map[string]int
}

func (c *countingAuditor) Write(ctx context.Context, rec audit.Record) error {
	if err := c.next.Write(ctx, rec); err != nil {
		return err
	}
	c.counts[rec.Outcome]++
	return nil
}

func replayCmd(e *env) *cobra.Command {
	var (
		cfgPath, since, rule, chat string
		dryRun                     bool
	)
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
			if since == "" {
				return usageError{fmt.Errorf("--since is required, e.g. --since 24h")}
			}
			from, err := dlq.ParseSince(since, time.Now())
			if err != nil {
				return usageError{fmt.Errorf("--since: %w", err)}
			}
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
			clients, err := service.NewClients(ctx, cfg, b.JS, nil, logger)
			if err != nil {
				return err
			}
			engine, err := service.NewEngine(ctx, cfg, b, clients, logger, metrics.New(), nil)
			if err != nil {
				return err
			}
			if rule != "" {
				only, err := engine.Rules().Only(rule)
				if err != nil {
					return usageError{err}
				}
				engine.Swap(only)
			}
			counter := &countingAuditor{next: audit.Writer{JS: b.JS}, counts: map[string]int{}}
			opts := []rules.EngineOption{rules.WithLogger(logger), rules.WithDryRun(dryRun || cfg.RulesFile == "" || cfg.Workers.DryRun),
				rules.WithScheduler(rules.JetStreamScheduler{JS: b.JS, Partitions: b.Partitions(), MaxPending: cfg.Workers.MaxPendingRechecks})}
			kv, err := bus.ProvisionDoneBucket(ctx, b.JS, cfg.NATS.Replicas, logger)
			if err != nil {
				return err
			}
			opts = append(opts, rules.WithDoneStore(rules.KVDoneStore{KV: kv}))
			replayer := rules.NewEngine(engine.Rules(), clients, counter, opts...)

			subject := event.SubjectPrefix + ".>"
			start := from
			var events, failed int
			errs := map[string]int{}
			err = bus.ReadAll(ctx, b.JS, bus.EventsStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
			}, func(m jetstream.Msg) error {
				ev, err := event.Unmarshal(m.Data())
				if err != nil || ev.Source == event.SourceRecheck || (chat != "" && ev.ChatID != chat) {
					return nil
				}
				events++
				if herr := replayer.Handle(ctx, ev); herr != nil {
					failed++
					errs[oneLineText(herr.Error())]++
				}
				if events%500 == 0 {
					fmt.Fprintf(e.stderr, "replayed %d events...\n", events)
				}
				return ctx.Err()
			})
			if err != nil {
				return err
			}
			mode := ""
			if dryRun {
				mode = " (dry run)"
			}
			fmt.Fprintf(e.stdout, "replayed %s since %s through %s%s\n", quantity(events, "event", "events"), from.Format(time.RFC3339),
				quantity(replayer.Rules().Len(), "rule", "rules"), mode)
			outcomes := make([]string, 0, len(counter.counts))
			for o := range counter.counts {
				outcomes = append(outcomes, o)
			}
			sort.Strings(outcomes)
			for _, o := range outcomes {
				fmt.Fprintf(e.stdout, "  %-10s %d\n", o, counter.counts[o])
			}
			if failed > 0 {
				fmt.Fprintf(e.stdout, "%s failed:\n", quantity(failed, "event", "events"))
				for msg, n := range errs {
					fmt.Fprintf(e.stdout, "  %dx %s\n", n, msg)
				}
				return fmt.Errorf("%d of %s failed; see `chatwarden audit --since %s`", failed, quantity(events, "event", "events"), since)
			}
			_, err = fmt.Fprintf(e.stdout, "details: chatwarden audit --since %s\n", since)
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&since, "since", "", "replay events stored since a duration ago (24h, 7d) or a time (RFC 3339)")
	cmd.Flags().StringVar(&rule, "rule", "", "run only this rule")
	cmd.Flags().StringVar(&chat, "chat", "", "only events of this chat")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "record what the rules would do; call no API")
	return cmd
}
