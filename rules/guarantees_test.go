package rules_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	. "github.com/chatwarden/chatwarden/rules"
)

// flakyDone is a DoneStore whose reads fail while failing is set, as
// CHATWARDEN_DONE does when the broker does not answer; it records its
// writes.
type flakyDone struct {
	mu      sync.Mutex
	failing bool
	done    map[string]bool
	marks   int
}

func newFlakyDone() *flakyDone { return &flakyDone{done: map[string]bool{}} }

func (d *flakyDone) IsDone(_ context.Context, key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing {
		return false, errors.New("nats: timeout")
	}
	return d.done[key], nil
}

func (d *flakyDone) MarkDone(_ context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done[key] = true
	d.marks++
	return nil
}

func (d *flakyDone) setFailing(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failing = on
}

const noteRule = `
rules:
  - name: note
    on: [livechat.chat_deactivated]
    then:
      - livechat.send_event: {text: closed, visibility: agents}
      - livechat.transfer_chat: {group_id: 2}
%s
`

// TestDryRunOfNonIdempotentActions: a rule in dry run (its own dry_run: true,
// or the engine's) whose steps are not idempotent calls nothing on the
// platform, audits each step as dry_run, and records nothing as done, so the
// same event handled later without dry run does act.
func TestDryRunOfNonIdempotentActions(t *testing.T) {
	tests := []struct {
		name   string
		dryRun string // the rule's dry_run line
		global bool
	}{
		{"rule in dry run", "    dry_run: true", false},
		{"global dry run", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := newFlakyDone()
			set, err := LoadBytes([]byte(fmtRule(tt.dryRun)), "test", DefaultActions(), NewRegistry())
			require.NoError(t, err)
			h := newHarnessWithSet(t, set, WithDryRun(tt.global), WithDoneStore(done))
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "chat_deactivated", "C1", nil)
			for attempt := uint64(1); attempt <= 2; attempt++ { // a redelivery too
				require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), attempt), ev))
			}
			assert.Empty(t, h.fake.CallsTo("send_event"))
			assert.Empty(t, h.fake.CallsTo("transfer_chat"))
			assert.Equal(t, []string{"dry_run:livechat.send_event", "dry_run:livechat.transfer_chat",
				"dry_run:livechat.send_event", "dry_run:livechat.transfer_chat"}, h.audit.ByRule()["note"])
			assert.Zero(t, done.marks, "a dry run records nothing as done")

			// The same rules without dry run act on the same event.
			set, err = LoadBytes([]byte(fmtRule("")), "test", DefaultActions(), NewRegistry())
			require.NoError(t, err)
			h.engine.Swap(set)
			h.engine.SetDryRun(false)
			require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 3), ev))
			assert.Len(t, h.fake.CallsTo("send_event"), 1)
			assert.Len(t, h.fake.CallsTo("transfer_chat"), 1)
		})
	}
}

// fmtRule is noteRule with extra lines (such as dry_run) in the rule.
func fmtRule(extra string) string { return fmt.Sprintf(noteRule, extra) }

// TestFailingDoneReadRetriesWithoutActing: when the record of performed
// actions (CHATWARDEN_DONE) cannot be read, a non-idempotent step is neither
// performed nor skipped: the event fails retryably, and once the record
// answers again the step runs exactly once.
func TestFailingDoneReadRetriesWithoutActing(t *testing.T) {
	done := newFlakyDone()
	set, err := LoadBytes([]byte(fmtRule("")), "test", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	h := newHarnessWithSet(t, set, WithDoneStore(done))
	h.fake.AddChat(unassignedChat("C1"))
	ev := h.webhook(t, "chat_deactivated", "C1", nil)

	done.setFailing(true)
	err = h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev)
	require.Error(t, err)
	permanent, _ := consumer.Classify(err)
	assert.False(t, permanent, "retryable: the event is retried, not dead-lettered")
	assert.Contains(t, err.Error(), "checking whether livechat.send_event already ran")
	assert.Empty(t, h.fake.CallsTo("send_event"), "not performed without knowing whether it was")

	done.setFailing(false)
	for attempt := uint64(2); attempt <= 3; attempt++ {
		require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), attempt), ev))
	}
	assert.Len(t, h.fake.CallsTo("send_event"), 1, "performed once across the retries")
	assert.Len(t, h.fake.CallsTo("transfer_chat"), 1)
}
