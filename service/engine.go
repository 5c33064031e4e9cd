package service

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/examples"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/sweep"
)

// LoadRules loads cfg.RulesFile, or the built-in examples when it is empty
// (builtIn is then true: they must run in dry run). An `on` action this
// version does not know is a warning here, not an error (see
// rules.AllowUnknownActions): a service that ran yesterday's file keeps
// starting, and a platform's new action can be used before chatwarden
// lists it; `chatwarden rules check` is where it fails. Steps may use the
// actions of every registered platform (platform.Actions).
func LoadRules(cfg *config.Config, handlers *rules.Registry) (set *rules.RuleSet, builtIn bool, err error) {
	if handlers == nil {
		handlers = rules.DefaultRegistry()
	}
	if cfg.RulesFile == "" {
		set, err = rules.LoadBytes(examples.Rules, examples.RulesSource, platform.Actions(), handlers)
		return set, true, err
	}
	set, err = rules.LoadFile(cfg.RulesFile, platform.Actions(), handlers, rules.AllowUnknownActions())
	if err != nil {
		return nil, false, fmt.Errorf("rules_file: %w", err)
	}
	return set, false, nil
}

// NewEngine builds the rules engine of a worker: the configured rules, the
// platform clients, audit records, re-checks scheduled in JetStream and the
// JetStream record of performed actions; Go handlers' c.Do runs the actions
// of every registered platform. With no rules_file it runs the
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
		rules.LogWarnings(logger, cfg.RulesFile, set)
	}
	kv, err := bus.ProvisionDoneBucket(ctx, b.JS, cfg.NATS.Replicas, logger)
	if err != nil {
		return nil, err
	}
	opts := []rules.EngineOption{
		rules.WithDryRun(dryRun), rules.WithLogger(logger), rules.WithMetrics(m),
		rules.WithScheduler(rules.JetStreamScheduler{JS: b.JS, Partitions: b.Partitions(), MaxPending: cfg.Workers.MaxPendingRechecks}),
		rules.WithDoneStore(rules.KVDoneStore{KV: kv}), rules.WithActions(platform.Actions()), rules.WithPlatforms(platform.Hooks()),
	}
	if handlers != nil {
		opts = append(opts, rules.WithHandlers(handlers))
	}
	return rules.NewEngine(set, clients, audit.Writer{JS: b.JS}, opts...), nil
}

// sweepMiddleware gives the workers the backlog sweep (package sweep): the
// built-in rule of swept chats, run by an engine of its own with the same
// clients, audit records and dry run as engine, unless the rule file in
// force has its own rule for them (checked at every event, so reloads count);
// and the scheduled sweeps of sweep.schedule, whose JetStream schedule it
// stores, replaces or removes here.
func sweepMiddleware(ctx context.Context, cfg *config.Config, b *bus.Bus, clients rules.Clients, engine *rules.Engine,
	logger *zap.Logger, m *metrics.Metrics) ([]consumer.Middleware, error) {
	set, err := sweep.BuiltinRuleSet(engine.Actions())
	if err != nil {
		return nil, err
	}
	builtin := rules.NewEngine(set, clients, audit.Writer{JS: b.JS}, rules.WithActions(engine.Actions()), rules.WithPlatforms(platform.Hooks()),
		rules.WithDryRun(cfg.Workers.DryRun || cfg.RulesFile == ""), rules.WithLogger(logger), rules.WithMetrics(m))
	sc := cfg.Sweep
	done, err := sweep.ApplySchedule(ctx, b.JS, b.Partitions(), sweep.Schedule{Spec: sc.Schedule, MaxRate: sc.MaxRate,
		Params: sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: sc.OlderThan, Groups: sc.Groups, Limit: sc.Limit}})
	if err != nil {
		return nil, fmt.Errorf("sweep.schedule: %w", err)
	}
	if done != "" {
		logger.Info("sweep schedule "+done, zap.String("schedule", sc.Schedule), zap.Duration("older_than", sc.OlderThan))
	}
	return []consumer.Middleware{sweep.WithBuiltinRule(engine.Rules, builtin), sweep.Ticks(clients, b, logger)}, nil
}
