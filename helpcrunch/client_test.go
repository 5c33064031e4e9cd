package helpcrunch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		opts    []helpcrunch.Option
		wantErr error
	}{
		{name: "defaults", key: "k"},
		{name: "empty key", key: "", wantErr: helpcrunch.ErrMissingAPIKey},
		{name: "blank key", key: "  ", wantErr: helpcrunch.ErrMissingAPIKey},
		{name: "base URL with prefix", key: "k", opts: []helpcrunch.Option{helpcrunch.WithBaseURL("http://localhost:1/proxy/")}},
		// The options every client shares: the apiclienttest suite
		// (contract_test.go).
		{name: "negative rate", key: "k", opts: []helpcrunch.Option{helpcrunch.WithRateLimit(-1)}, wantErr: helpcrunch.ErrInvalidOption},
		{name: "no rate limit", key: "k", opts: []helpcrunch.Option{helpcrunch.WithRateLimit(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := helpcrunch.New(tt.key, tt.opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, c)
		})
	}
}

func TestRequestsOnTheWire(t *testing.T) {
	until := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *helpcrunch.Client) error
		wantMethod string
		wantPath   string
		wantQuery  string
		wantBody   string // "" expects no body
	}{
		{
			name: "set status",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.SetStatus(ctx, 542335, helpcrunch.StatusPending)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/status", wantBody: `{"id":542335,"status":"pending"}`,
		},
		{
			name: "assign",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.Assign(ctx, 542335, 2924)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/assignee", wantBody: `{"id":542335,"assignee":2924}`,
		},
		{
			name: "unassign sends null",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.Unassign(ctx, 542335)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/assignee", wantBody: `{"id":542335,"assignee":null}`,
		},
		{
			name: "department",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.SetDepartment(ctx, 542335, 12)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/department", wantBody: `{"id":542335,"department":12}`,
		},
		{
			name: "snooze",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.Snooze(ctx, 542335, until)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/snooze", wantBody: fmt.Sprintf(`{"id":542335,"snoozedUntil":"%d"}`, until.Unix()),
		},
		{
			name: "unsnooze sends null",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.Unsnooze(ctx, 542335)
				return err
			},
			wantMethod: http.MethodPut, wantPath: "/v1/chats/snooze", wantBody: `{"id":542335,"snoozedUntil":null}`,
		},
		{
			name: "get chat",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.GetChat(ctx, 542335)
				return err
			},
			wantMethod: http.MethodGet, wantPath: "/v1/chats/542335",
		},
		{
			name: "list chats page",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.ListChatsPage(ctx, helpcrunch.ListChatsQuery{Sort: helpcrunch.SortLastMessageAt, Order: helpcrunch.OrderAsc, PageSize: 50}, 100)
				return err
			},
			wantMethod: http.MethodGet, wantPath: "/v1/chats", wantQuery: "limit=50&offset=100&order=asc&sort=chats.lastMessageAt",
		},
		{
			name: "search chats page",
			call: func(ctx context.Context, c *helpcrunch.Client) error {
				_, err := c.SearchChatsPage(ctx, helpcrunch.SearchQuery{
					Filters: []helpcrunch.SearchFilter{
						helpcrunch.Where(helpcrunch.FieldAssignee, helpcrunch.OperatorEq, nil),
						helpcrunch.Where(helpcrunch.FieldCreatedAt, helpcrunch.OperatorLt, until),
					},
					Comparison: helpcrunch.ComparisonAnd, Sort: helpcrunch.SortCreatedAt, Order: helpcrunch.OrderDesc,
				}, 0)
				return err
			},
			wantMethod: http.MethodPost, wantPath: "/v1/chats/search",
			wantBody: fmt.Sprintf(`{"filter":[{"field":"chats.assignee","operator":"=","value":null},
				{"field":"chats.createdAt","operator":"<","value":%d}],
				"comparison":"AND","limit":100,"offset":0,"sort":"chats.createdAt","order":"desc"}`, until.Unix()),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, reqs := wireServer(t, nil)
			c := newClient(t, url, helpcrunch.WithUserAgent("test-agent/1"))
			require.NoError(t, tt.call(t.Context(), c))
			got := reqs()
			require.Len(t, got, 1)
			r := got[0]
			assert.Equal(t, tt.wantMethod, r.Method)
			assert.Equal(t, tt.wantPath, r.Path)
			assert.Equal(t, tt.wantQuery, r.RawQuery)
			assert.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
			assert.Equal(t, "application/json", r.Header.Get("Accept"))
			assert.Equal(t, "test-agent/1", r.Header.Get("User-Agent"))
			if tt.wantBody == "" {
				assert.Empty(t, r.Body)
				assert.Empty(t, r.Header.Get("Content-Type"))
			} else {
				assert.JSONEq(t, tt.wantBody, string(r.Body))
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestSetStatusSpellings(t *testing.T) {
	tests := []struct {
		in   helpcrunch.Status
		want string
	}{
		{"new", "new"},
		{"Opened", "opened"},
		{" pending ", "pending"},
		{"on hold", "on hold"},
		{"onhold", "on hold"},
		{"on-hold", "on hold"},
		{"on_hold", "on hold"},
		{"ON HOLD", "on hold"},
		{"no communication", "no communication"},
		{"no-communication", "no communication"},
		{"no_communication", "no communication"},
		{"closed", "closed"},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			srv, url := newFake(t)
			srv.AddChat(helpcrunch.Chat{ID: 42, Status: helpcrunch.StatusNew})
			c := newClient(t, url)
			chat, err := c.SetStatus(t.Context(), 42, tt.in)
			require.NoError(t, err)
			assert.Equal(t, helpcrunch.Status(tt.want), chat.Status)
			calls := srv.CallsTo(helpcrunchtest.EndpointStatus)
			require.Len(t, calls, 1)
			assert.JSONEq(t, fmt.Sprintf(`{"id":42,"status":%q}`, tt.want), string(calls[0].Body), "the documented spelling is sent")
		})
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, c *helpcrunch.Client) error
		also error
	}{
		{"unknown status", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.SetStatus(ctx, 1, "empty")
			return err
		}, helpcrunch.ErrInvalidStatus},
		{"zero chat id", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.SetStatus(ctx, 0, helpcrunch.StatusClosed)
			return err
		}, nil},
		{"zero agent", func(ctx context.Context, c *helpcrunch.Client) error { _, err := c.Assign(ctx, 1, 0); return err }, nil},
		{"zero department", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.SetDepartment(ctx, 1, 0)
			return err
		}, nil},
		{"zero snooze time", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.Snooze(ctx, 1, time.Time{})
			return err
		}, nil},
		{"negative chat id", func(ctx context.Context, c *helpcrunch.Client) error { _, err := c.GetChat(ctx, -5); return err }, nil},
		{"page too large", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.ListChatsPage(ctx, helpcrunch.ListChatsQuery{PageSize: 101}, 0)
			return err
		}, nil},
		{"negative offset", func(ctx context.Context, c *helpcrunch.Client) error {
			_, err := c.SearchChatsPage(ctx, helpcrunch.SearchQuery{}, -1)
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, reqs := wireServer(t, nil)
			err := tt.call(t.Context(), newClient(t, url))
			require.ErrorIs(t, err, helpcrunch.ErrInvalidArgument)
			if tt.also != nil {
				assert.ErrorIs(t, err, tt.also)
			}
			assert.False(t, helpcrunch.IsRetryable(err))
			assert.Empty(t, reqs())
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		wantCode    string
		wantMessage string
		wantIs      error
		retryable   bool
		retryAfter  time.Duration
	}{
		{
			name: "401 invalid_request + unauthorized", status: 401,
			body:     `{"errors":[{"code":"invalid_request","message":"Invalid request"},{"code":"unauthorized","message":"Unauthorized"}]}`,
			wantCode: "unauthorized", wantMessage: "Unauthorized", wantIs: helpcrunch.ErrUnauthorized,
		},
		{
			name: "401 invalid_token", status: 401, body: `{"errors":[{"code":"invalid_token","message":"Invalid token"}]}`,
			wantCode: "invalid_token", wantMessage: "Invalid token", wantIs: helpcrunch.ErrUnauthorized,
		},
		{
			name: "404 chat_not_found", status: 404, body: `{"errors":[{"code":"chat_not_found","message":"Chat is missing"}]}`,
			wantCode: "chat_not_found", wantMessage: "Chat is missing", wantIs: &helpcrunch.APIError{Code: helpcrunch.CodeChatNotFound},
		},
		{
			name: "400 with several entries", status: 400,
			body:     `{"errors":[{"code":"invalid_request","message":"Invalid request"},{"code":"customer","message":"This value should be of type numeric."},{"code":"filter[0].field","message":"This value should not be blank."}]}`,
			wantCode: "customer", wantMessage: "This value should be of type numeric.", wantIs: helpcrunch.ErrBadRequest,
		},
		{
			name: "400 only invalid_request", status: 400, body: `{"errors":[{"code":"invalid_request","message":"Invalid request"}]}`,
			wantCode: "invalid_request", wantMessage: "Invalid request", wantIs: helpcrunch.ErrBadRequest,
		},
		{
			name: "429", status: 429,
			body:     `{"errors":[{"code":"invalid_request","message":"Invalid request"},{"code":"too_many_requests","message":"Too many requests"}]}`,
			wantCode: "too_many_requests", wantMessage: "Too many requests", wantIs: helpcrunch.ErrTooManyRequests, retryable: true,
		},
		{
			name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"},
			body:     `{"errors":[{"code":"too_many_requests","message":"You have exceeded your requests limit"}]}`,
			wantCode: "too_many_requests", wantMessage: "You have exceeded your requests limit", wantIs: helpcrunch.ErrTooManyRequests,
			retryable: true, retryAfter: 7 * time.Second,
		},
		{
			name: "502 proxy page", status: 502, body: "<html>Bad Gateway</html>",
			wantMessage: "<html>Bad Gateway</html>", retryable: true,
		},
		{
			name: "500 empty body", status: 500, wantMessage: "Internal Server Error", retryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			_, err := newClient(t, url).GetChat(t.Context(), 542335)
			require.Error(t, err)
			apiErr, ok := errors.AsType[*helpcrunch.APIError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, tt.wantCode, apiErr.Code)
			assert.Equal(t, tt.wantMessage, apiErr.Message)
			assert.Equal(t, "GET /v1/chats/542335", apiErr.Endpoint)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.retryable, helpcrunch.IsRetryable(err))
			d, ok := helpcrunch.RetryAfter(err)
			assert.Equal(t, tt.retryAfter, d)
			assert.Equal(t, tt.retryAfter > 0, ok)
			assert.Contains(t, err.Error(), "helpcrunch: get_chat chat 542335: HTTP ")
		})
	}
}

func TestClientSideRateLimit(t *testing.T) {
	t.Run("spaces requests evenly", func(t *testing.T) {
		// The fake allows 5 calls in any 400 ms; the client sends one every
		// 100 ms, so it never sees a 429.
		srv, url := newFake(t, helpcrunchtest.WithRateLimit(5, 400*time.Millisecond))
		srv.AddChat(helpcrunch.Chat{ID: 1})
		c := newClient(t, url, helpcrunch.WithRateLimit(600))
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := c.GetChat(t.Context(), 1)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.GreaterOrEqual(t, time.Since(start), 650*time.Millisecond, "8 calls at 10/s take at least 700 ms")
		for _, call := range srv.Calls() {
			assert.Equal(t, http.StatusOK, call.Status)
		}
	})
	t.Run("without the limiter the fake answers 429", func(t *testing.T) {
		srv, url := newFake(t, helpcrunchtest.WithRateLimit(2, time.Minute))
		srv.AddChat(helpcrunch.Chat{ID: 1})
		c := newClient(t, url)
		var last error
		for range 3 {
			_, last = c.GetChat(t.Context(), 1)
		}
		require.ErrorIs(t, last, helpcrunch.ErrTooManyRequests)
		assert.True(t, helpcrunch.IsRetryable(last))
	})
	t.Run("a slot past the deadline fails at once", func(t *testing.T) {
		url, reqs := wireServer(t, nil)
		c := newClient(t, url, helpcrunch.WithRateLimit(1)) // one a minute
		_, err := c.GetChat(t.Context(), 1)
		require.NoError(t, err)
		// The slot is a minute away, past the deadline: the call is refused
		// before the deadline comes (judged by the context, not a clock, so
		// a busy machine does not matter).
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err = c.GetChat(ctx, 1)
		require.ErrorIs(t, err, helpcrunch.ErrRateLimited)
		assert.NoError(t, ctx.Err(), "refused at once, not when the deadline came")
		assert.True(t, helpcrunch.IsRetryable(err))
		d, ok := helpcrunch.RetryAfter(err)
		assert.True(t, ok)
		assert.InDelta(t, time.Minute.Seconds(), d.Seconds(), 1)
		assert.Len(t, reqs(), 1, "the second call was not sent")
		// The cancelled reservation is given back: a third call still waits
		// about a minute, not two.
		_, err = c.GetChat(ctx, 1)
		d, _ = helpcrunch.RetryAfter(err)
		assert.InDelta(t, time.Minute.Seconds(), d.Seconds(), 1)
	})
	t.Run("a cancelled wait returns the context error", func(t *testing.T) {
		url, _ := wireServer(t, nil)
		c := newClient(t, url, helpcrunch.WithRateLimit(1))
		_, err := c.GetChat(t.Context(), 1)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err = c.GetChat(ctx, 1)
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, helpcrunch.IsRetryable(err))
	})
}

func TestDefaultRateLimitIsTheDocumentedOne(t *testing.T) {
	url, _ := wireServer(t, nil)
	c, err := helpcrunch.New(testKey, helpcrunch.WithBaseURL(url))
	require.NoError(t, err)
	_, err = c.GetChat(t.Context(), 1)
	require.NoError(t, err)
	// The next slot is 60s/120 = 500 ms away.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = c.GetChat(ctx, 1)
	require.ErrorIs(t, err, helpcrunch.ErrRateLimited)
	d, _ := helpcrunch.RetryAfter(err)
	assert.InDelta(t, 0.5, d.Seconds(), 0.1)
}

func TestAgainstTheFake(t *testing.T) {
	srv, url := newFake(t, helpcrunchtest.WithAPIKey(testKey))
	srv.AddAgent(helpcrunch.Agent{ID: 2924, Name: "Kate", Email: "kate@example.com", Role: "agent"})
	srv.AddDepartment(helpcrunch.Department{ID: 12, Name: "Support"})
	srv.AddChat(helpcrunch.Chat{ID: 542335, Status: helpcrunch.StatusOpened, Customer: &helpcrunch.Customer{ID: 7, Name: "Paul"}})
	c := newClient(t, url)
	ctx := t.Context()

	chat, err := c.Assign(ctx, 542335, 2924)
	require.NoError(t, err)
	require.NotNil(t, chat.Assignee)
	assert.Equal(t, "Kate", chat.Assignee.Name)
	assert.False(t, chat.Unassigned())

	chat, err = c.SetDepartment(ctx, 542335, 12)
	require.NoError(t, err)
	assert.Equal(t, "Support", chat.Department.Name)

	until := time.Now().Add(time.Hour).Truncate(time.Second)
	chat, err = c.Snooze(ctx, 542335, until)
	require.NoError(t, err)
	assert.True(t, chat.SnoozedUntil.Equal(until))
	assert.True(t, chat.Snoozed(time.Now()))

	chat, err = c.Unsnooze(ctx, 542335)
	require.NoError(t, err)
	assert.True(t, chat.SnoozedUntil.IsZero())

	chat, err = c.SetStatus(ctx, 542335, "onhold")
	require.NoError(t, err)
	assert.Equal(t, helpcrunch.StatusOnHold, chat.Status)

	chat, err = c.Unassign(ctx, 542335)
	require.NoError(t, err)
	assert.True(t, chat.Unassigned())

	chat, err = c.SetStatus(ctx, 542335, helpcrunch.StatusClosed)
	require.NoError(t, err)
	assert.False(t, chat.ClosedAt.IsZero())

	got, err := c.GetChat(ctx, 542335)
	require.NoError(t, err)
	assert.Equal(t, helpcrunch.StatusClosed, got.Status)
	stored, _ := srv.Chat(542335)
	assert.Equal(t, *got, stored)

	_, err = c.GetChat(ctx, 999)
	require.ErrorIs(t, err, helpcrunch.ErrNotFound)
	assert.ErrorIs(t, err, &helpcrunch.APIError{Code: helpcrunch.CodeChatNotFound})
	assert.False(t, helpcrunch.IsRetryable(err))

	_, err = c.Assign(ctx, 542335, 1)
	require.ErrorIs(t, err, helpcrunch.ErrNotFound, "unknown agent")
	assert.ErrorIs(t, err, &helpcrunch.APIError{Code: helpcrunch.CodeEntityNotFound})

	other, err := helpcrunch.New("wrong", helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0))
	require.NoError(t, err)
	_, err = other.GetChat(ctx, 542335)
	require.ErrorIs(t, err, helpcrunch.ErrUnauthorized)
}

func TestErrorsNameTheCall(t *testing.T) {
	srv, url := newFake(t)
	srv.FailNext("", 1, helpcrunchtest.NotFound())
	_, err := newClient(t, url).SetStatus(t.Context(), 77, helpcrunch.StatusClosed)
	require.Error(t, err)
	assert.Equal(t, "helpcrunch: set_status chat 77: HTTP 404 chat_not_found: Chat is missing", err.Error())
}

func TestLoggerNeverSeesTheKey(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv, url := newFake(t)
	srv.AddChat(helpcrunch.Chat{ID: 1})
	c := newClient(t, url, helpcrunch.WithLogger(zap.New(core)))
	_, err := c.GetChat(t.Context(), 1)
	require.NoError(t, err)
	require.NotEmpty(t, logs.All())
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message+fmt.Sprint(e.ContextMap()), testKey)
		assert.Equal(t, "helpcrunch", e.ContextMap()["platform"])
	}
}
