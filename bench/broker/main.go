// Command broker measures nats-server alone, in process, the way chatwarden
// uses it, to tell the broker's share of serve's figures from chatwarden's.
//
// For each consumer count in -consumers it starts a fresh embedded server
// (file storage in a temporary directory), creates a limits stream with a
// duplicate window (-duplicate-window, 10m as chatwarden's
// nats.duplicate_window; the server keeps every message id of the window in
// memory, so runs longer than the window show that cost in full), and for
// -duration publishes -size byte messages (1,900 by default: a 3.4 KB
// incoming_chat as stored, S2-compressed) at -rate a second over -partitions
// subjects, asynchronously, each with a message id.
// The consumers are shaped like the workers' partition consumers: one per
// partition subject (the first N), pull, pinned priority group, at most 128
// unacknowledged, each message acknowledged on its own goroutine, with
// confirmation (-ack double, as the workers do) or without (-ack single).
//
// It prints, per run: the messages stored, the PubAck latency from the
// publish call (p50, p99, max; the publisher never waits, up to 65,536
// PubAcks may be outstanding, so no omission hides a stall), with consumers
// whether they kept pace (how many messages stored on their subjects they
// had not yet acknowledged when the last PubAck came, and how long after it
// they had acknowledged all, waiting 30s at most), the largest heap in use
// seen in any second, the heap in use after a forced collection at the end
// (what stays referenced), and the largest resident set seen. Runs share the
// process, so run the count of interest first (or alone) for its resident
// set: memory a run returns to the runtime is not always returned to the
// system before the next.
//
// Bounded: -duration per run, 127.0.0.1 only, stops by itself.
//
//	go run ./bench/broker -duration 10s -consumers 0,1,16
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/internal/procstat"
)

type options struct {
	duration   time.Duration
	rate       int
	size       int
	partitions int
	dupWindow  time.Duration
	consumers  []int
	ack        string
}

func main() {
	var o options
	var consumers string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each run publishes")
	flag.IntVar(&o.rate, "rate", 5000, "messages offered a second")
	flag.IntVar(&o.size, "size", 1900, "message size in bytes")
	flag.IntVar(&o.partitions, "partitions", 16, "subjects the messages are spread over")
	flag.DurationVar(&o.dupWindow, "duplicate-window", 10*time.Minute, "the stream's duplicate window (chatwarden's nats.duplicate_window)")
	flag.StringVar(&consumers, "consumers", "0,1,16", "comma-separated consumer counts, one run each")
	flag.StringVar(&o.ack, "ack", "double", "how consumers acknowledge: double (with confirmation) or single")
	flag.Parse()
	var err error
	if o.consumers, err = parseCounts(consumers); err != nil {
		fmt.Fprintln(os.Stderr, "broker: -consumers:", err)
		os.Exit(2)
	}
	// Ctrl-C ends the run in progress cleanly: its server is shut down and
	// its temporary store removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		stop()
		os.Exit(1)
	}
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a count of consumers (0 or more)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (o options) check() error {
	switch {
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.rate <= 0:
		return errors.New("-rate must be positive")
	case o.size <= 0:
		return errors.New("-size must be positive")
	case o.partitions <= 0:
		return errors.New("-partitions must be positive")
	case o.dupWindow <= 0:
		return errors.New("-duplicate-window must be positive")
	case o.ack != "double" && o.ack != "single":
		return fmt.Errorf("-ack %q: want double or single", o.ack)
	}
	for _, n := range o.consumers {
		if n > o.partitions {
			return fmt.Errorf("-consumers %d: at most one consumer per partition (-partitions %d)", n, o.partitions)
		}
	}
	return nil
}

// catchUpLimit bounds how long a run waits, after its last PubAck, for its
// consumers to acknowledge what they have not yet.
const catchUpLimit = 30 * time.Second

// result is one run's figures.
type result struct {
	consumers          int
	stored             uint64
	behind             uint64        // stored but not yet acknowledged by a consumer at the last PubAck
	caughtUp           time.Duration // from the last PubAck until consumers acknowledged all; -1: not within catchUpLimit
	failed             int
	p50, p99, max      time.Duration
	peakHeap, liveHeap uint64
	peakRSS            uint64
}

func run(ctx context.Context, o options, w io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	fmt.Fprintf(w, "nats-server alone: %d-byte messages at %d/s over %d subjects for %s per run, duplicate window %s, consumers acknowledging %s\n\n",
		o.size, o.rate, o.partitions, o.duration, o.dupWindow, o.ack)
	fmt.Fprintln(w, "| consumers | stored | publish errors | PubAck p50 | p99 | max | unread at end | read all after | peak heap MB | live heap MB | peak RSS MB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range o.consumers {
		r, err := runOnce(ctx, o, n)
		if err != nil {
			return fmt.Errorf("run with %d consumers: %w", n, err)
		}
		unread, readAll := "-", "-"
		if r.consumers > 0 {
			unread = strconv.FormatUint(r.behind, 10)
			readAll = ms(r.caughtUp)
			if r.caughtUp < 0 {
				readAll = "> " + catchUpLimit.String()
			}
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %s | %s | %s | %.1f | %.1f | %.1f |\n", r.consumers, r.stored, r.failed,
			ms(r.p50), ms(r.p99), ms(r.max), unread, readAll, mb(r.peakHeap), mb(r.liveHeap), mb(r.peakRSS))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mb(b uint64) float64       { return float64(b) / (1 << 20) }

func runOnce(ctx context.Context, o options, consumers int) (result, error) {
	res := result{consumers: consumers}
	dir, err := os.MkdirTemp("", "chatwarden-broker-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		return res, fmt.Errorf("starting nats-server: %w", err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		return res, errors.New("nats-server not ready after 10s")
	}
	// Publisher and consumers on separate connections, as receivers and
	// workers are.
	pubConn, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return res, err
	}
	defer pubConn.Close()
	subConn, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return res, err
	}
	defer subConn.Close()
	pub, err := jetstream.New(pubConn, jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		return res, err
	}
	sub, err := jetstream.New(subConn)
	if err != nil {
		return res, err
	}
	stream, err := pub.CreateStream(ctx, jetstream.StreamConfig{
		Name: "EVENTS", Subjects: []string{"ev.>"}, Storage: jetstream.FileStorage,
		MaxAge: 7 * 24 * time.Hour, Duplicates: o.dupWindow,
	})
	if err != nil {
		return res, fmt.Errorf("creating the stream: %w", err)
	}
	var acked, readable atomic.Uint64 // acknowledged by a consumer; stored on a subject a consumer reads
	for p := range consumers {
		stop, err := consume(ctx, sub, p, o.ack == "double", &acked)
		if err != nil {
			return res, err
		}
		defer stop()
	}

	body := make([]byte, o.size)
	for i := range body {
		body[i] = byte(rand.IntN(256)) // incompressible, as a compressed event is
	}
	runtime.GC() // twice: the previous run's block buffers leave their pool in two cycles
	runtime.GC()
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, int(o.duration.Seconds()+1)*o.rate)
		wg        sync.WaitGroup
	)
	record := func(d time.Duration, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			latencies = append(latencies, d)
		} else {
			res.failed++
		}
	}
	stopHeap, heapDone := make(chan struct{}), make(chan struct{})
	go func() { // the largest heap in use seen, once a second
		defer close(heapDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			res.peakHeap = max(res.peakHeap, m.HeapInuse)
			res.peakRSS = max(res.peakRSS, uint64(procstat.Resident(procstat.Self)))
			select {
			case <-t.C:
			case <-stopHeap:
				return
			}
		}
	}()

	start := time.Now()
	total := int(o.duration.Seconds() * float64(o.rate))
	interval := time.Second / time.Duration(o.rate)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < total; {
		select {
		case <-tick.C:
		case <-ctx.Done():
			wg.Wait()
			close(stopHeap)
			<-heapDone
			return res, ctx.Err()
		}
		due := min(total, int(time.Since(start)/interval)+1)
		for ; sent < due; sent++ {
			sentAt := time.Now()
			f, err := pub.PublishAsync("ev."+strconv.Itoa(sent%o.partitions), body, jetstream.WithMsgID(strconv.Itoa(sent)))
			if err != nil {
				record(0, false)
				continue
			}
			read := sent%o.partitions < consumers // a consumer reads this subject
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-f.Ok():
					record(time.Since(sentAt), true)
					if read {
						readable.Add(1)
					}
				case <-f.Err():
					record(0, false)
				}
			}()
		}
	}
	wg.Wait()
	if consumers > 0 {
		// Did the consumers keep pace? What they had not acknowledged when
		// the last PubAck came, and how long they needed for the rest.
		published := readable.Load()
		end := time.Now()
		res.behind = published - min(published, acked.Load())
		res.caughtUp = -1
		for time.Since(end) < catchUpLimit && ctx.Err() == nil {
			if acked.Load() >= published {
				res.caughtUp = time.Since(end)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(stopHeap)
	<-heapDone
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	res.liveHeap = m.HeapInuse

	info, err := stream.Info(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the stream's state: %w", err)
	}
	res.stored = info.State.Msgs
	if len(latencies) == 0 {
		return res, errors.New("no message was acknowledged")
	}
	slices.Sort(latencies)
	res.p50 = latencies[len(latencies)/2]
	res.p99 = latencies[len(latencies)*99/100]
	res.max = latencies[len(latencies)-1]
	return res, nil
}

// consume starts the consumer of partition p and returns what stops it.
// Each message it acknowledges successfully counts in acked.
func consume(ctx context.Context, js jetstream.JetStream, p int, double bool, acked *atomic.Uint64) (func(), error) {
	c, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "p" + strconv.Itoa(p), FilterSubject: "ev." + strconv.Itoa(p),
		AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 128,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"workers"},
		PinnedTTL: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer %d: %w", p, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		go func() {
			var err error
			if double {
				err = m.DoubleAck(ctx)
			} else {
				err = m.Ack()
			}
			if err == nil {
				acked.Add(1)
			}
		}()
	}, jetstream.PullPriorityGroup("workers"))
	if err != nil {
		return nil, fmt.Errorf("consuming partition %d: %w", p, err)
	}
	return cc.Stop, nil
}
