package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/event"
)

// MemoryDoneStore is a DoneStore in memory, for tests and offline runs.
type MemoryDoneStore struct {
	mu   sync.Mutex
	done map[string]bool
}

// NewMemoryDoneStore returns an empty store.
func NewMemoryDoneStore() *MemoryDoneStore { return &MemoryDoneStore{done: map[string]bool{}} }

// IsDone implements DoneStore.
func (m *MemoryDoneStore) IsDone(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done[key], nil
}

// MarkDone implements DoneStore.
func (m *MemoryDoneStore) MarkDone(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done[key] = true
	return nil
}

// KVDoneStore keeps performed non-idempotent actions in the JetStream
// key-value bucket bus.DoneBucket, shared by every worker replica and kept
// across restarts for the bucket's TTL.
type KVDoneStore struct{ KV jetstream.KeyValue }

// kvKey is the bucket key of a done-store key (event id and step, both
// from the stored event): a hash, so it holds only the characters a
// key-value key allows, has a fixed length (32 hex digits) whatever the
// event holds, and distinct keys stay distinct.
func kvKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// kvTimeout bounds one request to the bucket: a request in flight when the
// bucket's stream leader fails (a NATS node dies) is never answered, and
// would otherwise hold up its event for as long as the handler's context
// allows. IsDone's caller retries the event; MarkDone's logs the failure.
const kvTimeout = 5 * time.Second

// IsDone implements DoneStore.
func (s KVDoneStore) IsDone(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	_, err := s.KV.Get(ctx, kvKey(key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("reading %s: %w", bus.DoneBucket, err)
	}
}

// MarkDone implements DoneStore.
func (s KVDoneStore) MarkDone(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	if _, err := s.KV.Put(ctx, kvKey(key), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("writing %s: %w", bus.DoneBucket, err)
	}
	return nil
}

// ErrTooManyRechecks is returned by JetStreamScheduler.ScheduleRecheck when
// MaxPending re-checks are pending already and the re-check would add one
// (rather than replace the pending one of its chat and rule).
var ErrTooManyRechecks = errors.New("too many pending re-checks")

// JetStreamScheduler schedules re-checks with JetStream message schedules:
// a message on RecheckSubject(platform, chat, rule) that the server
// publishes to the event's own subject at the due time. Schedules are
// stored in the events stream, so they survive restarts of every process;
// scheduling the same re-check twice (a redelivered event) is deduplicated.
//
// At most one re-check per chat and rule is pending: the server keeps one
// schedule per subject, so a later match of the rule for the same chat
// replaces the pending re-check with its own (due at its received_at +
// after). The rule then acts `after` since the latest match, if its
// condition still holds: a match that comes while a re-check is pending
// restarts the wait rather than adding a second action, and no match is
// left without a re-check after it (keeping the older one instead would
// re-check before the newer match's wait is over, and find nothing to
// re-check after it).
//
// MaxPending, when positive, caps the pending re-checks of all chats and
// rules (workers.max_pending_rechecks): beyond it a re-check that would add
// one fails with ErrTooManyRechecks. Counting costs one request to the
// server per re-check scheduled.
type JetStreamScheduler struct {
	JS         jetstream.JetStream
	Partitions int
	MaxPending int
}

// RecheckPrefix starts the subjects of pending re-checks.
const RecheckPrefix = bus.SchedulePrefix + ".recheck"

// RecheckSubject is the schedule subject of the re-check of rule for a
// chat: chatwarden.schedules.recheck.<platform>.<rule>.<chat>, each part an
// event.Token (bounded and collision-free whatever the event holds).
func RecheckSubject(platform, chatID, rule string) string {
	return RecheckPrefix + "." + event.Token(platform) + "." + event.Token(rule) + "." + event.Token(chatID)
}

// ScheduleRecheck implements Scheduler. Schedules have one-second
// resolution; at is rounded up so a re-check never runs early.
func (s JetStreamScheduler) ScheduleRecheck(ctx context.Context, re *event.Event, at time.Time) error {
	if t := at.Truncate(time.Second); !t.Equal(at) {
		at = t.Add(time.Second)
	}
	rule := ""
	if re.Recheck != nil {
		rule = re.Recheck.Rule
	}
	subject := RecheckSubject(re.Platform, re.ChatID, rule)
	if s.MaxPending > 0 {
		if err := s.checkPending(ctx, subject); err != nil {
			return err
		}
	}
	data, err := re.Encode()
	if err != nil {
		return fmt.Errorf("encoding re-check %s: %w", re.ID, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "schedule-"+re.ID)
	_, err = s.JS.PublishMsg(ctx, msg, jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(re.Subject(s.Partitions)),
		jetstream.WithExpectStream(bus.EventsStream))
	if err != nil {
		return fmt.Errorf("scheduling re-check %s at %s: %w", re.ID, at.Format(time.RFC3339), err)
	}
	return nil
}

// checkPending fails with ErrTooManyRechecks when MaxPending re-checks are
// pending and subject is not one of them.
func (s JetStreamScheduler) checkPending(ctx context.Context, subject string) error {
	n, err := PendingRechecks(ctx, s.JS)
	if err != nil {
		return err
	}
	if n < s.MaxPending {
		return nil
	}
	stream, err := s.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return fmt.Errorf("counting pending re-checks: stream %s: %w", bus.EventsStream, err)
	}
	switch _, err := stream.GetLastMsgForSubject(ctx, subject); {
	case err == nil:
		return nil // replaces the pending one
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("%w: %d pending, workers.max_pending_rechecks is %d", ErrTooManyRechecks, n, s.MaxPending)
	default:
		return fmt.Errorf("looking up pending re-check %s: %w", subject, err)
	}
}

// PendingRechecks counts the re-checks pending in the events stream (the
// subjects under RecheckPrefix that hold a message), without transferring
// the subjects themselves: it asks for the stream's subject totals past
// their end, and reads the total.
func PendingRechecks(ctx context.Context, js jetstream.JetStream) (int, error) {
	req, _ := json.Marshal(map[string]any{"subjects_filter": RecheckPrefix + ".>", "offset": 1 << 30})
	msg, err := js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.INFO."+bus.EventsStream, req)
	if err != nil {
		return 0, fmt.Errorf("counting pending re-checks: %w", err)
	}
	var resp struct {
		Total int `json:"total"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("counting pending re-checks: decoding the answer: %w", err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("counting pending re-checks: %s (%d)", resp.Error.Description, resp.Error.Code)
	}
	return resp.Total, nil
}
