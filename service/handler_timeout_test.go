package service_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

// TestHandlerTimeoutBoundsAnAttempt: workers.handler_timeout ends an
// attempt at an event's rules that runs longer (here a get_chat the API
// holds for 3s, under a 5s request timeout) as a retryable failure, and
// the retry then applies the rule.
func TestHandlerTimeoutBoundsAnAttempt(t *testing.T) {
	fake, url := startFake(t)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.FailNext("get_chat", 1, livechattest.Hang(3*time.Second))
	cfg := testConfig(t, url, "")
	cfg.LiveChat.RequestTimeout = 5 * time.Second
	cfg.Workers.HandlerTimeout = 300 * time.Millisecond
	svc := start(t, cfg, both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)

	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	var failed []audit.Record
	for _, r := range auditOf(t, svc.Bus().JS, "C1") {
		if r.Outcome == audit.Failed {
			failed = append(failed, r)
		}
	}
	require.Len(t, failed, 1, "the held attempt failed once, then the retry acted")
	assert.True(t, strings.Contains(failed[0].Error, "deadline") || strings.Contains(failed[0].Error, "timeout"), failed[0].Error)
	assert.Empty(t, deadLetters(t, svc.Bus().JS))
}
