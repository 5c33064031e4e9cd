package livechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

var errTooMany = &livechat.APIError{StatusCode: 429, Type: livechat.TypeTooManyRequests}

// acquire takes n permits at once (without waiting for their outcome).
func acquire(t *testing.T, l *livechat.AdaptiveLimiter, n int) []func(error) {
	t.Helper()
	out := make([]func(error), n)
	for i := range out {
		done, err := l.Acquire(context.Background())
		require.NoError(t, err)
		out[i] = done
	}
	return out
}

func TestAdaptiveLimiter(t *testing.T) {
	tests := []struct {
		name  string
		cfg   livechat.AdaptiveConfig
		run   func(t *testing.T, l *livechat.AdaptiveLimiter)
		check func(t *testing.T, s livechat.LimiterStats)
	}{
		{
			name: "no ceiling: starts at InitialRate, doubling while requests wait for it",
			cfg:  livechat.AdaptiveConfig{InitialRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for range 51 {
					acquire(t, l, 1)[0](nil) // all but the first wait their turn
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Greater(t, s.Rate, 1000.0, "+1 per success that waited")
				assert.LessOrEqual(t, s.Rate, 1050.0)
				assert.Equal(t, uint64(51), s.Requests)
				assert.Positive(t, s.Waited)
			},
		},
		{
			name: "requests that did not wait do not raise the rate",
			cfg:  livechat.AdaptiveConfig{InitialRate: 100},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for range 3 {
					acquire(t, l, 1)[0](nil)
					time.Sleep(15 * time.Millisecond) // slower than the rate: never waits
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) { assert.Equal(t, 100.0, s.Rate) },
		},
		{
			name: "a ceiling: starts there and never goes above",
			cfg:  livechat.AdaptiveConfig{MaxRate: 500},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 11) {
					done(nil)
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, 500.0, s.Rate)
				assert.GreaterOrEqual(t, s.Waited, 5*time.Millisecond, "10 requests after the first wait about 2ms each in turn")
			},
		},
		{
			name: "an occasional too_many_requests cuts nothing",
			cfg:  livechat.AdaptiveConfig{InitialRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 2) {
					done(errTooMany)
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, uint64(2), s.TooMany)
				assert.Zero(t, s.Decreases)
				assert.Equal(t, 1000.0, s.Rate)
			},
		},
		{
			name: "three in a second, but under 2% of its answers: cuts nothing",
			cfg:  livechat.AdaptiveConfig{MaxRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for range 200 {
					acquire(t, l, 1)[0](nil)
				}
				for _, done := range acquire(t, l, 3) {
					done(errTooMany)
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Zero(t, s.Decreases)
				assert.Equal(t, 1000.0, s.Rate)
			},
		},
		{
			name: "many and nothing accepted: cut by Decrease",
			cfg:  livechat.AdaptiveConfig{InitialRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 3) {
					done(errTooMany)
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, uint64(1), s.Decreases)
				assert.InDelta(t, 800, s.Rate, 1e-9)
			},
		},
		{
			name: "answers to requests sent before a cut do not cut again",
			cfg:  livechat.AdaptiveConfig{MaxRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 6) {
					done(errTooMany) // the third cuts; the rest were sent before
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, uint64(6), s.TooMany)
				assert.Equal(t, uint64(1), s.Decreases)
				assert.InDelta(t, 800, s.Rate, 1e-9)
			},
		},
		{
			name: "refused again before any success: halves",
			cfg:  livechat.AdaptiveConfig{MaxRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 3) {
					done(errTooMany) // 800
				}
				acquire(t, l, 1)[0](errTooMany) // 400: nothing succeeded in between
			},
			check: func(t *testing.T, s livechat.LimiterStats) { assert.InDelta(t, 400, s.Rate, 1e-9) },
		},
		{
			name: "a cut goes to 90% of the accepted rate",
			// Decrease 0.5, so that the check holds while the accepted rate
			// is above 56/s: a loaded machine paces the 30 calls below 100/s.
			cfg: livechat.AdaptiveConfig{MaxRate: 100, Decrease: 0.5},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for range 30 {
					acquire(t, l, 1)[0](nil) // accepted at about 100/s
				}
				for _, done := range acquire(t, l, 3) {
					done(errTooMany)
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, uint64(1), s.Decreases)
				assert.Greater(t, s.Rate, 50.0, "less of a cut than Decrease")
				assert.LessOrEqual(t, s.Rate, 90.0)
			},
		},
		{
			name: "never below MinRate",
			cfg:  livechat.AdaptiveConfig{MaxRate: 1000, MinRate: 300},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for range 5 {
					for _, done := range acquire(t, l, 3) {
						done(errTooMany)
					}
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) { assert.Equal(t, 300.0, s.Rate) },
		},
		{
			name: "recovers while rate-bound, up to the ceiling",
			cfg:  livechat.AdaptiveConfig{MaxRate: 2000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 3) {
					done(errTooMany) // 1600, the limit was 2000
				}
				for range 300 {
					acquire(t, l, 1)[0](nil) // each waits its turn: rate-bound
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Greater(t, s.Rate, 1600.0)
				assert.LessOrEqual(t, s.Rate, 2000.0)
			},
		},
		{
			name: "other failures change nothing",
			cfg:  livechat.AdaptiveConfig{MaxRate: 1000},
			run: func(t *testing.T, l *livechat.AdaptiveLimiter) {
				for _, done := range acquire(t, l, 3) {
					done(errors.New("connection reset"))
				}
			},
			check: func(t *testing.T, s livechat.LimiterStats) {
				assert.Equal(t, 1000.0, s.Rate)
				assert.Zero(t, s.Decreases)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := livechat.NewAdaptiveLimiter(tt.cfg)
			tt.run(t, l)
			tt.check(t, l.Stats())
		})
	}
}

func TestAdaptiveLimiterRespectsContext(t *testing.T) {
	l := livechat.NewAdaptiveLimiter(livechat.AdaptiveConfig{MaxRate: 1.0 / 60, MinRate: 1.0 / 60})
	acquire(t, l, 1)[0](nil) // the next turn is a minute away
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline before the turn: fails at once", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled while waiting", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			begin := time.Now()
			_, err := l.Acquire(ctx)
			require.ErrorIs(t, err, tt.want)
			// The turn is a minute away: returning well before it shows the
			// wait ended with the context. 10s leaves a busy machine (2
			// cores, -race) room and still tells the two apart.
			assert.Less(t, time.Since(begin), 10*time.Second, "returned with the context, not at the turn")
		})
	}
}

// TestClientAdaptsToTheAPIRateLimit drives a client as hard as 16 workers
// can against the fake limited to 100 requests a second: the client's own
// limiter must find the limit from its initial 20/s and keep the share of
// too_many_requests small while getting close to the limit.
func TestClientAdaptsToTheAPIRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 6s")
	}
	const limit, workers, runFor = 100.0, 16, 6 * time.Second
	srv := livechattest.New(livechattest.WithRateLimit(limit))
	srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
	url, stop := srv.Start()
	defer stop()
	c, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	var ok, tooMany atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := c.GetChat(ctx, "C1", "")
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, livechat.ErrTooManyRequests):
					tooMany.Add(1)
				}
			}
		})
	}
	wg.Wait()
	total := ok.Load() + tooMany.Load()
	share := float64(tooMany.Load()) / float64(total)
	st := c.RateLimiter().(*livechat.AdaptiveLimiter).Stats()
	t.Logf("ok %d, too_many_requests %d (%.2f%%), final rate %.0f/s, %d cuts", ok.Load(), tooMany.Load(), 100*share, st.Rate, st.Decreases)
	assert.Less(t, share, 0.05, "few too_many_requests")
	// Sixteen workers without latency outrun 100/s as soon as the limiter
	// lets them (its rate doubles every second from 20/s), so the fake's
	// limit is met and the rate cut: a run without a cut judged nothing.
	require.NotZero(t, st.Decreases, "the client never reached the API's limit: it made %d requests in %s", total, runFor)
	assert.NotZero(t, tooMany.Load(), "the fake answered too_many_requests")
	// The fake's burst (limit) comes on top of limit per second; finding
	// the limit from 20/s costs about two seconds at less than the limit.
	assert.GreaterOrEqual(t, float64(ok.Load()), 0.75*(limit*runFor.Seconds()), "close to the limit")
}

func TestWithRateLimiter(t *testing.T) {
	tests := []struct {
		name    string
		opts    []livechat.Option
		wantNil bool
	}{
		{"default: an adaptive limiter of its own", nil, false},
		{"nil: no pacing", []livechat.Option{livechat.WithRateLimiter(nil)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := livechat.New(livechat.PAT("a", "t"), tt.opts...)
			require.NoError(t, err)
			if tt.wantNil {
				assert.Nil(t, c.RateLimiter())
				return
			}
			_, ok := c.RateLimiter().(*livechat.AdaptiveLimiter)
			assert.True(t, ok)
		})
	}
	t.Run("a shared limiter sees every client's requests", func(t *testing.T) {
		srv := livechattest.New()
		srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
		url, stop := srv.Start()
		defer stop()
		shared := livechat.NewAdaptiveLimiter(livechat.AdaptiveConfig{})
		for range 2 {
			c, err := livechat.New(livechat.PAT("a", "t"), livechat.WithBaseURL(url), livechat.WithRateLimiter(shared))
			require.NoError(t, err)
			_, err = c.GetChat(t.Context(), "C1", "")
			require.NoError(t, err)
		}
		assert.Equal(t, uint64(2), shared.Stats().Requests)
	})
}

// TestClientIgnoresOccasionalTooManyRequests: an API without a rate limit
// that answers every hundredth call too_many_requests (for reasons of its
// own) must not slow the client down; the caller retries those calls.
func TestClientIgnoresOccasionalTooManyRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 2s")
	}
	srv := livechattest.New()
	srv.AddChat(livechattest.UnassignedChat("C1", time.Now()))
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%100 == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"type":"too_many_requests","message":"Too many requests"}}`))
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	// From 400/s: several such answers a second, 1% of them.
	c, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(ts.URL),
		livechat.WithRateLimiter(livechat.NewAdaptiveLimiter(livechat.AdaptiveConfig{InitialRate: 400})))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = c.GetChat(ctx, "C1", "")
			}
		})
	}
	wg.Wait()
	st := c.RateLimiter().(*livechat.AdaptiveLimiter).Stats()
	t.Logf("%d requests, %d too_many_requests, rate %.0f/s, %d cuts", st.Requests, st.TooMany, st.Rate, st.Decreases)
	assert.Zero(t, st.Decreases, "1% of answers is occasional")
	assert.GreaterOrEqual(t, st.Rate, 400.0, "never slowed down")
}
