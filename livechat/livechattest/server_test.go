package livechattest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func start(t *testing.T, opts ...livechattest.Option) (*livechattest.Server, string) {
	return apiclienttest.StartFake(t, livechattest.New(opts...))
}

func client(t *testing.T, url string, opts ...livechat.Option) *livechat.Client {
	t.Helper()
	c, err := livechat.New(livechat.PAT("acc", "tok"), append([]livechat.Option{livechat.WithBaseURL(url)}, opts...)...)
	require.NoError(t, err)
	return c
}

// post sends a raw request to the fake and returns the status and error type.
func post(t *testing.T, url, action, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+livechattest.ActionPrefix+action, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dal:x")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &env)
	return resp.StatusCode, env.Error.Type
}

// seedFilterSet stores chats covering the filter cases:
//
//	CA  unassigned & pinned (thread has both), group 0
//	CB  assigned to smith, not pinned, tagged support, group 1
//	CC  unassigned & pinned only at chat level, group 2
//	CD  an archived assigned thread and a newer unassigned one, acme.priority=3, group 0
func seedFilterSet(t *testing.T, srv *livechattest.Server) {
	t.Helper()
	srv.AddChat(livechattest.UnassignedChat("CA", t0))
	srv.AddChat(livechat.Chat{
		ID: "CB",
		Users: []livechat.User{
			{ID: "cust-b", Type: livechat.UserCustomer},
			{ID: "smith@example.com", Type: livechat.UserAgent, Name: "Agent Smith", Email: "smith@example.com"},
		},
		Properties: livechat.Properties{"routing": {"pinned": false}},
		Access:     livechat.Access{GroupIDs: []int{1}},
		Thread: &livechat.Thread{
			ID: "TB", Active: true, UserIDs: []string{"cust-b", "smith@example.com"},
			Properties: livechat.Properties{"routing": {"unassigned": false}},
			Access:     livechat.Access{GroupIDs: []int{1}},
			Tags:       []string{"support"},
			CreatedAt:  t0.Add(1 * time.Hour),
			Events:     []livechat.Event{{ID: "TB_1", Type: "message", Text: "I want a refund"}},
		},
	})
	srv.AddChat(livechat.Chat{
		ID:         "CC",
		Users:      []livechat.User{{ID: "cust-c", Type: livechat.UserCustomer}},
		Properties: livechat.Properties{"routing": {"pinned": true, "unassigned": true}},
		Access:     livechat.Access{GroupIDs: []int{2}},
		Thread:     &livechat.Thread{ID: "TC", Active: true, UserIDs: []string{"cust-c"}, CreatedAt: t0.Add(2 * time.Hour)},
	})
	cd := livechattest.UnassignedChat("CD", t0.Add(4*time.Hour))
	cd.Users = append(cd.Users, livechat.User{ID: "jones@example.com", Type: livechat.UserAgent})
	cd.Properties["acme"] = map[string]any{"priority": 3}
	srv.AddChat(cd)
	require.NoError(t, srv.AddThread("CD", livechat.Thread{
		ID: "TD0", Active: false, UserIDs: []string{"customer-cd", "jones@example.com"},
		Properties: livechat.Properties{"routing": {"unassigned": false, "pinned": false}},
		CreatedAt:  t0.Add(3 * time.Hour),
	}))
}

func rowIDs(chats []livechat.Chat) []string {
	out := make([]string, len(chats))
	for i, c := range chats {
		out[i] = c.ID + "/" + c.Thread.ID
	}
	return out
}

func TestListArchivesFilters(t *testing.T) {
	srv, url := start(t)
	seedFilterSet(t, srv)
	c := client(t, url)
	routing := func(name string, f livechat.Filter) livechat.PropertyFilters {
		return livechat.PropertyFilters{"routing": {name: f}}
	}
	tests := []struct {
		name      string
		filters   livechat.ArchivesFilters
		sortOrder string
		want      []string
	}{
		{name: "none, oldest first", want: []string{"CA/TCA", "CB/TB", "CC/TC", "CD/TD0", "CD/TCD"}},
		{name: "none, default newest first", sortOrder: "-", want: []string{"CD/TCD", "CD/TD0", "CC/TC", "CB/TB", "CA/TCA"}},
		{
			name: "unassigned and pinned (the sweep)",
			filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{
				"routing": {"unassigned": livechat.Values(true), "pinned": livechat.Values(true)},
			}},
			want: []string{"CA/TCA", "CC/TC", "CD/TCD"},
		},
		{name: "thread value wins over chat value", filters: livechat.ArchivesFilters{Properties: routing("pinned", livechat.Values(false))},
			want: []string{"CB/TB", "CD/TD0"}},
		{name: "exclude_values", filters: livechat.ArchivesFilters{Properties: routing("unassigned", livechat.ExcludeValues(true))},
			want: []string{"CB/TB", "CD/TD0"}},
		{name: "exists true on a chat property", filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{"acme": {"priority": livechat.Exists(true)}}},
			want: []string{"CD/TD0", "CD/TCD"}},
		{name: "exists false", filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{"acme": {"priority": livechat.Exists(false)}}},
			want: []string{"CA/TCA", "CB/TB", "CC/TC"}},
		{name: "number values match Go ints", filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{"acme": {"priority": livechat.Values(1, 3)}}},
			want: []string{"CD/TD0", "CD/TCD"}},
		{name: "group_ids", filters: livechat.ArchivesFilters{GroupIDs: []int{1, 2}}, want: []string{"CB/TB", "CC/TC"}},
		{name: "agents.exists false is unassigned", filters: livechat.ArchivesFilters{Agents: new(livechat.Exists(false))},
			want: []string{"CA/TCA", "CC/TC", "CD/TCD"}},
		{name: "agents.exists true", filters: livechat.ArchivesFilters{Agents: new(livechat.Exists(true))}, want: []string{"CB/TB", "CD/TD0"}},
		{name: "agents values", filters: livechat.ArchivesFilters{Agents: new(livechat.Values("jones@example.com"))}, want: []string{"CD/TD0"}},
		{name: "tags", filters: livechat.ArchivesFilters{Tags: new(livechat.Values("support"))}, want: []string{"CB/TB"}},
		{name: "chat_ids", filters: livechat.ArchivesFilters{ChatIDs: []string{"CD", "CA"}}, want: []string{"CA/TCA", "CD/TD0", "CD/TCD"}},
		{name: "thread_ids", filters: livechat.ArchivesFilters{ThreadIDs: []string{"TD0"}}, want: []string{"CD/TD0"}},
		{name: "from and to", filters: livechat.ArchivesFilters{From: t0.Add(2 * time.Hour), To: t0.Add(3 * time.Hour)},
			want: []string{"CC/TC", "CD/TD0"}},
		{name: "query", filters: livechat.ArchivesFilters{Query: "REFUND"}, want: []string{"CB/TB"}},
		{name: "event_types", filters: livechat.ArchivesFilters{EventTypes: new(livechat.Values("message"))}, want: []string{"CB/TB"}},
		{name: "nothing matches", filters: livechat.ArchivesFilters{GroupIDs: []int{99}}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := tt.sortOrder
			switch order {
			case "":
				order = livechat.SortAsc
			case "-":
				order = ""
			}
			p, err := c.ListArchivesPage(t.Context(), livechat.ListArchivesQuery{Filters: tt.filters, Limit: 100, SortOrder: order}, "")
			require.NoError(t, err)
			assert.Equal(t, tt.want, rowIDs(p.Chats))
			assert.Equal(t, len(tt.want), p.FoundChats)
			assert.Empty(t, p.NextPageID)
		})
	}
}

func TestListArchivesRowsCarryThreadLinks(t *testing.T) {
	srv, url := start(t)
	seedFilterSet(t, srv)
	p, err := client(t, url).ListArchivesPage(t.Context(), livechat.ListArchivesQuery{
		Filters: livechat.ArchivesFilters{ChatIDs: []string{"CD"}}, SortOrder: livechat.SortAsc}, "")
	require.NoError(t, err)
	require.Len(t, p.Chats, 2)
	assert.Equal(t, "TCD", p.Chats[0].Thread.NextThreadID)
	assert.Equal(t, "TD0", p.Chats[1].Thread.PreviousThreadID)
	assert.False(t, p.Chats[0].Unassigned())
	assert.True(t, p.Chats[1].Unassigned())
	assert.Equal(t, 3.0, p.Chats[1].Properties["acme"]["priority"])
}

func TestListValidation(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechattest.UnassignedChat("CA", t0))
	// A valid page id to combine with other fields.
	for range 11 {
		srv.AddChat(livechattest.UnassignedChat(fmt.Sprintf("X%02d", len(srv.Chats())), t0))
	}
	p, err := client(t, url).ListArchivesPage(t.Context(), livechat.ListArchivesQuery{}, "")
	require.NoError(t, err)
	require.NotEmpty(t, p.NextPageID)
	pageID := fmt.Sprintf("%q", p.NextPageID)

	tests := []struct {
		name       string
		action     string
		body       string
		wantStatus int
		wantType   string
	}{
		{"limit 0", "list_archives", `{"limit":0}`, 422, "validation"},
		{"limit 101", "list_archives", `{"limit":101}`, 422, "validation"},
		{"limit negative", "list_archives", `{"limit":-1}`, 422, "validation"},
		{"limit not a number", "list_archives", `{"limit":"10"}`, 422, "validation"},
		{"limit 1", "list_archives", `{"limit":1}`, 200, ""},
		{"limit 100", "list_archives", `{"limit":100}`, 200, ""},
		{"sort_order unknown", "list_archives", `{"sort_order":"sideways"}`, 422, "validation"},
		{"page_id with filters", "list_archives", `{"page_id":` + pageID + `,"filters":{}}`, 422, "validation"},
		{"page_id with limit", "list_archives", `{"page_id":` + pageID + `,"limit":10}`, 422, "validation"},
		{"page_id with sort_order", "list_archives", `{"page_id":` + pageID + `,"sort_order":"asc"}`, 422, "validation"},
		{"page_id alone", "list_archives", `{"page_id":` + pageID + `}`, 200, ""},
		{"page_id of another list", "list_chats", `{"page_id":` + pageID + `}`, 422, "validation"},
		{"page_id garbage", "list_archives", `{"page_id":"garbage"}`, 422, "validation"},
		{"two kinds for one property", "list_archives", `{"filters":{"properties":{"routing":{"pinned":{"exists":true,"values":[true]}}}}}`, 422, "validation"},
		{"no kind for one property", "list_archives", `{"filters":{"properties":{"routing":{"pinned":{}}}}}`, 422, "validation"},
		{"unsupported filter", "list_archives", `{"filters":{"sales":{"exists":true}}}`, 422, "validation"},
		{"bad from", "list_archives", `{"filters":{"from":"yesterday"}}`, 422, "validation"},
		{"too many thread_ids", "list_archives", `{"filters":{"thread_ids":[` + strings.Repeat(`"t",`, 20) + `"t"]}}`, 422, "validation"},
		{"list_chats limit 101", "list_chats", `{"limit":101}`, 422, "validation"},
		{"list_chats page_id with filters", "list_chats", `{"page_id":"x","filters":{}}`, 422, "validation"},
		{"list_chats unknown filter", "list_chats", `{"filters":{"nope":1}}`, 422, "validation"},
		{"body not an object", "list_archives", `[1]`, 422, "validation"},
		{"body not JSON", "list_archives", `{`, 422, "validation"},
		{"empty body", "list_archives", ``, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, typ := post(t, url, tt.action, tt.body)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.wantType, typ)
		})
	}
}

// The fake refuses what the v3.6 API refuses: a field the documentation does
// not list for the action (such as send_event's attach_to_last_thread, gone
// in v3.6, or a system message's pre-3.4 recipients) or a missing required
// one, with a validation error (HTTP 422), so a client sending a wrong shape
// fails its tests.
func TestStrictRequests(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechattest.UnassignedChat("S1", t0))
	const msg = `"event":{"type":"message","text":"hi","visibility":"all"}`
	tests := []struct {
		name       string
		action     string
		body       string
		wantStatus int
		wantType   string
	}{
		{"send_event v3.6 message", "send_event", `{"chat_id":"S1",` + msg + `}`, 200, ""},
		{"send_event v3.6 system message", "send_event",
			`{"chat_id":"S1","event":{"type":"system_message","text":"n","visibility":"agents","system_message_type":"chatwarden.note"}}`, 200, ""},
		{"send_event with text_vars", "send_event",
			`{"chat_id":"S1","event":{"type":"system_message","text":"n","system_message_type":"x","text_vars":{"a":"b"}}}`, 200, ""},
		{"send_event attach_to_last_thread (removed in v3.6)", "send_event", `{"chat_id":"S1",` + msg + `,"attach_to_last_thread":true}`, 422, "validation"},
		{"send_event system message with recipients (pre-3.4)", "send_event",
			`{"chat_id":"S1","event":{"type":"system_message","text":"n","recipients":"agents","system_message_type":"x"}}`, 422, "validation"},
		{"send_event system message without system_message_type", "send_event",
			`{"chat_id":"S1","event":{"type":"system_message","text":"n","visibility":"agents"}}`, 422, "validation"},
		{"send_event message with system_message_type", "send_event",
			`{"chat_id":"S1","event":{"type":"message","text":"n","system_message_type":"x"}}`, 422, "validation"},
		{"send_event unknown event field", "send_event", `{"chat_id":"S1","event":{"type":"message","text":"n","colour":"red"}}`, 422, "validation"},
		{"send_event without text", "send_event", `{"chat_id":"S1","event":{"type":"message"}}`, 422, "validation"},
		{"send_event bad visibility", "send_event", `{"chat_id":"S1","event":{"type":"message","text":"n","visibility":"some"}}`, 422, "validation"},
		{"send_event without event", "send_event", `{"chat_id":"S1"}`, 422, "validation"},
		{"send_event without chat_id", "send_event", `{` + msg + `}`, 422, "validation"},
		{"get_chat unknown field", "get_chat", `{"chat_id":"S1","include_events":true}`, 422, "validation"},
		{"update_chat_properties chat_id instead of id", "update_chat_properties",
			`{"chat_id":"S1","properties":{"acme":{"a":1}}}`, 422, "validation"},
		{"delete_chat_properties unknown field", "delete_chat_properties", `{"id":"S1","properties":{"acme":["a"]},"all":true}`, 422, "validation"},
		{"deactivate_chat chat_id instead of id", "deactivate_chat", `{"chat_id":"S1"}`, 422, "validation"},
		{"transfer_chat documented flags", "transfer_chat",
			`{"id":"S1","ignore_agents_availability":true,"ignore_requester_presence":true}`, 200, ""},
		{"transfer_chat unknown target field", "transfer_chat", `{"id":"S1","target":{"type":"group","ids":[0],"all":1}}`, 422, "validation"},
		{"tag_thread unknown field", "tag_thread", `{"chat_id":"S1","thread_id":"TS1","tag":"a","tags":["a"]}`, 422, "validation"},
		{"set_routing_status unknown field", "set_routing_status", `{"status":"offline","agent":"a"}`, 422, "validation"},
		{"list_archives unknown field", "list_archives", `{"page":2}`, 422, "validation"},
		{"list_chats include_active (gone in v3.6)", "list_chats", `{"include_active":true}`, 422, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, typ := post(t, url, tt.action, tt.body)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.wantType, typ)
		})
	}
}

// Through the client, events in the v3.6 shape are accepted and stored as sent.
func TestSendEventV36ShapeThroughClient(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechattest.UnassignedChat("S1", t0))
	c := client(t, url)
	_, err := c.SendEvent(t.Context(), "S1", livechat.OutgoingEvent{Type: livechat.EventSystemMessage, Text: "n",
		SystemMessageType: "chatwarden.note", Properties: livechat.Properties{"acme": {"a": 1}}})
	require.NoError(t, err)
	_, err = c.SendEvent(t.Context(), "S1", livechat.SystemMessage("chatwarden.note", "internal", "agents"))
	require.NoError(t, err)
	got, _ := srv.Chat("S1")
	require.Len(t, got.Thread.Events, 2)
	assert.Equal(t, "agents", got.Thread.Events[1].Visibility)
	assert.Contains(t, string(got.Thread.Events[1].Raw), `"system_message_type":"chatwarden.note"`)
}

func TestListArchivesLimitThroughClient(t *testing.T) {
	_, url := start(t)
	_, err := client(t, url).ListArchivesPage(t.Context(), livechat.ListArchivesQuery{Limit: 101}, "")
	require.ErrorIs(t, err, livechat.ErrValidation)
	assert.False(t, livechat.IsRetryable(err))
}

// Paging selects rows afresh after the last key of the previous page, so
// changes between pages shift what later pages return.
func TestListArchivesPagingIsNotASnapshot(t *testing.T) {
	srv, url := start(t)
	for i := range 15 {
		srv.AddChat(livechattest.UnassignedChat(fmt.Sprintf("C%02d", i+1), t0.Add(time.Duration(i)*time.Minute)))
	}
	c := client(t, url)
	q := livechat.ListArchivesQuery{
		Filters:   livechat.ArchivesFilters{Properties: livechat.PropertyFilters{"routing": {"pinned": livechat.Values(true)}}},
		Limit:     5,
		SortOrder: livechat.SortAsc,
	}
	unpin := func(id string) {
		require.NoError(t, c.UpdateChatProperties(t.Context(), id, livechat.Properties{"routing": {"pinned": false}}))
	}
	p1, err := c.ListArchivesPage(t.Context(), q, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"C01/TC01", "C02/TC02", "C03/TC03", "C04/TC04", "C05/TC05"}, rowIDs(p1.Chats))
	assert.Equal(t, 15, p1.FoundChats)

	unpin("C02") // already returned: no effect on later pages
	unpin("C07") // not yet returned: drops out
	srv.AddChat(livechattest.UnassignedChat("C99", t0.Add(time.Hour)))

	p2, err := c.ListArchivesPage(t.Context(), q, p1.NextPageID)
	require.NoError(t, err)
	assert.Equal(t, []string{"C06/TC06", "C08/TC08", "C09/TC09", "C10/TC10", "C11/TC11"}, rowIDs(p2.Chats))
	p3, err := c.ListArchivesPage(t.Context(), q, p2.NextPageID)
	require.NoError(t, err)
	assert.Equal(t, []string{"C12/TC12", "C13/TC13", "C14/TC14", "C15/TC15", "C99/TC99"}, rowIDs(p3.Chats))
	assert.Empty(t, p3.NextPageID)
}

func TestActionsChangeState(t *testing.T) {
	srv, url := start(t)
	c := client(t, url)
	ctx := t.Context()
	chat := livechattest.UnassignedChat("C1", t0)
	chat.Properties["acme"] = map[string]any{"a": 1}
	srv.AddChat(chat)

	t.Run("update merges and unpins the thread copy", func(t *testing.T) {
		require.NoError(t, c.UpdateChatProperties(ctx, "C1", livechat.Properties{"acme": {"b": "x"}, "routing": {"pinned": false}}))
		got, ok := srv.Chat("C1")
		require.True(t, ok)
		assert.Equal(t, map[string]any{"a": 1, "b": "x"}, got.Properties["acme"])
		assert.False(t, got.Pinned())
		assert.Equal(t, false, got.Thread.Properties["routing"]["pinned"])
		assert.Equal(t, true, got.Properties["routing"]["continuous"], "other routing properties stay")
		assert.True(t, got.Unassigned())
	})
	t.Run("read-only routing property", func(t *testing.T) {
		err := c.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"unassigned": false}})
		require.ErrorIs(t, err, livechat.ErrValidation)
	})
	t.Run("delete", func(t *testing.T) {
		require.NoError(t, c.DeleteChatProperties(ctx, "C1", map[string][]string{"acme": {"a", "b"}}))
		got, _ := srv.Chat("C1")
		assert.NotContains(t, got.Properties, "acme")
	})
	t.Run("tag and untag", func(t *testing.T) {
		require.NoError(t, c.TagThread(ctx, "C1", "TC1", "spam"))
		require.NoError(t, c.TagThread(ctx, "C1", "TC1", "spam"))
		require.NoError(t, c.TagThread(ctx, "C1", "TC1", "vip"))
		got, _ := srv.Chat("C1")
		assert.Equal(t, []string{"spam", "vip"}, got.Thread.Tags)
		require.NoError(t, c.UntagThread(ctx, "C1", "TC1", "spam"))
		got, _ = srv.Chat("C1")
		assert.Equal(t, []string{"vip"}, got.Thread.Tags)
		require.ErrorIs(t, c.TagThread(ctx, "C1", "NOPE", "x"), livechat.ErrNotFound)
	})
	t.Run("send event", func(t *testing.T) {
		id, err := c.SendEvent(ctx, "C1", livechat.Message("hello"))
		require.NoError(t, err)
		assert.Equal(t, "TC1_1", id)
		got, _ := srv.Chat("C1")
		require.Len(t, got.Thread.Events, 1)
		assert.Equal(t, "hello", got.Thread.Events[0].Text)
		assert.Equal(t, "message", got.Thread.Events[0].Type)
	})
	t.Run("transfer to agents", func(t *testing.T) {
		require.NoError(t, c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "C1", Target: livechat.ToAgents("smith@example.com")}))
		got, _ := srv.Chat("C1")
		assert.Contains(t, got.Thread.UserIDs, "smith@example.com")
		assert.False(t, got.Unassigned())
		assert.Contains(t, got.Users, livechat.User{ID: "smith@example.com", Type: "agent", Present: true})
	})
	t.Run("transfer to a group", func(t *testing.T) {
		require.NoError(t, c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "C1", Target: livechat.ToGroups(7)}))
		got, _ := srv.Chat("C1")
		assert.Equal(t, []int{7}, got.Access.GroupIDs)
		assert.Equal(t, []int{7}, got.Thread.Access.GroupIDs)
	})
	t.Run("deactivate keeps chat-level pinned", func(t *testing.T) {
		srv.AddChat(livechattest.UnassignedChat("C2", t0))
		require.NoError(t, c.DeactivateChat(ctx, "C2", true))
		got, _ := srv.Chat("C2")
		assert.False(t, got.Active())
		assert.True(t, got.Pinned())
		require.ErrorIs(t, c.DeactivateChat(ctx, "C2", true), livechat.ErrChatInactive)
	})
	t.Run("inactive chat", func(t *testing.T) {
		_, err := c.SendEvent(ctx, "C2", livechat.Message("late"))
		require.ErrorIs(t, err, livechat.ErrChatInactive)
		assert.False(t, livechat.IsRetryable(err))
		got, _ := srv.Chat("C2")
		assert.Empty(t, got.Thread.Events)
		require.ErrorIs(t, c.TransferChat(ctx, livechat.TransferChatRequest{ChatID: "C2"}), livechat.ErrChatInactive)
	})
	t.Run("routing status", func(t *testing.T) {
		require.NoError(t, c.SetRoutingStatus(ctx, "smith@example.com", livechat.RoutingNotAcceptingChats))
		st, ok := srv.RoutingStatus("smith@example.com")
		assert.True(t, ok)
		assert.Equal(t, livechat.RoutingNotAcceptingChats, st)
		require.ErrorIs(t, c.SetRoutingStatus(ctx, "", "sleeping"), livechat.ErrValidation)
	})
	t.Run("get chat and threads", func(t *testing.T) {
		require.NoError(t, srv.AddThread("C1", livechat.Thread{ID: "OLD", CreatedAt: t0.Add(-time.Hour)}))
		got, err := c.GetChat(ctx, "C1", "")
		require.NoError(t, err)
		assert.Equal(t, "TC1", got.Thread.ID)
		assert.Equal(t, "OLD", got.Thread.PreviousThreadID)
		old, err := c.GetChat(ctx, "C1", "OLD")
		require.NoError(t, err)
		assert.Equal(t, "TC1", old.Thread.NextThreadID)
		assert.Len(t, srv.Threads("C1"), 2)
		_, err = c.GetChat(ctx, "C1", "NOPE")
		require.ErrorIs(t, err, livechat.ErrNotFound)
		_, err = c.GetChat(ctx, "NOPE", "")
		require.ErrorIs(t, err, livechat.ErrNotFound)
		assert.Error(t, srv.AddThread("NOPE", livechat.Thread{}))
	})
	t.Run("stored chats are copies", func(t *testing.T) {
		got, _ := srv.Chat("C1")
		got.Properties["routing"]["pinned"] = "mutated"
		got.Thread.Tags[0] = "mutated"
		again, _ := srv.Chat("C1")
		assert.Equal(t, false, again.Properties["routing"]["pinned"])
		assert.Equal(t, "vip", again.Thread.Tags[0])
	})
}

func TestRequestValidation(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechattest.UnassignedChat("C1", t0))
	tests := []struct {
		name       string
		action     string
		body       string
		wantStatus int
		wantType   string
	}{
		{"update without id", "update_chat_properties", `{"properties":{"a":{"b":1}}}`, 422, "validation"},
		{"update without properties", "update_chat_properties", `{"id":"C1"}`, 422, "validation"},
		{"update with null properties", "update_chat_properties", `{"id":"C1","properties":null}`, 422, "validation"},
		{"update with a non-object namespace", "update_chat_properties", `{"id":"C1","properties":{"a":1}}`, 422, "validation"},
		{"update unknown chat", "update_chat_properties", `{"id":"NOPE","properties":{"a":{"b":1}}}`, 404, "not_found"},
		{"update ok", "update_chat_properties", `{"id":"C1","properties":{"a":{"b":1}}}`, 200, ""},
		{"delete without properties", "delete_chat_properties", `{"id":"C1"}`, 422, "validation"},
		{"get_chat without chat_id", "get_chat", `{}`, 422, "validation"},
		{"deactivate without id", "deactivate_chat", `{}`, 422, "validation"},
		{"transfer bad target type", "transfer_chat", `{"id":"C1","target":{"type":"bot","ids":["x"]}}`, 422, "validation"},
		{"transfer group ids as strings", "transfer_chat", `{"id":"C1","target":{"type":"group","ids":["x"]}}`, 422, "validation"},
		{"transfer without ids", "transfer_chat", `{"id":"C1","target":{"type":"group","ids":[]}}`, 422, "validation"},
		{"send_event without event", "send_event", `{"chat_id":"C1"}`, 422, "validation"},
		{"send_event without type", "send_event", `{"chat_id":"C1","event":{"text":"x"}}`, 422, "validation"},
		{"tag without tag", "tag_thread", `{"chat_id":"C1","thread_id":"TC1"}`, 422, "validation"},
		{"unknown action", "close_chat", `{"id":"C1"}`, 404, "not_found"},
		{"wrong field types", "get_chat", `{"chat_id":1}`, 422, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, typ := post(t, url, tt.action, tt.body)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.wantType, typ)
		})
	}
}

func TestHTTPSurface(t *testing.T) {
	_, url := start(t)
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		wantStatus int
	}{
		{"GET is refused", http.MethodGet, livechattest.ActionPrefix + "get_chat", "Bearer x", 405},
		{"other API version", http.MethodPost, "/v3.5/agent/action/get_chat", "Bearer x", 404},
		{"missing Authorization", http.MethodPost, livechattest.ActionPrefix + "get_chat", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, url+tt.path, strings.NewReader(`{"chat_id":"x"}`))
			require.NoError(t, err)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name    string
		opts    []livechattest.Option
		auth    livechat.Auth
		wantErr error
	}{
		{name: "any credentials without WithAuth", auth: livechat.Bearer("dal:whatever")},
		{name: "right PAT", opts: []livechattest.Option{livechattest.WithAuth("acc", "tok")}, auth: livechat.PAT("acc", "tok")},
		{name: "wrong PAT", opts: []livechattest.Option{livechattest.WithAuth("acc", "tok")}, auth: livechat.PAT("acc", "nope"), wantErr: livechat.ErrAuthentication},
		{name: "bearer where PAT required", opts: []livechattest.Option{livechattest.WithAuth("acc", "tok")}, auth: livechat.Bearer("tok"), wantErr: livechat.ErrAuthentication},
		{name: "right bearer", opts: []livechattest.Option{livechattest.WithBearer("dal:b")}, auth: livechat.Bearer("dal:b")},
		{name: "either of two", opts: []livechattest.Option{livechattest.WithAuth("acc", "tok"), livechattest.WithBearer("dal:b")}, auth: livechat.Bearer("dal:b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := start(t, tt.opts...)
			srv.AddChat(livechattest.UnassignedChat("C1", t0))
			c, err := livechat.New(tt.auth, livechat.WithBaseURL(url))
			require.NoError(t, err)
			_, err = c.GetChat(t.Context(), "C1", "")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.False(t, livechat.IsRetryable(err))
				assert.Equal(t, 401, srv.Calls()[0].Status)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestCallsRecorded(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechattest.UnassignedChat("C1", t0))
	c := client(t, url, livechat.WithRegion("fra"), livechat.WithUserAgent("ua/1"))
	require.NoError(t, c.UpdateChatProperties(t.Context(), "C1", livechat.Properties{"routing": {"pinned": false}}))
	_, err := c.GetChat(t.Context(), "NOPE", "")
	require.Error(t, err)

	calls := srv.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, "update_chat_properties", calls[0].Action)
	assert.JSONEq(t, `{"id":"C1","properties":{"routing":{"pinned":false}}}`, string(calls[0].Body))
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("acc:tok")), calls[0].Header.Get("Authorization"))
	assert.Equal(t, "fra", calls[0].Header.Get("X-Region"))
	assert.Equal(t, "ua/1", calls[0].Header.Get("User-Agent"))
	assert.Equal(t, 200, calls[0].Status)
	assert.False(t, calls[0].Time.IsZero())
	assert.Equal(t, 404, calls[1].Status)
	assert.Len(t, srv.CallsTo("get_chat"), 1)
	assert.Empty(t, srv.CallsTo("send_event"))

	srv.Reset()
	assert.Empty(t, srv.Calls())
	assert.Empty(t, srv.Chats())
}

func TestFailNext(t *testing.T) {
	type step struct {
		action     string
		wantStatus int
	}
	tests := []struct {
		name  string
		arm   func(s *livechattest.Server)
		steps []step
	}{
		{
			name: "n failures of one action, others untouched",
			arm:  func(s *livechattest.Server) { s.FailNext("get_chat", 2, livechattest.ServerError()) },
			steps: []step{
				{"update_chat_properties", 200}, {"get_chat", 500}, {"deactivate_chat", 200}, {"get_chat", 500}, {"get_chat", 200},
			},
		},
		{
			name: "any action",
			arm:  func(s *livechattest.Server) { s.FailNext("", 2, livechattest.ServiceUnavailable()) },
			steps: []step{
				{"update_chat_properties", 503}, {"get_chat", 503}, {"get_chat", 200},
			},
		},
		{
			name: "consumed in the order armed",
			arm: func(s *livechattest.Server) {
				s.FailNext("get_chat", 1, livechattest.TooManyRequests(time.Second))
				s.FailNext("", 1, livechattest.ServerError())
				s.FailNext("get_chat", 1, livechattest.Validation("bad"))
			},
			steps: []step{
				{"update_chat_properties", 500}, {"get_chat", 429}, {"get_chat", 422}, {"get_chat", 200},
			},
		},
		{
			name: "the first matching armed failure wins",
			arm: func(s *livechattest.Server) {
				s.FailNext("", 1, livechattest.ServerError())
				s.FailNext("get_chat", 1, livechattest.Validation("bad"))
			},
			steps: []step{{"get_chat", 500}, {"get_chat", 422}, {"get_chat", 200}},
		},
		{
			name:  "hang then answer normally",
			arm:   func(s *livechattest.Server) { s.FailNext("", 1, livechattest.Hang(time.Millisecond)) },
			steps: []step{{"get_chat", 200}},
		},
		{
			name: "hang then fail",
			arm: func(s *livechattest.Server) {
				f := livechattest.ServerError()
				f.Hang = time.Millisecond
				s.FailNext("", 1, f)
			},
			steps: []step{{"get_chat", 500}, {"get_chat", 200}},
		},
		{
			name: "raw body",
			arm: func(s *livechattest.Server) {
				s.FailNext("", 1, livechattest.Failure{RawBody: "<html>bad gateway</html>"})
			},
			steps: []step{{"get_chat", 502}, {"get_chat", 200}},
		},
		{
			name:  "zero count arms nothing",
			arm:   func(s *livechattest.Server) { s.FailNext("", 0, livechattest.ServerError()) },
			steps: []step{{"get_chat", 200}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := start(t)
			srv.AddChat(livechattest.UnassignedChat("C1", t0))
			tt.arm(srv)
			c := client(t, url)
			for i, st := range tt.steps {
				var err error
				switch st.action {
				case "get_chat":
					_, err = c.GetChat(t.Context(), "C1", "")
				case "update_chat_properties":
					err = c.UpdateChatProperties(t.Context(), "C1", livechat.Properties{"a": {"b": i}})
				case "deactivate_chat":
					srv.AddChat(livechattest.UnassignedChat("C1", t0))
					err = c.DeactivateChat(t.Context(), "C1", true)
				}
				calls := srv.Calls()
				last := calls[len(calls)-1]
				assert.Equal(t, st.action, last.Action, "step %d", i)
				assert.Equal(t, st.wantStatus, last.Status, "step %d", i)
				if st.wantStatus == 200 {
					assert.NoError(t, err, "step %d", i)
				} else {
					assert.Error(t, err, "step %d", i)
				}
			}
		})
	}
}

func TestFailureDetailsReachTheClient(t *testing.T) {
	srv, url := start(t)
	srv.FailNext("", 1, livechattest.TooManyRequests(1500*time.Millisecond))
	srv.FailNext("", 1, livechattest.Misdirected("fra"))
	c := client(t, url)

	err := c.DeactivateChat(t.Context(), "C1", true)
	require.ErrorIs(t, err, livechat.ErrTooManyRequests)
	d, ok := livechat.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, d, "rounded up to whole seconds")

	// The client follows the region of the misdirected answer.
	err = c.DeactivateChat(t.Context(), "C1", true)
	require.ErrorIs(t, err, livechat.ErrNotFound)
	assert.Equal(t, "fra", c.Region())
}

func TestHangRespectsContext(t *testing.T) {
	srv, url := start(t)
	srv.FailNext("get_chat", 1, livechattest.Hang(time.Hour))
	c := client(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetChat(ctx, "C1", "")
		errc <- err
	}()
	require.Eventually(t, func() bool {
		calls := srv.CallsTo("get_chat")
		return len(calls) == 1 && calls[0].Status == 0
	}, 5*time.Second, time.Millisecond, "call in flight")
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Eventually(t, func() bool {
		return srv.CallsTo("get_chat")[0].Status == livechattest.StatusAborted
	}, 5*time.Second, time.Millisecond)
}

func TestStopReleasesHungCalls(t *testing.T) {
	srv := livechattest.New()
	url, stop := srv.Start()
	srv.FailNext("", 1, livechattest.Hang(time.Hour))
	c := client(t, url)
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetChat(t.Context(), "C1", "")
		errc <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Calls()) == 1 }, 5*time.Second, time.Millisecond)
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	err := <-errc
	require.Error(t, err)
	assert.True(t, livechat.IsRetryable(err), "a dropped connection is retryable: %v", err)
	<-done
}

func TestRateLimit(t *testing.T) {
	srv, url := start(t, livechattest.WithRateLimit(1))
	srv.AddChat(livechattest.UnassignedChat("C1", t0))
	c := client(t, url)
	_, err := c.GetChat(t.Context(), "C1", "")
	require.NoError(t, err)
	_, err = c.GetChat(t.Context(), "C1", "")
	require.ErrorIs(t, err, livechat.ErrTooManyRequests)
	d, ok := livechat.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
	assert.True(t, livechat.IsRetryable(err))
}

func TestLatency(t *testing.T) {
	srv, url := start(t, livechattest.WithLatency(20*time.Millisecond))
	srv.AddChat(livechattest.UnassignedChat("C1", t0))
	begin := time.Now()
	_, err := client(t, url).GetChat(t.Context(), "C1", "")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(begin), 20*time.Millisecond)
}

func TestRegion(t *testing.T) {
	tests := []struct {
		name     string
		region   string
		xRegion  string
		wantType string
	}{
		{"dal server, no header", "dal", "", ""},
		{"dal server, fra header", "dal", "fra", "misdirected_request"},
		{"fra server, no header", "fra", "", "misdirected_request"},
		{"fra server, fra header", "fra", "fra", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := start(t, livechattest.WithRegion(tt.region))
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+livechattest.ActionPrefix+"set_routing_status",
				bytes.NewReader([]byte(`{"status":"accepting_chats"}`)))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer x")
			if tt.xRegion != "" {
				req.Header.Set("X-Region", tt.xRegion)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var env struct {
				Error struct {
					Type string         `json:"type"`
					Data map[string]any `json:"data"`
				} `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&env)
			assert.Equal(t, tt.wantType, env.Error.Type)
			if tt.wantType != "" {
				assert.Equal(t, 421, resp.StatusCode)
				assert.Equal(t, tt.region, env.Error.Data["region"])
			}
		})
	}
}

// The fake must hold 5,000 chats and serve a few hundred concurrent requests
// quickly and race-free.
func TestConcurrentLoad(t *testing.T) {
	srv, url := start(t)
	for i := range 5000 {
		srv.AddChat(livechattest.UnassignedChat(fmt.Sprintf("L%05d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	// Enough idle connections for the workers, so the test measures the fake
	// rather than connection setup.
	c := client(t, url, livechat.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 20}}))
	q := livechat.ListArchivesQuery{
		Filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{"routing": {"pinned": livechat.Values(true)}}},
		Limit:   100,
	}
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 20 {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("L%05d", (w*10+i)*7)
				if err := c.UpdateChatProperties(t.Context(), id, livechat.Properties{"routing": {"pinned": false}}); err != nil {
					errs <- err
				}
				if _, err := c.ListArchivesPage(t.Context(), q, ""); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("400 requests over 5000 chats in %v", time.Since(begin))
	assert.Len(t, srv.Calls(), 400)

	p, err := c.ListArchivesPage(t.Context(), q, "")
	require.NoError(t, err)
	assert.Equal(t, 5000-200, p.FoundChats)
}

// BenchmarkListArchives measures one filtered page over 5,000 chats.
func BenchmarkListArchives(b *testing.B) {
	srv := livechattest.New()
	url, stop := srv.Start()
	defer stop()
	for i := range 5000 {
		srv.AddChat(livechattest.UnassignedChat(fmt.Sprintf("L%05d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	c, err := livechat.New(livechat.PAT("a", "t"), livechat.WithBaseURL(url))
	require.NoError(b, err)
	q := livechat.ListArchivesQuery{
		Filters: livechat.ArchivesFilters{Properties: livechat.PropertyFilters{
			"routing": {"unassigned": livechat.Values(true), "pinned": livechat.Values(true)},
		}},
		Limit: 100,
	}
	for b.Loop() {
		if _, err := c.ListArchivesPage(b.Context(), q, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func TestListChatsFilters(t *testing.T) {
	srv, url := start(t)
	seedFilterSet(t, srv)
	srv.AddChat(livechat.Chat{ID: "CE", Access: livechat.Access{GroupIDs: []int{5}}}) // no threads
	c := client(t, url)
	require.NoError(t, c.DeactivateChat(t.Context(), "CB", true))
	tests := []struct {
		name  string
		q     livechat.ListChatsQuery
		want  []string
		wantN int
	}{
		{name: "all, oldest first", q: livechat.ListChatsQuery{SortOrder: livechat.SortAsc}, want: []string{"CE", "CA", "CB", "CC", "CD"}},
		{name: "all, default newest first", q: livechat.ListChatsQuery{}, want: []string{"CD", "CC", "CB", "CA", "CE"}},
		{name: "active", q: livechat.ListChatsQuery{Filters: livechat.ListChatsFilters{Active: new(true)}, SortOrder: livechat.SortAsc},
			want: []string{"CA", "CC", "CD"}},
		{name: "inactive", q: livechat.ListChatsQuery{Filters: livechat.ListChatsFilters{Active: new(false)}, SortOrder: livechat.SortAsc},
			want: []string{"CE", "CB"}},
		{name: "without chats without threads", q: livechat.ListChatsQuery{
			Filters: livechat.ListChatsFilters{IncludeChatsWithoutThreads: new(false)}, SortOrder: livechat.SortAsc},
			want: []string{"CA", "CB", "CC", "CD"}},
		{name: "groups", q: livechat.ListChatsQuery{Filters: livechat.ListChatsFilters{GroupIDs: []int{1, 5}}, SortOrder: livechat.SortAsc},
			want: []string{"CE", "CB"}},
		{name: "latest thread properties", q: livechat.ListChatsQuery{
			Filters:   livechat.ListChatsFilters{Properties: livechat.PropertyFilters{"routing": {"unassigned": livechat.Values(true)}}},
			SortOrder: livechat.SortAsc},
			want: []string{"CA", "CC", "CD"}},
		{name: "paged newest first", q: livechat.ListChatsQuery{Limit: 2}, want: []string{"CD", "CC", "CB", "CA", "CE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for sum, err := range c.ListChats(t.Context(), tt.q) {
				require.NoError(t, err)
				got = append(got, sum.ID)
			}
			assert.Equal(t, tt.want, got)
		})
	}

	p, err := c.ListChatsPage(t.Context(), livechat.ListChatsQuery{Filters: livechat.ListChatsFilters{Properties: livechat.PropertyFilters{
		"acme": {"priority": livechat.Exists(true)}}}}, "")
	require.NoError(t, err)
	require.Len(t, p.ChatsSummary, 1)
	sum := p.ChatsSummary[0]
	assert.Equal(t, "TCD", sum.LastThreadSummary.ID)
	assert.True(t, sum.Unassigned() && sum.Pinned() && sum.Active())
	assert.Equal(t, 1, p.FoundChats)
}

func TestSetFilters(t *testing.T) {
	srv, url := start(t)
	srv.AddChat(livechat.Chat{ID: "C1", Thread: &livechat.Thread{ID: "T1", Tags: []string{"a", "b"}, CreatedAt: t0}})
	srv.AddChat(livechat.Chat{ID: "C2", Thread: &livechat.Thread{ID: "T2", Tags: []string{"a"}, CreatedAt: t0.Add(time.Minute)}})
	srv.AddChat(livechat.Chat{ID: "C3", Thread: &livechat.Thread{ID: "T3", CreatedAt: t0.Add(2 * time.Minute)}})
	c := client(t, url)
	tests := []struct {
		name string
		tags livechat.Filter
		want []string
	}{
		{"any of", livechat.Values("a", "b"), []string{"C1/T1", "C2/T2"}},
		{"every", livechat.Filter{Values: []any{"a", "b"}, RequireEveryValue: true}, []string{"C1/T1"}},
		{"none of", livechat.ExcludeValues("b"), []string{"C2/T2", "C3/T3"}},
		{"not every", livechat.Filter{ExcludeValues: []any{"a", "b"}, RequireEveryValue: true}, []string{"C2/T2", "C3/T3"}},
		{"no tags", livechat.Exists(false), []string{"C3/T3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.ListArchivesPage(t.Context(), livechat.ListArchivesQuery{
				Filters: livechat.ArchivesFilters{Tags: &tt.tags}, SortOrder: livechat.SortAsc}, "")
			require.NoError(t, err)
			assert.Equal(t, tt.want, rowIDs(p.Chats))
		})
	}
}

func TestAddChatDefaults(t *testing.T) {
	now := t0
	srv := livechattest.New(livechattest.WithClock(func() time.Time { return now }))
	srv.AddChat(livechat.Chat{Thread: &livechat.Thread{Active: true}})
	chats := srv.Chats()
	require.Len(t, chats, 1)
	id := chats[0].ID
	assert.NotEmpty(t, id)
	assert.NotEmpty(t, chats[0].Thread.ID)
	assert.Equal(t, t0, chats[0].Thread.CreatedAt)

	// A new thread at the same clock reading still sorts after the latest.
	require.NoError(t, srv.AddThread(id, livechat.Thread{Active: true}))
	threads := srv.Threads(id)
	require.Len(t, threads, 2)
	assert.Equal(t, t0.Add(time.Microsecond), threads[1].CreatedAt)
	latest, _ := srv.Chat(id)
	assert.Equal(t, threads[1].ID, latest.Thread.ID)

	// Replacing a thread keeps one copy of it.
	threads[0].Tags = []string{"x"}
	require.NoError(t, srv.AddThread(id, threads[0]))
	assert.Len(t, srv.Threads(id), 2)
	assert.Equal(t, []string{"x"}, srv.Threads(id)[0].Tags)

	// Chats without threads are served too.
	srv.AddChat(livechat.Chat{ID: "BARE"})
	bare, ok := srv.Chat("BARE")
	require.True(t, ok)
	assert.Nil(t, bare.Thread)
	_, ok = srv.Chat("NOPE")
	assert.False(t, ok)
	assert.Nil(t, srv.Threads("NOPE"))
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		errType string
		want    int
	}{
		{livechat.TypeValidation, 422}, {livechat.TypeNotFound, 404}, {livechat.TypeAuthentication, 401},
		{livechat.TypeAuthorization, 403}, {livechat.TypeMissingAccess, 403}, {livechat.TypeTooManyRequests, 429},
		{livechat.TypeMisdirectedRequest, 421}, {livechat.TypeInternal, 500}, {livechat.TypeServiceUnavailable, 503},
		{livechat.TypeRequestTimeout, 408}, {livechat.TypeEntityTooLarge, 413}, {livechat.TypeLicenseExpired, 402},
		{livechat.TypeChatInactive, 400}, {"anything", 400},
	}
	for _, tt := range tests {
		t.Run(tt.errType, func(t *testing.T) {
			assert.Equal(t, tt.want, livechattest.StatusFor(tt.errType))
		})
	}
}

// The Configuration API fake refuses fields the documentation does not list
// for the action with a validation error.
func TestConfigurationStrictRequests(t *testing.T) {
	url, stop := livechattest.NewConfiguration().Start()
	t.Cleanup(stop)
	const reg = `"action":"incoming_chat","url":"https://cw.example.com/w","secret_key":"s","owner_client_id":"app","type":"license"`
	tests := []struct {
		name       string
		action     string
		body       string
		wantStatus int
		wantType   string
	}{
		{"register documented fields", "register_webhook", `{` + reg + `,"description":"d","additional_data":["chat_properties"]}`, 200, ""},
		{"register unknown field", "register_webhook", `{` + reg + `,"secret":"s"}`, 422, "validation"},
		{"list_webhooks unknown field", "list_webhooks", `{"owner_client_id":"app","action":"incoming_chat"}`, 422, "validation"},
		{"unregister with url", "unregister_webhook", `{"id":"wh-1","owner_client_id":"app","url":"x"}`, 422, "validation"},
		{"license state unknown field", "get_license_webhooks_state", `{"owner_client_id":"app","license_id":1}`, 422, "validation"},
		{"license state documented", "get_license_webhooks_state", `{"owner_client_id":"app"}`, 200, ""},
		{"webhook names documented", "list_webhook_names", `{"version":"3.6"}`, 200, ""},
		{"webhook names unknown field", "list_webhook_names", `{"version":"3.6","type":"bot"}`, 422, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+livechattest.ConfigurationPrefix+tt.action, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer dal:x")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var env struct {
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			b, _ := io.ReadAll(resp.Body)
			_ = json.Unmarshal(b, &env)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, string(b))
			assert.Equal(t, tt.wantType, env.Error.Type)
		})
	}
}
