package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadBody(t *testing.T) {
	const limit = 8
	for _, tc := range []struct {
		name          string
		body          string
		contentLength int64 // -1: chunked (length unknown)
		want          string
		tooLarge      bool
		err           bool
	}{
		{name: "declared, within the limit", body: "12345", contentLength: 5, want: "12345"},
		{name: "declared, at the limit", body: "12345678", contentLength: 8, want: "12345678"},
		{name: "declared, empty", body: "", contentLength: 0, want: ""},
		{name: "declared, over the limit: not read", body: "123456789", contentLength: 9, tooLarge: true},
		{name: "declared longer than sent", body: "123", contentLength: 5, err: true},
		{name: "chunked, within the limit", body: "1234", contentLength: -1, want: "1234"},
		{name: "chunked, at the limit", body: "12345678", contentLength: -1, want: "12345678"},
		{name: "chunked, over the limit", body: "123456789", contentLength: -1, tooLarge: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/webhooks/livechat", io.NopCloser(strings.NewReader(tc.body)))
			r.ContentLength = tc.contentLength
			body, tooLarge, err := readBody(r, limit, nil)
			assert.Equal(t, tc.tooLarge, tooLarge, "tooLarge")
			assert.Equal(t, tc.err, err != nil, "error: %v", err)
			if !tc.tooLarge && !tc.err {
				assert.Equal(t, tc.want, string(body))
			}
		})
	}
}

// trickle gives at most per bytes a Read; once out of data it ends the body,
// or fails as the server does when a stalled client's deadline passes.
type trickle struct {
	data  []byte
	per   int
	stall bool
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.stall {
			return 0, errors.New("i/o timeout")
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.per)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadBodyChargesAsBytesArrive: the byte budget is charged as the
// buffer grows with the bytes received, never by the declared length: a
// request declaring 1 MiB that sends a few bytes is charged 4 KiB, a body is
// charged at most twice its size (at least 4 KiB), and a refused charge
// stops reading with errOverBudget.
func TestReadBodyChargesAsBytesArrive(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name          string
		sent          int   // bytes the client sends
		contentLength int64 // -1: chunked
		budget        int64 // bytes charge accepts in total
		wantCharged   int64 // total charged (max when wantOver)
		wantOver      bool
		stall         bool // the client stops sending (wants an error)
	}{
		{name: "declares 1 MiB, sends one byte", sent: 1, contentLength: limit, budget: 1 << 30, wantCharged: firstChunk, stall: true},
		{name: "small body: its declared length", sent: 300, contentLength: 300, budget: 1 << 30, wantCharged: 300},
		{name: "100 KB body, doubling from 4 KiB", sent: 100_000, contentLength: 100_000, budget: 1 << 30, wantCharged: 100_000},
		{name: "chunked 100 KB: at most twice the bytes", sent: 100_000, contentLength: -1, budget: 1 << 30, wantCharged: 128 << 10},
		{name: "budget runs out mid-body", sent: 100_000, contentLength: 100_000, budget: 50_000, wantCharged: 32 << 10, wantOver: true},
		{name: "no budget for the first chunk", sent: 10, contentLength: 10, budget: 5, wantCharged: 0, wantOver: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := bytes.Repeat([]byte("x"), tc.sent)
			r := httptest.NewRequest("POST", "/webhooks/livechat", io.NopCloser(&trickle{data: data, per: 1000, stall: tc.stall}))
			r.ContentLength = tc.contentLength
			var charged int64
			body, tooLarge, err := readBody(r, limit, func(n int64) bool {
				require.Positive(t, n)
				if charged+n > tc.budget {
					return false
				}
				charged += n
				return true
			})
			assert.False(t, tooLarge)
			assert.Equal(t, tc.wantCharged, charged, "bytes charged")
			switch {
			case tc.wantOver:
				assert.ErrorIs(t, err, errOverBudget)
			case tc.stall:
				assert.Error(t, err)
			default:
				require.NoError(t, err)
				assert.Equal(t, data, body)
				assert.LessOrEqual(t, int64(cap(body)), charged, "every byte of the buffer was charged")
			}
		})
	}
}
