package service_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

// TestLiveChatNotFoundDeadLettersAtOnce: a LiveChat 404 not_found is
// permanent through the worker: the event is dead-lettered on its first
// attempt with cause not_found, and the call is not retried.
func TestLiveChatNotFoundDeadLettersAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		addChat  bool
		failNext string // action answered 404 once ("" for none)
		wantCall string // the action that got the 404
	}{
		{name: "404 on the unpin", addChat: true, failNext: "update_chat_properties", wantCall: "update_chat_properties"},
		{name: "chat gone: 404 on get_chat", wantCall: "get_chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, url := startFake(t)
			if tt.addChat {
				fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
			}
			if tt.failNext != "" {
				fake.FailNext(tt.failNext, 1, livechattest.Failure{Type: livechat.TypeNotFound, Message: "Chat not found"})
			}
			svc := start(t, testConfig(t, url, ""), both)
			require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

			var dls []consumer.DeadLetter
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				var err error
				dls, err = consumer.ReadDeadLetters(context.Background(), svc.Bus().JS)
				assert.NoError(c, err)
				assert.Len(c, dls, 1)
			}, 20*time.Second, 20*time.Millisecond, "generous: one event through serve on 2 cores under -race")
			waitIdle(t, svc.Bus().JS)
			dl := dls[0]
			assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
			assert.Equal(t, livechat.TypeNotFound, dl.Cause)
			assert.Equal(t, uint64(1), dl.Attempts, "no retry for not_found")
			assert.Equal(t, "C1", dl.ChatID)
			calls := fake.CallsTo(tt.wantCall)
			require.Len(t, calls, 1, "the 404 call is not repeated")
			assert.Equal(t, http.StatusNotFound, calls[0].Status)
			if tt.wantCall != "update_chat_properties" {
				assert.Empty(t, fake.CallsTo("update_chat_properties"), "nothing done to a chat that is gone")
			}
		})
	}
}
