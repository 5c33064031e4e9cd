package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatwarden/chatwarden/internal/procstat"
)

// child is a target serving in a child process.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// childSettings are the environment variables that carry the chatwarden
// targets' settings to a child.
func (o options) childSettings() []string {
	var env []string
	if o.maxInflight > 0 {
		env = append(env, maxInflightEnv+"="+strconv.Itoa(o.maxInflight))
	}
	if o.partitions > 0 {
		env = append(env, partitionsEnv+"="+strconv.Itoa(o.partitions))
	}
	if o.dupWindow > 0 {
		env = append(env, dupWindowEnv+"="+o.dupWindow.String())
	}
	if o.maxMemory > 0 {
		env = append(env, maxMemoryEnv+"="+strconv.FormatInt(o.maxMemory, 10))
	}
	return env
}

func startChild(ctx context.Context, target, profile string, withTrace bool, settings []string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-serve", target)
	cmd.Env = os.Environ()
	if profile != "" {
		cmd.Env = append(cmd.Env, profileEnv+"="+profile)
		if withTrace {
			cmd.Env = append(cmd.Env, traceEnv+"=1")
		}
	}
	cmd.Env = append(cmd.Env, settings...)
	stderr := &headBuffer{max: 4096}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			c.url = "http://" + addr + "/webhooks/livechat"
			break
		}
	}
	if c.url == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%s child did not report its address: %s", target, msg)
		}
		return nil, fmt.Errorf("%s child did not report its address", target)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// headBuffer keeps the first max bytes written to it and drops the rest, so a
// child's error reaches the report without a chatty child growing it.
type headBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}

func (c *child) rss() int64 { return procstat.Resident(c.cmd.Process.Pid) }

func (c *child) rssAfter(d time.Duration) int64 {
	time.Sleep(d)
	return c.rss()
}

// sampleRSS samples resident memory every 100ms until the returned function
// is called; it returns the peak.
func (c *child) sampleRSS() func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if r := c.rss(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); <-done; return peak.Load() }
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
