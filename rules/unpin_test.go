package rules

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
)

// fakeChats is an in-memory ChatActions.
type fakeChats struct {
	chat      *livechat.Chat
	getErr    error
	updateErr error
	updates   []livechat.Properties
}

func (f *fakeChats) GetChat(_ context.Context, chatID, _ string) (*livechat.Chat, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if f.chat == nil || f.chat.ID != chatID {
		return nil, &livechat.APIError{StatusCode: http.StatusNotFound, Type: "not_found", Message: "Chat not found"}
	}
	c := *f.chat
	return &c, nil
}

func (f *fakeChats) UpdateChatProperties(_ context.Context, _ string, props livechat.Properties) error {
	if f.updateErr != nil {
		return f.updateErr
	}
	f.updates = append(f.updates, props)
	return nil
}

type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
	fail int // fail this many writes first
}

func (m *memAudit) Write(_ context.Context, r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return errors.New("audit stream unavailable")
	}
	m.recs = append(m.recs, r)
	return nil
}

func chat(pinned, unassigned bool) *livechat.Chat {
	return &livechat.Chat{
		ID:         "C1",
		Properties: livechat.Properties{"routing": {"pinned": pinned}},
		Thread:     &livechat.Thread{ID: "T1", Properties: livechat.Properties{"routing": {"unassigned": unassigned, "pinned": pinned}}},
	}
}

func deactivated() *event.Event {
	return &event.Event{ID: "ev1", Platform: event.LiveChat, Action: "chat_deactivated", ChatID: "C1", ThreadID: "T1", Tenant: "org1"}
}

func TestUnpinAbandoned(t *testing.T) {
	tests := []struct {
		name          string
		ev            *event.Event
		chats         *fakeChats
		noClient      bool
		dryRun        bool
		wantUpdates   int
		wantOutcome   string // "" = no audit record
		wantPermanent bool
		wantErr       bool
	}{
		{name: "pinned and unassigned is unpinned", ev: deactivated(), chats: &fakeChats{chat: chat(true, true)}, wantUpdates: 1, wantOutcome: audit.Acted},
		{name: "assigned is skipped", ev: deactivated(), chats: &fakeChats{chat: chat(true, false)}, wantOutcome: audit.Skipped},
		{name: "not pinned is skipped", ev: deactivated(), chats: &fakeChats{chat: chat(false, true)}, wantOutcome: audit.Skipped},
		{name: "dry run records only", ev: deactivated(), chats: &fakeChats{chat: chat(true, true)}, dryRun: true, wantOutcome: audit.DryRun},
		{name: "other actions are ignored", ev: &event.Event{Platform: event.LiveChat, Action: "incoming_chat", ChatID: "C1"}, chats: &fakeChats{chat: chat(true, true)}},
		{name: "other platforms are ignored", ev: &event.Event{Platform: event.RocketChat, Action: "chat_deactivated", ChatID: "C1"}, chats: &fakeChats{chat: chat(true, true)}},
		{name: "chat not found is permanent", ev: deactivated(), chats: &fakeChats{}, wantOutcome: audit.Failed, wantErr: true, wantPermanent: true},
		{name: "429 is retryable", ev: deactivated(), chats: &fakeChats{getErr: &livechat.APIError{StatusCode: 429, Type: "too_many_requests", RetryAfter: 2 * time.Second}}, wantOutcome: audit.Failed, wantErr: true},
		{name: "validation on update is permanent", ev: deactivated(), chats: &fakeChats{chat: chat(true, true), updateErr: &livechat.APIError{StatusCode: 422, Type: "validation"}}, wantOutcome: audit.Failed, wantErr: true, wantPermanent: true},
		{name: "no credentials is permanent", ev: deactivated(), noClient: true, wantOutcome: audit.Failed, wantErr: true, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aud := &memAudit{}
			clients := func(tenant string) (ChatActions, error) {
				if tt.noClient {
					return nil, fmt.Errorf("organization %q: %w", tenant, ErrNoCredentials)
				}
				return tt.chats, nil
			}
			p := NewUnpinAbandoned(clients, aud, WithDryRun(tt.dryRun))
			err := p.Handle(context.Background(), tt.ev)
			if tt.wantErr {
				require.Error(t, err)
				permanent, _ := consumer.Classify(err)
				assert.Equal(t, tt.wantPermanent, permanent)
				var ae *consumer.ActionError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, UnpinRule, ae.Rule)
				assert.Equal(t, OpUnpin, ae.Action)
			} else {
				require.NoError(t, err)
			}
			if tt.chats != nil {
				assert.Len(t, tt.chats.updates, tt.wantUpdates)
				for _, u := range tt.chats.updates {
					assert.Equal(t, livechat.Properties{"routing": {"pinned": false}}, u)
				}
			}
			if tt.wantOutcome == "" {
				assert.Empty(t, aud.recs)
				return
			}
			require.Len(t, aud.recs, 1)
			r := aud.recs[0]
			assert.Equal(t, tt.wantOutcome, r.Outcome)
			assert.Equal(t, UnpinRule, r.Rule)
			assert.Equal(t, "ev1", r.EventID)
			assert.Equal(t, "C1", r.ChatID)
			assert.NotEmpty(t, r.Reason)
			assert.JSONEq(t, `{"routing":{"pinned":false}}`, string(r.Params))
		})
	}
}

func TestRetryAfterHintReachesTheRunner(t *testing.T) {
	chats := &fakeChats{getErr: &livechat.APIError{StatusCode: 429, Type: "too_many_requests", RetryAfter: 7 * time.Second}}
	p := NewUnpinAbandoned(func(string) (ChatActions, error) { return chats, nil }, &memAudit{})
	_, hint := consumer.Classify(p.Handle(context.Background(), deactivated()))
	assert.Equal(t, 7*time.Second, hint)
}

func TestAuditFailureRetriesTheEvent(t *testing.T) {
	chats := &fakeChats{chat: chat(true, false)}
	aud := &memAudit{fail: 2}
	p := NewUnpinAbandoned(func(string) (ChatActions, error) { return chats, nil }, aud)
	require.NoError(t, p.Handle(context.Background(), deactivated()), "two failed writes are retried in place")
	require.Len(t, aud.recs, 1)

	aud = &memAudit{fail: 10}
	p = NewUnpinAbandoned(func(string) (ChatActions, error) { return chats, nil }, aud)
	err := p.Handle(context.Background(), deactivated())
	require.Error(t, err)
	permanent, _ := consumer.Classify(err)
	assert.False(t, permanent, "a decision that cannot be recorded is retried later")
}

func TestCancelledContextIsRetryable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	chats := &fakeChats{getErr: fmt.Errorf("get_chat: %w", context.Canceled)}
	p := NewUnpinAbandoned(func(string) (ChatActions, error) { return chats, nil }, &memAudit{})
	permanent, _ := consumer.Classify(p.Handle(ctx, deactivated()))
	assert.False(t, permanent, "shutting down must not dead-letter events")
}
