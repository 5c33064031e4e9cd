package consumer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ownership state machine on a fake clock, without a broker: each case
// feeds deliveries, info answers and settlements in order and checks every
// decision. Items are the deliveries' stream sequences.

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const testAckWait = 3 * time.Second

// run is a case being played.
type run struct {
	t    *testing.T
	o    *ownership[uint64]
	hold int // the last hold started
}

type ownStep interface{ play(r *run, i int) }

// recv delivers (consumer sequence cseq, stream sequence sseq, pin) at
// t0+at to the machine's current generation (or gen when stale is set).
type recv struct {
	at         time.Duration
	cseq, sseq uint64
	pin        string
	stale      bool // deliver to the generation before the current one
	want       receiveAction
	gap        uint64
	startsHold bool
	pinGen     int
}

func (s recv) play(r *run, i int) {
	gen := r.o.gen
	if s.stale {
		gen--
	}
	rc := r.o.receive(gen, t0.Add(s.at), delivery{consumerSeq: s.cseq, streamSeq: s.sseq, pin: s.pin}, s.sseq)
	assert.Equal(r.t, s.want, rc.action, "step %d: action", i)
	assert.Equal(r.t, s.gap, rc.gap, "step %d: gap", i)
	assert.Equal(r.t, s.startsHold, rc.startHold != 0, "step %d: starts a hold", i)
	if rc.action != receiveIgnore {
		assert.Equal(r.t, s.pinGen, rc.pinGen, "step %d: pin generation", i)
	}
	if rc.startHold != 0 {
		r.hold = rc.startHold
	}
}

// poll answers the last hold's poll at t0+at with a (or an older hold's
// when old is set).
type poll struct {
	at      time.Duration
	a       answer
	old     bool // poll the hold before the last one
	want    pollAction
	items   []uint64
	others  int
	waited  bool
	logWait bool
	pinGen  int
	stale   bool // the answer is taken as stale
}

func (s poll) play(r *run, i int) {
	id := r.hold
	if s.old {
		id--
	}
	v := r.o.poll(id, t0.Add(s.at), s.a)
	assert.Equal(r.t, s.want, v.action, "step %d: action", i)
	if v.action == pollStale {
		return
	}
	assert.Equal(r.t, s.stale, v.staleAnswer, "step %d: stale answer", i)
	assert.Equal(r.t, s.items, v.items, "step %d: items", i)
	assert.Equal(r.t, s.others, v.others, "step %d: pending elsewhere", i)
	assert.Equal(r.t, s.waited, v.waited, "step %d: waited", i)
	assert.Equal(r.t, s.logWait, v.logWait, "step %d: time to log the wait", i)
	if v.action == pollRelease {
		assert.Equal(r.t, s.pinGen, v.pinGen, "step %d: released items' pin generation", i)
	}
}

// settle settles the delivery with consumer sequence cseq.
type settle struct{ cseq uint64 }

func (s settle) play(r *run, _ int) { r.o.settle(s.cseq) }

// notice tells the machine the broker pinned the partition to pinned.
type notice struct {
	pinned string
	pinGen int // want, after
}

func (s notice) play(r *run, i int) {
	r.o.noticePin(s.pinned)
	assert.Equal(r.t, s.pinGen, r.o.pinGen, "step %d: pin generation", i)
}

// lossHold makes the partition hold after a loss (see Runner.abandon).
type lossHold struct {
	at     time.Duration
	starts bool
}

func (s lossHold) play(r *run, i int) {
	id := r.o.holdAfterLoss(t0.Add(s.at))
	assert.Equal(r.t, s.starts, id != 0, "step %d: starts a hold", i)
	if id != 0 {
		r.hold = id
	}
}

// do changes the machine's state (pause, drain, resume, stop).
type do func(o *ownership[uint64])

func (s do) play(r *run, _ int) { s(r.o) }

func TestOwnership(t *testing.T) {
	pinned := func(delivered uint64, pending int) answer {
		return answer{ok: true, pending: pending, delivered: delivered, pinned: "A"}
	}
	cases := []struct {
		name  string
		steps []ownStep
	}{
		{
			name: "first delivery is held for one check, then released at once (routine, not waited)",
			steps: []ownStep{
				recv{cseq: 1, sseq: 10, pin: "A", want: receiveHold, startsHold: true},
				recv{cseq: 2, sseq: 11, pin: "A", want: receiveHold},
				poll{at: takeoverPoll, a: pinned(2, 2), want: pollRelease, items: []uint64{10, 11}, others: 0},
				recv{cseq: 3, sseq: 12, pin: "A", want: receiveDispatch},
			},
		},
		{
			name: "takeover waits while events are pending elsewhere, releases in stream order once none is",
			steps: []ownStep{
				recv{cseq: 5, sseq: 30, pin: "A", want: receiveHold, startsHold: true},
				recv{cseq: 6, sseq: 20, pin: "A", want: receiveHold}, // a redelivery of an older event
				poll{at: 200 * time.Millisecond, a: pinned(6, 3), want: pollWait, others: 1, waited: true},
				poll{at: 400 * time.Millisecond, a: pinned(6, 2), want: pollRelease, items: []uint64{20, 30}, others: 0, waited: true},
			},
		},
		{
			name: "a delivery made after the broker's answer does not count as local (no lock across the info call)",
			steps: []ownStep{
				// Stream seq 1 is pending at another replica (delivered as cseq 1 there).
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveHold, startsHold: true},
				// Arrives while the info call is on its way; the broker sent it after answering.
				recv{cseq: 3, sseq: 3, pin: "A", want: receiveHold},
				poll{at: 200 * time.Millisecond, a: pinned(2, 2), want: pollWait, others: 1, waited: true},
				poll{at: 400 * time.Millisecond, a: pinned(3, 2), want: pollRelease, items: []uint64{2, 3}, others: 0, waited: true},
			},
		},
		{
			name: "deliveries handed over and not settled count as local; settled ones as pending elsewhere",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveDispatch},
				lossHold{at: time.Second, starts: true},
				recv{cseq: 3, sseq: 3, pin: "A", want: receiveHold},
				// 1 and 2 run here, 3 is held: nothing elsewhere.
				poll{at: 1200 * time.Millisecond, a: pinned(3, 3), want: pollRelease, items: []uint64{3}, others: 0},
				lossHold{at: 2 * time.Second, starts: true},
				settle{cseq: 1},
				settle{cseq: 2},
				// Settled here but not yet acknowledged at the broker: counted elsewhere, so the hold waits.
				poll{at: 2200 * time.Millisecond, a: pinned(3, 3), want: pollWait, others: 2, waited: true},
				settle{cseq: 3},
				poll{at: 2400 * time.Millisecond, a: pinned(3, 0), want: pollRelease, items: []uint64{}, others: 0, waited: true},
			},
		},
		{
			name: "a message here twice (a copy whose ack wait ran out, still running, and its redelivery) counts once against the broker's pending",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveDispatch},
				lossHold{at: time.Second, starts: true},
				recv{cseq: 3, sseq: 2, pin: "A", want: receiveHold},
				// 1 and 2 are here (2 twice); a third message is pending elsewhere.
				poll{at: 1200 * time.Millisecond, a: pinned(3, 3), want: pollWait, others: 1, waited: true},
				poll{at: 1400 * time.Millisecond, a: pinned(3, 2), want: pollRelease, items: []uint64{2}, others: 0, waited: true},
				settle{cseq: 2},
				lossHold{at: 2 * time.Second, starts: true},
				// Settled here: 2's redelivery runs, the settled copy no longer counts.
				poll{at: 2200 * time.Millisecond, a: pinned(3, 3), want: pollWait, others: 1, waited: true},
			},
		},
		{
			name: "a gap holds the later deliveries until the lost ones are redelivered",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				recv{at: 300 * time.Millisecond, cseq: 4, sseq: 4, pin: "A", want: receiveHold, gap: 2, startsHold: true},
				// 2 and 3 lost on the way: pending, not here.
				poll{at: 500 * time.Millisecond, a: pinned(4, 4), want: pollWait, others: 2, waited: true},
				// Redelivered one ack wait after they were sent.
				recv{at: 3 * time.Second, cseq: 5, sseq: 2, pin: "A", want: receiveHold, gap: 0},
				recv{at: 3 * time.Second, cseq: 6, sseq: 3, pin: "A", want: receiveHold},
				poll{at: 3300*time.Millisecond + gapRedeliveryGrace, a: pinned(6, 4), want: pollRelease, items: []uint64{2, 3, 4}, others: 0, waited: true},
			},
		},
		{
			name: "after a gap, the hold lasts the ack wait and its grace though the broker counts nothing elsewhere; a gap while holding extends it",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				settle{cseq: 1},
				recv{at: time.Second, cseq: 4, sseq: 4, pin: "A", want: receiveHold, gap: 2, startsHold: true},
				// A count that misses 2 and 3 (wrong, or stale and not
				// recognised as such): the hold goes on all the same.
				poll{at: 1200 * time.Millisecond, a: pinned(4, 1), want: pollWait, others: 0, waited: true},
				recv{at: 2 * time.Second, cseq: 7, sseq: 7, pin: "A", want: receiveHold, gap: 2},
				poll{at: time.Second + testAckWait + gapRedeliveryGrace, a: pinned(7, 2), want: pollWait, others: 0, waited: true, items: []uint64{4, 7}},
				poll{at: 2*time.Second + testAckWait + gapRedeliveryGrace, a: pinned(7, 2), want: pollRelease, items: []uint64{4, 7}, others: 0, waited: true},
			},
		},
		{
			name: "a stale answer (a restarted node's stored state, missing the lost deliveries) does not end a gap hold",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				settle{cseq: 1},
				recv{at: time.Second, cseq: 4, sseq: 4, pin: "A", want: receiveHold, gap: 2, startsHold: true},
				// Asked after 4 was received, answered as of before 2 was
				// delivered: nothing pending but 4, which is not counted.
				poll{at: 1200 * time.Millisecond, a: answer{ok: true, pending: 0, delivered: 1, pinned: "A", received: 4},
					want: pollWait, others: -1, waited: true, stale: true},
				// Nor may it hand back on the pin it names.
				poll{at: 1400 * time.Millisecond, a: answer{ok: true, pending: 0, delivered: 1, pinned: "B", received: 4},
					want: pollWait, others: -1, waited: true, stale: true},
				// The consumer's leader answers: 2 and 3 pending, lost on the way.
				poll{at: 1600 * time.Millisecond, a: answer{ok: true, pending: 3, delivered: 4, pinned: "A", received: 4},
					want: pollWait, others: 2, waited: true},
				recv{at: 11 * time.Second, cseq: 5, sseq: 2, pin: "A", want: receiveHold},
				recv{at: 11 * time.Second, cseq: 6, sseq: 3, pin: "A", want: receiveHold},
				poll{at: 11200 * time.Millisecond, a: answer{ok: true, pending: 3, delivered: 6, pinned: "A", received: 6},
					want: pollRelease, items: []uint64{2, 3, 4}, others: 0, waited: true},
			},
		},
		{
			name: "renumbered lower by the broker (a new consumer leader that lost deliveries): answers count again once the new numbering arrives",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				settle{cseq: 1},
				recv{at: time.Second, cseq: 4, sseq: 4, pin: "A", want: receiveHold, gap: 2, startsHold: true},
				poll{at: 1200 * time.Millisecond, a: answer{ok: true, pending: 0, delivered: 1, pinned: "A", received: 4},
					want: pollWait, others: -1, waited: true, stale: true},
				// The new leader delivers 2, 3 and 4 anew, from consumer sequence 2.
				recv{at: 1300 * time.Millisecond, cseq: 2, sseq: 2, pin: "A", want: receiveHold},
				recv{at: 1300 * time.Millisecond, cseq: 3, sseq: 3, pin: "A", want: receiveHold},
				recv{at: 1300 * time.Millisecond, cseq: 4, sseq: 4, pin: "A", want: receiveHold},
				poll{at: 1400 * time.Millisecond, a: answer{ok: true, pending: 3, delivered: 4, pinned: "A", received: 4},
					want: pollWait, others: 0, waited: true},
				poll{at: time.Second + testAckWait + gapRedeliveryGrace, a: answer{ok: true, pending: 3, delivered: 4, pinned: "A", received: 4},
					want: pollRelease, items: []uint64{2, 3, 4, 4}, others: 0, waited: true},
			},
		},
		{
			name: "pinned holds have no limit; unanswered polls wait",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: time.Second, a: answer{}, want: pollWait, others: -1, waited: true},
				poll{at: time.Hour, a: answer{}, want: pollWait, items: []uint64{1}, others: -1, waited: true, logWait: true},
			},
		},
		{
			name: "an unpinned takeover hold ends at its limit even without answers",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, want: receiveHold, startsHold: true},
				poll{at: unpinnedHoldLimit, a: answer{}, want: pollWait, items: []uint64{1}, others: -1, waited: true},
				poll{at: unpinnedHoldLimit + time.Millisecond, a: answer{}, want: pollRelease, items: []uint64{1}, others: -1, waited: true},
			},
		},
		{
			name: "an unpinned gap hold lasts up to the pull expiry plus the ack wait plus 1s",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: answer{ok: true, pending: 1, delivered: 1}, want: pollRelease, items: []uint64{1}},
				recv{at: time.Second, cseq: 3, sseq: 3, want: receiveHold, gap: 1, startsHold: true},
				poll{at: time.Second + unpinnedGapHoldLimit(testAckWait), a: answer{ok: true, pending: 5, delivered: 3}, want: pollWait, items: []uint64{3}, others: 3, waited: true},
				poll{at: time.Second + unpinnedGapHoldLimit(testAckWait) + time.Millisecond, a: answer{ok: true, pending: 5, delivered: 3},
					want: pollRelease, items: []uint64{3}, others: 3, waited: true},
			},
		},
		{
			name: "pinned to another replica while holding: hand back, lose the pin generation, hold again on the next delivery",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveHold},
				poll{at: 200 * time.Millisecond, a: answer{ok: true, pending: 3, delivered: 2, pinned: "B"}, want: pollHandBack, items: []uint64{1, 2}, others: -1},
				poll{at: 400 * time.Millisecond, a: pinned(2, 0), want: pollStale},
				recv{at: time.Second, cseq: 3, sseq: 1, pin: "A", want: receiveHold, startsHold: true, pinGen: 1},
				poll{at: 1200 * time.Millisecond, a: pinned(3, 1), want: pollRelease, items: []uint64{1}, pinGen: 1},
			},
		},
		{
			name: "a new pin on a delivery is a takeover",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				recv{cseq: 2, sseq: 2, pin: "C", want: receiveHold, startsHold: true},
				poll{at: 400 * time.Millisecond, a: answer{ok: true, pending: 2, delivered: 2, pinned: "C"}, want: pollRelease, items: []uint64{2}},
			},
		},
		{
			name: "the broker naming another pin makes what runs here lost, except while released to balance",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				notice{pinned: "A", pinGen: 0},
				notice{pinned: "", pinGen: 0},
				notice{pinned: "B", pinGen: 1},
				do(func(o *ownership[uint64]) { o.pause() }),
				notice{pinned: "B", pinGen: 1},
			},
		},
		{
			name: "a gap while released to balance ends the generation: the rest is left to redelivery",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				do(func(o *ownership[uint64]) { o.pause() }),
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveDispatch},
				recv{cseq: 4, sseq: 4, pin: "A", want: receiveIgnore},
				recv{cseq: 5, sseq: 5, pin: "A", stale: true, want: receiveIgnore},
				do(func(o *ownership[uint64]) { o.resume() }),
				recv{at: 5 * time.Second, cseq: 9, sseq: 3, pin: "A", want: receiveHold, startsHold: true},
			},
		},
		{
			name: "after a release is drained and pulling resumes, the first delivery is a takeover and old generations are ignored",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				do(func(o *ownership[uint64]) { o.pause(); o.drained() }),
				// What was held is dropped with the generation, left to redelivery.
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollStale},
				recv{cseq: 2, sseq: 2, pin: "A", stale: true, want: receiveIgnore},
				do(func(o *ownership[uint64]) { o.resume() }),
				recv{cseq: 7, sseq: 2, pin: "B", want: receiveHold, startsHold: true}, // no gap: the sequence starts over
			},
		},
		{
			name: "a hold after a loss starts once; stopped, nothing is received or released",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				lossHold{starts: false}, // already holding
				do(func(o *ownership[uint64]) { o.stop() }),
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollStale},
				recv{cseq: 2, sseq: 2, pin: "A", want: receiveIgnore},
				lossHold{starts: false},
			},
		},
		{
			name: "a superseded hold's poll is stale",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 200 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}},
				lossHold{at: time.Second, starts: true},
				poll{at: 1200 * time.Millisecond, old: true, a: pinned(1, 0), want: pollStale},
				poll{at: 1400 * time.Millisecond, a: pinned(1, 0), want: pollRelease, items: []uint64{}, others: -1},
			},
		},
		{
			name: "held deliveries are kept alive every third of the ack wait, the wait logged every 10s",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: testAckWait / 3, a: pinned(1, 2), want: pollWait, others: 1, waited: true},
				poll{at: testAckWait/3 + time.Millisecond, a: pinned(1, 2), want: pollWait, items: []uint64{1}, others: 1, waited: true},
				poll{at: testAckWait / 2, a: pinned(1, 2), want: pollWait, others: 1, waited: true},
				poll{at: holdLogEvery + time.Millisecond, a: pinned(1, 2), want: pollWait, items: []uint64{1}, others: 1, waited: true, logWait: true},
				poll{at: holdLogEvery + 2*time.Millisecond, a: pinned(1, 2), want: pollWait, others: 1, waited: true},
			},
		},
		{
			name: "a hold longer than a second counts as waited though its first poll released it",
			steps: []ownStep{
				recv{cseq: 1, sseq: 1, pin: "A", want: receiveHold, startsHold: true},
				poll{at: 1001 * time.Millisecond, a: pinned(1, 1), want: pollRelease, items: []uint64{1}, waited: true},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{t: t, o: newOwnership[uint64](testAckWait, t0, 0)}
			r.o.begin()
			for i, s := range tc.steps {
				s.play(r, i)
			}
		})
	}
}

func TestOwnershipNotDeliveredAt(t *testing.T) {
	o := newOwnership[uint64](testAckWait, t0, 4)
	o.observe(t0.Add(time.Second), 6, 0)
	o.observe(t0.Add(500*time.Millisecond), 5, 5) // answered late: asked earlier
	o.observe(t0.Add(10*time.Second), 2, 6)       // stale: ignored
	for i := range seenKept - 3 {
		o.observe(t0.Add(2*time.Second+time.Duration(i)), 6, 6)
	}
	cases := []struct {
		name string
		seq  uint64
		want time.Time
	}{
		{name: "delivered before every answer", seq: 4, want: time.Time{}},
		{name: "not delivered at the first answer", seq: 5, want: t0},
		{name: "not delivered at the late answer", seq: 6, want: t0.Add(500 * time.Millisecond)},
		{name: "not delivered at any answer", seq: 7, want: t0.Add(2*time.Second + time.Duration(seenKept-4))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, o.notDeliveredAt(tc.seq))
		})
	}
	o.observe(t0.Add(3*time.Second), 7, 6)
	require.Len(t, o.seen, seenKept, "only the last answers are kept")
	assert.Equal(t, time.Time{}, o.notDeliveredAt(5), "the first answer was dropped")
}
