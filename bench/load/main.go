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
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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
