package chaos_test

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/chatwarden/chatwarden/cli"
)

var (
	longFlag     = flag.Bool("chaos.long", false, "run the long form of TestChaos (also: CHATWARDEN_CHAOS=long)")
	seedFlag     = flag.Uint64("chaos.seed", 0, "random seed of the run (0: a new one, printed)")
	logLevelFlag = flag.String("chaos.loglevel", "warn", "log level of the chatwarden processes under test (their logs are shown when a test fails)")
	drainFlag    = flag.Duration("chaos.drain", 0, "how long the workers may take to finish after the last webhook (0: the test's default)")
	logDirFlag   = flag.String("chaos.logdir", "", "keep the configuration and the logs of the processes under test in this directory (default: a temporary one, removed)")
)

// workerConfigEnv, when set, makes the test binary run `chatwarden work
// --config $value` instead of the tests: the chaos test starts its worker
// replicas this way, as real processes it can kill with SIGKILL.
const workerConfigEnv = "CHATWARDEN_CHAOS_WORKER_CONFIG"

// roleEnv names the command such a process runs instead of `work` (the
// partition test's receivers run `receive`).
const roleEnv = "CHATWARDEN_CHAOS_ROLE"

// natsNodeEnv, when set, makes the test binary run one NATS node as its
// value (JSON) describes it (see natsNodeSpec): the partition test's nodes
// are processes in their own network namespaces.
const natsNodeEnv = "CHATWARDEN_CHAOS_NATS_NODE"

func TestMain(m *testing.M) {
	if path := os.Getenv(workerConfigEnv); path != "" {
		os.Exit(runWorker(path))
	}
	if spec := os.Getenv(natsNodeEnv); spec != "" {
		os.Exit(runNATSNode(spec))
	}
	os.Exit(m.Run())
}

// runWorker is what cmd/chatwarden's main does, for `work` (or the command
// roleEnv names).
func runWorker(configPath string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	role := os.Getenv(roleEnv)
	if role == "" {
		role = "work"
	}
	return cli.ExitCode(cli.Run(ctx, []string{role, "--config", configPath}, os.Getenv, os.Stdout, os.Stderr))
}

// longForm reports whether the long form of the chaos test was asked for.
func longForm() bool { return *longFlag || os.Getenv("CHATWARDEN_CHAOS") == "long" }
