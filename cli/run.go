// Package cli is the chatwarden command line: every subcommand, behind one
// entry point, Run. cmd/chatwarden calls it; so does any binary that adds its
// own rule handlers (see examples/custom-rule).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/internal/buildinfo"
)

// Version is set at build time with
// -ldflags "-X github.com/chatwarden/chatwarden/cli.Version=..." (the
// Dockerfile does). Left at "dev", the version is the one the Go toolchain
// stamped into the binary (a tag, or a pseudo-version from the VCS revision);
// see buildInfo.
var Version = "dev"

// buildInfo describes the running binary: Version when set by -ldflags,
// else the main module's version, with the VCS revision, its time and
// whether the tree was modified, and the Go version.
func buildInfo() buildinfo.Info { return buildinfo.Read(Version) }

// usageError marks bad usage (unknown command or flag, wrong arguments):
// exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// ExitCode maps Run's error to the process exit status: 0 success, 2 bad
// usage, 1 anything else.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// env is what every subcommand receives from run.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// Run is the whole program: it parses args and runs the subcommand until it
// finishes or ctx ends. It never exits the process and reads the environment
// only through getenv.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "chatwarden",
		Short:         "Keep live-chat inboxes clean by policy",
		Long:          "chatwarden receives LiveChat, HelpCrunch and Rocket.Chat webhooks, stores them durably in NATS\nJetStream, and applies policy rules through each platform's API (unpin abandoned Unassigned\nchats, set statuses, close rooms). Start with `chatwarden demo`.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for chatwarden; see chatwarden --help", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{errors.New("a subcommand is required")}
		},
	}
	info := buildInfo()
	root.Version = info.Version // adds --version (and -v), printing the same text as `version`
	root.SetVersionTemplate(strings.ReplaceAll(info.String(), "{{", `{{"{{"}}`))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w; see %s --help", err, cmd.CommandPath())}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		serveCmd(e, "serve", "Receive webhooks and run the workers in one process", true, true),
		serveCmd(e, "receive", "Receive webhooks only (store them in JetStream)", true, false),
		serveCmd(e, "work", "Run the workers only (apply policy to stored events)", false, true),
		newCmdDemo(e, nil),
		healthcheckCmd(e),
		dlqCmd(e),
		rulesCmd(e),
		auditCmd(e),
		newCmdReplay(e, nil),
		sweepCmd(e),
		webhooksCmd(e),
		chatsCmd(e),
		versionCmd(e),
		configCmd(e),
	)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "chatwarden: %v\n", err)
	}
	return err
}

// noArgs rejects positional arguments as bad usage.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

// addConfigFlag adds --config, defaulting to $CHATWARDEN_CONFIG.
func (e *env) addConfigFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "config", e.getenv("CHATWARDEN_CONFIG"),
		"configuration file (YAML; default $CHATWARDEN_CONFIG; without one, built-in defaults apply)")
}

// loadConfig loads the configuration file, or the defaults without one.
func (e *env) loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path, e.getenv)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// newLogger builds the process logger from log.level and log.format,
// writing to stderr.
func (e *env) newLogger(c config.Log) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(e.stderr), level)
	return zap.New(core).With(zap.String("version", buildInfo().Version)), nil
}

func versionCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version",
		Long: "Print the version (set at build time with -ldflags, else the module version the Go toolchain\n" +
			"stamped), the VCS revision with its commit time and whether the tree had uncommitted changes\n" +
			"(\"(modified)\"), and the Go version and platform. `chatwarden --version` prints the same.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := io.WriteString(e.stdout, buildInfo().String())
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath) // accepted like everywhere; version needs no configuration
	return cmd
}
