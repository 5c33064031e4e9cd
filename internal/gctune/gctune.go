// Package gctune gives the Go garbage collector of a long-running
// chatwarden process a minimum heap target.
//
// A receiver or worker keeps little live heap (a few MiB) but allocates fast
// (a webhook's body, its stored form, a broker message: about 10 KiB each,
// tens of MiB a second under load). With Go's default GOGC=100 the heap goal
// is twice the live heap, so such a process collects many times a second,
// and each cycle's fixed work (stacks, globals, sweeping) costs more than
// the garbage it frees (bench/RESULTS.md: the receiver's CPU per webhook
// was 0.74-0.92 of a reference receiver's with a higher heap goal, against
// 1.12-1.17 without, in alternating runs). Start raises GOGC after each
// collection so that the next heap goal is at least a minimum (MinHeap,
// 128 MiB by default), and lowers it back to 100 as the live heap grows
// towards that minimum:
//
//	heap goal = max(MinHeap, 2 x live heap)
//
// So memory use is bounded exactly as with GOGC=100 once the live heap is
// above MinHeap/2, and by MinHeap below it. This is the "GC tuner" of
// Uber's and ByteDance's services, done without a ballast.
//
// An operator who sets GOGC (or CHATWARDEN_GC_MIN_HEAP=0) keeps Go's own
// behaviour: FromEnv then returns a disabled Policy.
package gctune

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"

	"go.uber.org/zap"
)

// DefaultMinHeap is the minimum heap goal when CHATWARDEN_GC_MIN_HEAP is not
// set: 128 MiB.
const DefaultMinHeap = 128 << 20

// Bounds of the GOGC values Start sets: never below Go's default, and not so
// high that a nearly empty heap waits for an unbounded amount of garbage.
const (
	minPercent = 100
	maxPercent = 5000
)

// Policy says whether and how to tune.
type Policy struct {
	// MinHeap is the smallest heap goal in bytes; 0 turns tuning off.
	MinHeap uint64
	// Why explains the policy for the start-up log.
	Why string
}

// FromEnv reads the policy: off when GOGC is set (the operator's choice
// stands), else a minimum heap goal of CHATWARDEN_GC_MIN_HEAP bytes (a whole
// number; 0 turns it off), by default DefaultMinHeap.
func FromEnv(getenv func(string) string) (Policy, error) {
	if v := getenv("GOGC"); v != "" {
		return Policy{Why: "GOGC=" + v + " is set"}, nil
	}
	v := getenv("CHATWARDEN_GC_MIN_HEAP")
	if v == "" {
		return Policy{MinHeap: DefaultMinHeap, Why: "default"}, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return Policy{}, fmt.Errorf("CHATWARDEN_GC_MIN_HEAP=%q: want a whole number of bytes (0 turns the minimum heap goal off): %w", v, err)
	}
	if n == 0 {
		return Policy{Why: "CHATWARDEN_GC_MIN_HEAP=0"}, nil
	}
	return Policy{MinHeap: n, Why: "CHATWARDEN_GC_MIN_HEAP"}, nil
}

// percentFor is the GOGC that makes the heap goal at least minHeap for a
// live heap of live bytes.
func percentFor(live, minHeap uint64) int {
	if live == 0 {
		return maxPercent
	}
	if live >= minHeap/2 {
		return minPercent
	}
	p := (minHeap - live) * 100 / live
	return int(min(max(p, minPercent), maxPercent))
}

// tuner re-tunes after every collection: a sentinel object's cleanup runs
// once a cycle has found it unreachable, tunes, and arms a new sentinel.
type tuner struct {
	minHeap uint64
	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
}

type sentinel struct{ _ *int } // has a pointer: never tiny-allocated with others

func (t *tuner) arm() {
	s := &sentinel{}
	runtime.AddCleanup(s, func(*tuner) { t.tune() }, t)
}

func (t *tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(percentFor(t.sample[0].Value.Uint64(), t.minHeap))
	}
	t.arm()
}

// Start applies p until the returned stop is called, which puts back the
// GOGC in force before. A disabled p changes nothing. It logs the policy.
func Start(p Policy, logger *zap.Logger) (stop func()) {
	if p.MinHeap == 0 {
		logger.Info("garbage collector: Go's default heap goals", zap.String("why", p.Why))
		return func() {}
	}
	logger.Info("garbage collector: minimum heap goal (set GOGC, or CHATWARDEN_GC_MIN_HEAP=0, for Go's default)",
		zap.Uint64("min_heap_bytes", p.MinHeap), zap.String("why", p.Why))
	t := &tuner{minHeap: p.MinHeap, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	before := debug.SetGCPercent(minPercent)
	debug.SetGCPercent(before)
	t.tune() // the first goal now, then after every collection
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(before)
	}
}
