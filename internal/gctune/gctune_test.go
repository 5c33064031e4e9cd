package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name      string
		live, min uint64
		want      int
	}{
		{"small live heap: goal raised to the minimum", 8 * mib, 128 * mib, 1500},
		{"live heap at half the minimum: Go's default", 64 * mib, 128 * mib, 100},
		{"live heap above the minimum: Go's default", 512 * mib, 128 * mib, 100},
		{"just under half: at least Go's default", 63 * mib, 128 * mib, 103},
		{"nearly empty heap: capped", 1024, 128 * mib, maxPercent},
		{"nothing live yet: capped", 0, 128 * mib, maxPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, percentFor(tc.live, tc.min))
		})
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    uint64
		wantErr string
	}{
		{"default", nil, DefaultMinHeap, ""},
		{"GOGC set: Go's behaviour", map[string]string{"GOGC": "200"}, 0, ""},
		{"GOGC wins over the minimum", map[string]string{"GOGC": "off", "CHATWARDEN_GC_MIN_HEAP": "1000"}, 0, ""},
		{"configured minimum", map[string]string{"CHATWARDEN_GC_MIN_HEAP": "67108864"}, 64 << 20, ""},
		{"zero turns it off", map[string]string{"CHATWARDEN_GC_MIN_HEAP": "0"}, 0, ""},
		{"not a number", map[string]string{"CHATWARDEN_GC_MIN_HEAP": "64MiB"}, 0, `CHATWARDEN_GC_MIN_HEAP="64MiB": want a whole number of bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.MinHeap)
			assert.NotEmpty(t, p.Why)
		})
	}
}

// gcPercent reads the GOGC in force.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestStartFollowsTheLiveHeap: with a small live heap the GOGC in force makes
// the goal the minimum; when the live heap grows past half of it, the next
// collection brings GOGC back to 100; stop restores what was there.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	const minHeap = 256 << 20
	stop := Start(Policy{MinHeap: minHeap, Why: "test"}, zaptest.NewLogger(t))
	runtime.GC()
	runtime.GC() // the cleanup of the first cycle's sentinel has run by the end of the second
	assert.Greater(t, gcPercent(), 300, "a test binary's live heap is far below 128 MiB")

	big := make([]byte, 160<<20) // live, above half the minimum
	require.Eventually(t, func() bool { runtime.GC(); return gcPercent() == 100 }, 10e9, 1e6,
		"a live heap above half the minimum collects at Go's default")
	runtime.KeepAlive(big)

	stop()
	assert.Equal(t, 100, gcPercent(), "stop puts back the GOGC in force before Start")
	debug.SetGCPercent(77)
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 77, gcPercent(), "after stop, collections no longer change GOGC")
}

func TestDisabledPolicyChangesNothing(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	stop := Start(Policy{Why: "GOGC=100 is set"}, zaptest.NewLogger(t))
	runtime.GC()
	runtime.GC()
	assert.Equal(t, 100, gcPercent())
	stop()
	assert.Equal(t, 100, gcPercent())
}
