package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/internal/gctune"
	"github.com/chatwarden/chatwarden/service"
)

// serveCmd builds `serve`, `receive` and `work`: the same service with
// different roles.
func serveCmd(e *env, name, short string, receive, work bool) *cobra.Command {
	var (
		cfgPath string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long: short + ".\n\nRuns until interrupted (SIGINT/SIGTERM), then shuts down gracefully: it stops taking\n" +
			"HTTP requests, finishes the events in hand and drains NATS, within http.shutdown_timeout.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := e.loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("dry-run") {
				cfg.Workers.DryRun = dryRun
			}
			logger, err := e.newLogger(cfg.Log)
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			gc, err := gctune.FromEnv(e.getenv)
			if err != nil {
				return err
			}
			defer gctune.Start(gc, logger)()
			if vars := cfg.EnvOverrides(); len(vars) > 0 {
				logger.Info("settings from the environment, over the configuration file", zap.Strings("variables", vars))
			}
			return serve(cmd.Context(), cfg, logger, service.Roles{Receive: receive, Work: work})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	if work {
		cmd.Flags().BoolVar(&dryRun, "dry-run", false, "record what rules would do without calling platform APIs (overrides workers.dry_run)")
	}
	return cmd
}

// Restarting the service in-process after its broker connection was closed
// for good (bus.ErrConnectionLost): at most maxRestarts within
// restartWindow, each start bounded by restartTimeout. Beyond that serve
// fails (exit 1) and the process supervisor restarts the process.
const (
	maxRestarts    = 3
	restartWindow  = 10 * time.Minute
	restartTimeout = time.Minute
)

// serve runs the service until ctx ends or the HTTP server fails, then stops
// it gracefully within http.shutdown_timeout.
//
// A broker connection closed for good (the server dropped it for a protocol
// error, which nats.go never reconnects after) cannot be mended inside the
// service: every stream, consumer and bucket handle was made from it. serve
// then stops the service and starts a new one on a new connection, logging
// why; /healthz answers 503 meanwhile. When the new start fails within
// restartTimeout, or the connection is lost more than maxRestarts times
// within restartWindow, serve returns the error.
func serve(ctx context.Context, cfg *config.Config, logger *zap.Logger, roles service.Roles) error {
	return runService(ctx, cfg, logger, func(ctx context.Context) (*service.Service, error) {
		svc, err := service.Start(ctx, cfg, roles, service.WithLogger(logger))
		if err == nil {
			svc.Metrics().SetBuildInfo(buildInfo()) // with the -ldflags version, which metrics cannot see
		}
		return svc, err
	})
}

func runService(ctx context.Context, cfg *config.Config, logger *zap.Logger, start func(context.Context) (*service.Service, error)) error {
	svc, err := start(ctx)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stop := func(svc *service.Service) error {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		return svc.Stop(sctx)
	}
	var restarts []time.Time
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err = <-svc.Err():
			if !errors.Is(err, bus.ErrConnectionLost) {
				break wait
			}
			restarts = append(slices.DeleteFunc(restarts, func(at time.Time) bool { return time.Since(at) > restartWindow }), time.Now())
			if len(restarts) > maxRestarts {
				err = fmt.Errorf("%w; lost %s within %s, giving up so that the process is restarted", err, quantity(len(restarts), "time", "times"), restartWindow)
				break wait
			}
			logger.Error("the broker connection is closed for good; restarting the service on a new connection", zap.Error(err))
			if serr := stop(svc); serr != nil {
				logger.Warn("stopping the service whose broker connection was lost", zap.Error(serr))
			}
			rctx, cancel := context.WithTimeout(ctx, restartTimeout)
			svc, err = start(rctx)
			cancel()
			if err != nil && ctx.Err() != nil {
				return nil // asked to stop while starting again
			}
			if err != nil {
				return fmt.Errorf("starting the service again after its broker connection was closed for good (within %s): %w", restartTimeout, err)
			}
			logger.Info("service restarted on a new broker connection")
		case <-hup:
			logger.Info("SIGHUP: reloading the rule file")
			svc.ReloadRules()
		}
	}
	return errors.Join(err, stop(svc))
}
