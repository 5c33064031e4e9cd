// Package httpcall is the HTTP plumbing the platform clients (livechat,
// helpcrunch, rocketchat) share: JSON requests, bounded reading of answers,
// the text of an error answer that is not the platform's envelope, and
// Retry-After. Each client keeps its own authentication, error types and
// rate limiting.
package httpcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/internal/neterr"
)

// MaxResponseBody caps a successful answer; ReadBody fails beyond it.
const MaxResponseBody = 32 << 20

// MaxErrorBody caps how much of an error answer is read.
const MaxErrorBody = 64 << 10

// drainLimit is how much of an unread answer Close reads so that the
// connection can be reused.
const drainLimit = 64 << 10

// NewJSONRequest builds a request of method to url with Accept
// application/json and userAgent. A non-nil body is encoded as JSON and sent
// with Content-Type application/json (and can be re-sent: GetBody is set);
// a nil body sends none.
func NewJSONRequest(ctx context.Context, method, url string, body any, userAgent string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		payload, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// Close reads what is left of resp's body (up to 64 KiB, so the connection
// can be reused) and closes it.
func Close(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
}

// ReadBody reads a successful answer's body, failing when it is larger than
// MaxResponseBody.
func ReadBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(body) > MaxResponseBody {
		return nil, fmt.Errorf("response larger than %d bytes", MaxResponseBody)
	}
	return body, nil
}

// Decode decodes a JSON answer into v; a nil v or a blank body decodes
// nothing.
func Decode(body []byte, v any) error {
	if v == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding response: %w", err)
	}
	return nil
}

// ReadJSON reads a successful answer (ReadBody) and decodes it into v
// (Decode); a nil v reads nothing.
func ReadJSON(resp *http.Response, v any) error {
	if v == nil {
		return nil
	}
	body, err := ReadBody(resp)
	if err != nil {
		return err
	}
	return Decode(body, v)
}

// ErrorText is the message of an error answer whose body is not the
// platform's envelope (a proxy's page, plain text): the trimmed body, with
// bytes that are not UTF-8 dropped (a read limit may cut a character), or
// the status text when the body is blank.
func ErrorText(body []byte, status int) string {
	if msg := strings.TrimSpace(strings.ToValidUTF8(string(body), "")); msg != "" {
		return msg
	}
	return http.StatusText(status)
}

// RetryAfter reads a Retry-After value, delay-seconds or an HTTP date, as
// the time to wait from now. It returns 0 for an empty, invalid or past
// value, and for delay-seconds over a day.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Retryable is the retry decision the platform clients share. It is false
// for nil and for context.Canceled (the caller gave up); an API error of
// type E anywhere in err's chain decides by itself (retryable); it is true
// for rateLimited (the client's own limiter would not wait; nil when the
// client has none) and context.DeadlineExceeded, and otherwise true only for
// a transport failure (neterr.Transient). The decision is made on types,
// never on error text.
func Retryable[E error](err, rateLimited error, retryable func(E) bool) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if apiErr, ok := errors.AsType[E](err); ok {
		return retryable(apiErr)
	}
	if rateLimited != nil && errors.Is(err, rateLimited) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return neterr.Transient(err)
}

// Detailer is an API error that can describe itself without naming the call
// ("HTTP 404 not_found: Chat not found"), for an OpError that names it.
type Detailer interface{ Detail() string }

// OpError adds a call's context (the operation and its target, "set_status
// chat 542335") to an error, which stays reachable with errors.Is and
// errors.As. Its text is "<platform>: <op> <target>: " followed by the
// error's Detail when it is a Detailer, or else its text without a leading
// "<platform>: ".
type OpError struct {
	Platform, Op string
	Target       string // may be empty
	Err          error
}

func (e *OpError) Error() string {
	prefix := e.Platform + ": " + e.Op
	if e.Target != "" {
		prefix += " " + e.Target
	}
	if d, ok := e.Err.(Detailer); ok {
		return prefix + ": " + d.Detail()
	}
	return prefix + ": " + strings.TrimPrefix(e.Err.Error(), e.Platform+": ")
}

func (e *OpError) Unwrap() error { return e.Err }

// WrapOp wraps err in an *OpError; a nil err stays nil.
func WrapOp(platform, op, target string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Platform: platform, Op: op, Target: target, Err: err}
}
