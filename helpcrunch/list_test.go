package helpcrunch_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// seedChats stores n chats 1..n created a minute apart; even ones are
// unassigned and pending, odd ones assigned to agent 7 and opened.
func seedChats(srv *helpcrunchtest.Server, n int) {
	for i := 1; i <= n; i++ {
		c := helpcrunch.Chat{ID: int64(i), CreatedAt: helpcrunch.At(t0.Add(time.Duration(i) * time.Minute)),
			Status: helpcrunch.StatusPending, Customer: &helpcrunch.Customer{ID: int64(1000 + i), Email: "c@example.com"}}
		if i%2 == 1 {
			c.Status = helpcrunch.StatusOpened
			c.Assignee = &helpcrunch.Agent{ID: 7}
		}
		srv.AddChat(c)
	}
}

func TestListChatsPaging(t *testing.T) {
	srv, url := newFake(t)
	seedChats(srv, 250)
	c := newClient(t, url)

	var ids []int64
	for chat, err := range c.ListChats(t.Context(), helpcrunch.ListChatsQuery{Sort: helpcrunch.SortCreatedAt, Order: helpcrunch.OrderAsc}) {
		require.NoError(t, err)
		ids = append(ids, chat.ID)
	}
	require.Len(t, ids, 250)
	for i, id := range ids {
		assert.Equal(t, int64(i+1), id)
	}
	calls := srv.CallsTo(helpcrunchtest.EndpointListChats)
	require.Len(t, calls, 3)
	for i, want := range []string{"0", "100", "200"} {
		assert.Equal(t, want, calls[i].Query.Get("offset"))
		assert.Equal(t, "100", calls[i].Query.Get("limit"))
	}
}

func TestListChatsIteratorStops(t *testing.T) {
	t.Run("on the first error", func(t *testing.T) {
		srv, url := newFake(t)
		seedChats(srv, 30)
		srv.FailNext(helpcrunchtest.EndpointListChats, 1, helpcrunchtest.ServerError())
		var rows, errs int
		for _, err := range newClient(t, url).ListChats(t.Context(), helpcrunch.ListChatsQuery{PageSize: 10}) {
			if err != nil {
				errs++
				assert.True(t, helpcrunch.IsRetryable(err))
				continue
			}
			rows++
		}
		assert.Equal(t, 0, rows)
		assert.Equal(t, 1, errs)
	})
	t.Run("on a later page's error", func(t *testing.T) {
		srv, url := newFake(t)
		seedChats(srv, 30)
		c := newClient(t, url)
		var rows int
		var last error
		for chat, err := range c.ListChats(t.Context(), helpcrunch.ListChatsQuery{PageSize: 10}) {
			if err != nil {
				last = err
				break
			}
			rows++
			if chat.ID == 10 {
				srv.FailNext(helpcrunchtest.EndpointListChats, 1, helpcrunchtest.TooManyRequests(0))
			}
		}
		assert.Equal(t, 10, rows)
		require.ErrorIs(t, last, helpcrunch.ErrTooManyRequests)
		assert.Contains(t, last.Error(), "list_chats offset 10")
	})
	t.Run("on break", func(t *testing.T) {
		srv, url := newFake(t)
		seedChats(srv, 30)
		for range newClient(t, url).ListChats(t.Context(), helpcrunch.ListChatsQuery{PageSize: 10}) {
			break
		}
		assert.Len(t, srv.CallsTo(helpcrunchtest.EndpointListChats), 1)
	})
	t.Run("on an empty page before total", func(t *testing.T) {
		url, reqs := wireServer(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"data":[],"meta":{"total":500}}`))
		})
		n := 0
		for _, err := range newClient(t, url).ListChats(t.Context(), helpcrunch.ListChatsQuery{}) {
			require.NoError(t, err)
			n++
		}
		assert.Zero(t, n)
		assert.Len(t, reqs(), 1, "no endless loop when the API's total is stale")
	})
}

func TestSearchChats(t *testing.T) {
	srv, url := newFake(t)
	seedChats(srv, 20)
	c := newClient(t, url)
	collect := func(q helpcrunch.SearchQuery) []int64 {
		t.Helper()
		var ids []int64
		for chat, err := range c.SearchChats(t.Context(), q) {
			require.NoError(t, err)
			ids = append(ids, chat.ID)
		}
		return ids
	}
	tests := []struct {
		name string
		q    helpcrunch.SearchQuery
		want []int64
	}{
		{
			name: "unassigned and created before minute 7",
			q: helpcrunch.SearchQuery{Filters: []helpcrunch.SearchFilter{
				helpcrunch.Where(helpcrunch.FieldAssignee, helpcrunch.OperatorEq, nil),
				helpcrunch.Where(helpcrunch.FieldCreatedAt, helpcrunch.OperatorLt, t0.Add(7*time.Minute)),
			}, Sort: helpcrunch.SortCreatedAt, Order: helpcrunch.OrderAsc},
			want: []int64{2, 4, 6},
		},
		{
			name: "status by any spelling, OR",
			q: helpcrunch.SearchQuery{Filters: []helpcrunch.SearchFilter{
				helpcrunch.Where(helpcrunch.FieldCustomer, helpcrunch.OperatorEq, 1001),
				helpcrunch.Where(helpcrunch.FieldCustomer, helpcrunch.OperatorEq, 1003),
			}, Comparison: helpcrunch.ComparisonOr, Sort: helpcrunch.SortCreatedAt, Order: helpcrunch.OrderDesc},
			want: []int64{3, 1},
		},
		{
			name: "paged by 3",
			q: helpcrunch.SearchQuery{Filters: []helpcrunch.SearchFilter{
				helpcrunch.Where(helpcrunch.FieldStatus, helpcrunch.OperatorEq, "pending"),
			}, PageSize: 3, Sort: helpcrunch.SortCreatedAt, Order: helpcrunch.OrderAsc},
			want: []int64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, collect(tt.q))
		})
	}
	assert.Len(t, srv.CallsTo(helpcrunchtest.EndpointSearchChats), 1+1+4)

	_, err := c.SearchChatsPage(t.Context(), helpcrunch.SearchQuery{Filters: []helpcrunch.SearchFilter{
		helpcrunch.Where("chats.colour", helpcrunch.OperatorEq, "red")}}, 0)
	require.ErrorIs(t, err, helpcrunch.ErrBadRequest)
	assert.ErrorIs(t, err, &helpcrunch.APIError{Code: "filter[0].field"})
}
