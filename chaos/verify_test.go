package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
)

// stored is an event as found in the events stream.
type stored struct {
	id        string
	chat      string
	action    string
	seq       int
	streamSeq uint64
}

// report is what a scenario found; every count is printed.
type report struct {
	posted, accepted, neverAccepted, non200, postErrors int
	refusedEx                                           []string // webhooks never answered 200, with their answers
	dupPosted, dupAccepted                              int

	storedEvents, acceptedMissing int
	storedOutOfOrder              int // a chat's events stored in another order than posted (diagnostic)

	required, applied, missing       int
	orderCalls, orderChats           int
	orderViolations, violatingChats  int
	overlaps                         int // calls about a chat while another about it was served
	sendExpected, sendDone, repeated int

	deadLetters, deadExpected, deadUnexpected, deadMissing, deadNoReason int
	deadReasons                                                          map[string]int

	apiCalls, api429, api500, apiHung int64
	redeliveries                      int64 // deliveries by the worker consumers beyond each event's first

	problems []string
	kinds    map[string]int
}

// problem records a finding; the first 8 of each kind (the word before the
// colon) are kept for the failure message.
func (r *report) problem(format string, args ...any) {
	kind, _, _ := strings.Cut(format, ":")
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	if r.kinds[kind]++; r.kinds[kind] <= 8 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// verify reads the streams and the fake's call log, checks the guarantees,
// prints the counts and fails the test on any violation.
func (s *scenario) verify() *report {
	s.t.Helper()
	r := &report{deadReasons: map[string]int{}}
	events := s.readEvents()
	dls := s.readDeadLetters()
	calls := s.fake.Calls()

	// Webhooks: answered 200 means stored.
	byID := map[string]*stored{}
	for _, e := range events {
		byID[e.id] = e
	}
	r.storedEvents = len(events)
	for _, w := range s.webhooks {
		r.posted++
		if w.accepted {
			r.accepted++
			if byID[w.id] == nil {
				r.acceptedMissing++
				r.problem("LOST: webhook %s #%d of chat %s (event %s) was answered 200 but is not in %s", w.action, w.seq, w.chat, w.id, bus.EventsStream)
			}
		} else {
			r.neverAccepted++
			if len(r.refusedEx) < 3 {
				r.refusedEx = append(r.refusedEx, fmt.Sprintf("%s #%d of %s: %v", w.action, w.seq, w.chat, w.answers))
			}
		}
		if w.dup && w.accepted {
			r.dupPosted++
			if w.dupOK {
				r.dupAccepted++
			}
		}
	}
	r.non200, r.postErrors = int(s.non200.Load()), int(s.postErrors.Load())

	// The events of each chat in stream order, and each seq's rank in it.
	chats := map[string][]*stored{}
	for _, e := range events {
		chats[e.chat] = append(chats[e.chat], e)
	}
	rank := map[string]map[int]int{}
	for chat, evs := range chats {
		rank[chat] = map[int]int{}
		for i, e := range evs {
			rank[chat][e.seq] = i
			if i > 0 && e.seq < evs[i-1].seq {
				r.storedOutOfOrder++
			}
		}
	}

	// The calls that were performed (the fake answered 200).
	type chatCalls struct {
		seqs      []int       // chaos-order writes, in call order
		times     []time.Time // when they arrived
		replicas  []string    // and which replica made them
		unpins    int
		notes     int
		noteTimes []string
		tagged    int
		applied   map[int]bool
	}
	perChat := map[string]*chatCalls{}
	get := func(chat string) *chatCalls {
		if perChat[chat] == nil {
			perChat[chat] = &chatCalls{applied: map[int]bool{}}
		}
		return perChat[chat]
	}
	for _, c := range calls {
		if c.Status != 200 {
			continue
		}
		switch c.Action {
		case "update_chat_properties":
			var b struct {
				ID         string                    `json:"id"`
				Properties map[string]map[string]any `json:"properties"`
			}
			require.NoError(s.t, json.Unmarshal(c.Body, &b))
			if seq, ok := b.Properties[seqNS]["seq"].(float64); ok {
				cc := get(b.ID)
				cc.seqs = append(cc.seqs, int(seq))
				cc.times = append(cc.times, c.Time)
				cc.replicas = append(cc.replicas, replicaOf(c.Header))
				cc.applied[int(seq)] = true
			}
			if pinned, ok := b.Properties[livechat.NSRouting]["pinned"]; ok && pinned == false {
				get(b.ID).unpins++
			}
		case "send_event":
			var b struct {
				ChatID string         `json:"chat_id"`
				Event  map[string]any `json:"event"`
			}
			require.NoError(s.t, json.Unmarshal(c.Body, &b))
			if b.Event["text"] == noteText {
				cc := get(b.ChatID)
				cc.notes++
				cc.noteTimes = append(cc.noteTimes, s.since(c.Time)+"@"+replicaOf(c.Header))
			}
		case "tag_thread":
			var b struct {
				ChatID string `json:"chat_id"`
				Tag    string `json:"tag"`
			}
			require.NoError(s.t, json.Unmarshal(c.Body, &b))
			if b.Tag == seenTag {
				get(b.ChatID).tagged++
			}
		}
	}

	// Per-chat order: the chaos-order writes of a chat must follow the
	// order its events were stored in. Writing the same event again (a
	// redelivery) is fine; going back to an earlier one is a violation.
	for chat, cc := range perChat {
		if len(cc.seqs) == 0 {
			continue
		}
		r.orderChats++
		r.orderCalls += len(cc.seqs)
		maxRank, violated := -1, false
		for i, seq := range cc.seqs {
			rk, ok := rank[chat][seq]
			if !ok {
				r.problem("STREAM: chat %s: event #%d was acted on but is not in the events stream", chat, seq)
				continue
			}
			if rk < maxRank {
				r.orderViolations++
				if !violated {
					r.problem("ORDER: chat %s: event #%d applied after a later one; applied order (event@replica) %s, stored order %v (violation at call %d, %s; %s)",
						chat, seq, appliedOrder(cc.seqs, cc.replicas), storedSeqs(chats[chat]), i+1, s.since(cc.times[i]), s.deliveries(chat, seq))
				}
				violated = true
			}
			maxRank = max(maxRank, rk)
		}
		if violated {
			r.violatingChats++
		}
	}

	// Required actions, from what was stored.
	ghost := func(chat string) bool { return strings.HasPrefix(chat, "GHOST") }
	dlByID := map[string][]consumer.DeadLetter{}
	for _, dl := range dls {
		dlByID[dl.ID] = append(dlByID[dl.ID], dl)
	}
	fakeChats := map[string]bool{}
	for _, c := range s.fake.Chats() {
		fakeChats[c.ID] = true
	}
	for chat, evs := range chats {
		cc := get(chat)
		if ghost(chat) {
			for _, e := range evs {
				r.deadExpected++
				if len(dlByID[e.id]) == 0 {
					r.deadMissing++
					r.problem("DEAD: chat %s (unknown to the API): event #%d %s was not dead-lettered", chat, e.seq, e.action)
				}
			}
			continue
		}
		require.True(s.t, fakeChats[chat], "chat %s exists in the fake", chat)
		state, _ := s.fake.Chat(chat)
		var deactivated, messages, transfers int
		for _, e := range evs {
			r.required++ // chaos-order
			if !cc.applied[e.seq] {
				r.missing++
				r.problem("MISSING: chat %s: event #%d %s (%s) was never applied (chaos-order)", chat, e.seq, e.action, e.id)
			}
			switch e.action {
			case "chat_deactivated":
				deactivated++
			case "incoming_event":
				messages++
			case "chat_transferred":
				transfers++
			}
		}
		if deactivated > 0 {
			r.required++
			if state.Pinned() || cc.unpins == 0 {
				r.missing++
				r.problem("MISSING: chat %s: %d chat_deactivated events stored, but pinned=%v after %d unpin calls", chat, deactivated, state.Pinned(), cc.unpins)
			}
		}
		if messages > 0 {
			r.required++
			if state.Thread == nil || !slices.Contains(state.Thread.Tags, seenTag) {
				r.missing++
				r.problem("MISSING: chat %s: %d incoming_event events stored, but its thread is not tagged %s", chat, messages, seenTag)
			}
		}
		r.required += transfers
		r.sendExpected += transfers
		r.sendDone += min(cc.notes, transfers)
		if cc.notes < transfers {
			r.missing += transfers - cc.notes
			r.problem("MISSING: chat %s: %d chat_transferred events stored, %d send_event calls", chat, transfers, cc.notes)
		}
		if cc.notes > transfers {
			r.repeated += cc.notes - transfers
			r.problem("REPEATED: chat %s: %d chat_transferred events stored, but send_event was performed %d times (at %s); %s",
				chat, transfers, cc.notes, strings.Join(cc.noteTimes, ", "), s.noteAudit(chat))
		}
	}
	r.applied = r.required - r.missing

	// Dead letters: each with a reason, and only the expected ones.
	for id, list := range dlByID {
		dl := list[0]
		r.deadLetters++
		r.deadReasons[dl.Reason+"/"+dl.Cause]++
		if dl.Reason == "" || dl.Error == "" {
			r.deadNoReason++
			r.problem("DEAD: dead letter of event %s (chat %s) has no reason or error: reason=%q error=%q", id, dl.ChatID, dl.Reason, dl.Error)
		}
		if !ghost(dl.ChatID) {
			r.deadUnexpected++
			r.problem("UNEXPECTED dead letter: chat %s, event %s %s: %s/%s after %d attempts: %s", dl.ChatID, id, dl.Action, dl.Reason, dl.Cause, dl.Attempts, dl.Error)
		} else if dl.Reason != consumer.ReasonPermanent {
			r.problem("DEAD: dead letter of event %s of unknown chat %s: reason %s, want %s: %s", id, dl.ChatID, dl.Reason, consumer.ReasonPermanent, dl.Error)
		}
	}

	r.apiCalls, r.api429, r.api500, r.apiHung = s.flaky.calls.Load(), s.flaky.n429.Load(), s.flaky.n500.Load(), s.flaky.hung.Load()
	var overlapEx []string
	r.overlaps, overlapEx = s.flaky.Overlaps()
	for _, ex := range overlapEx {
		r.problem("CONCURRENT: a call about %s while another call about the same chat was being served", ex)
	}
	r.redeliveries = s.redeliveries()
	s.print(r)
	s.requireFaultsFired(r)

	assert.Zero(s.t, r.acceptedMissing, "webhooks answered 200 missing from the events stream")
	assert.Zero(s.t, r.missing, "required actions not applied")
	assert.Zero(s.t, r.orderViolations, "per-chat order violations")
	assert.Zero(s.t, r.overlaps, "calls about a chat while another about it was served (two events of one chat at once)")
	assert.Zero(s.t, r.repeated, "repeated non-idempotent actions")
	assert.Zero(s.t, r.deadNoReason, "dead letters without a reason")
	assert.Zero(s.t, r.deadUnexpected, "unexpected dead letters")
	assert.Zero(s.t, r.deadMissing, "events of unknown chats not dead-lettered")
	if len(r.problems) > 0 {
		s.t.Errorf("%s: problems found (at most 8 of each kind):\n  %s", s.p.name, strings.Join(r.problems, "\n  "))
	}
	return r
}

// requireFaultsFired fails the test when the run did not do what it is
// named for: the zero counts of failures above prove nothing if the
// receivers refused everything, no action was applied or no fault fired.
// Each minimum is checked only when the plan asks for that fault.
func (s *scenario) requireFaultsFired(r *report) {
	p := s.p
	// Webhooks are refused only while the NATS node is down (a few seconds
	// of a run of tens) and senders retry: most are accepted.
	assert.GreaterOrEqual(s.t, r.accepted, p.webhooks*8/10, "webhooks answered 200: at least 80%% of %d", p.webhooks)
	// Nearly every event (all but those of the few chats the API does not
	// know) requires one action or more: 4068 for 3000 webhooks in the
	// short form, 2052 for 1500 in the cluster test.
	assert.GreaterOrEqual(s.t, r.applied, r.accepted/2, "required actions applied: at least half as many as webhooks accepted (%d)", r.accepted)
	wantKills := len(p.killAt)
	if p.killEvery > 0 {
		wantKills = max(wantKills, 1)
	}
	assert.GreaterOrEqual(s.t, s.kills, wantKills, "workers killed with SIGKILL")
	if p.natsStopAt > 0 {
		assert.NotEmpty(s.t, s.natsRestarts, "NATS node restarts")
	}
	for _, f := range []struct {
		name  string
		share float64
		n     int64
	}{{"429", p.api429, r.api429}, {"500", p.api500, r.api500}, {"hung", p.apiHang, r.apiHung}} {
		if f.share > 0 {
			assert.Positive(s.t, f.n, "API calls answered %s (%.0f%% of %d planned)", f.name, 100*f.share, r.apiCalls)
		}
	}
	if wantKills > 0 {
		// A worker killed while busy leaves deliveries unacknowledged; the
		// broker delivers them again once their ack wait runs out.
		assert.Positive(s.t, r.redeliveries, "redeliveries after the kills")
	}
}

// redeliveries counts the worker consumers' deliveries beyond the first of
// each event: a consumer's delivery sequence counts every delivery,
// redeliveries included, and once drained every event of its partition was
// delivered at least once. -1 when the broker could not say.
func (s *scenario) redeliveries() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := s.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		s.t.Logf("redeliveries: %v", err)
		return -1
	}
	var n int64
	for p := range partitions {
		c, err := s.js.Consumer(ctx, bus.EventsStream, bus.WorkerConsumerName(p))
		if err != nil {
			s.t.Logf("redeliveries: partition %d: %v", p, err)
			return -1
		}
		ci, err := c.Info(ctx)
		if err != nil {
			s.t.Logf("redeliveries: partition %d: %v", p, err)
			return -1
		}
		si, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.PartitionFilter(p)))
		if err != nil {
			s.t.Logf("redeliveries: partition %d: %v", p, err)
			return -1
		}
		var stored uint64
		for _, c := range si.State.Subjects {
			stored += c
		}
		n += max(int64(ci.Delivered.Consumer)-int64(stored), 0)
	}
	return n
}

// deliveries tells, from the audit records, on which deliveries of the
// event chaos-order acted and when: evidence for an order violation.
func (s *scenario) deliveries(chat string, seq int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := s.readAudit(ctx, chat, "chaos-order")
	if err != nil {
		return "audit: " + err.Error()
	}
	var id string
	for _, w := range s.webhooks {
		if w.chat == chat && w.seq == seq {
			id = w.id
		}
	}
	var out []string
	for _, rec := range recs {
		if rec.EventID == id {
			out = append(out, fmt.Sprintf("%s on delivery %d at %s", rec.Outcome, rec.Attempt, s.since(rec.Time)))
		}
	}
	return "audit of the event: " + strings.Join(out, ", ")
}

// noteAudit tells what the audit says about note-transfer for a chat:
// evidence for a repeated send_event.
func (s *scenario) noteAudit(chat string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := s.readAudit(ctx, chat, "note-transfer")
	if err != nil {
		return "audit: " + err.Error()
	}
	var out []string
	for _, rec := range recs {
		out = append(out, fmt.Sprintf("event %.8s %s on delivery %d at %s%s", rec.EventID, rec.Outcome, rec.Attempt, s.since(rec.Time), strings.TrimSuffix(" "+rec.Error, " ")))
	}
	return "audit of note-transfer: " + strings.Join(out, "; ")
}

// readAudit reads a chat's audit records of one rule, trying again on a
// transient error.
func (s *scenario) readAudit(ctx context.Context, chat, rule string) (recs []audit.Record, err error) {
	for try := 0; try < 3; try++ {
		if recs, err = audit.Read(ctx, s.js, audit.Query{ChatID: chat, Rule: rule}); err == nil {
			return recs, nil
		}
		time.Sleep(time.Second)
	}
	return nil, err
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func appliedOrder(seqs []int, replicas []string) string {
	out := make([]string, len(seqs))
	for i := range seqs {
		out[i] = fmt.Sprintf("%d@%s", seqs[i], replicas[i])
	}
	return "[" + strings.Join(out, " ") + "]"
}

func storedSeqs(evs []*stored) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.seq
	}
	return out
}

func (s *scenario) print(r *report) {
	var b strings.Builder
	p := s.p
	fmt.Fprintf(&b, "%s: %d webhooks over %d chats, seed %d, %s (last webhook answered at +%s, then the drain took %s)\n", p.name, p.webhooks, p.chats, s.seed,
		time.Since(s.start).Round(time.Second), s.postTime.Round(time.Second), s.drainTime.Round(time.Second))
	fmt.Fprintf(&b, "  workers:       %d events still to finish when the last webhook was answered; drained at %.1f events/s\n",
		s.pendingAtDrain, float64(s.pendingAtDrain-min(s.pendingAtEnd, s.pendingAtDrain))/max(s.drainTime.Seconds(), 0.001))
	if s.unfinished != "" {
		fmt.Fprintf(&b, "                 NOT FINISHED when the drain timed out (their actions count as missing): %s\n", s.unfinished)
	}
	fmt.Fprintf(&b, "  webhooks:      posted %d, answered 200 %d, never 200 %d (non-200 answers %d, transport errors %d), delivered twice %d (second answered 200: %d)\n",
		r.posted, r.accepted, r.neverAccepted, r.non200, r.postErrors, r.dupPosted, r.dupAccepted)
	if len(r.refusedEx) > 0 {
		fmt.Fprintf(&b, "                 never answered 200 (the sender gave up; allowed): %s\n", strings.Join(r.refusedEx, "; "))
	}
	fmt.Fprintf(&b, "  events stream: %d events; answered 200 but missing: %d; stored out of posting order: %d\n",
		r.storedEvents, r.acceptedMissing, r.storedOutOfOrder)
	failed := 0
	for _, w := range s.workers {
		failed += w.FailedStarts()
	}
	fmt.Fprintf(&b, "  faults:        worker kills (SIGKILL) %d, worker restarts %d (starts that exited before serving, retried: %d), NATS node restarts %d %v\n",
		s.kills, s.restarts, failed, len(s.natsRestarts), s.natsRestarts)
	fmt.Fprintf(&b, "                 API calls %d: 429 %d (%.1f%%), 500 %d (%.1f%%), hung past the client timeout %d (%.1f%%)\n", r.apiCalls,
		r.api429, pct(r.api429, r.apiCalls), r.api500, pct(r.api500, r.apiCalls), r.apiHung, pct(r.apiHung, r.apiCalls))
	fmt.Fprintf(&b, "                 redeliveries by the broker (deliveries beyond each event's first) %d\n", r.redeliveries)
	fmt.Fprintf(&b, "  rules:         required actions %d, applied %d, missing %d\n", r.required, r.applied, r.missing)
	fmt.Fprintf(&b, "  per-chat order: %d order-revealing calls over %d chats, violations %d (in %d chats); calls about a chat while another about it was served: %d\n",
		r.orderCalls, r.orderChats, r.orderViolations, r.violatingChats, r.overlaps)
	fmt.Fprintf(&b, "  non-idempotent: send_event required %d, performed %d, repeated %d\n", r.sendExpected, r.sendDone+r.repeated, r.repeated)
	fmt.Fprintf(&b, "  fault timeline: %s\n", strings.Join(s.timeline, "; "))
	for _, line := range s.faultReport {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	reasons := make([]string, 0, len(r.deadReasons))
	for k, n := range r.deadReasons {
		reasons = append(reasons, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(reasons)
	fmt.Fprintf(&b, "  dead letters:  %d (expected %d for the unknown chats, not dead-lettered %d), unexpected %d, without a reason %d; by reason/cause: %s",
		r.deadLetters, r.deadExpected, r.deadMissing, r.deadUnexpected, r.deadNoReason, strings.Join(reasons, ", "))
	s.t.Log("\n" + b.String())
}

// readEvents reads every event of the events stream, in stream order (the
// first copy of each event id).
func (s *scenario) readEvents() []*stored {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out []*stored
	var err error
	for try := 0; try < 5; try++ { // a JetStream API request may find no responder for a moment
		if out, err = s.tryReadEvents(ctx); err == nil {
			return out
		}
		time.Sleep(time.Second)
	}
	require.NoError(s.t, err)
	return nil
}

func (s *scenario) tryReadEvents(ctx context.Context) ([]*stored, error) {
	seen := map[string]bool{}
	var out []*stored
	err := bus.ReadAll(ctx, s.js, bus.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{event.SubjectPrefix + ".>"}},
		func(m jetstream.Msg) error {
			ev, err := event.Unmarshal(m.Data())
			if err != nil {
				return fmt.Errorf("undecodable event on %s: %w", m.Subject(), err)
			}
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if seen[ev.ID] {
				return nil
			}
			seen[ev.ID] = true
			seq, ok := payloadSeq(ev.Payload)
			if !ok {
				return fmt.Errorf("event %s has no chaos_seq", ev.ID)
			}
			out = append(out, &stored{id: ev.ID, chat: ev.ChatID, action: ev.Action, seq: seq, streamSeq: md.Sequence.Stream})
			return nil
		})
	return out, err
}

func (s *scenario) readDeadLetters() []consumer.DeadLetter {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var dls []consumer.DeadLetter
	var err error
	for try := 0; try < 5; try++ {
		if dls, err = consumer.ReadDeadLetters(ctx, s.js); err == nil {
			return dls
		}
		time.Sleep(time.Second)
	}
	require.NoError(s.t, err)
	return nil
}
