package apiclient

import (
	"net"
	"net/http"
	"time"
)

// DefaultConcurrency is the number of calls a client expects at once when
// not told (workers.concurrency's default).
const DefaultConcurrency = 32

// ResponseHeaderTimeout bounds the wait for an answer's headers after the
// request is written: longer than LiveChat's own 15 s request timeout, so
// the API's answer (request_timeout) comes first. The whole call is bounded
// by the HTTP client's timeout (the platform's request_timeout) and the
// caller's context.
const ResponseHeaderTimeout = 18 * time.Second

// NewTransport returns a transport for one platform client making up to
// concurrency calls at once (less than 1: DefaultConcurrency) to one API
// host: it keeps that many idle connections to the host (http.DefaultTransport
// keeps 2, so 32 workers would dial, and shake hands, again and again) and
// opens no more than that (a call finding every connection busy waits for
// one to come back, which with at most concurrency calls at once is the
// moment another call ends, instead of dialing one that would be closed
// right after), keeps connections alive, speaks HTTP/2 where the server offers it over
// TLS (ForceAttemptHTTP2), honours the proxy environment, and bounds
// dialing, the TLS handshake and the wait for response headers. Give each
// platform client a transport of its own.
func NewTransport(concurrency int) *http.Transport {
	if concurrency < 1 {
		concurrency = DefaultConcurrency
	}
	// Dial within 10 s; TCP keep-alive probes every 30 s.
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * concurrency,
		MaxIdleConnsPerHost:   concurrency,
		MaxConnsPerHost:       concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// NewHTTPClient is an *http.Client with timeout (the whole call) and a
// transport of its own from NewTransport(concurrency), whose wait for the
// response headers is raised to timeout when that is longer than
// ResponseHeaderTimeout.
func NewHTTPClient(timeout time.Duration, concurrency int) *http.Client {
	t := NewTransport(concurrency)
	t.ResponseHeaderTimeout = max(t.ResponseHeaderTimeout, timeout)
	return &http.Client{Timeout: timeout, Transport: t}
}
