package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/internal/demo"
)

// DemoOptions are what `chatwarden demo` runs with.
type DemoOptions struct {
	Ctx     context.Context
	Out     io.Writer
	Logger  func(verbose bool) (*zap.Logger, error)
	Verbose bool
	Keep    bool
	Chats   int
}

// newCmdDemo builds `chatwarden demo`; runF, when set, runs instead of
// demoRun (tests check the options).
func newCmdDemo(e *env, runF func(*DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{Out: e.stdout, Logger: func(verbose bool) (*zap.Logger, error) {
		level := zap.WarnLevel
		if verbose {
			level = zap.InfoLevel
		}
		return e.newLogger(config.Log{Level: level.String(), Format: "console"})
	}}
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop against a built-in fake LiveChat and print what happened",
		Long: "demo starts chatwarden with an embedded NATS server in a temporary directory and a fake\n" +
			"LiveChat API in the same process, posts a few sample webhooks, and prints what was\n" +
			"received, stored, decided and called. It needs no account and changes nothing outside\n" +
			"its temporary directory.\n\n" +
			"With --keep it then stays up as a sandbox: the fake holds a few hundred Unassigned chats\n" +
			"(--chats) and one dead letter, and demo prints the configuration file it wrote and\n" +
			"commands to try against it (sweep, audit, dlq, webhooks, rules, replay, the console, a\n" +
			"curl that posts a webhook), until Ctrl-C or SIGTERM; then it stops and removes the directory.",
		Example: "  chatwarden demo\n  chatwarden demo --keep",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ctx = cmd.Context()
			if cmd.Flags().Changed("chats") && (opts.Chats < 1 || opts.Chats > maxDemoChats) {
				return usageError{fmt.Errorf("--chats must be between 1 and %d, got %d", maxDemoChats, opts.Chats)}
			}
			if runF != nil {
				return runF(opts)
			}
			return demoRun(opts)
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "also print the service's own log lines")
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "leave the service and the fake LiveChat running, and print the commands to try, until Ctrl-C")
	cmd.Flags().IntVar(&opts.Chats, "chats", demo.DefaultChats, "with --keep: how many Unassigned chats the fake LiveChat holds")
	return cmd
}

// maxDemoChats bounds --chats: the fake keeps every chat in memory.
const maxDemoChats = 100000

func demoRun(opts *DemoOptions) error {
	logger, err := opts.Logger(opts.Verbose)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	return demo.Run(opts.Ctx, demo.Options{Out: opts.Out, Logger: logger, Keep: opts.Keep, Chats: opts.Chats})
}
