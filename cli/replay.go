package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
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

// countingAuditor stores records and notes the outcomes of the event being
// replayed, so that each event lands in exactly one bucket of the summary.
type countingAuditor struct {
	next    rules.Auditor
	current []string
}

func (c *countingAuditor) Write(ctx context.Context, rec audit.Record) error {
	if err := c.next.Write(ctx, rec); err != nil {
		return err
	}
	c.current = append(c.current, rec.Outcome)
	return nil
}

// take returns the outcomes recorded since the last take and forgets them.
func (c *countingAuditor) take() []string {
	out := c.current
	c.current = nil
	return out
}

// noRule is the bucket of an event that no rule's on: matched (no record).
const noRule = "no_rule"

// replayBuckets are the summary's buckets, strongest first: an event whose
// rules had several outcomes counts once, under the first of them here.
var replayBuckets = []string{audit.Failed, audit.Acted, audit.DryRun, audit.Scheduled, audit.Skipped, noRule}

// eventBucket is the one bucket an event counts in: failed when handling it
// failed, else the strongest outcome among its records, else noRule.
func eventBucket(outcomes []string, failed bool) string {
	if failed {
		return audit.Failed
	}
	for _, b := range replayBuckets {
		if slices.Contains(outcomes, b) {
			return b
		}
	}
	if len(outcomes) > 0 {
		return outcomes[0] // an outcome this summary does not know yet
	}
	return noRule
}

// writeReplayCounts prints the non-empty buckets in replayBuckets order
// (unknown ones after, sorted) and their total, which is the number of
// events replayed.
func writeReplayCounts(w io.Writer, counts map[string]int) {
	names := slices.Clone(replayBuckets)
	extra := make([]string, 0)
	total := 0
	for b, n := range counts {
		total += n
		if !slices.Contains(replayBuckets, b) {
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
			counter := &countingAuditor{next: audit.Writer{JS: b.JS}}
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
			buckets := map[string]int{}
			err = bus.ReadAll(ctx, b.JS, bus.EventsStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
			}, func(m jetstream.Msg) error {
				ev, err := event.Unmarshal(m.Data())
				if err != nil || ev.Source == event.SourceRecheck || (chat != "" && ev.ChatID != chat) {
					return nil
				}
				events++
				herr := replayer.Handle(ctx, ev)
				if herr != nil {
					failed++
					errs[oneLineText(herr.Error())]++
				}
				buckets[eventBucket(counter.take(), herr != nil)]++
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
			writeReplayCounts(e.stdout, buckets)
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
