package rules_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	. "github.com/chatwarden/chatwarden/rules"
)

// asyncAudit is an AsyncAuditor that notes the order of sends, waits and
// synchronous writes; sent records are stored only when their wait runs
// (unless failSent), synchronous writes fail while failWrites.
type asyncAudit struct {
	mu         sync.Mutex
	log        []string // "send:rule", "wait:rule", "write:rule"
	stored     []audit.Record
	failSent   bool
	failWrites bool
}

func (a *asyncAudit) note(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = append(a.log, s)
}

func (a *asyncAudit) Write(_ context.Context, rec audit.Record) error {
	a.note("write:" + rec.Rule)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failWrites {
		return errors.New("nats: timeout")
	}
	a.stored = append(a.stored, rec)
	return nil
}

func (a *asyncAudit) WriteAsync(rec audit.Record) (func(context.Context) error, error) {
	a.note("send:" + rec.Rule)
	return func(context.Context) error {
		a.note("wait:" + rec.Rule)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failSent {
			return errors.New("nats: no response from stream")
		}
		a.stored = append(a.stored, rec)
		return nil
	}, nil
}

func (a *asyncAudit) snapshot() ([]string, []audit.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.log...), append([]audit.Record(nil), a.stored...)
}

const threeTagRules = `
rules:
  - name: a
    on: [livechat.incoming_chat]
    then: [{livechat.tag_thread: {tag: a}}]
  - name: b
    on: [livechat.incoming_chat]
    then: [{livechat.tag_thread: {tag: b}}]
  - name: c
    on: [livechat.incoming_chat]
    if: chat.id == "nobody"
    then: [{livechat.tag_thread: {tag: c}}]
`

// TestRecordsSentTogetherAndStoredBeforeHandleReturns: the decisions about an
// event (two acted, one skipped) are all sent before the first is awaited
// (one round trip for the event's records, not one each), and Handle returns
// nil, letting the event be acknowledged, only once every one is stored. A
// sent record that is not confirmed is written again synchronously; when
// that fails too, Handle fails retryably, so the event is not acknowledged.
func TestRecordsSentTogetherAndStoredBeforeHandleReturns(t *testing.T) {
	sends := []string{"send:a", "send:b", "send:c"}
	waits := []string{"wait:a", "wait:b", "wait:c"}
	tests := []struct {
		name                 string
		failSent, failWrites bool
		wantLog              []string
		wantStored           int
		wantRetry            bool
	}{
		{name: "stored", wantLog: append(sends, waits...), wantStored: 3},
		{name: "sent records not confirmed are written again", failSent: true,
			wantLog:    append(sends, "wait:a", "write:a", "wait:b", "write:b", "wait:c", "write:c"),
			wantStored: 3},
		{name: "not stored at all: retry, not acknowledged", failSent: true, failWrites: true, wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := LoadBytes([]byte(threeTagRules), "test", DefaultActions(), NewRegistry())
			require.NoError(t, err)
			h := newHarnessWithSet(t, set)
			aud := &asyncAudit{failSent: tt.failSent, failWrites: tt.failWrites}
			h.engine.SetAuditor(aud)
			h.fake.AddChat(unassignedChat("C1"))
			ev := h.webhook(t, "incoming_chat", "C1", nil)

			err = h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev)
			log, stored := aud.snapshot()
			assert.Len(t, h.fake.CallsTo("tag_thread"), 2)
			if tt.wantRetry {
				require.Error(t, err)
				assert.ErrorContains(t, err, "writing audit record")
				permanent, _ := consumer.Classify(err)
				assert.False(t, permanent, "an unstored decision retries the event")
				assert.Empty(t, stored)
				return
			}
			require.NoError(t, err)
			if tt.wantLog != nil {
				assert.Equal(t, tt.wantLog, log)
			}
			outcomes := map[string]string{}
			for _, r := range stored {
				outcomes[r.Rule] = r.Outcome
			}
			assert.Equal(t, map[string]string{"a": audit.Acted, "b": audit.Acted, "c": audit.Skipped}, outcomes)
			assert.Len(t, stored, tt.wantStored)
		})
	}
}

// TestFailureRecordsWrittenAtOnce: the record of a failed attempt is
// written synchronously even with an AsyncAuditor (it is the one most worth
// keeping, and the event fails anyway).
func TestFailureRecordsWrittenAtOnce(t *testing.T) {
	set, err := LoadBytes([]byte(threeTagRules), "test", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	h := newHarnessWithSet(t, set)
	aud := &asyncAudit{}
	h.engine.SetAuditor(aud)
	h.fake.AddChat(unassignedChat("C1"))
	h.fake.FailNext("tag_thread", 2, livechattest.ServerError())
	ev := h.webhook(t, "incoming_chat", "C1", nil)
	require.Error(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
	log, _ := aud.snapshot()
	assert.Equal(t, []string{"write:a", "write:b", "send:c", "wait:c"}, log)
}
