package consumer

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// appliedKeep is how long, in ack waits, a replica remembers the last event
// it applied for a chat (see superseded).
const appliedKeep = 4

// lastApplied is the last event a replica applied for a chat: its stream
// sequence, and when.
type lastApplied struct {
	streamSeq uint64
	at        time.Time
}

// noteApplied records that the event at stream sequence seq of chat key was
// applied here (its handler succeeded; its acknowledgement follows).
func (r *Runner) noteApplied(key string, seq uint64) {
	r.mu.Lock()
	if la := r.applied[key]; la.streamSeq < seq {
		r.applied[key] = lastApplied{streamSeq: seq, at: time.Now()}
	}
	r.mu.Unlock()
}

// superseded reports whether a redelivered event of chat key at stream
// sequence seq is older than the last event this replica applied for the
// chat. Events of a chat are applied in stream order, so it was applied
// before that one: the broker redelivers it because it lost the
// acknowledgement, which a consumer's new leader can do after a broker node
// was cut off and joined again (the ack was confirmed by a leader whose
// state did not survive). Applying it again would put the chat back in an
// earlier state; it is acknowledged instead.
func (r *Runner) superseded(key string, seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return seq < r.applied[key].streamSeq
}

// forgetApplied drops what superseded remembers of chats whose last event
// applied here is older than appliedKeep ack waits: a lost acknowledgement
// shows within about one ack wait after a leader change.
func (r *Runner) forgetApplied(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, la := range r.applied {
		if now.Sub(la.at) > appliedKeep*r.ackWait {
			delete(r.applied, key)
		}
	}
}

// skipSuperseded acknowledges j, a superseded redelivery (see superseded),
// without handling it; it returns what process returns.
func (r *Runner) skipSuperseded(j *job, h *handling) (lost string) {
	h.log(zapcore.WarnLevel, "an event of the chat older than one already applied here was redelivered (the broker lost its acknowledgement): acknowledging it without acting again, so the chat does not go back to an earlier state",
		zap.Uint64("stream_seq", h.md.Sequence.Stream))
	j.settle()
	r.freeSlot(j)
	if !r.ack(j.msg, h.log) && r.workCtx.Err() == nil {
		return "the acknowledgement of the chat's previous event was not confirmed"
	}
	return ""
}
