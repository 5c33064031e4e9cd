package bus_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
)

// atOnce bounds how long a refused second opener may take: it must not wait
// for the holder (generous for CI with -race on 2 cores).
const atOnce = 5 * time.Second

func TestDataDirLockedWhileInUse(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
	first := open(t, config.NATS{DataDir: dir, Listen: listen})

	tests := []struct {
		name string
		open func() (*bus.Bus, error)
	}{
		{"second Open on another port", func() (*bus.Bus, error) {
			return bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))})
		}},
		{"second Open without listener", func() (*bus.Bus, error) {
			return bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: "off"})
		}},
		{"operator whose nats.listen differs from the service's", func() (*bus.Bus, error) {
			return bus.OpenForOperator(context.Background(), config.NATS{DataDir: dir, Listen: fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			b, err := tt.open()
			if err == nil {
				_ = b.Close(context.Background())
			}
			require.ErrorIs(t, err, bus.ErrDataDirLocked)
			assert.Less(t, time.Since(start), atOnce, "fails at once")
			msg := err.Error()
			assert.Contains(t, msg, dir)
			assert.Contains(t, msg, "process "+strconv.Itoa(os.Getpid()))
			assert.Contains(t, msg, "set nats.listen to "+listen)
		})
	}

	_, err := first.Publish(context.Background(), testEvent("C1"))
	require.NoError(t, err, "the holder is unaffected")
	require.NoError(t, first.Close(context.Background()))
	again := open(t, config.NATS{DataDir: dir, Listen: "off"})
	_, err = again.Publish(context.Background(), testEvent("C2"))
	require.NoError(t, err, "the lock is released on Close")
}

func TestDataDirLockHolderWithoutListener(t *testing.T) {
	dir := t.TempDir()
	open(t, config.NATS{DataDir: dir, Listen: "off"})
	_, err := bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: "off"})
	require.ErrorIs(t, err, bus.ErrDataDirLocked)
	assert.Contains(t, err.Error(), "no listener")
	assert.Contains(t, err.Error(), "process "+strconv.Itoa(os.Getpid()))
}

// TestDataDirLockHelperProcess is not a test: TestDataDirLockDiesWithHolder
// runs the test binary with it to hold a data directory's lock in another
// process.
func TestDataDirLockHelperProcess(t *testing.T) {
	dir := os.Getenv("CHATWARDEN_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	b, err := bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: "off"})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer func() { _ = b.Close(context.Background()) }()
	fmt.Println("locked")
	select {} // until killed
}

func TestDataDirLockDiesWithHolder(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDataDirLockHelperProcess$")
	cmd.Env = append(os.Environ(), "CHATWARDEN_LOCK_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = bus.Open(context.Background(), config.NATS{DataDir: dir, Listen: "off"})
	require.ErrorIs(t, err, bus.ErrDataDirLocked)
	assert.Contains(t, err.Error(), "process "+strconv.Itoa(cmd.Process.Pid), "names the other process")

	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no cleanup runs
	_ = cmd.Wait()
	left, err := os.ReadFile(filepath.Join(dir, bus.LockFile))
	require.NoError(t, err)
	require.Contains(t, string(left), strconv.Itoa(cmd.Process.Pid), "the dead holder's lock file stays behind")

	b := open(t, config.NATS{DataDir: dir, Listen: "off"})
	_, err = b.Publish(context.Background(), testEvent("C1"))
	require.NoError(t, err, "a lock file left by a dead process does not block")
}
