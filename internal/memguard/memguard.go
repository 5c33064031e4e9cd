// Package memguard keeps a process inside a memory budget
// (http.max_memory_bytes) by telling its webhook receivers when to shed.
//
// Most of what a chatwarden process holds under load is not its own: the
// embedded broker keeps every message block read in the last 10 s in memory,
// so the heap grows with the rate of webhooks accepted, and Go's collector
// lets the resident set reach about twice the live heap. A soft memory limit
// alone (GOMEMLIMIT) caps that doubling, but when the live heap itself nears
// the limit the collector runs without pause and the process stalls. The
// guard does both halves: it sets the runtime's soft limit below the budget,
// and reports Over while the live heap is above a share of it, so receivers
// answer 503 with Retry-After and the broker's cache shrinks back before the
// collector has to fight it.
package memguard

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Shares of the budget. The soft limit leaves room for what the runtime does
// not manage (the binary's text and data, about 20 MB); webhooks are shed
// while the live heap is above ShedShare of the budget, which leaves the
// collector headroom between the live heap and the soft limit.
const (
	SoftLimitShare = 0.90
	ShedShare      = 0.70
)

// Sampling: the live heap is read every sampleEvery; while shedding, a
// collection is forced when none ran for staleAfter, since little is
// allocated then and the live heap would otherwise not be measured again.
const (
	sampleEvery = 100 * time.Millisecond
	staleAfter  = time.Second
)

// Guard reports whether the process is over its memory budget. A nil *Guard
// never is.
type Guard struct {
	budget    int64
	threshold uint64
	over      atomic.Bool
	log       *zap.Logger

	// read returns the live heap after the last collection and the number
	// of collections completed; gc forces one. Tests replace both.
	read func() (live, cycles uint64)
	gc   func()
}

// Start applies budget (bytes, > 0) to this process and samples until ctx
// ends. It sets the runtime's soft memory limit to SoftLimitShare of the
// budget unless the GOMEMLIMIT environment variable is set (then the
// operator's value stays, and is logged); when ctx ends the limit it set is
// undone. A nil logger logs nothing.
func Start(ctx context.Context, budget int64, log *zap.Logger) *Guard {
	g := newGuard(budget, log)
	restore := func() {}
	if os.Getenv("GOMEMLIMIT") == "" {
		soft := int64(float64(budget) * SoftLimitShare)
		prev := debug.SetMemoryLimit(soft)
		restore = func() { debug.SetMemoryLimit(prev) }
		g.log.Info("memory budget applied", zap.Int64("max_memory_bytes", budget), zap.Int64("soft_limit_bytes", soft),
			zap.Uint64("shed_above_live_heap_bytes", g.threshold))
	} else {
		g.log.Info("GOMEMLIMIT is set; http.max_memory_bytes only sheds webhooks",
			zap.String("gomemlimit", os.Getenv("GOMEMLIMIT")), zap.Int64("max_memory_bytes", budget))
	}
	go func() {
		defer restore()
		g.run(ctx)
	}()
	return g
}

func newGuard(budget int64, log *zap.Logger) *Guard {
	if log == nil {
		log = zap.NewNop()
	}
	return &Guard{
		budget:    budget,
		threshold: uint64(float64(budget) * ShedShare),
		log:       log.Named("memory"),
		read:      readRuntime,
		gc:        runtime.GC,
	}
}

// Over reports whether webhooks should be shed now: the live heap measured
// by the last collection is above ShedShare of the budget.
func (g *Guard) Over() bool { return g != nil && g.over.Load() }

func (g *Guard) run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	var st state
	for {
		select {
		case <-ctx.Done():
			g.over.Store(false)
			return
		case now := <-t.C:
			g.sample(&st, now)
		}
	}
}

// state is what sample remembers between calls.
type state struct {
	cycles     uint64    // collections seen at the last sample
	lastCycle  time.Time // when that count last changed
	since      time.Time // when shedding began; zero while not shedding
	lastWarned time.Time
}

// sample reads the live heap once and updates Over; see the package comment.
func (g *Guard) sample(st *state, now time.Time) {
	live, cycles := g.read()
	if cycles != st.cycles || st.lastCycle.IsZero() {
		st.cycles, st.lastCycle = cycles, now
	}
	over := live > g.threshold
	g.over.Store(over)
	switch {
	case over && st.since.IsZero():
		st.since = now
		if now.Sub(st.lastWarned) >= time.Minute { // episodes can be a second apart; say it once a minute
			st.lastWarned = now
			g.log.Warn("over the memory budget: shedding webhooks with 503 until the heap shrinks",
				zap.Uint64("live_heap_bytes", live), zap.Uint64("shed_above_bytes", g.threshold),
				zap.Int64("max_memory_bytes", g.budget))
		}
	case !over && !st.since.IsZero():
		g.log.Debug("back under the memory budget: accepting webhooks",
			zap.Uint64("live_heap_bytes", live), zap.Duration("shed_for", now.Sub(st.since)))
		st.since = time.Time{}
	}
	if over && now.Sub(st.lastCycle) >= staleAfter {
		g.gc() // measure again: what the broker released shows only after a collection
		st.lastCycle = now
	}
}

// readRuntime reads the live heap and the collections completed.
func readRuntime() (live, cycles uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		cycles = s[1].Value.Uint64()
	}
	return live, cycles
}
