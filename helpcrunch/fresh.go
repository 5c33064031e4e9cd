package helpcrunch

import (
	"errors"
	"fmt"
	"time"
)

// MaxClockSkew is how far in the future of the receiver's clock a
// delivery's time may be: HelpCrunch's clock and ours differ a little. It
// lengthens the time a captured delivery can be replayed, so
// nats.duplicate_window must cover helpcrunch.max_age plus this (config
// checks it with the same value).
const MaxClockSkew = time.Minute

// ErrStale is wrapped by CheckFresh: the delivery is older than the allowed
// age, dated too far in the future, or carries no time at all.
var ErrStale = errors.New("helpcrunch: stale delivery")

// SentAt is when HelpCrunch made this delivery attempt: the later of
// lastAttemptAt and createdAt (unix seconds; values over 10^11, which would
// be after the year 5138 in seconds, are read as milliseconds). Zero when
// the delivery carries neither.
func (w *Webhook) SentAt() time.Time {
	t := max(w.CreatedAt, w.LastAttemptAt)
	switch {
	case t <= 0:
		return time.Time{}
	case t > 1e11:
		return time.UnixMilli(t).UTC()
	default:
		return time.Unix(t, 0).UTC()
	}
}

// CheckFresh refuses replays of captured deliveries: it returns an error
// wrapping ErrStale unless SentAt is within maxAge before now and at most
// MaxClockSkew after it. A delivery with neither createdAt nor lastAttemptAt
// is refused too: every documented delivery carries both, and one without
// could be replayed forever.
//
// A retried delivery (createdAt old, lastAttemptAt fresh) is accepted: its
// signature covers lastAttemptAt, so only HelpCrunch can date an attempt,
// and a genuine retry after the receiver failed must not be lost. A captured
// attempt can then be replayed for maxAge after it was made, which the
// stream's duplicate window (at least maxAge + MaxClockSkew) collapses into
// the stored event.
func (w *Webhook) CheckFresh(now time.Time, maxAge time.Duration) error {
	sent := w.SentAt()
	switch {
	case sent.IsZero():
		return fmt.Errorf("%w: the delivery has neither createdAt nor lastAttemptAt", ErrStale)
	case sent.After(now.Add(MaxClockSkew)):
		return fmt.Errorf("%w: the delivery is dated %s, %s in the future; at most %s of clock skew allowed",
			ErrStale, sent.Format(time.RFC3339), sent.Sub(now).Round(time.Second), MaxClockSkew)
	case now.Sub(sent) > maxAge:
		return fmt.Errorf("%w: the delivery was sent at %s, %s ago; at most %s allowed (helpcrunch.max_age)",
			ErrStale, sent.Format(time.RFC3339), now.Sub(sent).Round(time.Second), maxAge)
	}
	return nil
}
