package cli

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
)

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
