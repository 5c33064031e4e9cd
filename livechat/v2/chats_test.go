package livechatv2_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatwarden/chatwarden/livechat"
	livechatv2 "github.com/chatwarden/chatwarden/livechat/v2"
	"github.com/chatwarden/chatwarden/livechat/v2/v2test"
)

var day0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

// seed stores n chats, one an hour back from day0, every third tagged.
func seed(fake *v2test.Server, n int) {
	for i := range n {
		c := v2test.Chat{ID: fmt.Sprintf("CH%03d", i), VisitorID: fmt.Sprintf("V%d", i%4), Visitor: "Mary",
			Agent: "john@example.com", Group: int64(i % 2), Text: "hello", Started: day0.Add(-time.Duration(i) * time.Hour)}
		if i%3 == 0 {
			c.Tags = []string{"sales"}
		}
		if i%5 == 0 {
			c.Rate = "rated_good"
		}
		fake.Add(c)
	}
}

func startV2(t *testing.T, user string) (*v2test.Server, string) {
	t.Helper()
	fake := v2test.New(user, "pat-1")
	url, stop := fake.Start()
	t.Cleanup(stop)
	return fake, url
}

func newV2(t *testing.T, url string, auth livechatv2.Auth, opts ...livechatv2.Option) *livechatv2.Client {
	t.Helper()
	c, err := livechatv2.New(auth, append([]livechatv2.Option{livechatv2.WithBaseURL(url)}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestChatsIteratesEveryPageFromOne(t *testing.T) {
	fake, url := startV2(t, "john@example.com")
	seed(fake, 60) // 3 pages: 25, 25, 10
	c := newV2(t, url, livechatv2.Basic("john@example.com", "pat-1"))

	var ids []string
	for ch, err := range c.Chats(context.Background(), livechatv2.ChatsFilter{}) {
		require.NoError(t, err)
		ids = append(ids, ch.ID)
	}
	assert.Len(t, ids, 60)
	assert.Equal(t, "CH000", ids[0], "newest first")
	qs := fake.Queries()
	require.Len(t, qs, 3)
	for i, q := range qs {
		assert.Equal(t, fmt.Sprint(i+1), q.Get("page"), "pages are numbered from 1")
	}

	p, err := c.ChatsPage(context.Background(), livechatv2.ChatsFilter{}, 3)
	require.NoError(t, err)
	assert.Equal(t, 60, p.Total)
	assert.Equal(t, 3, p.Pages)
	assert.Len(t, p.Chats, 10)
	assert.Equal(t, 3, p.Page)
	assert.Equal(t, []int64{0}, p.Chats[0].Group[:1])
	assert.False(t, p.Chats[0].StartedAt().IsZero())
	assert.NotEmpty(t, p.Chats[0].Raw)
}

func TestChatsFiltersAreSent(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		filter livechatv2.ChatsFilter
		want   url.Values
	}{
		{"nothing", livechatv2.ChatsFilter{}, url.Values{"page": {"1"}}},
		{"every filter", livechatv2.ChatsFilter{DateFrom: "2026-01-01", DateTo: "2026-01-31", Timezone: "Europe/Warsaw",
			Type: "missed_chat", VisitorID: "S1", Query: "refund", Agent: "a@b.c", Group: "2", Goal: "71", HasGoal: &yes,
			Sale: "9", HasSale: &no, Rate: "rated_bad", Queued: &yes, IncludePending: true, Tags: []string{"x", "y"},
			Tagged: &yes, Comment: &no, City: "Kraków", Region: "Małopolska", Country: "Poland"},
			url.Values{"page": {"1"}, "date_from": {"2026-01-01"}, "date_to": {"2026-01-31"}, "timezone": {"Europe/Warsaw"},
				"type": {"missed_chat"}, "visitor_id": {"S1"}, "query": {"refund"}, "agent": {"a@b.c"}, "group": {"2"},
				"goal": {"71"}, "has_goal": {"1"}, "sale": {"9"}, "has_sale": {"0"}, "rate": {"rated_bad"}, "queued": {"1"},
				"include_pending": {"1"}, "tag[]": {"x", "y"}, "tagged": {"1"}, "comment": {"0"}, "city": {"Kraków"},
				"region": {"Małopolska"}, "country": {"Poland"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, u := startV2(t, "")
			c := newV2(t, u, livechatv2.Bearer("pat-1"))
			_, err := c.ChatsPage(context.Background(), tt.filter, 1)
			require.NoError(t, err)
			assert.Equal(t, tt.want, fake.Queries()[0])
		})
	}
}

func TestChatsFilterValidation(t *testing.T) {
	tests := []struct {
		name   string
		filter livechatv2.ChatsFilter
		page   int
	}{
		{"bad date", livechatv2.ChatsFilter{DateFrom: "01/23/2026"}, 1},
		{"dates reversed", livechatv2.ChatsFilter{DateFrom: "2026-02-01", DateTo: "2026-01-01"}, 1},
		{"bad type", livechatv2.ChatsFilter{Type: "ticket"}, 1},
		{"bad rate", livechatv2.ChatsFilter{Rate: "good"}, 1},
		{"page zero", livechatv2.ChatsFilter{}, 0},
		{"past the last reachable page", livechatv2.ChatsFilter{}, livechatv2.MaxPages + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, u := startV2(t, "")
			c := newV2(t, u, livechatv2.Bearer("pat-1"))
			_, err := c.ChatsPage(context.Background(), tt.filter, tt.page)
			assert.ErrorIs(t, err, livechat.ErrInvalidArgument)
			assert.Empty(t, fake.Queries(), "nothing sent")
		})
	}
}

func TestChatsFakeAppliesFilters(t *testing.T) {
	fake, u := startV2(t, "")
	seed(fake, 30)
	fake.Add(v2test.Chat{ID: "PENDING", Started: day0, Pending: true})
	c := newV2(t, u, livechatv2.Bearer("pat-1"))
	count := func(f livechatv2.ChatsFilter) int {
		n := 0
		for _, err := range c.Chats(context.Background(), f) {
			require.NoError(t, err)
			n++
		}
		return n
	}
	yes := true
	assert.Equal(t, 30, count(livechatv2.ChatsFilter{}), "pending chats only on request")
	assert.Equal(t, 31, count(livechatv2.ChatsFilter{IncludePending: true}))
	assert.Equal(t, 10, count(livechatv2.ChatsFilter{Tags: []string{"sales"}}))
	assert.Equal(t, 10, count(livechatv2.ChatsFilter{Tagged: &yes}))
	assert.Equal(t, 6, count(livechatv2.ChatsFilter{Rate: "rated_good"}))
	assert.Equal(t, 10, count(livechatv2.ChatsFilter{DateFrom: "2026-10-01"}))
}

func TestAuthHeaders(t *testing.T) {
	tests := []struct {
		name string
		user string
		auth livechatv2.Auth
		ok   bool
	}{
		{"email and PAT as Basic", "john@example.com", livechatv2.Basic("john@example.com", "pat-1"), true},
		{"bearer", "", livechatv2.Bearer("pat-1"), true},
		{"wrong user", "john@example.com", livechatv2.Basic("jane@example.com", "pat-1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, u := startV2(t, tt.user)
			c := newV2(t, u, tt.auth)
			_, err := c.ChatsPage(context.Background(), livechatv2.ChatsFilter{}, 1)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, livechat.ErrAuthentication)
			assert.False(t, livechat.IsRetryable(err))
			assert.Contains(t, err.Error(), "Authentication failed")
		})
	}
	assert.NotContains(t, fmt.Sprintf("%v %#v", livechatv2.Basic("u", "pat-secret"), livechatv2.Basic("u", "pat-secret")), "pat-secret")
	_, err := livechatv2.New(livechatv2.Bearer(""))
	assert.ErrorIs(t, err, livechat.ErrMissingAuth)
}

func TestErrorsAreClassified(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter int
		retryable  bool
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, `{"error":"Too many requests"}`, 7, true},
		{"500", http.StatusInternalServerError, `{"errors":["Internal error"]}`, 0, true},
		{"502 page", http.StatusBadGateway, `<html>bad gateway</html>`, 0, true},
		{"400", http.StatusBadRequest, `{"error":"Invalid date_from"}`, 0, false},
		{"404", http.StatusNotFound, `{"error":"Not found"}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, u := startV2(t, "")
			fake.FailNext(1, tt.status, tt.body, tt.retryAfter)
			c := newV2(t, u, livechatv2.Bearer("pat-1"))
			var got error
			for _, err := range c.Chats(context.Background(), livechatv2.ChatsFilter{}) {
				got = err
			}
			require.Error(t, got)
			assert.Equal(t, tt.retryable, livechat.IsRetryable(got))
			if tt.retryAfter > 0 {
				d, ok := livechat.RetryAfter(got)
				assert.True(t, ok)
				assert.Equal(t, time.Duration(tt.retryAfter)*time.Second, d)
			}
		})
	}
}

func TestDeprecationIsLoggedOnce(t *testing.T) {
	_, u := startV2(t, "")
	core, logs := observer.New(zap.WarnLevel)
	c := newV2(t, u, livechatv2.Bearer("pat-1"), livechatv2.WithLogger(zap.New(core)))
	for range 3 {
		_, err := c.ChatsPage(context.Background(), livechatv2.ChatsFilter{}, 1)
		require.NoError(t, err)
	}
	require.Equal(t, 1, logs.Len())
	assert.Contains(t, logs.All()[0].Message, "deprecated")
}

func TestIteratorStopsEarly(t *testing.T) {
	fake, u := startV2(t, "")
	seed(fake, 60)
	c := newV2(t, u, livechatv2.Bearer("pat-1"))
	n := 0
	for _, err := range c.Chats(context.Background(), livechatv2.ChatsFilter{}) {
		require.NoError(t, err)
		n++
		if n == 3 {
			break
		}
	}
	assert.Len(t, fake.Queries(), 1)
}
