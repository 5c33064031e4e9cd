package service_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

// restartable serves a fake API on a fixed address that can be stopped
// (listener and connections closed: calls get connection refused) and
// started again on the same port.
type restartable struct {
	t    *testing.T
	h    http.Handler
	addr string
	srv  *http.Server
}

func startRestartable(t *testing.T, h http.Handler) *restartable {
	t.Helper()
	r := &restartable{t: t, h: h, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) url() string { return "http://" + r.addr }

func (r *restartable) start() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	require.NoError(r.t, err, "listening on %s again", r.addr)
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: r.h, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("serving the fake API: %v", err)
		}
	}(r.srv)
}

func (r *restartable) stop() {
	if r.srv != nil {
		_ = r.srv.Close()
		r.srv = nil
	}
}

// actedThreads lists the threads of chat's events whose unpin was
// performed, in the order the audit trail recorded them.
func actedThreads(t require.TestingT, svc *service.Service, chat string) []string {
	var out []string
	for _, r := range auditOf(t, svc.Bus().JS, chat) {
		if r.Outcome == audit.Failed && strings.Contains(r.Error, "circuit breaker open") {
			assert.Contains(t, r.Reason, "waits")
		}
		if r.Outcome == audit.Acted {
			out = append(out, r.ThreadID)
		}
	}
	return out
}

// TestAPIOutageWaitsThenFlowsInOrder is the outage of issue 19: the LiveChat
// API fake is stopped (connection refused) for longer than the whole retry
// budget (workers.max_attempts with its backoff) and longer than the ack
// wait, then started again on the same port. While it is down the circuit
// breaker opens and the events wait: none becomes a dead letter and none
// is redelivered behind the worker's back. Once it answers, the probe
// closes the breaker and every event is applied, each chat's in the order
// they were received. A dead letter of an earlier outage (5xx until its
// attempts ran out, before the breaker had reason to open) is retried by
// itself once the breaker closes (dlq.auto_retry).
func TestAPIOutageWaitsThenFlowsInOrder(t *testing.T) {
	fake := livechattest.New()
	api := startRestartable(t, fake)
	chats := []string{"C1", "C2", "C3"}
	const perChat = 3
	for _, c := range append([]string{"D"}, chats...) {
		fake.AddChat(livechattest.UnassignedChat(c, time.Now().Add(-time.Hour)))
	}
	cfg := testConfig(t, api.url(), "")
	cfg.RulesFile = writeRules(t, `
rules:
  - name: unpin
    on: [livechat.chat_deactivated]
    then:
      - livechat.unpin: {}
`)
	// The retry budget stays testConfig's (4 attempts, 20ms..200ms backoff:
	// under a second); the probes are shortened so that the test waits
	// through several of them in a few seconds.
	cfg.Breaker.ProbeInterval = 200 * time.Millisecond
	cfg.Breaker.ProbeMax = time.Second
	svc := start(t, cfg, both)
	m := svc.Metrics()
	transitions := func(state string) float64 {
		return testutil.ToFloat64(m.BreakerTransitions.WithLabelValues(event.LiveChat, service.DefaultOrg, state))
	}

	// An earlier outage: four 5xx answers exhaust D's attempts (too few
	// calls to open the breaker); its dead letter is marked as an outage.
	fake.FailNext("update_chat_properties", cfg.Workers.MaxAttempts, livechattest.ServerError())
	require.Equal(t, http.StatusOK, post(t, svc, samples.LiveChat("chat_deactivated", secret, "D", "T-D")).StatusCode)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		dls := deadLetters(c, svc.Bus().JS)
		if assert.Len(c, dls, 1) {
			assert.Equal(c, "D", dls[0].ChatID)
			assert.Equal(c, consumer.ReasonExhausted, dls[0].Reason)
			assert.True(c, dls[0].Outage, "marked as an outage")
		}
	}, 20*time.Second, 20*time.Millisecond)
	assert.Zero(t, transitions("open"), "four failures do not open the breaker")

	// The API goes away.
	api.stop()
	for i := 1; i <= perChat; i++ {
		for _, c := range chats {
			require.Equal(t, http.StatusOK, post(t, svc, samples.LiveChat("chat_deactivated", secret, c, fmt.Sprintf("T-%s-%d", c, i))).StatusCode)
		}
	}
	// Down through at least four openings (the first, then three failed
	// probes 200ms, 400ms and 800ms apart): longer than the retry budget
	// and than the ack wait (2s) after the breaker opened.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, transitions("open"), 4.0, "the breaker opened, and each probe failed")
	}, 30*time.Second, 20*time.Millisecond, "generous: probes 0.2s..1s apart on 2 cores under -race")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.BreakerState.WithLabelValues(event.LiveChat, service.DefaultOrg)), "open")
	if ov := overview(t, svc); assert.Len(t, ov.Breakers, 1, "the console shows the breaker") {
		b := ov.Breakers[0]
		assert.Equal(t, event.LiveChat+"/"+service.DefaultOrg, b.Platform+"/"+b.Org)
		assert.Contains(t, []string{"open", "half_open"}, b.State)
		assert.Contains(t, b.LastError, "connection refused")
	}
	dls := deadLetters(t, svc.Bus().JS)
	require.Len(t, dls, 1, "no event of the outage became a dead letter")
	assert.Equal(t, "D", dls[0].ChatID)
	for _, c := range chats {
		assert.Empty(t, actedThreads(t, svc, c))
	}

	// The API is back on the same port.
	api.start()
	want := map[string][]string{}
	for _, c := range chats {
		for i := 1; i <= perChat; i++ {
			want[c] = append(want[c], fmt.Sprintf("T-%s-%d", c, i))
		}
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, chat := range chats {
			assert.Equal(c, want[chat], actedThreads(c, svc, chat), "chat %s: every event applied, in order", chat)
		}
		assert.Equal(c, []string{"T-D"}, actedThreads(c, svc, "D"), "the outage's dead letter was retried and applied")
		assert.Empty(c, deadLetters(c, svc.Bus().JS))
	}, 30*time.Second, 20*time.Millisecond, "generous: the next probe is at most 1s away")
	waitIdle(t, svc.Bus().JS)
	assert.GreaterOrEqual(t, transitions("closed"), 1.0)
	if ov := overview(t, svc); assert.Len(t, ov.Breakers, 1) {
		assert.Equal(t, "closed", ov.Breakers[0].State)
	}
	assert.Zero(t, testutil.ToFloat64(m.BreakerState.WithLabelValues(event.LiveChat, service.DefaultOrg)), "closed")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.DeadLettersAutoRetried.WithLabelValues(event.LiveChat, "retried")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.DeadLetters.WithLabelValues(event.LiveChat, consumer.ReasonExhausted)),
		"only D's dead letter was ever made")
}

// overview reads the console's overview from the admin listener.
func overview(t *testing.T, svc *service.Service) console.Overview {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+svc.AdminAddr()+"/admin/api/overview", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var ov console.Overview
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ov))
	return ov
}
