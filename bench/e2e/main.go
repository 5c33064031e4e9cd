// Command e2e measures chatwarden end to end as users feel it: a webhook
// offered at a fixed rate, stored, handed to a rule, and the rule's action
// arriving at the platform API. It runs `chatwarden serve` (embedded NATS,
// one rule: tag the thread of every incoming_chat) in a child process (this
// binary again), against an in-process stand-in of the LiveChat API that
// notes when each chat's tag_thread call arrives, on 127.0.0.1 only, bounded
// in time, and stops by itself.
//
// Latency is measured from when a webhook was due (not when it was sent, so
// a slow answer cannot hide the wait behind it) to when the API received the
// action: p50, p90, p99 and max over the webhooks accepted during the
// measured phase. Printed beside it: the webhook answers' latency, what was
// offered, accepted and applied, serve's CPU per applied webhook, and the
// p50/p99 that serve's own chatwarden_webhook_to_action_seconds histogram
// reports (bucket-resolution estimates from its /metrics).
//
//	go build -o /tmp/cwe2e ./bench/e2e && /tmp/cwe2e -rate 1000 -duration 10s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/samples"
)

const (
	secret   = "e2e-secret"
	adminTok = "e2e-admin-token"
	childArg = "-serve-child"
)

func main() {
	serveIfChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

// serveIfChild runs `chatwarden serve` and exits when this process is the
// benchmark's child (main, and TestMain for the test binary).
func serveIfChild() {
	if len(os.Args) != 3 || os.Args[1] != childArg {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.ExitCode(cli.Run(ctx, []string{"serve", "--config", os.Args[2]}, os.Getenv, os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

type options struct {
	rate     int
	duration time.Duration
	warmup   time.Duration
	conns    int
	drain    time.Duration
	profile  string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.rate, "rate", 1000, "webhooks offered per second")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured phase (at most 5m)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "offered at the same rate before measuring, not counted")
	fs.IntVar(&o.conns, "conns", 64, "connections offering the webhooks")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "at most this long to wait for the accepted webhooks' actions after the load")
	fs.StringVar(&o.profile, "profile", "", "write serve's CPU profile of the measured phase to this file (from its /debug/pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rate <= 0 || o.conns <= 0 || o.duration <= 0 || o.duration > 5*time.Minute || o.warmup < 0 {
		return errors.New("-rate and -conns must be positive, -duration in (0, 5m], -warmup not negative")
	}

	sink := newSink()
	api := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = api.Serve(apiLn) }()
	defer api.Close()

	dir, err := os.MkdirTemp("", "cw-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startServe(ctx, dir, "http://"+apiLn.Addr().String())
	if err != nil {
		return err
	}
	defer srv.stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns}, Timeout: 30 * time.Second}
	gen := &generator{url: srv.webhookURL, client: client, sink: sink}
	warmApplied := 0
	if o.warmup > 0 {
		warm := gen.offer(ctx, "w", o.rate, o.warmup, o.conns)
		warmApplied = len(warm.accepted)
	}
	cpu0 := srv.cpu()
	start := time.Now()
	profiled := make(chan error, 1)
	if o.profile != "" {
		go func() { profiled <- srv.cpuProfile(ctx, o.profile, o.duration) }()
	} else {
		profiled <- nil
	}
	res := gen.offer(ctx, "m", o.rate, o.duration, o.conns)
	loadEnd := time.Now()
	applied := sink.waitFor(ctx, res.acceptedChats(), o.drain)
	cpu := srv.cpu() - cpu0
	// The engine observes an action once its call returned, a moment after
	// the stand-in saw it: read until every applied action is counted.
	var hist histogram
	var herr error
	want := int64(applied + warmApplied)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hist, herr = srv.scrapeLatency()
		if herr == nil && hist.count >= want || time.Now().After(deadline) {
			break
		}
	}

	fmt.Fprintf(out, "end to end: chatwarden serve, one rule (livechat.tag_thread on incoming_chat), %d webhooks/s offered for %s on %d connections\n",
		o.rate, o.duration, o.conns)
	fmt.Fprintf(out, "offered   %d\naccepted  %d (other answers %d, errors %d)\napplied   %d of the accepted (waited %s after the load)\n",
		res.offered, len(res.accepted), res.rejected, res.errors, applied, time.Since(loadEnd).Round(time.Millisecond))
	lat := res.latencies(sink)
	fmt.Fprintf(out, "webhook due -> action at the API:  p50 %s  p90 %s  p99 %s  max %s  (%d measured)\n",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100), len(lat))
	slices.Sort(res.answers)
	fmt.Fprintf(out, "webhook due -> 200 answer:         p50 %s  p90 %s  p99 %s  max %s\n",
		pct(res.answers, 50), pct(res.answers, 90), pct(res.answers, 99), pct(res.answers, 100))
	if applied > 0 {
		fmt.Fprintf(out, "serve CPU   %.2f s in %s: %.0f us per applied webhook\n", cpu.Seconds(), time.Since(start).Round(time.Millisecond),
			float64(cpu.Microseconds())/float64(applied))
	}
	if herr != nil {
		fmt.Fprintf(out, "serve's histogram: not read: %v\n", herr)
	} else {
		fmt.Fprintf(out, "serve's chatwarden_webhook_to_action_seconds (bucket estimates, warm-up included): p50 <= %s  p99 <= %s  (%d observed)\n",
			hist.quantile(0.5), hist.quantile(0.99), hist.count)
	}
	if err := <-profiled; err != nil {
		return fmt.Errorf("profiling serve: %w", err)
	}
	if o.profile != "" {
		fmt.Fprintf(out, "CPU profile of serve: %s (go tool pprof -top %s)\n", o.profile, o.profile)
	}
	if applied < len(res.accepted) {
		return fmt.Errorf("%d accepted webhooks were not applied within %s", len(res.accepted)-applied, o.drain)
	}
	return nil
}

// sink stands in for the LiveChat API: every call answers {} at once;
// tag_thread calls are noted by chat id with their arrival time.
type sink struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	calls   atomic.Int64
	notify  chan struct{}
}

func newSink() *sink { return &sink{arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)} }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.calls.Add(1)
	if strings.HasSuffix(r.URL.Path, "/tag_thread") {
		var req struct {
			ChatID string `json:"chat_id"`
		}
		if json.Unmarshal(body, &req) == nil && req.ChatID != "" {
			s.mu.Lock()
			if _, seen := s.arrived[req.ChatID]; !seen {
				s.arrived[req.ChatID] = now
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (s *sink) at(chat string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[chat]
	return t, ok
}

// waitFor waits until every chat of chats had its action, or until no new
// action came for drain; it returns how many had.
func (s *sink) waitFor(ctx context.Context, chats []string, drain time.Duration) int {
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, c := range chats {
			if _, ok := s.arrived[c]; ok {
				n++
			}
		}
		return n
	}
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	for {
		n := count()
		if n == len(chats) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-deadline.C:
			return n
		case <-s.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// generator offers webhooks at a fixed rate, each due at its own time.
type generator struct {
	url    string
	client *http.Client
	sink   *sink
}

type result struct {
	offered, rejected, errors int
	accepted                  map[string]time.Time // chat -> when its webhook was due
	answers                   []time.Duration      // due -> 200, accepted ones
}

func (r *result) acceptedChats() []string {
	chats := make([]string, 0, len(r.accepted))
	for c := range r.accepted {
		chats = append(chats, c)
	}
	return chats
}

// latencies are due -> action for every accepted webhook whose action
// arrived, sorted.
func (r *result) latencies(s *sink) []time.Duration {
	var out []time.Duration
	for chat, due := range r.accepted {
		if at, ok := s.at(chat); ok {
			out = append(out, at.Sub(due))
		}
	}
	slices.Sort(out)
	return out
}

func (g *generator) offer(ctx context.Context, prefix string, rate int, d time.Duration, conns int) *result {
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	res := &result{accepted: map[string]time.Time{}}
	var mu sync.Mutex
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				chat := fmt.Sprintf("E2E%s%07d", prefix, i)
				body := samples.LiveChat("incoming_chat", secret, chat, "T"+chat)
				resp, err := g.client.Post(g.url, "application/json", bytes.NewReader(body))
				took := time.Since(due)
				mu.Lock()
				res.offered++
				switch {
				case err != nil:
					res.errors++
				case resp.StatusCode == http.StatusOK:
					res.accepted[chat] = due
					res.answers = append(res.answers, took)
				default:
					res.rejected++
				}
				mu.Unlock()
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	return res
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Round(10 * time.Microsecond).String()
}

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

// histogram is a cumulative Prometheus histogram read from /metrics.
type histogram struct {
	bounds []float64
	counts []float64
	count  int64
}

func (h histogram) quantile(q float64) string {
	if h.count == 0 {
		return "-"
	}
	target := q * float64(h.count)
	for i, c := range h.counts {
		if c >= target {
			if i < len(h.bounds) {
				return time.Duration(h.bounds[i] * float64(time.Second)).String()
			}
		}
	}
	return "+Inf"
}

func (s *serve) scrapeLatency() (histogram, error) {
	req, err := http.NewRequest(http.MethodGet, s.adminURL+"/metrics", nil)
	if err != nil {
		return histogram{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return histogram{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return histogram{}, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return histogram{}, err
	}
	return parseHistogram(string(body), "chatwarden_webhook_to_action_seconds")
}

// parseHistogram reads the buckets of name (summed over label sets other
// than le) from Prometheus text exposition.
func parseHistogram(text, name string) (histogram, error) {
	byBound := map[float64]float64{}
	var h histogram
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		if i < 0 || j < 0 {
			continue
		}
		le := line[i+4 : i+4+j]
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			return h, fmt.Errorf("bucket line %q: %w", line, err)
		}
		if le == "+Inf" {
			h.count += int64(v)
			continue
		}
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return h, fmt.Errorf("bucket bound %q: %w", le, err)
		}
		byBound[b] += v
	}
	if len(byBound) == 0 {
		return h, fmt.Errorf("%s not exported", name)
	}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	slices.Sort(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h, nil
}
