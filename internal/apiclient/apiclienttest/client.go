package apiclienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient"
	"github.com/chatwarden/chatwarden/internal/httpcall"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
)

// TestClient runs the contract of the HTTP core against tg's client, each
// case against an httptest server of its own.
func TestClient[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	t.Run("options", func(t *testing.T) { testOptions(t, tg) })
	t.Run("request", func(t *testing.T) { testRequest(t, tg) })
	t.Run("error answers", func(t *testing.T) { testErrorAnswers(t, tg) })
	t.Run("body limits", func(t *testing.T) { testBodyLimits(t, tg) })
	t.Run("bad JSON", func(t *testing.T) { testBadJSON(t, tg) })
	t.Run("timeouts", func(t *testing.T) { testTimeouts(t, tg) })
	t.Run("redirects", func(t *testing.T) { testRedirects(t, tg) })
	t.Run("connections reused", func(t *testing.T) { testConnectionReuse(t, tg) })
	t.Run("transport errors", func(t *testing.T) { testTransportErrors(t, tg) })
}

// client builds tg's client of url, failing the test when it cannot.
func client[C apiclient.Embedder](t *testing.T, tg Target[C], url string, opts ...apiclient.Option[C]) C {
	t.Helper()
	c, err := tg.New(url, opts...)
	require.NoError(t, err)
	return c
}

// serve starts h for the test.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func testOptions[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	ts := serve(t, okHandler(tg.OK))
	tests := []struct {
		name string
		url  string
		opts []apiclient.Option[C]
	}{
		{"empty base URL", "", nil},
		{"base URL without scheme", "api.example.com", nil},
		{"base URL ftp", "ftp://x", nil},
		{"base URL with query", "https://x/?a=b", nil},
		{"base URL unparsable", "http://[::1", nil},
		{"nil HTTP client", ts.URL, []apiclient.Option[C]{apiclient.WithHTTPClient[C](nil)}},
		{"empty user agent", ts.URL, []apiclient.Option[C]{apiclient.WithUserAgent[C](" ")}},
		{"concurrency 0", ts.URL, []apiclient.Option[C]{apiclient.WithConcurrency[C](0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tg.New(tc.url, tc.opts...)
			assert.ErrorIs(t, err, tg.Errors.ErrInvalidOption)
		})
	}
	t.Run("valid options, nil options skipped", func(t *testing.T) {
		c := client(t, tg, ts.URL, nil, apiclient.WithLogger[C](nil), apiclient.WithConcurrency[C](4),
			apiclient.WithHTTPClient[C](&http.Client{}))
		assert.NoError(t, tg.Call(context.Background(), c))
	})
}

// testRequest checks what every request carries: the user agent, Accept,
// the credentials, and a path under the base URL's prefix.
func testRequest[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	var got *http.Request
	var mu sync.Mutex
	ts := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		okHandler(tg.OK)(w, r)
	})
	c := client(t, tg, ts.URL+"/prefix/", apiclient.WithUserAgent[C]("contract-agent/1"))
	require.NoError(t, tg.Call(context.Background(), c))
	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, got)
	assert.Equal(t, "contract-agent/1", got.Header.Get("User-Agent"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.True(t, strings.HasPrefix(got.URL.Path, "/prefix/"), "path %q keeps the base URL's prefix", got.URL.Path)
	for _, h := range tg.CredentialHeaders {
		assert.NotEmpty(t, got.Header.Get(h), "credential header %s", h)
	}
}

// testErrorAnswers checks the typed errors of failed answers: status,
// Retry-After and the retry decision.
func testErrorAnswers[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		retryable  bool
		wantAfter  time.Duration // 0: no hint
		slack      time.Duration
		inText     string
	}{
		{name: "429 with Retry-After seconds", status: 429, retryAfter: "7", body: tg.TooManyRequests,
			retryable: true, wantAfter: 7 * time.Second},
		{name: "429 with Retry-After HTTP date", status: 429, retryAfter: date, body: tg.TooManyRequests,
			retryable: true, wantAfter: 90 * time.Second, slack: 3 * time.Second},
		{name: "500 page", status: 500, body: "<html>internal trouble</html>", retryable: true, inText: "internal trouble"},
		{name: "502 page", status: 502, body: "<html>bad gateway</html>", retryable: true, inText: "bad gateway"},
		{name: "503 with Retry-After HTTP date", status: 503, retryAfter: date, body: "down for maintenance",
			retryable: true, wantAfter: 90 * time.Second, slack: 3 * time.Second, inText: "down for maintenance"},
		{name: "503 with Retry-After seconds", status: 503, retryAfter: "120", retryable: true, wantAfter: 2 * time.Minute},
		{name: "504 empty body", status: 504, retryable: true, inText: "Gateway Timeout"},
		{name: "404 text", status: 404, body: "no such route", retryable: false, inText: "no such route"},
		{name: "401 empty body", status: 401, retryable: false, inText: "Unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := serve(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			err := tg.Call(context.Background(), client(t, tg, ts.URL))
			require.Error(t, err)
			assert.Equal(t, tc.status, statusOf(err), "status carried by the error: %v", err)
			assert.Equal(t, tc.retryable, tg.Errors.IsRetryable(err), "retryable: %v", err)
			d, ok := tg.Errors.RetryAfter(err)
			assert.Equal(t, tc.wantAfter > 0, ok, "a Retry-After hint: %v", err)
			assert.InDelta(t, tc.wantAfter, d, float64(tc.slack+time.Second/2))
			if tc.inText != "" {
				assert.Contains(t, err.Error(), tc.inText)
			}
		})
	}
}

// testBodyLimits checks that an error body is read up to
// httpcall.MaxErrorBody and a successful one up to httpcall.MaxResponseBody.
func testBodyLimits[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	t.Run("error body capped", func(t *testing.T) {
		ts := serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(strings.Repeat("x", 4*httpcall.MaxErrorBody)))
		})
		err := tg.Call(context.Background(), client(t, tg, ts.URL))
		require.Error(t, err)
		assert.Equal(t, http.StatusBadRequest, statusOf(err))
		assert.LessOrEqual(t, len(err.Error()), httpcall.MaxErrorBody+1024, "the error holds at most MaxErrorBody of the body")
	})
	t.Run("success body over the limit", func(t *testing.T) {
		ts := serve(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"pad":"`))
			_, _ = io.CopyN(w, repeatReader('x'), httpcall.MaxResponseBody)
			_, _ = w.Write([]byte(`"}`))
		})
		err := tg.Call(context.Background(), client(t, tg, ts.URL))
		require.Error(t, err)
		assert.Contains(t, err.Error(), fmt.Sprintf("larger than %d bytes", httpcall.MaxResponseBody))
		assert.False(t, tg.Errors.IsRetryable(err), "asking again gets the same answer")
	})
}

// repeatReader is an endless reader of b.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func testBadJSON[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	for _, body := range []string{`{"chat":`, `<html>ok</html>`, `{"id": 1 2}`} {
		t.Run(body, func(t *testing.T) {
			ts := serve(t, okHandler(body))
			err := tg.Call(context.Background(), client(t, tg, ts.URL))
			require.Error(t, err)
			_, isSyntax := errors.AsType[*json.SyntaxError](err)
			assert.True(t, isSyntax, "a JSON syntax error: %v", err)
			assert.False(t, tg.Errors.IsRetryable(err), "permanent: %v", err)
		})
	}
}

// ServeHanging starts a server that holds every request until the client
// goes away or the test ends, and returns its URL and the number of
// requests it received so far.
func ServeHanging(t *testing.T) (url string, requests func() int) {
	t.Helper()
	var n atomic.Int32
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); ts.Close() })
	return ts.URL, func() int { return int(n.Load()) }
}

// testTimeouts checks that a call is bounded by the HTTP client's timeout
// and by the caller's context, and how each is classified. The bound of 10 s
// for a 200 ms timeout is generous for CI (2 cores, -race).
func testTimeouts[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	const timeout, bound = 200 * time.Millisecond, 10 * time.Second
	t.Run("HTTP client timeout", func(t *testing.T) {
		url, _ := ServeHanging(t)
		c := client(t, tg, url, apiclient.WithHTTPClient[C](&http.Client{Timeout: timeout}))
		start := time.Now()
		err := tg.Call(context.Background(), c)
		require.Error(t, err)
		assert.Less(t, time.Since(start), bound)
		assert.True(t, tg.Errors.IsRetryable(err), "a timeout is retryable: %v", err)
	})
	t.Run("HTTP client timeout through a wrapped transport: no watcher goroutines", func(t *testing.T) {
		// The service wraps each platform's transport (breaker, metrics,
		// tracing). For such a transport net/http would enforce the HTTP
		// client's Timeout with two goroutines and a timer per call; the
		// client applies it as the request context's deadline instead.
		url, requests := ServeHanging(t)
		inner := &http.Transport{}
		t.Cleanup(inner.CloseIdleConnections)
		wrapped := roundTripFunc(func(r *http.Request) (*http.Response, error) { return inner.RoundTrip(r) })
		c := client(t, tg, url, apiclient.WithHTTPClient[C](&http.Client{Timeout: time.Second, Transport: wrapped}))
		start := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- tg.Call(context.Background(), c) }()
		require.Eventually(t, func() bool { return requests() == 1 }, bound, 5*time.Millisecond)
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		assert.False(t, strings.Contains(stacks, "net/http.setRequestCancel"), "a goroutine watches the call's timeout")
		assert.False(t, strings.Contains(stacks, "net/http.awaitLegacyCancel"), "a goroutine converts Request.Cancel")
		err := <-errc
		require.Error(t, err)
		took := time.Since(start)
		assert.GreaterOrEqual(t, took, time.Second, "bounded by the client's timeout, not sooner")
		assert.Less(t, took, bound)
		assert.True(t, tg.Errors.IsRetryable(err), "a timeout is retryable: %v", err)
	})
	t.Run("context deadline", func(t *testing.T) {
		url, _ := ServeHanging(t)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		err := tg.Call(ctx, client(t, tg, url))
		require.Error(t, err)
		assert.Less(t, time.Since(start), bound)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, tg.Errors.IsRetryable(err), "a deadline is retryable: %v", err)
	})
	t.Run("context canceled", func(t *testing.T) {
		url, requests := ServeHanging(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for requests() == 0 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond) // polls until the request is in
			}
			cancel()
		}()
		err := tg.Call(ctx, client(t, tg, url))
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, tg.Errors.IsRetryable(err), "the caller gave up: %v", err)
	})
	t.Run("connection refused", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL
		ts.Close()
		err := tg.Call(context.Background(), client(t, tg, url))
		require.Error(t, err)
		assert.True(t, tg.Errors.IsRetryable(err), "a refused connection is retryable: %v", err)
	})
}

// testRedirects checks that a redirect to another origin is refused before
// the credentials reach it, whatever HTTP client the caller gives, and that
// one to the same origin is followed with them.
func testRedirects[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	for _, tc := range []struct {
		name   string
		status int
		opts   []apiclient.Option[C]
	}{
		{"307 default client", http.StatusTemporaryRedirect, nil},
		{"307 given client", http.StatusTemporaryRedirect, []apiclient.Option[C]{apiclient.WithHTTPClient[C](&http.Client{})}},
		{"302 given client", http.StatusFound, []apiclient.Option[C]{apiclient.WithHTTPClient[C](&http.Client{})}},
	} {
		t.Run("another host: "+tc.name, func(t *testing.T) {
			from, target := httpcalltest.CrossHostRedirect(t, tc.status)
			err := tg.Call(context.Background(), client(t, tg, from, tc.opts...))
			require.Error(t, err)
			assert.ErrorIs(t, err, httpcall.ErrCrossHostRedirect)
			assert.Contains(t, err.Error(), target.URL, "the error names the other host")
			assert.False(t, tg.Errors.IsRetryable(err), "permanent")
			assert.Empty(t, target.Requests(), "the other host never sees the request nor its credentials")
		})
	}
	t.Run("same origin followed", func(t *testing.T) {
		var mu sync.Mutex
		var moved http.Header
		ts := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/moved") {
				http.Redirect(w, r, "/moved"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
				return
			}
			mu.Lock()
			moved = r.Header.Clone()
			mu.Unlock()
			okHandler(tg.OK)(w, r)
		})
		require.NoError(t, tg.Call(context.Background(), client(t, tg, ts.URL)))
		mu.Lock()
		defer mu.Unlock()
		require.NotNil(t, moved, "the redirect was followed")
		for _, h := range tg.CredentialHeaders {
			assert.NotEmpty(t, moved.Get(h), "credential header %s kept on the same origin", h)
		}
	})
}

// testConnectionReuse makes 1,000 calls from 32 goroutines with the
// client's default HTTP client to one host and counts the connections the
// host sees: the default transport keeps an idle connection per worker and
// opens no more, so 32 serve every call (http.DefaultTransport keeps 2 idle
// and opens 56 to 450 here). Go's transport retires a connection whose
// request write it has not seen confirmed within 50 ms before reusing it,
// which a loaded CI machine (2 cores, -race) can cause now and then; the
// replacement counts as opened, so ReuseSlack more are allowed.
func testConnectionReuse[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	const workers, calls = apiclient.DefaultConcurrency, 1000
	url, opened := ServeCounting(t, okHandler(tg.OK))
	c := client(t, tg, url)
	failed := Hammer(workers, calls, func() error { return tg.Call(context.Background(), c) })
	assert.Zero(t, failed, "failed calls")
	assert.LessOrEqual(t, opened(), workers+ReuseSlack, "connections opened for %d calls from %d goroutines", calls, workers)
}

// ServeCounting serves h on an httptest server, stopped at the end of the
// test, and counts the connections clients open to it.
func ServeCounting(t *testing.T, h http.Handler) (url string, opened func() int) {
	t.Helper()
	var n atomic.Int32
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, func() int { return int(n.Load()) }
}

// Hammer makes calls calls of call from workers goroutines at once and
// returns how many failed.
func Hammer(workers, calls int, call func() error) (failed int) {
	var next, nfailed atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for int(next.Add(1)) <= calls {
				if call() != nil {
					nfailed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(nfailed.Load())
}

// ReuseSlack is how many connections beyond the workers' a reuse test
// allows for those Go's transport retires under load (see
// testConnectionReuse).
const ReuseSlack = 4

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// testTransportErrors checks the retry decision for failures that are not
// API answers: the caller's context, the network, and everything else.
func testTransportErrors[C apiclient.Embedder](t *testing.T, tg Target[C]) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	retryable := map[string]error{
		"deadline exceeded":         context.DeadlineExceeded,
		"deadline inside url.Error": &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded},
		"connection refused":        &url.Error{Op: "Post", URL: "u", Err: dialRefused},
		"connection reset":          fmt.Errorf("read: %w", syscall.ECONNRESET),
		"broken pipe":               fmt.Errorf("write: %w", syscall.EPIPE),
		"unexpected EOF":            io.ErrUnexpectedEOF,
		"EOF from transport":        &url.Error{Op: "Post", URL: "u", Err: io.EOF},
		"DNS failure":               &url.Error{Op: "Post", URL: "u", Err: &net.DNSError{Err: "no such host", Name: "x"}},
		"net timeout":               timeoutErr{},
		"url.Error timeout":         &url.Error{Op: "Post", URL: "u", Err: timeoutErr{}},
	}
	permanent := map[string]error{
		"nil":                              nil,
		"caller canceled":                  context.Canceled,
		"caller canceled inside url.Error": &url.Error{Op: "Post", URL: "u", Err: context.Canceled},
		"unsupported scheme":               &url.Error{Op: "Post", URL: "u", Err: errors.New("unsupported protocol scheme")},
		"JSON syntax":                      &json.SyntaxError{Offset: 1},
		"plain error":                      errors.New("boom"),
		"cross-host redirect":              &httpcall.RedirectError{From: "a", To: "b"},
	}
	for want, cases := range map[bool]map[string]error{true: retryable, false: permanent} {
		for name, err := range cases {
			t.Run(name, func(t *testing.T) { assert.Equal(t, want, tg.Errors.IsRetryable(err)) })
		}
	}
	t.Run("no hint without an API error", func(t *testing.T) {
		for _, err := range []error{nil, errors.New("boom"), context.DeadlineExceeded} {
			_, ok := tg.Errors.RetryAfter(err)
			assert.False(t, ok, "%v", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
