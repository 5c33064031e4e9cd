// Command load measures the webhook receiver on 127.0.0.1, bounded in time
// and in requests, and stops by itself. Each target runs as a child process
// (this same binary) so its resident memory can be read; the load generator
// runs in the parent. Targets:
//
//   - chatwarden: `chatwarden serve` (receiver and workers, embedded NATS with
//     file storage, dedup on), posting to POST /webhooks/livechat;
//   - chatwarden-receive: `chatwarden receive` (the receiver role alone);
//   - reference: a minimal echo handler that reads the body and does a
//     synchronous JetStream publish with a message id per request (embedded
//     NATS, file storage);
//   - noop: an echo handler that reads the body and answers 200.
//
// Scenarios (each target, one after the other, same machine, same run):
//
//   - max: as fast as answered with -concurrency connections: req/s, latency;
//   - rate: an offered rate (-rate, default 5000/s) on 64 connections, each
//     on its own schedule, latency measured from when a request was due;
//   - overload: -overload-conns (default 1024) connections posting as fast as
//     answered, far beyond what can be stored: how much is accepted, how
//     fast, how much is shed with 503, and resident memory. All come from
//     127.0.0.1, standing for many senders: the chatwarden targets' caps per
//     client address are raised for it;
//   - stall: the stall attack of issue 18 while genuine webhooks are offered
//     at -attack-rate (default 200/s) on 8 connections from 127.0.1.1:
//     -attack-conns (default 300) connections from 127.0.0.1 and as many
//     from -attack-addrs (default 300) other loopback addresses each declare
//     a 1 MiB webhook, send one byte and nothing more, and are replaced a
//     second after the target lets them go. Reported: the genuine webhooks'
//     statuses and latency, and the stalled connections opened. Loopback
//     aliases other than 127.0.0.1 need Linux.
//
// Requests are ~3.4 KB incoming_chat webhooks with distinct chat ids and a
// valid secret. Runs of 10 s show the best case; runs of minutes (-duration,
// at most 15m) show the broker's deduplication state at its steady size, the
// message ids of nats.duplicate_window (-duplicate-window).
//
//	go build -o /tmp/cwload ./bench/load && /tmp/cwload -duration 10s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/procstat"
)

const secret = "load-secret"

type options struct {
	duration      time.Duration
	maxRequests   int
	concurrency   int
	rate          int
	overloadConns int
	targets       string
	scenarios     string
	serve         string        // child mode: serve this target
	profile       string        // directory for the children's CPU and heap profiles
	trace         bool          // with profile: execution traces too
	maxInflight   int           // http.max_inflight of the chatwarden targets; 0: the default
	partitions    int           // nats.partitions of the chatwarden targets; 0: the default
	dupWindow     time.Duration // nats.duplicate_window of the chatwarden targets; 0: the default
	maxMemory     int64         // http.max_memory_bytes of the chatwarden targets; 0: none
	source        *net.TCPAddr  // address the load connects from; nil: any
	attackConns   int           // stall: stalled connections from 127.0.0.1, and as many from attackAddrs others
	attackAddrs   int           // stall: addresses of the second group
	attackRate    int           // stall: genuine webhooks per second
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario loads each target (at most 15m, longer than the default nats.duplicate_window, whose message ids the broker keeps in memory)")
	fs.IntVar(&o.maxRequests, "requests", 1_000_000, "stop a scenario after this many requests (at most 5,000,000)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "connections in the max scenario")
	fs.IntVar(&o.rate, "rate", 5000, "offered requests per second in the rate scenario")
	fs.IntVar(&o.overloadConns, "overload-conns", 1024, "connections posting as fast as answered in the overload scenario")
	fs.StringVar(&o.targets, "targets", "chatwarden,reference,noop", "targets to measure")
	fs.StringVar(&o.scenarios, "scenarios", "max,rate,overload", "scenarios to run")
	fs.StringVar(&o.profile, "profile", "", "write each child's CPU profile and heap profile (rewritten every 2s) to this directory as <target>-<scenario>.cpu/.heap")
	fs.BoolVar(&o.trace, "trace", false, "with -profile: also write each child's execution trace as <target>-<scenario>.trace (large; read with go tool trace)")
	fs.IntVar(&o.maxInflight, "max-inflight", 0, "http.max_inflight of the chatwarden targets (0: the default); the overload scenario's trade of accepted throughput for latency")
	fs.IntVar(&o.partitions, "partitions", 0, "nats.partitions of the chatwarden targets (0: the default); each is a consumer the embedded broker serves")
	fs.Int64Var(&o.maxMemory, "max-memory", 0, "http.max_memory_bytes of the chatwarden targets (0: no budget); over it they shed webhooks until the heap shrinks")
	fs.DurationVar(&o.dupWindow, "duplicate-window", 0, "nats.duplicate_window of the chatwarden targets (0: the default, 10m); the broker keeps the message ids of that window in memory")
	fs.IntVar(&o.attackConns, "attack-conns", 300, "stall scenario: stalled connections from 127.0.0.1, and as many again spread over -attack-addrs other addresses (at most 5000)")
	fs.IntVar(&o.attackAddrs, "attack-addrs", 300, "stall scenario: loopback addresses the second group of stalled connections comes from (1..5000)")
	fs.IntVar(&o.attackRate, "attack-rate", 200, "stall scenario: genuine webhooks offered per second, from 127.0.1.1")
	fs.StringVar(&o.serve, "serve", "", "internal: run as the child serving this target")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.maxInflight < 0 {
		return fmt.Errorf("-max-inflight %d: want 0 (the default) or more", o.maxInflight)
	}
	if o.partitions < 0 {
		return fmt.Errorf("-partitions %d: want 0 (the default) or more", o.partitions)
	}
	if o.maxMemory < 0 {
		return fmt.Errorf("-max-memory %d: want 0 (no budget) or more", o.maxMemory)
	}
	if o.dupWindow < 0 {
		return fmt.Errorf("-duplicate-window %s: want 0 (the default) or more", o.dupWindow)
	}
	if o.attackConns < 0 || o.attackConns > 5000 || o.attackAddrs < 1 || o.attackAddrs > 5000 || o.attackRate < 1 {
		return fmt.Errorf("-attack-conns %d, -attack-addrs %d, -attack-rate %d: want 0..5000, 1..5000 and 1 or more", o.attackConns, o.attackAddrs, o.attackRate)
	}
	if o.serve != "" {
		if path := os.Getenv(profileEnv); path != "" {
			stop, err := startProfile(path, os.Getenv(traceEnv) != "")
			if err != nil {
				return err
			}
			defer stop()
		}
		return serveTarget(ctx, o.serve, out)
	}
	o.duration = min(o.duration, 15*time.Minute)
	o.maxRequests = min(o.maxRequests, 5_000_000)
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}

	fmt.Fprintf(out, "load: %s or %d requests per scenario and target; body %d bytes (incoming_chat, distinct chats); 127.0.0.1\n",
		o.duration, o.maxRequests, len(body(0)))
	fmt.Fprintf(out, "%-10s %-9s %9s %9s %8s %8s %9s %9s %9s %9s %8s %8s\n",
		"target", "scenario", "offered/s", "requests", "ok", "503", "ok/s", "p50", "p99", "max", "rss MB", "idle MB")
	var next int64
	for _, target := range strings.Split(o.targets, ",") {
		for _, sc := range strings.Split(o.scenarios, ",") {
			profile := ""
			if o.profile != "" {
				profile = filepath.Join(o.profile, target+"-"+sc)
			}
			settings := o.childSettings()
			if sc == "overload" {
				settings = append(settings, perIPCapsEnv+"=100000")
			}
			child, err := startChild(ctx, target, profile, o.trace, settings)
			if err != nil {
				return fmt.Errorf("starting %s: %w", target, err)
			}
			idle := child.rssAfter(min(2*time.Second, o.duration))
			stopSampling := child.sampleRSS()
			var res result
			switch sc {
			case "max":
				res = closedLoop(ctx, child.url, o, &next)
			case "rate":
				res = openLoop(ctx, child.url, o.rate, 64, o, &next)
			case "overload":
				oo := o
				oo.concurrency = o.overloadConns
				res = closedLoop(ctx, child.url, oo, &next)
			case "stall":
				res = stallAttack(ctx, child.url, o, &next)
			default:
				child.stop()
				return fmt.Errorf("unknown scenario %q", sc)
			}
			peak := stopSampling()
			child.stop()
			offered := "-"
			if res.offered > 0 {
				offered = strconv.Itoa(res.offered)
			}
			fmt.Fprintf(out, "%-10s %-9s %9s %9d %8d %8d %9.0f %9s %9s %9s %8.1f %8.1f\n", target, sc, offered, res.requests,
				res.ok, res.shed, float64(res.ok)/res.elapsed.Seconds(), res.pct(50), res.pct(99), res.pct(100), mb(peak), mb(idle))
			if sc == "stall" {
				fmt.Fprintf(out, "%-10s stall: genuine webhooks by status %s, failed %d; stalled connections opened %d (%d at once from 127.0.0.1, %d from %d addresses)\n",
					target, res.statusCounts(), res.errs, res.stalled, o.attackConns, o.attackConns, o.attackAddrs)
			}
		}
	}
	return nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// result: latencies are those of requests answered 200.
type result struct {
	requests, ok, shed, errs int
	offered                  int
	elapsed                  time.Duration
	latencies                []time.Duration
	statuses                 map[int]int // answers by status
	stalled                  int64       // stall: stalled connections opened
}

// statusCounts is "200=n 503=m ..." in status order, or "none".
func (r result) statusCounts() string {
	if len(r.statuses) == 0 {
		return "none"
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(r.statuses)) {
		parts = append(parts, fmt.Sprintf("%d=%d", s, r.statuses[s]))
	}
	return strings.Join(parts, " ")
}

func (r result) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[(len(r.latencies)-1)*p/100].Round(10 * time.Microsecond)
}

type recorder struct {
	mu  sync.Mutex
	res result
}

func (rc *recorder) add(status int, d time.Duration, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res.requests++
	if err == nil {
		if rc.res.statuses == nil {
			rc.res.statuses = map[int]int{}
		}
		rc.res.statuses[status]++
	}
	switch {
	case err != nil:
		rc.res.errs++
	case status == http.StatusOK:
		rc.res.ok++
		rc.res.latencies = append(rc.res.latencies, d)
	case status == http.StatusServiceUnavailable:
		rc.res.shed++
	default:
		rc.res.errs++
	}
}

func (rc *recorder) done(start time.Time) result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.res.elapsed = time.Since(start)
	slices.Sort(rc.res.latencies)
	return rc.res
}

// closedLoop posts as fast as answered on o.concurrency connections.
func closedLoop(ctx context.Context, url string, o options, next *int64) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	rc := &recorder{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := newPoster(url)
			if err != nil {
				rc.add(0, 0, err)
				return
			}
			defer p.close()
			stop := context.AfterFunc(ctx, p.abort) // unblocks a pending answer at the end
			defer stop()
			for ctx.Err() == nil && sent.Add(1) <= int64(o.maxRequests) {
				t0 := time.Now()
				status, err := p.post(atomic.AddInt64(next, 1))
				if ctx.Err() != nil && err != nil {
					return
				}
				rc.add(status, time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	return rc.done(start)
}

// openLoop offers rate requests per second over conns connections, each
// following its own schedule (as wrk2 does): latency is measured from when a
// request was due, so a slow server cannot hide its delay by slowing the
// generator down (no coordinated omission).
func openLoop(ctx context.Context, url string, rate, conns int, o options, next *int64) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	rc := &recorder{}
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) * float64(conns) / float64(rate))
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p, err := newPoster(url)
			if err != nil {
				rc.add(0, 0, err)
				return
			}
			p.source = o.source
			defer p.close()
			stop := context.AfterFunc(ctx, p.abort)
			defer stop()
			offset := time.Duration(w) * interval / time.Duration(conns)
			timer := time.NewTimer(0)
			defer timer.Stop()
			for i := 0; ctx.Err() == nil && sent.Add(1) <= int64(o.maxRequests); i++ {
				due := start.Add(offset + time.Duration(i)*interval)
				if d := time.Until(due); d > 0 {
					timer.Reset(d)
					select {
					case <-timer.C:
					case <-ctx.Done():
						return
					}
				}
				status, err := p.post(atomic.AddInt64(next, 1))
				if ctx.Err() != nil && err != nil {
					return
				}
				rc.add(status, time.Since(due), err)
			}
		}(w)
	}
	wg.Wait()
	res := rc.done(start)
	res.offered = rate
	return res
}

// stallAttack runs the stall scenario for o.duration: the attack of issue
// 18 (see the package comment) while genuine webhooks are offered at
// o.attackRate from 127.0.1.1 on 8 connections. The genuine webhooks start
// once every stalled connection has been opened once (or after 10 s).
func stallAttack(ctx context.Context, url string, o options, next *int64) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u, _ := neturl.Parse(url)
	var opened atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 2 * o.attackConns {
		source := net.IPv4(127, 0, 0, 1)
		if i >= o.attackConns {
			k := (i - o.attackConns) % o.attackAddrs // 127.0.2.1, 127.0.2.2, ...
			source = net.IPv4(127, 0, byte(2+k/250), byte(1+k%250))
		}
		wg.Go(func() { stall(ctx, u.Host, u.RequestURI(), source, &opened) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for opened.Load() < int64(2*o.attackConns) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	genuine := o
	genuine.source = &net.TCPAddr{IP: net.IPv4(127, 0, 1, 1)}
	res := openLoop(ctx, url, o.attackRate, 8, genuine, next)
	res.stalled = opened.Load()
	return res
}

// stall keeps one stalled webhook open from source until ctx ends: it
// connects, declares a 1 MiB body, sends one byte, waits for the target to
// answer or close, and a second later starts again.
func stall(ctx context.Context, addr, path string, source net.IP, opened *atomic.Int64) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: source}, Timeout: 5 * time.Second}
	head := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{", path, addr))
	for ctx.Err() == nil {
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			if _, err := c.Write(head); err == nil {
				opened.Add(1)
				_, _ = io.Copy(io.Discard, c)
			}
			stop()
			c.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

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

// profileEnv tells a child where to write its profiles (path without suffix).
const profileEnv = "CWLOAD_PROFILE"

// traceEnv, set, tells a child to write an execution trace too.
const traceEnv = "CWLOAD_TRACE"

// maxInflightEnv, set, is the http.max_inflight of a chatwarden child.
const maxInflightEnv = "CWLOAD_MAX_INFLIGHT"

// perIPCapsEnv, set, is both http.max_conns_per_ip and
// http.max_inflight_per_ip of a chatwarden child.
const perIPCapsEnv = "CWLOAD_PER_IP_CAPS"

// maxMemoryEnv, set, is the http.max_memory_bytes of a chatwarden child.
const maxMemoryEnv = "CWLOAD_MAX_MEMORY"

// partitionsEnv, set, is the nats.partitions of a chatwarden child.
const partitionsEnv = "CWLOAD_PARTITIONS"

// dupWindowEnv, set, is the nats.duplicate_window of a chatwarden child.
const dupWindowEnv = "CWLOAD_DUPLICATE_WINDOW"

// startProfile starts a CPU profile to path.cpu, and with withTrace an
// execution trace to path.trace; the returned function stops them. A heap
// profile is written to path.heap every 2s meanwhile, and when it stops if
// none was yet.
func startProfile(path string, withTrace bool) (func(), error) {
	f, err := os.Create(path + ".cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var tf *os.File
	if withTrace {
		if tf, err = os.Create(path + ".trace"); err != nil {
			pprof.StopCPUProfile()
			f.Close()
			return nil, err
		}
		if err := trace.Start(tf); err != nil {
			pprof.StopCPUProfile()
			f.Close()
			tf.Close()
			return nil, err
		}
	}
	// The heap profile is rewritten every 2s, so the last one shows the
	// heap under load rather than after the shutdown.
	writeHeap := func() {
		if h, err := os.Create(path + ".heap"); err == nil {
			_ = pprof.WriteHeapProfile(h)
			h.Close()
		}
	}
	done, exited := make(chan struct{}), make(chan bool)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		wrote := false
		for {
			select {
			case <-done:
				exited <- wrote
				return
			case <-t.C:
				writeHeap()
				wrote = true
			}
		}
	}()
	return func() {
		close(done)
		if wrote := <-exited; !wrote {
			writeHeap() // a run shorter than 2s still gets one
		}
		pprof.StopCPUProfile()
		f.Close()
		if tf != nil {
			trace.Stop()
			tf.Close()
		}
	}, nil
}

// serveTarget runs in the child: it serves target on a free loopback port,
// prints "LISTEN <addr>", and runs until SIGTERM.
func serveTarget(ctx context.Context, target string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "chatwarden-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	role := "serve"
	if target == "chatwarden-receive" {
		target, role = "chatwarden", "receive"
	}
	switch target {
	case "chatwarden":
		ln.Close() // serve listens itself
		cfgPath := filepath.Join(dir, "chatwarden.yaml")
		// Workers run too (serve), with no rules: they consume and acknowledge
		// every event, so the figures include the cost of the whole process.
		rulesPath := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(rulesPath, []byte("rules: []\n"), 0o600); err != nil {
			return err
		}
		httpCfg := fmt.Sprintf("addr: %q", addr)
		if v := os.Getenv(maxInflightEnv); v != "" {
			httpCfg += ", max_inflight: " + v
		}
		if v := os.Getenv(maxMemoryEnv); v != "" {
			httpCfg += ", max_memory_bytes: " + v
		}
		if v := os.Getenv(perIPCapsEnv); v != "" {
			httpCfg += ", max_conns_per_ip: " + v + ", max_inflight_per_ip: " + v
		}
		natsCfg := fmt.Sprintf("listen: \"off\", data_dir: %q", filepath.Join(dir, "data"))
		if v := os.Getenv(partitionsEnv); v != "" {
			natsCfg += ", partitions: " + v
		}
		if v := os.Getenv(dupWindowEnv); v != "" {
			natsCfg += ", duplicate_window: " + v
		}
		cfg := fmt.Sprintf("http: {%s}\nadmin: {addr: \"off\"}\nnats: {%s}\nlivechat: {webhook_secrets: [%q]}\nrules_file: %q\nlog: {level: error}\n",
			httpCfg, natsCfg, secret, rulesPath)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() {
			errc <- cli.Run(ctx, []string{role, "--config", cfgPath}, func(string) string { return "" }, io.Discard, io.Discard)
		}()
		if err := waitReady("http://"+addr+"/readyz", errc); err != nil {
			return err
		}
		fmt.Fprintf(out, "LISTEN %s\n", addr)
		return <-errc
	case "reference":
		b, err := bus.Open(ctx, config.NATS{DataDir: dir, Listen: "off"})
		if err != nil {
			return err
		}
		defer b.Close(context.Background())
		if err := bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: 10 * time.Minute, Retention: time.Hour}); err != nil {
			return err
		}
		var n atomic.Int64
		return serveEcho(ctx, ln, out, func(c echo.Context, data []byte) error {
			msg := &nats.Msg{Subject: event.SubjectPrefix + ".livechat.incoming_chat.0", Data: data, Header: nats.Header{}}
			msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("ref-%d", n.Add(1)))
			if _, err := b.JS.PublishMsg(c.Request().Context(), msg); err != nil {
				return c.NoContent(http.StatusServiceUnavailable)
			}
			return c.NoContent(http.StatusOK)
		})
	case "noop":
		return serveEcho(ctx, ln, out, func(c echo.Context, _ []byte) error { return c.NoContent(http.StatusOK) })
	}
	return fmt.Errorf("unknown target %q", target)
}

func serveEcho(ctx context.Context, ln net.Listener, out io.Writer, h func(echo.Context, []byte) error) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/livechat", func(c echo.Context) error {
		data, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		return h(c, data)
	})
	srv := &http.Server{Handler: e}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Fprintf(out, "LISTEN %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitReady polls url until it answers 200, chatwarden stops (its error comes
// on exited) or 30s pass.
func waitReady(url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("chatwarden stopped before it was ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("chatwarden did not become ready in 30s")
}
