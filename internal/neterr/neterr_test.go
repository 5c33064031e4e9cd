package neterr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

type timeoutErr struct{ timeout bool }

func (e timeoutErr) Error() string   { return "net error" }
func (e timeoutErr) Timeout() bool   { return e.timeout }
func (e timeoutErr) Temporary() bool { return false }

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"EOF", io.EOF, true},
		{"unexpected EOF, wrapped", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused, bare", syscall.ECONNREFUSED, true},
		{"broken pipe", syscall.EPIPE, true},
		{"host unreachable", syscall.EHOSTUNREACH, true},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "x"}, true},
		{"client timeout", &url.Error{Op: "Post", URL: "http://x", Err: timeoutErr{timeout: true}}, true},
		{"url error around a network failure", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial"}}, true},
		{"url error around a permanent failure", &url.Error{Op: "Post", URL: "x://y", Err: errors.New(`unsupported protocol scheme "x"`)}, false},
		{"net error that is not a timeout", timeoutErr{timeout: false}, false},
		{"net error timeout", timeoutErr{timeout: true}, true},
		{"other error", errors.New("invalid character 'x' looking for beginning of value"), false},
		{"permission denied", syscall.EACCES, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Transient(tc.err))
		})
	}
}
