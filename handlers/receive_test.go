package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/platform"
)

// acmeReceiver is a platform's receiver as an adapter package supplies it:
// X-Acme-Token must be "t", the body is the chat id.
type acmeReceiver struct{ calls atomic.Int32 }

func (a *acmeReceiver) Receive(r *http.Request, body []byte, now time.Time) (*event.Event, error) {
	a.calls.Add(1)
	if r.Header.Get("X-Acme-Token") != "t" {
		return nil, platform.Reject(http.StatusUnauthorized, platform.ReasonUnauthorized, "X-Acme-Token does not match")
	}
	platformName := "acme"
	if string(body) == "other" {
		platformName = event.LiveChat // a broken receiver
	}
	return &event.Event{ID: "acme-" + string(body), Platform: platformName, Action: "created", ChatID: string(body), ReceivedAt: now}, nil
}

// TestReceiversAreMountedPerPlatform: each receiver in Deps.Receivers is
// served at POST /webhooks/<name>, behind the checks every webhook gets
// (here the body limit: 413 without asking the receiver), its refusals
// answered and counted under its platform, its events stored; a platform
// without a receiver has no route.
func TestReceiversAreMountedPerPlatform(t *testing.T) {
	acme := &acmeReceiver{}
	pub := &fakePublisher{}
	m := metrics.New()
	srv := httptest.NewServer(New(Deps{
		Logger: zaptest.NewLogger(t), Metrics: m, Publisher: pub, Receive: true, MaxBodyBytes: 16,
		Ready:     readyFunc(func(context.Context) error { return nil }),
		Receivers: map[string]platform.Receiver{"acme": acme},
	}))
	t.Cleanup(srv.Close)
	post := func(path, token, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Acme-Token", token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path, token, body string
		wantStatus              int
		wantBody                string
		wantCalls               int32
	}{
		{name: "stored", path: "/webhooks/acme", token: "t", body: "C1", wantStatus: http.StatusOK, wantCalls: 1},
		{name: "refused by the receiver", path: "/webhooks/acme", token: "x", body: "C1", wantStatus: http.StatusUnauthorized,
			wantBody: `{"error":"X-Acme-Token does not match"}`, wantCalls: 1},
		{name: "over the body limit", path: "/webhooks/acme", token: "t", body: string(bytes.Repeat([]byte("x"), 17)),
			wantStatus: http.StatusRequestEntityTooLarge},
		{name: "an event of another platform", path: "/webhooks/acme", token: "t", body: "other", wantStatus: http.StatusInternalServerError, wantCalls: 1},
		{name: "no receiver, no route", path: "/webhooks/livechat", token: "t", body: "C1", wantStatus: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := acme.calls.Load()
			status, body := post(tc.path, tc.token, tc.body)
			assert.Equal(t, tc.wantStatus, status)
			if tc.wantBody != "" || status == http.StatusOK {
				assert.Equal(t, tc.wantBody, strings.TrimSpace(body))
			}
			assert.Equal(t, tc.wantCalls, acme.calls.Load()-before)
		})
	}
	evs := pub.published()
	require.Len(t, evs, 1)
	assert.Equal(t, "C1", evs[0].ChatID)
	assert.Equal(t, "acme", evs[0].Platform)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("acme", platform.ReasonUnauthorized)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WebhooksRejected.WithLabelValues("acme", reasonTooLarge)))
}
