package breaker

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock runs timers when Advance passes their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), f: f})
}

// Advance moves the clock by d, running the timers due on the way in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

var errDown = errors.New("dial tcp: connection refused")

// step is one thing a table case does to a breaker.
type step struct {
	advance time.Duration
	calls   []Outcome // calls admitted and finished with these outcomes, in order
	// wantAdmit, when set, says whether a new call is admitted now (one
	// that is admitted is a probe left out, ended as Ignored).
	wantAdmit *bool
	want      State
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func repeat(o Outcome, n int) []Outcome {
	out := make([]Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

func TestBreakerStates(t *testing.T) {
	s := Settings{Window: 30 * time.Second, MinCalls: 5, FailureRatio: 0.5, Consecutive: 5,
		ProbeInterval: 5 * time.Second, ProbeMax: 20 * time.Second}
	cases := []struct {
		name  string
		steps []step
	}{
		{"successes keep it closed", []step{{calls: repeat(Success, 20), want: Closed, wantAdmit: yes()}}},
		{"four failures of four calls are not enough", []step{{calls: repeat(Failure, 4), want: Closed}}},
		{"five failures in a row open it", []step{{calls: repeat(Failure, 5), want: Open, wantAdmit: no()}}},
		{"half of at least five calls in the window opens it", []step{
			{calls: []Outcome{Failure, Success, Failure, Success, Success, Failure}, want: Open}}},
		{"less than half stays closed", []step{
			{calls: []Outcome{Failure, Success, Failure, Success, Success, Success, Failure}, want: Closed}}},
		{"failures older than the window do not count", []step{
			{calls: []Outcome{Failure, Failure, Success}, want: Closed},
			{advance: 31 * time.Second, calls: []Outcome{Success, Success, Failure, Success}, want: Closed}}},
		{"4xx and 429 are successes and break the streak", []step{
			{calls: []Outcome{Failure, Failure, Failure, Failure, Success, Success, Success, Success, Success, Success, Failure}, want: Closed}}},
		{"a cancelled call counts for nothing", []step{
			{calls: append(repeat(Ignored, 10), repeat(Failure, 4)...), want: Closed}}},
		{"no probe before the interval", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 4 * time.Second, wantAdmit: no(), want: Open}}},
		{"a probe after the interval; success closes", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 5 * time.Second, calls: []Outcome{Success}, want: Closed, wantAdmit: yes()}}},
		{"a failed probe reopens and the interval doubles", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 5 * time.Second, calls: []Outcome{Failure}, want: Open},
			{advance: 9 * time.Second, wantAdmit: no(), want: Open},
			{advance: time.Second, calls: []Outcome{Success}, want: Closed}}},
		{"the probe interval is capped", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 5 * time.Second, calls: []Outcome{Failure}, want: Open},  // next in 10s
			{advance: 10 * time.Second, calls: []Outcome{Failure}, want: Open}, // next in 20s
			{advance: 20 * time.Second, calls: []Outcome{Failure}, want: Open}, // next in 20s (cap)
			{advance: 19 * time.Second, wantAdmit: no(), want: Open},
			{advance: time.Second, calls: []Outcome{Success}, want: Closed}}},
		{"only one probe at a time", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 5 * time.Second, wantAdmit: yes(), want: Open}, // the probe's caller gave up: due again
			{wantAdmit: yes(), want: Open}}},
		{"closing starts a fresh window", []step{
			{calls: repeat(Failure, 5), want: Open},
			{advance: 5 * time.Second, calls: []Outcome{Success}, want: Closed},
			{calls: repeat(Failure, 4), want: Closed}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			b := New("livechat/default", s, WithClock(clock))
			for i, st := range tc.steps {
				clock.Advance(st.advance)
				for _, o := range st.calls {
					done, err := b.Admit()
					require.NoError(t, err, "step %d: call not admitted", i)
					_ = done(o, errDown)
				}
				if st.wantAdmit != nil {
					done, err := b.Admit()
					assert.Equal(t, *st.wantAdmit, err == nil, "step %d: admitted", i)
					if err == nil {
						_ = done(Ignored, nil)
					}
				}
				assert.Equal(t, st.want, b.State(), "step %d: state", i)
			}
		})
	}
}

func TestBreakerWaitersWakeOneProbeThenAll(t *testing.T) {
	clock := newFakeClock()
	var changes []Change
	b := New("livechat/default", Settings{Consecutive: 1, ProbeInterval: 5 * time.Second}, WithClock(clock),
		OnChange(func(c Change) { changes = append(changes, c) }))
	done, err := b.Admit()
	require.NoError(t, err)
	opened := done(Failure, errDown)
	require.ErrorIs(t, opened, ErrOpen, "the failure that opened the breaker waits too")
	require.ErrorIs(t, opened, errDown, "the cause stays reachable")

	var waits []*OpenError
	for range 3 {
		_, err := b.Admit()
		var oe *OpenError
		require.ErrorAs(t, err, &oe)
		waits = append(waits, oe)
	}
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	clock.Advance(5 * time.Second)
	var first *OpenError
	require.ErrorAs(t, opened, &first)
	assert.True(t, isClosed(first.Ready()), "the oldest waiter is woken to probe")
	for _, w := range waits {
		assert.False(t, isClosed(w.Ready()), "the others sleep")
	}
	probe, err := b.Admit()
	require.NoError(t, err)
	assert.Equal(t, HalfOpen, b.State())
	_, err = b.Admit()
	require.ErrorIs(t, err, ErrOpen, "no second call while the probe is out")
	require.NoError(t, probe(Success, nil))
	for _, w := range waits {
		assert.True(t, isClosed(w.Ready()), "closing wakes every waiter")
	}
	require.Len(t, changes, 3)
	assert.Equal(t, []State{Open, HalfOpen, Closed}, []State{changes[0].To, changes[1].To, changes[2].To})
	assert.ErrorIs(t, changes[0].Cause, errDown)
}

func TestBreakerWakesTheNextWaiterWhenTheProbeIsNotMade(t *testing.T) {
	clock := newFakeClock()
	b := New("rocketchat/chat.example.com", Settings{Consecutive: 1, ProbeInterval: 5 * time.Second}, WithClock(clock))
	done, _ := b.Admit()
	first := done(Failure, errDown).(*OpenError)
	_, err := b.Admit()
	second := err.(*OpenError)
	clock.Advance(5 * time.Second)
	<-first.Ready() // woken, but it went away without calling
	clock.Advance(5 * time.Second)
	select {
	case <-second.Ready():
	default:
		t.Fatal("the next waiter was not woken when the probe was not made")
	}
}
