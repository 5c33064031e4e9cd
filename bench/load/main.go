// Command load measures the webhook receiver on 127.0.0.1, bounded in time
// and in requests, and stops by itself. In one run it measures, one after the
// other on the same machine:
//
//   - chatwarden: `POST /webhooks/livechat` of the receive role (embedded NATS,
//     file storage, dedup on), and
//   - reference: a minimal echo handler doing a synchronous JetStream publish
//     with a message id per request (embedded NATS, file storage),
//
// posting ~3 KB incoming_chat webhooks with distinct chat ids and a valid
// secret, and prints requests/s and latency percentiles for each.
//
//	go run ./bench/load -duration 10s -concurrency 32
package main

import (
	"bytes"
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const secret = "load-secret"

type options struct {
	duration    time.Duration
	maxRequests int
	concurrency int
	rate        int
	only        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to load each target (at most 2m)")
	fs.IntVar(&o.maxRequests, "requests", 500000, "stop a target after this many requests (at most 2,000,000)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent connections")
	fs.IntVar(&o.rate, "rate", 0, "requests per second to offer (0: as fast as answered)")
	fs.StringVar(&o.only, "only", "", `measure only "chatwarden" or "reference"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.duration = min(o.duration, 2*time.Minute)
	o.maxRequests = min(o.maxRequests, 2_000_000)

	fmt.Fprintf(out, "load: %s or %d requests per target, %d connections, rate %s, body %d bytes (incoming_chat, distinct chats)\n",
		o.duration, o.maxRequests, o.concurrency, rateText(o.rate), len(body(0)))
	fmt.Fprintf(out, "%-11s %9s %9s %7s %9s %9s %9s %9s\n", "target", "requests", "errors", "non200", "req/s", "p50", "p99", "max")
	targets := []struct {
		name  string
		start func(context.Context) (url string, stop func(), err error)
	}{
		{"chatwarden", startChatwarden},
		{"reference", startReference},
	}
	for _, tg := range targets {
		if o.only != "" && o.only != tg.name {
			continue
		}
		url, stopTarget, err := tg.start(ctx)
		if err != nil {
			return fmt.Errorf("starting %s: %w", tg.name, err)
		}
		res := drive(ctx, url, o)
		stopTarget()
		fmt.Fprintf(out, "%-11s %9d %9d %7d %9.0f %9s %9s %9s\n", tg.name, res.requests, res.errors, res.non200,
			res.rps(), res.pct(50), res.pct(99), res.pct(100))
	}
	return nil
}

func rateText(r int) string {
	if r <= 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%d/s", r)
}

// body is the incoming_chat sample for chat number i.
func body(i int64) []byte {
	return samples.LiveChat("incoming_chat", secret, fmt.Sprintf("LOAD%08d", i), fmt.Sprintf("T%08d", i))
}

type result struct {
	requests, errors, non200 int64
	elapsed                  time.Duration
	latencies                []time.Duration
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := (len(r.latencies) - 1) * p / 100
	return r.latencies[i].Round(10 * time.Microsecond)
}

// drive posts webhooks to url until the duration passes or maxRequests were
// sent.
func drive(ctx context.Context, url string, o options) result {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	var tokens <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(o.rate))
		defer t.Stop()
		tokens = t.C
	}
	var next atomic.Int64
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var errs, non200 int64
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(o.maxRequests) {
					break
				}
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
					}
					if ctx.Err() != nil {
						break
					}
				}
				b := body(i)
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(b))
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					non200++
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errors += errs
			res.non200 += non200
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = int64(len(res.latencies))
	slices.Sort(res.latencies)
	client.CloseIdleConnections()
	return res
}

func startChatwarden(ctx context.Context) (string, func(), error) {
	dir, err := os.MkdirTemp("", "chatwarden-load-")
	if err != nil {
		return "", nil, err
	}
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.NATS.DataDir = dir
	cfg.NATS.Listen = "off"
	cfg.LiveChat.WebhookSecrets = []string{secret}
	cfg.Log.Level = "error"
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true}, service.WithLogger(zap.NewNop()))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return "http://" + svc.Addr() + "/webhooks/livechat", func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
		os.RemoveAll(dir)
	}, nil
}

// startReference is the minimal handler peers would write: echo, read the
// body, synchronous JetStream publish with a message id, answer 200.
func startReference(ctx context.Context) (string, func(), error) {
	dir, err := os.MkdirTemp("", "chatwarden-load-ref-")
	if err != nil {
		return "", nil, err
	}
	b, err := bus.Open(ctx, config.NATS{DataDir: dir, Listen: "off"})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err := bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: 10 * time.Minute, Retention: time.Hour}); err != nil {
		return "", nil, err
	}
	var n atomic.Int64
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/livechat", func(c echo.Context) error {
		data, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		msg := &nats.Msg{Subject: event.SubjectPrefix + ".livechat.incoming_chat.0", Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("ref-%d", n.Add(1)))
		if _, err := b.JS.PublishMsg(c.Request().Context(), msg); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.NoContent(http.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: e}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "reference server:", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/webhooks/livechat", func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = b.Close(sctx)
		os.RemoveAll(dir)
	}, nil
}
