package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
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
			return serve(cmd.Context(), cfg, logger, service.Roles{Receive: receive, Work: work})
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	if work {
		cmd.Flags().BoolVar(&dryRun, "dry-run", false, "record what rules would do without calling platform APIs (overrides workers.dry_run)")
	}
	return cmd
}

// serve runs the service until ctx ends or the HTTP server fails, then stops
// it gracefully within http.shutdown_timeout.
func serve(ctx context.Context, cfg *config.Config, logger *zap.Logger, roles service.Roles) error {
	svc, err := service.Start(ctx, cfg, roles, service.WithLogger(logger))
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err = <-svc.Err():
			break wait
		case <-hup:
			logger.Info("SIGHUP: reloading the rule file")
			svc.ReloadRules()
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, svc.Stop(sctx))
}
