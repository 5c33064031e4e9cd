package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/platform"
	hcp "github.com/chatwarden/chatwarden/platform/helpcrunch"
	"github.com/chatwarden/chatwarden/samples"
)

// newFreshTestServer is newPlatformTestServer with helpcrunch.max_age set
// and a clock the test moves.
func newFreshTestServer(t *testing.T, maxAge time.Duration, now *atomic.Int64) *testServer {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	ts := &testServer{pub: &fakePublisher{}, metrics: metrics.New(), logs: logs}
	e := New(Deps{
		Logger: zap.New(core), Metrics: ts.metrics, Publisher: ts.pub, Receive: true,
		Ready:        readyFunc(func(context.Context) error { return nil }),
		MaxBodyBytes: 1 << 20, PublishTimeout: time.Second,
		Now:       func() time.Time { return time.Unix(0, now.Load()) },
		Receivers: map[string]platform.Receiver{event.HelpCrunch: hcp.Receiver{SigningKey: hcKey, MaxAge: maxAge}},
	})
	ts.srv = httptest.NewServer(e)
	t.Cleanup(ts.srv.Close)
	return ts
}

func TestHelpCrunchWebhookFreshness(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	none := time.Time{}
	tests := []struct {
		name                     string
		createdAt, lastAttemptAt time.Time
		wantStatus               int
		wantErr                  string // part of the answer's "error"
	}{
		{name: "fresh", createdAt: ago(time.Minute), lastAttemptAt: ago(time.Minute), wantStatus: 200},
		{name: "exactly max_age old", createdAt: ago(5 * time.Minute), lastAttemptAt: ago(5 * time.Minute), wantStatus: 200},
		{name: "one second over max_age", createdAt: ago(5*time.Minute + time.Second), lastAttemptAt: ago(5*time.Minute + time.Second),
			wantStatus: 401, wantErr: "5m1s ago"},
		{name: "old (a replay)", createdAt: ago(2 * time.Hour), lastAttemptAt: ago(2 * time.Hour), wantStatus: 401,
			wantErr: "the delivery was sent at 2026-11-22T08:00:00Z, 2h0m0s ago; at most 5m0s allowed (helpcrunch.max_age)"},
		{name: "retried: createdAt old, lastAttemptAt fresh", createdAt: ago(2 * time.Hour), lastAttemptAt: ago(10 * time.Second), wantStatus: 200},
		{name: "only createdAt, fresh", createdAt: ago(time.Minute), lastAttemptAt: none, wantStatus: 200},
		{name: "only lastAttemptAt, old", createdAt: none, lastAttemptAt: ago(time.Hour), wantStatus: 401, wantErr: "1h0m0s ago"},
		{name: "neither timestamp", createdAt: none, lastAttemptAt: none, wantStatus: 401,
			wantErr: "the delivery has neither createdAt nor lastAttemptAt"},
		{name: "future within the clock skew", createdAt: now.Add(50 * time.Second), lastAttemptAt: now.Add(50 * time.Second), wantStatus: 200},
		{name: "future beyond the clock skew", createdAt: now.Add(5 * time.Minute), lastAttemptAt: now.Add(5 * time.Minute), wantStatus: 401,
			wantErr: "5m0s in the future; at most 1m0s of clock skew allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(now.UnixNano())
			ts := newFreshTestServer(t, 5*time.Minute, &clock)
			body := samples.HelpCrunchAt("chat.closed", "542335", "evt-1", tt.createdAt, tt.lastAttemptAt)
			resp, rb := ts.postHelpCrunch(t, body, samples.HelpCrunchSignature(body, hcKey))
			require.Equal(t, tt.wantStatus, resp.StatusCode, "%s", rb)
			stale := testutil.ToFloat64(ts.metrics.WebhooksRejected.WithLabelValues(event.HelpCrunch, hcp.ReasonStale))
			if tt.wantStatus == 200 {
				assert.Len(t, ts.pub.published(), 1)
				assert.Zero(t, stale)
				return
			}
			assert.Empty(t, ts.pub.published(), "nothing is stored")
			assert.Equal(t, 1.0, stale, "counted under reason stale")
			var answer map[string]string
			require.NoError(t, json.Unmarshal(rb, &answer))
			assert.Contains(t, answer["error"], tt.wantErr)
			logged := ts.logs.FilterMessage("webhook rejected").FilterField(zap.String("reason", hcp.ReasonStale)).All()
			require.Len(t, logged, 1, "the reason is logged")
		})
	}
}

// TestHelpCrunchWebhookReplayAfterMaxAge: the same signed delivery, accepted
// when it arrives, is refused once helpcrunch.max_age has passed.
func TestHelpCrunchWebhookReplayAfterMaxAge(t *testing.T) {
	sent := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(sent.Add(2 * time.Second).UnixNano())
	ts := newFreshTestServer(t, 5*time.Minute, &clock)
	body := samples.HelpCrunchAt("chat.assigned", "542335", "evt-1", sent, sent)
	sig := samples.HelpCrunchSignature(body, hcKey)

	resp, rb := ts.postHelpCrunch(t, body, sig)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
	clock.Store(sent.Add(5*time.Minute + time.Second).UnixNano())
	resp, rb = ts.postHelpCrunch(t, body, sig)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", rb)
	assert.Len(t, ts.pub.published(), 1, "the replay is not stored")
}

// TestHelpCrunchWebhookFreshnessOff: a HelpCrunch receiver with MaxAge 0 turns the check
// off (serve always sets it from helpcrunch.max_age).
func TestHelpCrunchWebhookFreshnessOff(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano())
	ts := newFreshTestServer(t, 0, &clock)
	body := samples.HelpCrunchAt("chat.closed", "542335", "evt-1", time.Time{}, time.Time{})
	resp, rb := ts.postHelpCrunch(t, body, samples.HelpCrunchSignature(body, hcKey))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", rb)
}
