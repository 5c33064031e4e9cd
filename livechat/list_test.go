package livechat_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// seedUnassigned stores n unassigned chats C01.. created a minute apart.
func seedUnassigned(srv *livechattest.Server, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("C%02d", i+1)
		srv.AddChat(livechattest.UnassignedChat(ids[i], t0.Add(time.Duration(i)*time.Minute)))
	}
	return ids
}

var sweepQuery = livechat.ListArchivesQuery{
	Filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{
		"routing": {"unassigned": livechat.Values(true), "pinned": livechat.Values(true)},
	}},
	Limit:     10,
	SortOrder: livechat.SortAsc,
}

func bodyKeys(t *testing.T, body json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestListArchivesPaging(t *testing.T) {
	srv, url := newFake(t)
	ids := seedUnassigned(srv, 25)
	c := newClient(t, url, testPAT)

	var got []string
	for chat, err := range c.ListArchives(t.Context(), sweepQuery) {
		require.NoError(t, err)
		assert.True(t, chat.Unassigned() && chat.Pinned() && chat.Active())
		got = append(got, chat.ID)
	}
	assert.Equal(t, ids, got)

	calls := srv.CallsTo("list_archives")
	require.Len(t, calls, 3)
	assert.JSONEq(t, `{"filters":{"properties":{"routing":{"pinned":{"values":[true]},"unassigned":{"values":[true]}}}},
		"limit":10,"sort_order":"asc"}`, string(calls[0].Body))
	for i, call := range calls[1:] {
		assert.Equal(t, []string{"page_id"}, bodyKeys(t, call.Body), "call %d", i+2)
		assert.Equal(t, http.StatusOK, call.Status)
	}
	assert.NotEqual(t, string(calls[1].Body), string(calls[2].Body))
}

func TestListArchivesIteratorStops(t *testing.T) {
	t.Run("on the first error", func(t *testing.T) {
		srv, url := newFake(t)
		seedUnassigned(srv, 25)
		c := newClient(t, url, testPAT)

		var rows, errs int
		var lastErr error
		for _, err := range c.ListArchives(t.Context(), sweepQuery) {
			if err != nil {
				errs++
				lastErr = err
				continue // the iterator must stop by itself
			}
			rows++
			if rows == 1 {
				// The second page fetch happens after the first page is consumed.
				srv.FailNext("list_archives", 1, livechattest.ServerError())
			}
		}
		assert.Equal(t, 10, rows)
		assert.Equal(t, 1, errs)
		require.ErrorIs(t, lastErr, livechat.ErrInternal)
		assert.True(t, livechat.IsRetryable(lastErr))
		assert.Contains(t, lastErr.Error(), "livechat: list_archives page ")
		assert.Len(t, srv.CallsTo("list_archives"), 2)
	})
	t.Run("on an error of the first page", func(t *testing.T) {
		srv, url := newFake(t)
		srv.FailNext("list_archives", 1, livechattest.Validation("bad filter"))
		var yields int
		for chat, err := range newClient(t, url, testPAT).ListArchives(t.Context(), sweepQuery) {
			yields++
			assert.Empty(t, chat.ID)
			require.ErrorIs(t, err, livechat.ErrValidation)
		}
		assert.Equal(t, 1, yields)
	})
	t.Run("when the consumer breaks", func(t *testing.T) {
		srv, url := newFake(t)
		seedUnassigned(srv, 25)
		var rows int
		for _, err := range newClient(t, url, testPAT).ListArchives(t.Context(), sweepQuery) {
			require.NoError(t, err)
			rows++
			if rows == 3 {
				break
			}
		}
		assert.Equal(t, 3, rows)
		assert.Len(t, srv.CallsTo("list_archives"), 1)
	})
	t.Run("when the server repeats a page id", func(t *testing.T) {
		url, reqs := wireServer(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"chats":[{"id":"A"}],"found_chats":1,"next_page_id":"P1"}`))
		})
		var ids []string
		var lastErr error
		for chat, err := range newClient(t, url, testPAT).ListArchives(t.Context(), livechat.ListArchivesQuery{}) {
			if err != nil {
				lastErr = err
				continue
			}
			ids = append(ids, chat.ID)
		}
		assert.Equal(t, []string{"A", "A"}, ids)
		require.Error(t, lastErr)
		assert.Len(t, reqs(), 2)
		assert.JSONEq(t, `{}`, string(reqs()[0].Body), "an empty query sends an empty body")
	})
}

func TestListArchivesPage(t *testing.T) {
	srv, url := newFake(t)
	seedUnassigned(srv, 12)
	c := newClient(t, url, testPAT)

	p1, err := c.ListArchivesPage(t.Context(), sweepQuery, "")
	require.NoError(t, err)
	assert.Len(t, p1.Chats, 10)
	assert.Equal(t, 12, p1.FoundChats)
	require.NotEmpty(t, p1.NextPageID)

	// With a page id the query is not sent (and would be rejected).
	p2, err := c.ListArchivesPage(t.Context(), livechat.ListArchivesQuery{Limit: 50}, p1.NextPageID)
	require.NoError(t, err)
	assert.Len(t, p2.Chats, 2)
	assert.Empty(t, p2.NextPageID)
	assert.JSONEq(t, fmt.Sprintf(`{"page_id":%q}`, p1.NextPageID), string(srv.CallsTo("list_archives")[1].Body))
}

func TestArchivesFiltersJSON(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	tests := []struct {
		name string
		f    livechat.ArchivesFilters
		want string
	}{
		{name: "empty", want: `{}`},
		{
			name: "everything",
			f: livechat.ArchivesFilters{
				Query: "refund", From: from, To: from.Add(time.Hour), ChatIDs: []string{"A"}, ThreadIDs: []string{"T"},
				GroupIDs:   []int{0, 2},
				Properties: livechat.PropertyFilters{"routing": {"pinned": livechat.Exists(true), "unassigned": livechat.ExcludeValues(false)}},
				Agents:     &livechat.Filter{Exists: new(false)},
				Tags:       &livechat.Filter{Values: []any{"a", "b"}, RequireEveryValue: true},
				EventTypes: &livechat.Filter{Values: []any{"message"}},
				CustomerCountries: &livechat.Filter{
					ExcludeValues: []any{"PL"},
				},
				Extra: map[string]any{"sales": map[string]any{"exists": true}, "query": "loses"},
			},
			want: `{"query":"refund","from":"2026-01-02T03:04:05.123456Z","to":"2026-01-02T04:04:05.123456Z",
				"chat_ids":["A"],"thread_ids":["T"],"group_ids":[0,2],
				"properties":{"routing":{"pinned":{"exists":true},"unassigned":{"exclude_values":[false]}}},
				"agents":{"exists":false},"tags":{"values":["a","b"],"require_every_value":true},
				"event_types":{"values":["message"]},"customer_countries":{"exclude_values":["PL"]},
				"sales":{"exists":true}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.f)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
		})
	}
}

func TestListChats(t *testing.T) {
	srv, url := newFake(t)
	ids := seedUnassigned(srv, 7)
	c := newClient(t, url, testPAT)
	require.NoError(t, c.DeactivateChat(t.Context(), "C03", true))

	q := livechat.ListChatsQuery{Filters: livechat.ListChatsFilters{Active: new(true)}, Limit: 2, SortOrder: livechat.SortAsc}
	var got []string
	for sum, err := range c.ListChats(t.Context(), q) {
		require.NoError(t, err)
		assert.True(t, sum.Active() && sum.Unassigned() && sum.Pinned())
		got = append(got, sum.ID)
	}
	assert.Equal(t, slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "C03" }), got)

	calls := srv.CallsTo("list_chats")
	require.Len(t, calls, 3)
	assert.JSONEq(t, `{"filters":{"active":true},"limit":2,"sort_order":"asc"}`, string(calls[0].Body))
	for _, call := range calls[1:] {
		assert.Equal(t, []string{"page_id"}, bodyKeys(t, call.Body))
	}
}
