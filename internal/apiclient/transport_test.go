package apiclient

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			require.True(t, ok)
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
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 where the server offers it")
	assert.Equal(t, "HTTP/2.0", resp.Header.Get("X-Proto"))
}
