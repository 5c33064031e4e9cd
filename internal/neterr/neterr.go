// Package neterr classifies transport failures of HTTP calls, for the
// platform clients' retry decisions.
package neterr

import (
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
)

// Transient reports whether err is a transport failure that a repeated call
// may not meet: a timeout (net.Error, http.Client.Timeout), a network error
// (*net.OpError, DNS errors), a connection reset, refused or aborted, a
// broken pipe, an unreachable host or network, io.EOF or io.ErrUnexpectedEOF
// (the connection closed mid-answer). It is false for nil and for anything
// else, including an *url.Error that wraps a permanent failure (an
// unsupported scheme). The decision is made on types, never on error text.
// API errors and context errors are the caller's to classify first.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	// *url.Error implements net.Error for every failure of http.Client.Do,
	// including permanent ones: look inside unless it is a timeout.
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		if urlErr.Timeout() {
			return true
		}
		return netFailure(urlErr.Err)
	}
	return netFailure(err)
}

func netFailure(err error) bool {
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		return ne.Timeout()
	}
	return false
}
