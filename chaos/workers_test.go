package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/service"
)

// worker is one worker replica under test.
type worker interface {
	Name() string
	// Label names the running instance (replica and start), as the fake's
	// call log shows it (see flakyAPI).
	Label() string
	// Start starts it and returns once it runs.
	Start()
	// Launch starts it without waiting; AwaitUp then waits until it runs.
	// Replicas launched together share the partitions.
	Launch()
	AwaitUp()
	// Kill ends it abruptly: no acknowledgement, no draining.
	Kill()
	// Stop shuts it down gracefully and reports whether it ended cleanly.
	Stop() error
	Running() bool
	// FailedStarts counts starts that ended before the worker was up (and
	// were tried again).
	FailedStarts() int
}

// procWorker is a worker replica as a real process: this test binary
// re-executed as `chatwarden work --config F` (see TestMain), so that Kill
// is a SIGKILL.
type procWorker struct {
	t         *testing.T
	name      string
	index     int
	configure func(start int) string // writes the configuration of a start, returns its path
	logPath   string
	httpURL   string
	starts    int
	failures  int // starts that ended before the worker was up
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error

	wrap []string // command prefix the process runs under (ip netns exec NS); none by default
	role string   // the chatwarden command it runs: "work" by default
}

func newProcWorker(t *testing.T, index int, name string, configure func(start int) string, logPath, httpURL string) *procWorker {
	w := &procWorker{t: t, index: index, name: name, configure: configure, logPath: logPath, httpURL: httpURL}
	t.Cleanup(func() {
		if w.Running() {
			w.Kill()
		}
	})
	return w
}

func (w *procWorker) Name() string      { return w.name }
func (w *procWorker) FailedStarts() int { return w.failures }
func (w *procWorker) Label() string     { return replicaLabel(w.index, w.starts) }

func (w *procWorker) Running() bool {
	if w.exited == nil {
		return false
	}
	select {
	case <-w.exited:
		return false
	default:
		return true
	}
}

// Start starts the process and waits until it serves HTTP, which `work`
// does once its workers run. A process that exits first is started again,
// as a supervisor would (at most 5 times).
func (w *procWorker) Start() {
	w.t.Helper()
	w.Launch()
	w.AwaitUp()
}

func (w *procWorker) Launch() {
	w.t.Helper()
	w.spawn()
}

func (w *procWorker) AwaitUp() {
	w.t.Helper()
	for try := 1; ; try++ {
		if w.waitUp() {
			return
		}
		w.failures++
		if try == 5 {
			w.t.Fatalf("worker %s did not start in 5 tries; see %s", w.name, w.logPath)
		}
		w.spawn()
	}
}

// waitUp waits until the process answers /healthz (true) or exits (false).
func (w *procWorker) waitUp() bool {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if !w.Running() {
			return false
		}
		if resp, err := client.Get(w.httpURL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.Kill()
	return false
}

func (w *procWorker) spawn() {
	w.t.Helper()
	w.starts++
	logf, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(w.t, err)
	fmt.Fprintf(logf, "=== %s: start %d at %s\n", w.name, w.starts, time.Now().Format(time.RFC3339Nano))
	args := append(append([]string(nil), w.wrap...), os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), workerConfigEnv+"="+w.configure(w.starts), roleEnv+"="+w.role)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		require.NoError(w.t, err, "starting worker process %s", w.name)
	}
	exited := make(chan struct{})
	go func() {
		w.exitErr = cmd.Wait()
		fmt.Fprintf(logf, "=== %s: exited at %s: %v\n", w.name, time.Now().Format(time.RFC3339Nano), w.exitErr)
		logf.Close()
		close(exited)
	}()
	w.cmd, w.exited = cmd, exited
}

func (w *procWorker) Kill() {
	if !w.Running() {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
}

func (w *procWorker) Stop() error {
	if !w.Running() {
		return fmt.Errorf("worker %s was not running", w.name)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(time.Minute):
		w.Kill()
		return fmt.Errorf("worker %s did not stop within a minute of SIGTERM", w.name)
	}
	var errs []error
	if w.exitErr != nil {
		errs = append(errs, fmt.Errorf("worker %s exited with %v", w.name, w.exitErr))
	}
	if log, err := os.ReadFile(w.logPath); err == nil && bytes.Contains(log, []byte("WARNING: DATA RACE")) {
		errs = append(errs, fmt.Errorf("worker %s: the race detector reported a data race (see %s)", w.name, w.logPath))
	}
	return errors.Join(errs...)
}

// replicaLabel names start number start of the index-th worker replica.
func replicaLabel(index, start int) string { return fmt.Sprintf("w%d-%d", index, start) }

// svcWorker is a worker replica in the test process (service.Start with the
// work role).
type svcWorker struct {
	t         *testing.T
	index     int
	name      string
	configure func(start int) *config.Config
	starts    int
	logger    *zap.Logger
	svc       *service.Service
}

func newSvcWorker(t *testing.T, index int, name string, configure func(start int) *config.Config, logger *zap.Logger) *svcWorker {
	w := &svcWorker{t: t, index: index, name: name, configure: configure, logger: logger}
	t.Cleanup(func() {
		if w.svc != nil {
			_ = w.Stop()
		}
	})
	return w
}

func (w *svcWorker) Name() string      { return w.name }
func (w *svcWorker) Label() string     { return replicaLabel(w.index, w.starts) }
func (w *svcWorker) Launch()           { w.Start() }
func (w *svcWorker) AwaitUp()          {}
func (w *svcWorker) Running() bool     { return w.svc != nil }
func (w *svcWorker) FailedStarts() int { return 0 }

func (w *svcWorker) Start() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.starts++
	svc, err := service.Start(ctx, w.configure(w.starts), service.Roles{Work: true}, service.WithLogger(w.logger.Named(w.name)))
	require.NoError(w.t, err, "starting worker %s", w.name)
	w.svc = svc
}

func (w *svcWorker) Kill() {
	if w.svc == nil {
		return
	}
	// As close to a crash as a process can do to itself: the connection
	// drops first, so nothing in flight is acknowledged.
	w.svc.Bus().Conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = w.svc.Stop(ctx)
	w.svc = nil
}

func (w *svcWorker) Stop() error {
	if w.svc == nil {
		return fmt.Errorf("worker %s was not running", w.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.svc.Stop(ctx)
	w.svc = nil
	return err
}
