package apiclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var errLimited = errors.New("plat: rate limited")

func TestRetryAfterTakesTheFirstHint(t *testing.T) {
	limit := &RateLimitError{Sentinel: errLimited, Message: "plat: wait", Wait: 2 * time.Second}
	tests := map[string]struct {
		err  error
		want time.Duration
		ok   bool
	}{
		"rate limit":            {fmt.Errorf("op: %w", limit), 2 * time.Second, true},
		"answer with a hint":    {&ErrorResponse{StatusCode: 429, RetryAfter: time.Minute}, time.Minute, true},
		"answer without a hint": {&ErrorResponse{StatusCode: 503}, 0, false},
		"outer hinter decides":  {fmt.Errorf("op: %w", errors.Join(&ErrorResponse{StatusCode: 503}, limit)), 0, false},
		"no hinter":             {errors.New("boom"), 0, false},
		"nil":                   {nil, 0, false},
		"bare rate limit":       {limit, 2 * time.Second, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, ok := RetryAfter(tc.err)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, d)
		})
	}
	assert.ErrorIs(t, fmt.Errorf("op: %w", limit), errLimited, "a RateLimitError matches its platform's sentinel")
	assert.NotErrorIs(t, limit, errors.New("plat: rate limited"), "and no other")
	assert.Equal(t, "plat: wait", limit.Error())
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "plat API GET /x: HTTP 404 not_found: gone", Describe("plat", "GET /x", Detail(404, "not_found", "gone")))
	assert.Equal(t, "plat API request: HTTP 500", Describe("plat", "", Detail(500, "", "")))
	assert.Equal(t, "API GET /y: HTTP 502: Bad Gateway", (&ErrorResponse{StatusCode: 502, Endpoint: "GET /y"}).Error())
}

func TestNewTransport(t *testing.T) {
	tests := map[string]struct {
		concurrency, want int
	}{
		"workers.concurrency": {concurrency: 64, want: 64},
		"one":                 {concurrency: 1, want: 1},
		"unset: the default":  {concurrency: 0, want: DefaultConcurrency},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr := NewTransport(tc.concurrency)
			assert.Equal(t, tc.want, tr.MaxIdleConnsPerHost, "an idle connection per worker")
			assert.Equal(t, tc.want, tr.MaxConnsPerHost, "no more connections than workers")
			assert.GreaterOrEqual(t, tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
			assert.True(t, tr.ForceAttemptHTTP2)
			assert.False(t, tr.DisableKeepAlives)
			assert.Positive(t, tr.TLSHandshakeTimeout)
			assert.Equal(t, ResponseHeaderTimeout, tr.ResponseHeaderTimeout)
			assert.Positive(t, tr.IdleConnTimeout)
			assert.NotNil(t, tr.DialContext)
			assert.NotNil(t, tr.Proxy, "the proxy environment is honoured")
		})
	}
}

// The wait for response headers is never shorter than the whole call's
// timeout: a request_timeout raised above ResponseHeaderTimeout is not cut
// short by the transport.
func TestNewHTTPClientTimeouts(t *testing.T) {
	for name, timeout := range map[string]time.Duration{"short": 5 * time.Second, "long": time.Minute} {
		t.Run(name, func(t *testing.T) {
			hc := NewHTTPClient(timeout, 8)
			assert.Equal(t, timeout, hc.Timeout)
			tr, ok := hc.Transport.(*http.Transport)
			if !assert.True(t, ok, "an *http.Transport") {
				return
			}
			assert.Equal(t, max(timeout, ResponseHeaderTimeout), tr.ResponseHeaderTimeout)
			assert.Equal(t, 8, tr.MaxIdleConnsPerHost)
		})
	}
}

// A server that offers HTTP/2 over TLS is spoken to in HTTP/2, although the
// transport has a dialer and TLS settings of its own (which turn Go's
// automatic HTTP/2 off unless ForceAttemptHTTP2 is set).
func TestTransportSpeaksHTTP2(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tr := NewTransport(4)
	tr.TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	resp, err := (&http.Client{Transport: tr}).Get(ts.URL)
	if !assert.NoError(t, err) {
		return
	}
	_ = resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 where the server offers it")
	assert.Equal(t, "HTTP/2.0", resp.Header.Get("X-Proto"))
}
