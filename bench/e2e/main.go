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
//
// With -rate 0 it offers webhooks as fast as they are answered (as
// ../shared/bench/compare does with wrk) and applied/s tells the throughput
// at saturation: the measured phase's actions over the time from its start
// to the last of them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/chatwarden/chatwarden/cli"
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
	fs.IntVar(&o.rate, "rate", 1000, "webhooks offered per second; 0 offers them as fast as they are answered (saturation: see applied/s)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured phase (at most 5m)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "offered at the same rate before measuring, not counted")
	fs.IntVar(&o.conns, "conns", 64, "connections offering the webhooks")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "at most this long to wait for the accepted webhooks' actions after the load")
	fs.StringVar(&o.profile, "profile", "", "write serve's CPU profile of the measured phase to this file (from its /debug/pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rate < 0 || o.conns <= 0 || o.duration <= 0 || o.duration > 5*time.Minute || o.warmup < 0 {
		return errors.New("-rate must not be negative, -conns positive, -duration in (0, 5m], -warmup not negative")
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

	offered := fmt.Sprintf("%d webhooks/s offered", o.rate)
	if o.rate == 0 {
		offered = "webhooks offered as fast as answered"
	}
	fmt.Fprintf(out, "end to end: chatwarden serve, one rule (livechat.tag_thread on incoming_chat), %s for %s on %d connections\n",
		offered, o.duration, o.conns)
	fmt.Fprintf(out, "offered   %d\naccepted  %d (other answers %d, errors %d)\napplied   %d of the accepted (waited %s after the load)\n",
		res.offered, len(res.accepted), res.rejected, res.errors, applied, time.Since(loadEnd).Round(time.Millisecond))
	if last, ok := sink.last(res.acceptedChats()); ok && applied > 0 {
		took := last.Sub(start)
		fmt.Fprintf(out, "applied/s %.0f (%d applied of the measured phase / %s from its start to the last action; accepted/s %.0f)\n",
			float64(applied)/took.Seconds(), applied, took.Round(time.Millisecond), float64(len(res.accepted))/loadEnd.Sub(start).Seconds())
	}
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
