package memguard

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeRuntime is what the guard reads: a live heap and a collection count
// the test sets, and the collections the guard forces.
type fakeRuntime struct {
	live, cycles uint64
	forced       int
}

func guardOn(rt *fakeRuntime, budget int64, log *zap.Logger) *Guard {
	g := newGuard(budget, log)
	g.read = func() (uint64, uint64) { return rt.live, rt.cycles }
	g.gc = func() { rt.forced++; rt.cycles++ }
	return g
}

const mib = 1 << 20

func TestSheddingFollowsTheLiveHeap(t *testing.T) {
	type step struct {
		at       time.Duration // since the first sample
		live     uint64
		gcRan    bool // a collection completed since the previous step
		wantOver bool
		wantGC   int // collections forced so far
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"under the threshold nothing is shed", []step{
			{0, 50 * mib, false, false, 0},
			{100 * time.Millisecond, 139 * mib, true, false, 0},
		}},
		{"above it every webhook is shed until a collection finds it below", []step{
			{0, 150 * mib, false, true, 0},
			{100 * time.Millisecond, 150 * mib, true, true, 0},
			{200 * time.Millisecond, 90 * mib, true, false, 0},
		}},
		{"while shedding, a collection is forced when none ran for a second", []step{
			{0, 150 * mib, false, true, 0},
			{500 * time.Millisecond, 150 * mib, false, true, 0},
			{time.Second, 150 * mib, false, true, 1},
			{1100 * time.Millisecond, 100 * mib, false, false, 1}, // what the forced one measured
			{3 * time.Second, 100 * mib, false, false, 1},         // not shedding: nothing forced
		}},
		{"collections of their own make forcing needless", []step{
			{0, 150 * mib, false, true, 0},
			{700 * time.Millisecond, 150 * mib, true, true, 0},
			{1400 * time.Millisecond, 150 * mib, true, true, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := &fakeRuntime{}
			g := guardOn(rt, 200*mib, nil) // sheds above 140 MiB
			require.EqualValues(t, 140*mib, g.threshold)
			var st state
			start := time.Now()
			for i, s := range tc.steps {
				rt.live = s.live
				if s.gcRan {
					rt.cycles++
				}
				g.sample(&st, start.Add(s.at))
				assert.Equal(t, s.wantOver, g.Over(), "step %d: over", i)
				assert.Equal(t, s.wantGC, rt.forced, "step %d: forced collections", i)
			}
		})
	}
}

func TestSheddingIsLoggedOnceAMinute(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	rt := &fakeRuntime{}
	g := guardOn(rt, 100*mib, zap.New(core))
	var st state
	start := time.Now()
	for i, live := range []uint64{90, 10, 90, 10, 90} { // three episodes within 2s
		rt.live, rt.cycles = live*mib, rt.cycles+1
		g.sample(&st, start.Add(time.Duration(i)*500*time.Millisecond))
	}
	require.Equal(t, 1, logs.Len(), "one warning for episodes a second apart")
	e := logs.All()[0]
	assert.Equal(t, zapcore.WarnLevel, e.Level)
	assert.Equal(t, "over the memory budget: shedding webhooks with 503 until the heap shrinks", e.Message)
	assert.EqualValues(t, 100*mib, e.ContextMap()["max_memory_bytes"])
	assert.EqualValues(t, 90*mib, e.ContextMap()["live_heap_bytes"])

	rt.live, rt.cycles = 10*mib, rt.cycles+1
	g.sample(&st, start.Add(3*time.Second))
	rt.live, rt.cycles = 90*mib, rt.cycles+1
	g.sample(&st, start.Add(61*time.Second))
	assert.Equal(t, 2, logs.Len(), "a minute later it is said again")
}

func TestNilGuardNeverSheds(t *testing.T) {
	var g *Guard
	assert.False(t, g.Over())
}

func TestStartSetsTheSoftLimitAndUndoesIt(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	ctx, cancel := context.WithCancel(context.Background())
	core, logs := observer.New(zapcore.InfoLevel)
	g := Start(ctx, 200*mib, zap.New(core))
	assert.EqualValues(t, 180*mib, debug.SetMemoryLimit(-1), "90% of the budget")
	require.Equal(t, 1, logs.Len(), "says what it applied")
	assert.Equal(t, "memory budget applied", logs.All()[0].Message)
	assert.EqualValues(t, 140*mib, logs.All()[0].ContextMap()["shed_above_live_heap_bytes"])
	assert.False(t, g.Over(), "this test's heap is far below 140 MiB")
	cancel()
	assert.Eventually(t, func() bool { return debug.SetMemoryLimit(-1) == before }, 5*time.Second, 10*time.Millisecond,
		"the previous limit is back once ctx ends")
}

func TestStartLeavesAnOperatorsGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "300MiB")
	before := debug.SetMemoryLimit(-1)
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Start(ctx, 200*mib, zap.New(core))
	assert.Equal(t, before, debug.SetMemoryLimit(-1), "the runtime's limit is untouched")
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "GOMEMLIMIT is set; http.max_memory_bytes only sheds webhooks", logs.All()[0].Message)
}

func TestReadRuntimeMeasures(t *testing.T) {
	_, cycles := readRuntime()
	debug.FreeOSMemory() // forces a collection
	live, cycles2 := readRuntime()
	assert.Greater(t, cycles2, cycles, "a collection counted")
	assert.Positive(t, live, "the live heap is measured")
}
