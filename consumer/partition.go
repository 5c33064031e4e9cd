package consumer

import (
	"cmp"
	"slices"
	"time"
)

// ownership decides what this replica does with one partition's deliveries:
// run them at once (pinned), hold them (a takeover, or after a gap) until
// nothing of the partition is pending anywhere else, release what it held in
// stream order, or hand it back (the partition is pinned elsewhere now).
//
// It is a pure state machine: it makes no broker calls, starts no
// goroutines and reads no clock. Its inputs are the deliveries (their
// consumer and stream sequences and the broker's pin id), the answers of
// the consumer's info and the time, each given by the caller (the
// partition, see puller.go), which does the I/O its decisions ask for. It is
// not safe for concurrent use: the partition guards it with its mutex.
//
// T is what the caller keeps with a delivery (a *job); the machine only
// returns it.
type ownership[T any] struct {
	ackWait time.Duration

	gen      int // deliveries to an earlier generation are ignored
	paused   bool
	stopped  bool
	started  bool   // the generation received a delivery
	pin      string // the broker's pin id on the last delivery
	pinGen   int    // counts the times this replica learnt that the broker pinned another replica
	guard    gapGuard
	seen     []seen            // the last answers of the consumer's info, in the order asked
	hold     *hold[T]          // nil: not holding
	holds    int               // ids of the holds started
	inflight map[uint64]flight // by consumer sequence: the deliveries handed over and not settled
}

// flight is a delivery handed over and not settled: n copies (of one
// consumer sequence; more than one only for sequence 0, deliveries without
// metadata) of the stream's message streamSeq (0: unknown).
type flight struct {
	n         int
	streamSeq uint64
}

// hold is a holding of deliveries until no other is pending.
type hold[T any] struct {
	id     int
	since  time.Time
	limit  time.Duration // 0: none
	waited bool          // a poll found events pending elsewhere (or could not count them)
	// lostBy: deliveries lost on their way (a gap) are redelivered by then,
	// and the hold does not end before, whatever the broker's count says
	// (zero: no gap).
	lostBy    time.Time
	lastAlive time.Time // when the held deliveries were last to be kept alive
	lastLog   time.Time
	held      []held[T]
}

type held[T any] struct {
	consumerSeq, streamSeq uint64
	item                   T
}

// seen is what an answer of the consumer's info to a request sent at sent
// said: the broker had delivered up to consumer sequence delivered.
type seen struct {
	sent      time.Time
	delivered uint64
}

// seenKept is how many answers a partition keeps: at one every quarter of
// the ack wait or more often, enough to date deliveries of the last two
// ack waits.
const seenKept = 32

// Takeover holding: how often the consumer's pending count is checked, and
// how long an unpinned consumer (no priority group: no ordering across
// replicas is promised) holds at most.
const (
	takeoverPoll      = 200 * time.Millisecond
	unpinnedHoldLimit = 2 * time.Second
)

// holdLogEvery is how often a hold that goes on logs that it waits.
const holdLogEvery = 10 * time.Second

// gapRedeliveryGrace is how long after its ack wait runs out a delivery lost
// on its way is surely redelivered (the broker's redelivery timer, and the
// way to this replica). A hold after a gap lasts at least the ack wait plus
// this: the lost deliveries were made before the gap showed, so they are
// redelivered by then.
const gapRedeliveryGrace = time.Second

// newOwnership is the state of a partition whose consumer had delivered up
// to consumer sequence delivered when asked at now.
func newOwnership[T any](ackWait time.Duration, now time.Time, delivered uint64) *ownership[T] {
	return &ownership[T]{ackWait: ackWait, seen: []seen{{sent: now, delivered: delivered}}, inflight: map[uint64]flight{}}
}

// unpinnedGapHoldLimit is how long a partition without a pin (no priority
// group: other replicas' deliveries count as pending too) holds deliveries
// after a gap at most: the lost ones are redelivered one ack wait after
// they were sent, within pullExpiry of the gap.
func unpinnedGapHoldLimit(ackWait time.Duration) time.Duration {
	return pullExpiry + ackWait + time.Second
}

// delivery is what the machine needs to know of a delivery.
type delivery struct {
	consumerSeq, streamSeq uint64
	pin                    string // the broker's pin id ("" without a priority group)
}

// receiveAction is what to do with a delivery.
type receiveAction int

const (
	// receiveIgnore: leave it unacknowledged (a stale generation, stopped,
	// or released to balance); the broker redelivers it.
	receiveIgnore receiveAction = iota
	// receiveHold: the machine holds it until the hold ends.
	receiveHold
	// receiveDispatch: run it now; it counts as in flight until settled.
	receiveDispatch
)

// receipt is the decision about one delivery.
type receipt struct {
	action receiveAction
	// gap is how many deliveries were lost just before this one (0: none).
	gap uint64
	// pinGen is the pin generation the delivery belongs to (see Runner.lost).
	pinGen int
	// startHold is the hold the caller must start polling (see poll); 0 when
	// none started.
	startHold int
}

// receive decides about delivery d, made to generation gen at now.
func (o *ownership[T]) receive(gen int, now time.Time, d delivery, item T) receipt {
	if gen != o.gen || o.stopped {
		return receipt{action: receiveIgnore}
	}
	rc := receipt{pinGen: o.pinGen}
	if lost := o.guard.observe(d.consumerSeq); lost > 0 {
		if o.paused {
			// Released to balance and draining: ignore the rest, it is
			// redelivered (to whichever replica holds the pin next).
			o.gen++
			o.hold = nil
			return receipt{action: receiveIgnore}
		}
		rc.gap = lost
		o.started, o.pin = true, d.pin
		if o.hold == nil {
			limit := time.Duration(0)
			if d.pin == "" {
				limit = unpinnedGapHoldLimit(o.ackWait)
			}
			rc.startHold = o.startHold(now, limit)
		}
		// The broker's count alone would do, if it were always right; this
		// floor keeps a chat's later event from overtaking a lost one when
		// it is not (a stale answer, a consumer leader that lost state).
		if by := now.Add(o.ackWait + gapRedeliveryGrace); by.After(o.hold.lostBy) {
			o.hold.lostBy = by
		}
	}
	if !o.started || d.pin != o.pin {
		// A takeover: the first delivery of the generation, or a new pin.
		o.started, o.pin = true, d.pin
		if o.hold == nil {
			limit := time.Duration(0)
			if d.pin == "" {
				limit = unpinnedHoldLimit
			}
			rc.startHold = o.startHold(now, limit)
		}
	}
	if o.hold != nil {
		o.hold.held = append(o.hold.held, held[T]{consumerSeq: d.consumerSeq, streamSeq: d.streamSeq, item: item})
		rc.action = receiveHold
		return rc
	}
	o.handOver(d.consumerSeq, d.streamSeq)
	rc.action = receiveDispatch
	return rc
}

// receiveUnreadable records a delivery without metadata, dispatched at once
// (to be terminated): it counts as in flight until settled (as consumer
// sequence 0).
func (o *ownership[T]) receiveUnreadable() { o.handOver(0, 0) }

// handOver counts a delivery as in flight until settled.
func (o *ownership[T]) handOver(consumerSeq, streamSeq uint64) {
	f := o.inflight[consumerSeq]
	f.n++
	f.streamSeq = streamSeq
	o.inflight[consumerSeq] = f
}

func (o *ownership[T]) startHold(now time.Time, limit time.Duration) int {
	o.holds++
	o.hold = &hold[T]{id: o.holds, since: now, limit: limit, lastAlive: now, lastLog: now}
	return o.holds
}

// holdAfterLoss makes the partition hold what it receives, as after a gap,
// until no event of it is pending anywhere else; it returns the hold to poll
// (0 when it already holds, or is stopped).
func (o *ownership[T]) holdAfterLoss(now time.Time) int {
	if o.stopped || o.hold != nil {
		return 0
	}
	limit := time.Duration(0)
	if o.pin == "" {
		limit = unpinnedGapHoldLimit(o.ackWait)
	}
	return o.startHold(now, limit)
}

// settle records that a delivery handed over is about to be acknowledged,
// dead-lettered or handed back: it no longer counts as in flight here.
func (o *ownership[T]) settle(consumerSeq uint64) {
	f := o.inflight[consumerSeq]
	if f.n--; f.n <= 0 {
		delete(o.inflight, consumerSeq)
		return
	}
	o.inflight[consumerSeq] = f
}

// received is the consumer sequence of the last delivery received (0: none
// yet in this generation). The broker made it before it was received, so an
// answer of the consumer's info asked after that and saying the broker had
// delivered less is not the consumer's current state (see answer.current).
func (o *ownership[T]) received() uint64 { return o.guard.last }

// observe records that the consumer's info, asked at sent when the last
// delivery received had consumer sequence received, said the broker had
// delivered up to consumer sequence delivered. A stale answer (see
// answer.current) is ignored: it would date deliveries the broker had made
// as not made yet, and so make them seem this replica's for longer than
// they are.
func (o *ownership[T]) observe(sent time.Time, delivered, received uint64) {
	if !(answer{ok: true, delivered: delivered, received: received}).current() {
		return
	}
	o.seen = append(o.seen, seen{sent: sent, delivered: delivered})
	if len(o.seen) > seenKept {
		o.seen = o.seen[len(o.seen)-seenKept:]
	}
}

// notDeliveredAt is the last time the broker was seen not to have made the
// delivery with consumer sequence seq yet (the zero time when it was not):
// the broker delivered it later.
func (o *ownership[T]) notDeliveredAt(seq uint64) time.Time {
	var at time.Time
	for _, s := range o.seen {
		if s.delivered < seq && s.sent.After(at) {
			at = s.sent
		}
	}
	return at
}

// noticePin records that the broker has pinned the partition to pinned: when
// that is another replica (and not because this one released it to
// balance), what this replica still holds of it was received under a pin it
// lost.
func (o *ownership[T]) noticePin(pinned string) {
	if pinned != "" && o.pin != "" && pinned != o.pin && !o.paused && !o.stopped {
		o.pinGen++
	}
}

// answer is an answer of the consumer's info to a hold's poll.
type answer struct {
	ok        bool   // false: the info could not be had
	pending   int    // the broker's count of deliveries not acknowledged (NumAckPending)
	delivered uint64 // the last consumer sequence the broker had delivered
	pinned    string // the client the broker has pinned the partition to ("" none)
	// received is the consumer sequence of the last delivery this replica
	// had received when it asked (see ownership.received).
	received uint64
}

// current reports whether the answer can be the consumer's state when it
// was asked: the broker had delivered at least what this replica had
// received by then. One that cannot is stale: a broker node that restarted
// answers from the state it had stored until it hears from the consumer's
// leader (nats-server answers so for a consumer whose group it thinks never
// had a leader), and that state's pending count misses what was delivered
// since, deliveries lost on their way among them: a hold that believed it
// would end before they are redelivered, and a chat's later event would
// overtake its earlier one. An answer reflects a prefix of the consumer's
// history (its replicas apply it in order), so one that has seen the last
// delivery received has seen every delivery before it.
//
// When the consumer's leader changed and lost deliveries it had made before
// they were replicated, the broker numbers them again from lower; answers
// are stale until the first of those new deliveries arrives, which is at
// once (the broker takes the messages as never delivered).
func (a answer) current() bool { return a.ok && a.delivered >= a.received }

// pollAction is what a hold's poll decided.
type pollAction int

const (
	// pollStale: the hold is over (ended, superseded, stopped): stop polling.
	pollStale pollAction = iota
	// pollWait: go on holding; keep the returned items alive.
	pollWait
	// pollRelease: the hold ended; hand the returned items over, in the
	// order returned (stream order); they count as in flight.
	pollRelease
	// pollHandBack: the broker pinned the partition to another replica;
	// hand the returned items back for the broker to redeliver there.
	pollHandBack
)

// verdict is the decision of a hold's poll.
type verdict[T any] struct {
	action pollAction
	items  []T
	// others is the count of deliveries pending elsewhere (-1: unknown).
	others int
	// waited: the hold waited for something (a poll found deliveries
	// pending elsewhere, or it lasted over a second), so its end is worth
	// an info line; holding for one check is routine.
	waited bool
	since  time.Time // when the hold started
	// logWait: time to log again that the hold goes on.
	logWait bool
	// pinGen is the pin generation of released items: nothing of the
	// partition is pending elsewhere, so they are the current pin's.
	pinGen int
	// staleAnswer: the answer was stale (see answer.current) and was taken
	// as no answer.
	staleAnswer bool
}

// poll decides, at now, about hold id given the consumer's info answer a.
// A hold ends once no delivery of the partition is pending anywhere else
// (the broker's pending count is what this replica holds and runs) and,
// after a gap, no sooner than the lost deliveries are redelivered (see
// gapRedeliveryGrace); or after its limit when it has one. A stale answer
// (see answer.current) counts as none. Only deliveries the broker had made
// when it answered (consumer sequence up to a.delivered) are counted here:
// one that arrives after the answer is not in its count. One that the
// broker counted and that arrives after the answer counts as elsewhere, so
// the hold waits a little longer rather than ending early. The broker
// counts messages, not deliveries: a message this replica has twice (a copy
// still running whose ack wait ran out, and its redelivery) counts as one
// here, or the hold would take a message pending elsewhere for local and end
// early.
func (o *ownership[T]) poll(id int, now time.Time, a answer) verdict[T] {
	h := o.hold
	if o.stopped || h == nil || h.id != id {
		return verdict[T]{action: pollStale}
	}
	v := verdict[T]{others: -1, since: h.since}
	if a.ok && !a.current() {
		v.staleAnswer, a.ok = true, false
	}
	if a.ok {
		if a.pinned != "" && o.pin != "" && a.pinned != o.pin {
			// The broker pinned the partition to another replica meanwhile
			// (a consumer leader change can do that without a word to this
			// one): that replica holds until nothing is pending here, so
			// what is held here must go back, or both would wait for each
			// other forever. The next delivery here, if any, starts a new
			// hold.
			v.action, v.items = pollHandBack, o.takeHeld()
			o.started = false
			o.pinGen++ // what this replica still runs of the partition is not its own any more
			return v
		}
		local := make(map[uint64]struct{}, len(h.held)+len(o.inflight))
		unknown := 0 // deliveries without metadata: each a message of its own
		for _, d := range h.held {
			if d.consumerSeq <= a.delivered {
				local[d.streamSeq] = struct{}{}
			}
		}
		for seq, f := range o.inflight {
			switch {
			case seq > a.delivered:
			case f.streamSeq == 0:
				unknown += f.n
			default:
				local[f.streamSeq] = struct{}{}
			}
		}
		v.others = a.pending - len(local) - unknown
	}
	if a.ok && v.others <= 0 && !now.Before(h.lostBy) || h.limit > 0 && now.Sub(h.since) > h.limit {
		v.waited = h.waited || now.Sub(h.since) > time.Second
		for _, d := range h.held {
			o.handOver(d.consumerSeq, d.streamSeq)
		}
		v.action, v.items, v.pinGen = pollRelease, o.takeHeld(), o.pinGen
		return v
	}
	h.waited = true
	v.action, v.waited = pollWait, true
	if now.Sub(h.lastAlive) > o.ackWait/3 {
		h.lastAlive = now
		for _, d := range h.held {
			v.items = append(v.items, d.item)
		}
	}
	if now.Sub(h.lastLog) > holdLogEvery {
		h.lastLog, v.logWait = now, true
	}
	return v
}

// takeHeld ends the hold and returns what it held in stream order.
func (o *ownership[T]) takeHeld() []T {
	hs := o.hold.held
	o.hold = nil
	slices.SortStableFunc(hs, func(a, b held[T]) int { return cmp.Compare(a.streamSeq, b.streamSeq) })
	items := make([]T, len(hs))
	for i, d := range hs {
		items[i] = d.item
	}
	return items
}

// pause stops the partition for a release to balance: deliveries after a
// gap are ignored from now on.
func (o *ownership[T]) pause() { o.paused = true }

// drained ends the generation pulled before a release: anything later to
// its pulls, and anything held, is ignored (and redelivered).
func (o *ownership[T]) drained() {
	o.gen++
	o.hold = nil // what it held is left to redelivery too
}

// resume starts a new generation of pulling after a pause, and returns it:
// the sequence starts over and the first delivery is a takeover.
func (o *ownership[T]) resume() int {
	o.guard.last = 0
	o.paused = false
	return o.begin()
}

// begin starts pulling as the current generation (at the start, or again
// after a pause): the first delivery is a takeover.
func (o *ownership[T]) begin() int {
	o.started, o.hold = false, nil
	return o.gen
}

// stop stops the partition: every later delivery is ignored and every hold
// ends without a release.
func (o *ownership[T]) stop() { o.stopped = true }

// owner is the pin id of the last delivery, and whether the partition is
// busy (paused, stopped or holding), so not surely owned.
func (o *ownership[T]) owner() (pin string, busy bool) {
	return o.pin, o.paused || o.stopped || o.hold != nil
}
