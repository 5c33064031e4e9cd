package httpcall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    string
		want time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"spaces around", " 2 ", 2 * time.Second},
		{"fraction", "1.5", 1500 * time.Millisecond},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"over a day", "86401", 0},
		{"http date ahead", now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{"http date past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, RetryAfter(tc.v, now))
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"trimmed body", "  <html>bad gateway</html>\n", 502, "<html>bad gateway</html>"},
		{"blank body: status text", " \n", 503, "Service Unavailable"},
		{"cut multi-byte character dropped", "caf\xc3", 500, "caf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ErrorText([]byte(tc.body), tc.status))
		})
	}
}

func response(body string) *http.Response {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body))}
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		v       any
		wantErr string
	}{
		{"object", `{"a":1}`, &map[string]int{}, ""},
		{"blank body decodes nothing", "  \n", &map[string]int{}, ""},
		{"nil v reads nothing", "not json", nil, ""},
		{"invalid", "{", &map[string]int{}, "decoding response"},
		{"too large", strings.Repeat(" ", MaxResponseBody+1), &map[string]int{}, "response larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadJSON(response(tc.body), tc.v)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
	var got struct{ A int }
	require.NoError(t, ReadJSON(response(`{"A":3}`), &got))
	assert.Equal(t, 3, got.A)
}

func TestNewJSONRequest(t *testing.T) {
	req, err := NewJSONRequest(context.Background(), http.MethodPost, "http://x/y", map[string]string{"k": "v"}, "agent/1")
	require.NoError(t, err)
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", req.Header.Get("Accept"))
	assert.Equal(t, "agent/1", req.Header.Get("User-Agent"))
	b, _ := io.ReadAll(req.Body)
	assert.JSONEq(t, `{"k":"v"}`, string(b))
	again, err := req.GetBody()
	require.NoError(t, err, "the body can be re-sent")
	b, _ = io.ReadAll(again)
	assert.JSONEq(t, `{"k":"v"}`, string(b))

	req, err = NewJSONRequest(context.Background(), http.MethodGet, "http://x/y", nil, "agent/1")
	require.NoError(t, err)
	assert.Empty(t, req.Header.Get("Content-Type"), "no body, no content type")
	assert.Nil(t, req.Body, "no body sent")

	_, err = NewJSONRequest(context.Background(), http.MethodPost, "http://x/y", func() {}, "a")
	require.ErrorContains(t, err, "encoding request")
}

type apiErr struct{ retry bool }

func (e *apiErr) Error() string   { return "plat API call: HTTP 500" }
func (e *apiErr) Detail() string  { return "HTTP 500" }
func (e *apiErr) Retryable() bool { return e.retry }

var errLimited = errors.New("plat: rate limited")

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, true},
		{"api error decides: yes", &apiErr{retry: true}, true},
		{"api error decides: no", &apiErr{retry: false}, false},
		{"api error wrapped", fmt.Errorf("x: %w", &apiErr{retry: true}), true},
		{"rate limited", fmt.Errorf("x: %w", errLimited), true},
		{"transport", io.ErrUnexpectedEOF, true},
		{"anything else", errors.New("decoding response"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Retryable(tc.err, errLimited, (*apiErr).Retryable))
		})
	}
	assert.False(t, Retryable(errLimited, nil, (*apiErr).Retryable), "no limiter error when the client has none")
}

func TestOpError(t *testing.T) {
	tests := []struct {
		name, target string
		err          error
		want         string
	}{
		{"api error by its detail", "chat 1", &apiErr{}, "plat: close chat 1: HTTP 500"},
		{"platform prefix not repeated", "chat 1", errLimited, "plat: close chat 1: rate limited"},
		{"no target", "", io.EOF, "plat: close: EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WrapOp("plat", "close", tc.target, tc.err)
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, tc.err)
		})
	}
	assert.NoError(t, WrapOp("plat", "close", "", nil))
}
