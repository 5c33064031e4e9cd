package framing

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// startServer serves, through Protect, a handler that reads the whole body
// and answers 200 with its length. served counts the handler's calls.
func startServer(t *testing.T) (addr string, served *atomic.Int64) {
	t.Helper()
	served = new(atomic.Int64)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnprocessableEntity)
				return
			}
			_, _ = w.Write([]byte(strconv.Itoa(len(b))))
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln = Protect(srv, ln, zaptest.NewLogger(t))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), served
}

const (
	plain   = "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	chunked = "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	both    = "POST /webhooks/livechat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
)

func TestProtectRefusesContentLengthWithTransferEncoding(t *testing.T) {
	tests := []struct {
		name       string
		raw        string // sent at once, pipelined
		wantStatus []int  // one per request, in order
		wantBodies []string
		wantClosed bool // the server closes the connection after the last answer
	}{
		{name: "Content-Length then Transfer-Encoding", raw: both,
			wantStatus: []int{400}, wantClosed: true},
		{name: "Transfer-Encoding first, odd case", raw: "POST /webhooks/rocketchat HTTP/1.1\r\nHost: x\r\ntransfer-ENCODING: chunked\r\nCONTENT-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			wantStatus: []int{400}, wantClosed: true},
		{name: "any route", raw: strings.Replace(both, "/webhooks/livechat", "/healthz", 1),
			wantStatus: []int{400}, wantClosed: true},
		{name: "HTTP/1.0", raw: "POST /webhooks/livechat HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
			wantStatus: []int{400}, wantClosed: true},
		{name: "after a request kept alive", raw: plain + both,
			wantStatus: []int{200, 400}, wantBodies: []string{"5"}, wantClosed: true},
		{name: "after a chunked body that looks like headers",
			raw: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"2d\r\nContent-Length: 3\r\nX: y\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n0\r\n\r\n" + both,
			wantStatus: []int{200, 400}, wantBodies: []string{"45"}, wantClosed: true},
		{name: "after a Content-Length body that looks like a request",
			raw:        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n" + both,
			wantStatus: []int{200, 400}, wantBodies: []string{"24"}, wantClosed: true},
		{name: "after OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + both,
			wantStatus: []int{200, 400}, wantBodies: []string{"0"}, wantClosed: true},
		{name: "Content-Length alone stays alive", raw: plain + plain,
			wantStatus: []int{200, 200}, wantBodies: []string{"5", "5"}},
		{name: "chunked alone stays alive", raw: chunked + chunked,
			wantStatus: []int{200, 200}, wantBodies: []string{"5", "5"}},
		{name: "chunk extensions, trailers, empty lines between requests",
			raw: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"3;name=value\r\nabc\r\n2 \r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n\r\n" + plain,
			wantStatus: []int{200, 200}, wantBodies: []string{"5", "5"}},
		{name: "folded header line", raw: "POST /a HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n b\r\nContent-Length: 5\r\n\r\nhello" + plain,
			wantStatus: []int{200, 200}, wantBodies: []string{"5", "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, served := startServer(t)
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer c.Close()
			// A generous bound for a loaded CI machine; every read below ends
			// by an answer or the server's close long before it.
			require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
			_, err = io.WriteString(c, tt.raw)
			require.NoError(t, err)
			br := bufio.NewReader(c)
			var last *http.Response
			for i, want := range tt.wantStatus {
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err, "answer %d", i)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, want, resp.StatusCode, "answer %d: %s", i, body)
				if want == 200 && i < len(tt.wantBodies) {
					assert.Equal(t, tt.wantBodies[i], string(body), "answer %d: body length seen by the handler", i)
				}
				if want == 400 && resp.Header.Get("Content-Type") == "application/json" {
					assert.Contains(t, string(body), "Content-Length and Transfer-Encoding")
				}
				last = resp
			}
			if tt.wantClosed {
				_, err := br.ReadByte()
				assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
				assert.True(t, last.Close, "the answer says Connection: close")
			} else {
				assert.False(t, last.Close, "the connection is kept alive")
				_, err = io.WriteString(c, plain)
				require.NoError(t, err)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
			}
			served200 := 0
			for _, s := range tt.wantStatus {
				if s == 200 {
					served200++
				}
			}
			if !tt.wantClosed {
				served200++
			}
			assert.Equal(t, int64(served200), served.Load(), "refused requests reach no handler")
		})
	}
}

// TestProtectLostFramingCloses: bytes the parser cannot follow (here a chunk
// size that is not hex, which net/http refuses too) never get a request
// served on a connection whose heads were not checked.
func TestProtectLostFramingCloses(t *testing.T) {
	var p parser
	p.feed([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
	assert.Equal(t, stLost, p.state)
	c := &conn{p: p}
	h, ok := c.next(http.MethodPost)
	assert.True(t, ok, "the head read before the loss is still noted")
	assert.False(t, h.conflict)
	_, ok = c.next(http.MethodPost)
	assert.False(t, ok, "nothing after the loss: the guard closes the connection")
}

// TestParserSplitReads feeds a conflicting request one byte at a time, as a
// slow client sends it.
func TestParserSplitReads(t *testing.T) {
	var p parser
	for _, b := range []byte(plain + both) {
		p.feed([]byte{b})
	}
	require.Len(t, p.heads, 2)
	assert.False(t, p.heads[0].conflict)
	assert.True(t, p.heads[1].conflict)
	assert.Equal(t, stHead, p.state, "both bodies followed to their end")
}

func TestParserLongLines(t *testing.T) {
	var p parser
	long := "GET /" + strings.Repeat("a", 3*maxKept) + " HTTP/1.1\r\nX-Pad: " + strings.Repeat("b", 3*maxKept) +
		"\r\nContent-Length: 2\r\ntransfer-encoding: chunked\r\n\r\n"
	p.feed([]byte(long))
	require.Len(t, p.heads, 1)
	assert.True(t, p.heads[0].conflict)
	assert.Equal(t, "GET", p.heads[0].method)
}

// wrapped is another listener's connection wrapper, applied after Protect.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

func TestUnwrapThroughOtherWrappers(t *testing.T) {
	fc := &conn{}
	assert.Same(t, fc, unwrap(fc))
	assert.Same(t, fc, unwrap(wrapped{wrapped{fc}}))
	assert.Nil(t, unwrap(wrapped{}))
}
