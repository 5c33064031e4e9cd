package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serve is chatwarden serve in a child process.
type serve struct {
	cmd        *exec.Cmd
	webhookURL string
	adminURL   string
	done       chan struct{}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startServe(ctx context.Context, dir, apiURL string) (*serve, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("rules:\n  - name: bench-tag\n    on: [livechat.incoming_chat]\n    then:\n      - livechat.tag_thread: {tag: bench}\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "chatwarden.yaml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`http: {addr: "127.0.0.1:%d"}
admin: {addr: "127.0.0.1:%d", token: %q}
nats: {listen: "127.0.0.1:%d", data_dir: %q}
livechat:
  api_url: %q
  webhook_secrets: [%q]
  pat: {account_id: "a", token: "t"}
rules_file: %q
log: {level: warn}
`, ports[0], ports[1], adminTok, ports[2], filepath.Join(dir, "data"), apiURL, secret, rules)), 0o600)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, childArg, cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serve{cmd: cmd, done: make(chan struct{}),
		webhookURL: fmt.Sprintf("http://127.0.0.1:%d/webhooks/livechat", ports[0]),
		adminURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	go func() { _ = cmd.Wait(); close(s.done) }()
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[0])
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("serve exited at start: %s", strings.TrimSpace(stderr.String()))
		default:
		}
		if resp, err := http.Get(ready); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("serve not ready within 60s: %s", strings.TrimSpace(stderr.String()))
}

func (s *serve) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// cpu is the child's user+system CPU time so far, from /proc.
func (s *serve) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// cpuProfile fetches serve's CPU profile over d into path.
func (s *serve) cpuProfile(ctx context.Context, path string, d time.Duration) error {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.adminURL, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
