package helpcrunchtest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
)

func start(t *testing.T, opts ...helpcrunchtest.Option) (*helpcrunchtest.Server, string) {
	return apiclienttest.StartFake(t, helpcrunchtest.New(opts...))
}

func client(t *testing.T, url string) *helpcrunch.Client {
	t.Helper()
	c, err := helpcrunch.New("key", helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0))
	require.NoError(t, err)
	return c
}

// raw sends a request and returns the status and the error codes.
func raw(t *testing.T, method, url, body, auth string) (int, []string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Errors []helpcrunch.ErrorDetail `json:"errors"`
	}
	_ = json.Unmarshal(b, &env)
	var codes []string
	for _, e := range env.Errors {
		codes = append(codes, e.Code)
	}
	return resp.StatusCode, codes
}

func TestRequestValidation(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(helpcrunch.Chat{ID: 5})
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"status undocumented spelling", "PUT", "/v1/chats/status", `{"id":5,"status":"onhold"}`, 400, helpcrunch.CodeInvalidChatValue},
		{"status empty", "PUT", "/v1/chats/status", `{"id":5,"status":"empty"}`, 400, helpcrunch.CodeInvalidChatValue},
		{"status without id", "PUT", "/v1/chats/status", `{"status":"new"}`, 400, "id"},
		{"status id as string", "PUT", "/v1/chats/status", `{"id":"5","status":"new"}`, 400, "id"},
		{"status of unknown chat", "PUT", "/v1/chats/status", `{"id":6,"status":"new"}`, 404, helpcrunch.CodeChatNotFound},
		{"assignee missing", "PUT", "/v1/chats/assignee", `{"id":5}`, 400, "assignee"},
		{"department not a number", "PUT", "/v1/chats/department", `{"id":5,"department":"x"}`, 400, "department"},
		{"snooze missing", "PUT", "/v1/chats/snooze", `{"id":5}`, 400, "snoozedUntil"},
		{"snooze not a time", "PUT", "/v1/chats/snooze", `{"id":5,"snoozedUntil":"soon"}`, 400, "snoozedUntil"},
		{"not JSON", "PUT", "/v1/chats/status", `{`, 400, "body"},
		{"get non-numeric id", "GET", "/v1/chats/abc", ``, 400, "id"},
		{"list limit too big", "GET", "/v1/chats?limit=101", ``, 400, "limit"},
		{"list bad sort", "GET", "/v1/chats?sort=chats.rating", ``, 400, "sort"},
		{"search bad operator", "POST", "/v1/chats/search", `{"filter":[{"field":"chats.status","operator":">","value":"new"}]}`, 400, "filter[0].operator"},
		{"search bad value type", "POST", "/v1/chats/search", `{"filter":[{"field":"chats.assignee","operator":"=","value":"x"}]}`, 400, "filter[0].value"},
		{"search bad comparison", "POST", "/v1/chats/search", `{"filter":[],"comparison":"XOR"}`, 400, "comparison"},
		{"unknown route", "DELETE", "/v1/chats/5", ``, 404, helpcrunch.CodeEntityNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, codes := raw(t, tt.method, url+tt.path, tt.body, "Bearer k")
			assert.Equal(t, tt.wantStatus, status)
			assert.Contains(t, codes, tt.wantCode)
		})
	}
	got, _ := srv.Chat(5)
	assert.Equal(t, helpcrunch.StatusNew, got.Status, "failed calls change nothing")
}

func TestAuth(t *testing.T) {
	_, url := start(t, helpcrunchtest.WithAPIKey("right"))
	for _, auth := range []string{"", "Bearer wrong", "Basic right", "Bearer "} {
		status, codes := raw(t, "GET", url+"/v1/chats", "", auth)
		assert.Equal(t, http.StatusUnauthorized, status, auth)
		assert.Equal(t, []string{helpcrunch.CodeInvalidRequest, helpcrunch.CodeUnauthorized}, codes)
	}
	status, _ := raw(t, "GET", url+"/v1/chats", "", "Bearer right")
	assert.Equal(t, http.StatusOK, status)

	_, open := start(t)
	status, _ = raw(t, "GET", open+"/v1/chats", "", "Bearer anything")
	assert.Equal(t, http.StatusOK, status)
	status, _ = raw(t, "GET", open+"/v1/chats", "", "")
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestCallsRecorded(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(helpcrunch.Chat{ID: 5})
	c := client(t, url)
	_, err := c.SetStatus(t.Context(), 5, helpcrunch.StatusClosed)
	require.NoError(t, err)
	_, err = c.GetChat(t.Context(), 6)
	require.Error(t, err)

	calls := srv.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, helpcrunchtest.EndpointStatus, calls[0].Endpoint)
	assert.Equal(t, http.StatusOK, calls[0].Status)
	assert.Equal(t, "Bearer key", calls[0].Header.Get("Authorization"))
	assert.JSONEq(t, `{"id":5,"status":"closed"}`, string(calls[0].Body))
	assert.Equal(t, helpcrunchtest.EndpointGetChat, calls[1].Endpoint)
	assert.Equal(t, "/v1/chats/6", calls[1].Path)
	assert.Equal(t, http.StatusNotFound, calls[1].Status)
	assert.Len(t, srv.CallsTo(helpcrunchtest.EndpointGetChat), 1)

	srv.ResetCalls()
	assert.Empty(t, srv.Calls())
	_, ok := srv.Chat(5)
	assert.True(t, ok)
	srv.Reset()
	_, ok = srv.Chat(5)
	assert.False(t, ok)
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name       string
		f          helpcrunchtest.Failure
		wantIs     error
		retryable  bool
		retryAfter time.Duration
	}{
		{"429", helpcrunchtest.TooManyRequests(0), helpcrunch.ErrTooManyRequests, true, 0},
		{"429 with Retry-After", helpcrunchtest.TooManyRequests(2 * time.Second), helpcrunch.ErrTooManyRequests, true, 2 * time.Second},
		{"500", helpcrunchtest.ServerError(), nil, true, 0},
		{"503 page", helpcrunchtest.ServiceUnavailable(), nil, true, 0},
		{"validation", helpcrunchtest.Validation("customer", "This value should be of type numeric."), helpcrunch.ErrBadRequest, false, 0},
		{"not found", helpcrunchtest.NotFound(), helpcrunch.ErrNotFound, false, 0},
		{"invalid token", helpcrunchtest.Unauthorized(), helpcrunch.ErrUnauthorized, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := start(t)
			srv.AddChat(helpcrunch.Chat{ID: 5})
			srv.FailNext(helpcrunchtest.EndpointStatus, 2, tt.f)
			c := client(t, url)
			_, err := c.GetChat(t.Context(), 5)
			require.NoError(t, err, "another endpoint is not affected")
			for range 2 {
				_, err = c.SetStatus(t.Context(), 5, helpcrunch.StatusClosed)
				require.Error(t, err)
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
				assert.Equal(t, tt.retryable, helpcrunch.IsRetryable(err))
				d, _ := helpcrunch.RetryAfter(err)
				assert.Equal(t, tt.retryAfter, d)
			}
			_, err = c.SetStatus(t.Context(), 5, helpcrunch.StatusClosed)
			require.NoError(t, err, "armed for two calls only")
		})
	}
}

func TestHang(t *testing.T) {
	t.Run("respects the client's context", func(t *testing.T) {
		srv, url := start(t)
		srv.AddChat(helpcrunch.Chat{ID: 5})
		srv.FailNext("", 1, helpcrunchtest.Hang(time.Minute))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := client(t, url).GetChat(ctx, 5)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, helpcrunch.IsRetryable(err))
		require.Eventually(t, func() bool {
			return srv.Calls()[0].Status == helpcrunchtest.StatusAborted
		}, 2*time.Second, 10*time.Millisecond)
	})
	t.Run("then serves normally", func(t *testing.T) {
		srv, url := start(t)
		srv.AddChat(helpcrunch.Chat{ID: 5})
		srv.FailNext("", 1, helpcrunchtest.Hang(50*time.Millisecond))
		start := time.Now()
		_, err := client(t, url).GetChat(t.Context(), 5)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})
	t.Run("stop releases hung calls", func(t *testing.T) {
		srv := helpcrunchtest.New()
		url, stop := srv.Start()
		srv.FailNext("", 1, helpcrunchtest.Hang(time.Hour))
		c := client(t, url)
		done := make(chan error, 1)
		go func() {
			_, err := c.GetChat(context.Background(), 5)
			done <- err
		}()
		require.Eventually(t, func() bool { return len(srv.Calls()) == 1 }, 2*time.Second, 5*time.Millisecond)
		stop()
		select {
		case err := <-done:
			assert.Error(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("a hung call outlived Stop")
		}
	})
}

func TestRateLimitAndLatency(t *testing.T) {
	srv, url := start(t, helpcrunchtest.WithRateLimit(3, time.Minute), helpcrunchtest.WithLatency(20*time.Millisecond))
	srv.AddChat(helpcrunch.Chat{ID: 5})
	c := client(t, url)
	start := time.Now()
	for range 3 {
		_, err := c.GetChat(t.Context(), 5)
		require.NoError(t, err)
	}
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)
	_, err := c.GetChat(t.Context(), 5)
	require.ErrorIs(t, err, helpcrunch.ErrTooManyRequests)
}

func TestAddChatDefaults(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	srv, _ := start(t, helpcrunchtest.WithClock(func() time.Time { return now }))
	id := srv.AddChat(helpcrunch.Chat{})
	c, ok := srv.Chat(id)
	require.True(t, ok)
	assert.Positive(t, c.ID)
	assert.Equal(t, helpcrunch.StatusNew, c.Status)
	assert.True(t, c.CreatedAt.Equal(now.Truncate(time.Millisecond)))

	in := helpcrunch.Chat{ID: 9, Customer: &helpcrunch.Customer{ID: 1, Name: "A"}}
	srv.AddChat(in)
	in.Customer.Name = "changed"
	got, _ := srv.Chat(9)
	assert.Equal(t, "A", got.Customer.Name, "AddChat copies")
	got.Customer.Name = "changed too"
	again, _ := srv.Chat(9)
	assert.Equal(t, "A", again.Customer.Name, "Chat copies")
	assert.Len(t, srv.Chats(), 2)
}

// The fake refuses a member the endpoint does not take with HelpCrunch's
// 400 errors list naming it ("This field was not expected."), so a client
// sending a wrong shape fails its tests; the documented bodies pass.
func TestStrictRequests(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(helpcrunch.Chat{ID: 5, Status: helpcrunch.StatusNew})
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantCode                 string
	}{
		{"status documented", "PUT", "/v1/chats/status", `{"id":5,"status":"opened"}`, 200, ""},
		{"status with chatId", "PUT", "/v1/chats/status", `{"id":5,"chatId":5,"status":"opened"}`, 400, "chatId"},
		{"assignee documented", "PUT", "/v1/chats/assignee", `{"id":5,"assignee":42}`, 200, ""},
		{"assignee as agent", "PUT", "/v1/chats/assignee", `{"id":5,"agent":42,"assignee":42}`, 400, "agent"},
		{"department documented", "PUT", "/v1/chats/department", `{"id":5,"department":3}`, 200, ""},
		{"department with status", "PUT", "/v1/chats/department", `{"id":5,"department":3,"status":"new"}`, 400, "status"},
		{"snooze documented", "PUT", "/v1/chats/snooze", `{"id":5,"snoozedUntil":null}`, 200, ""},
		{"snooze with snoozeUntil", "PUT", "/v1/chats/snooze", `{"id":5,"snoozedUntil":null,"snoozeUntil":1}`, 400, "snoozeUntil"},
		{"search documented", "POST", "/v1/chats/search",
			`{"filter":[{"field":"chats.status","operator":"=","value":"new"}],"comparison":"AND","limit":10,"offset":0,"sort":"chats.createdAt","order":"desc"}`, 200, ""},
		{"search with filters", "POST", "/v1/chats/search", `{"filters":[]}`, 400, "filters"},
		{"search filter with op", "POST", "/v1/chats/search", `{"filter":[{"field":"chats.status","op":"=","value":"new"}]}`, 400, "op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, codes := raw(t, tt.method, url+tt.path, tt.body, "Bearer k")
			assert.Equal(t, tt.wantStatus, status, "%v", codes)
			if tt.wantCode != "" {
				assert.Equal(t, []string{helpcrunch.CodeInvalidRequest, tt.wantCode}, codes)
			}
		})
	}
}
