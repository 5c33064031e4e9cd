package breaker

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestTransportCountsOnlyOutages: through the transport, 5xx answers and
// connection errors open the breaker; 4xx and 429 answers and calls their
// caller cancelled do not.
func TestTransportCountsOnlyOutages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int  // the API's answer; 0: the server is closed (connection refused)
		cancel   bool // the caller cancels each call before it is made
		wantOpen bool
	}{
		{"500", http.StatusInternalServerError, false, true},
		{"503", http.StatusServiceUnavailable, false, true},
		{"connection refused", 0, false, true},
		{"404", http.StatusNotFound, false, false},
		{"422", http.StatusUnprocessableEntity, false, false},
		{"429", http.StatusTooManyRequests, false, false},
		{"cancelled by the caller", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
			if tc.status == 0 {
				srv.Close()
			} else {
				defer srv.Close()
			}
			set := NewSet(Settings{Consecutive: 3, ProbeInterval: time.Hour})
			hc := set.Client("livechat", "default", &http.Client{Timeout: 5 * time.Second})
			for range 3 {
				ctx, cancel := context.WithCancel(context.Background())
				if tc.cancel {
					cancel()
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
				require.NoError(t, err)
				resp, err := hc.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				cancel()
			}
			assert.Equal(t, tc.wantOpen, set.Get("livechat", "default").State() == Open)
			if tc.wantOpen {
				resp, err := hc.Get(srv.URL)
				if err == nil {
					resp.Body.Close()
				}
				assert.ErrorIs(t, err, ErrOpen, "no call while open")
			}
		})
	}
}

// TestSetMetricsLogsAndOnClose: each breaker has its own state per platform
// and organization; changes are logged (WARN on opening, INFO on closing,
// naming platform, org and the last error), counted and gauged, and OnClose
// runs after a close.
func TestSetMetricsLogsAndOnClose(t *testing.T) {
	clock := newFakeClock()
	core, logs := observer.New(zap.InfoLevel)
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "s"}, []string{"platform", "org"})
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"platform", "org", "state"})
	var closed atomic.Int32
	closedOrg := make(chan string, 1)
	set := NewSet(Settings{Consecutive: 1, ProbeInterval: time.Second}, WithSetClock(clock), WithLogger(zap.New(core)),
		WithMetrics(state, changes), OnClose(func(platform, org string) { closed.Add(1); closedOrg <- platform + "/" + org }))

	a, other := set.Get("livechat", "org-a"), set.Get("livechat", "org-b")
	done, err := a.Admit()
	require.NoError(t, err)
	_ = done(Failure, errors.New("dial tcp: connection refused"))
	assert.Equal(t, Open, a.State())
	assert.Equal(t, Closed, other.State(), "another organization's breaker is its own")
	assert.Equal(t, 2.0, testutil.ToFloat64(state.WithLabelValues("livechat", "org-a")))
	assert.Equal(t, 0.0, testutil.ToFloat64(state.WithLabelValues("livechat", "org-b")))
	opened := logs.FilterMessageSnippet("circuit breaker open").All()
	require.Len(t, opened, 1)
	assert.Equal(t, zap.WarnLevel, opened[0].Level)
	fields := opened[0].ContextMap()
	assert.Equal(t, "livechat", fields["platform"])
	assert.Equal(t, "org-a", fields["org"])
	assert.Contains(t, fields["last_error"], "connection refused")
	st := set.Statuses()
	require.Len(t, st, 2)
	assert.Equal(t, Status{Platform: "livechat", Org: "org-a", State: "open", Since: clock.Now(), LastError: "dial tcp: connection refused"}, st[0])

	clock.Advance(time.Second)
	done, err = a.Admit()
	require.NoError(t, err, "the probe")
	require.NoError(t, done(Success, nil))
	assert.Equal(t, "livechat/org-a", <-closedOrg)
	assert.Equal(t, 0.0, testutil.ToFloat64(state.WithLabelValues("livechat", "org-a")))
	for s, want := range map[string]float64{"open": 1, "half_open": 1, "closed": 1} {
		assert.Equal(t, want, testutil.ToFloat64(changes.WithLabelValues("livechat", "org-a", s)), s)
	}
	closing := logs.FilterMessageSnippet("circuit breaker closed").All()
	require.Len(t, closing, 1)
	assert.Equal(t, zap.InfoLevel, closing[0].Level)
	assert.Equal(t, int32(1), closed.Load())
}
