package service

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/examples"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/rules"
)

// LoadRules loads cfg.RulesFile, or the built-in examples when it is empty
// (builtIn is then true: they must run in dry run).
func LoadRules(cfg *config.Config, handlers *rules.Registry) (set *rules.RuleSet, builtIn bool, err error) {
	if handlers == nil {
		handlers = rules.DefaultRegistry()
	}
	if cfg.RulesFile == "" {
		set, err = rules.LoadBytes(examples.Rules, examples.RulesSource, rules.DefaultActions(), handlers)
		return set, true, err
	}
	set, err = rules.LoadFile(cfg.RulesFile, rules.DefaultActions(), handlers)
	if err != nil {
		return nil, false, fmt.Errorf("rules_file: %w", err)
	}
	return set, false, nil
}

// NewEngine builds the rules engine of a worker: the configured rules, the
// platform clients, audit records, re-checks scheduled in JetStream and the
// JetStream record of performed actions. With no rules_file it runs the
// built-in examples in dry run, and says so.
func NewEngine(ctx context.Context, cfg *config.Config, b *bus.Bus, clients rules.Clients, logger *zap.Logger,
	m *metrics.Metrics, handlers *rules.Registry) (*rules.Engine, error) {
	set, builtIn, err := LoadRules(cfg, handlers)
	if err != nil {
		return nil, err
	}
	dryRun := cfg.Workers.DryRun
	if builtIn {
		dryRun = true
		logger.Warn("no rules_file configured: running the built-in example rules in dry run; decisions are audited, nothing is changed. Set rules_file to act.",
			zap.Int("rules", set.Len()))
	} else {
		logger.Info("rules loaded", zap.String("rules_file", cfg.RulesFile), zap.Int("rules", set.Len()), zap.Bool("dry_run", dryRun))
	}
	kv, err := bus.ProvisionDoneBucket(ctx, b.JS, cfg.NATS.Replicas)
	if err != nil {
		return nil, err
	}
	opts := []rules.EngineOption{
		rules.WithDryRun(dryRun), rules.WithLogger(logger), rules.WithMetrics(m),
		rules.WithScheduler(rules.JetStreamScheduler{JS: b.JS, Partitions: b.Partitions()}),
		rules.WithDoneStore(rules.KVDoneStore{KV: kv}),
	}
	if handlers != nil {
		opts = append(opts, rules.WithHandlers(handlers))
	}
	return rules.NewEngine(set, clients, audit.Writer{JS: b.JS}, opts...), nil
}
