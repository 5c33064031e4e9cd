package apiclient

import (
	"net"
	"net/http"
	"time"
)

// Transport defaults. The timeouts bound each phase of a call; the whole
// call is bounded by the HTTP client's timeout (the platform's
// request_timeout) and the caller's context.
const (
	// DefaultConcurrency is the number of calls a client expects at once
	// when not told (workers.concurrency's default).
	DefaultConcurrency = 32
	// DialTimeout bounds opening a TCP connection.
	DialTimeout = 10 * time.Second
	// KeepAlive is the TCP keep-alive period of the connections.
	KeepAlive = 30 * time.Second
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
	// ResponseHeaderTimeout bounds the wait for the answer's headers after
	// the request is written: longer than LiveChat's own 15 s request
	// timeout, so the API's answer (request_timeout) comes first.
	ResponseHeaderTimeout = 18 * time.Second
	// IdleConnTimeout is how long an idle connection is kept.
	IdleConnTimeout = 90 * time.Second
)

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
	dialer := &net.Dialer{Timeout: DialTimeout, KeepAlive: KeepAlive}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * concurrency,
		MaxIdleConnsPerHost:   concurrency,
		MaxConnsPerHost:       concurrency,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
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
