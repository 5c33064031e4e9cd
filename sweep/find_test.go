package sweep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/sweep"
)

// startFake starts the fake LiveChat and returns it with a client of it.
func startFake(t *testing.T, opts ...livechattest.Option) (*livechattest.Server, *livechat.Client) {
	t.Helper()
	fake := livechattest.New(opts...)
	url, stop := fake.Start()
	t.Cleanup(stop)
	c, err := livechat.New(livechat.PAT("acc", "tok"), livechat.WithBaseURL(url))
	require.NoError(t, err)
	return fake, c
}

// unassigned is an Unassigned chat whose thread started age ago.
func unassigned(id string, age time.Duration) livechat.Chat {
	return livechattest.UnassignedChat(id, time.Now().Add(-age))
}

func inGroup(c livechat.Chat, g int) livechat.Chat {
	c.Access.GroupIDs = []int{g}
	c.Thread.Access.GroupIDs = []int{g}
	return c
}

func newSweeper(t *testing.T, api sweep.Lister, pub sweep.Publisher, opts ...sweep.Option) *sweep.Sweeper {
	t.Helper()
	sw, err := sweep.New(api, pub, opts...)
	require.NoError(t, err)
	return sw
}

func TestFind(t *testing.T) {
	assigned := unassigned("ASSIGNED", 72*time.Hour)
	assigned.Thread.Properties["routing"]["unassigned"] = false
	unpinned := unassigned("UNPINNED", 72*time.Hour)
	unpinned.Properties["routing"]["pinned"] = false
	unpinned.Thread.Properties["routing"]["pinned"] = false

	tests := []struct {
		name    string
		chats   []livechat.Chat
		threads map[string]livechat.Thread // extra, older threads by chat
		params  sweep.Params
		want    []string // chat/thread, oldest first
	}{
		{
			name:   "older than: young chats are left",
			chats:  []livechat.Chat{unassigned("OLD", 72*time.Hour), unassigned("YOUNG", time.Hour)},
			params: sweep.Params{OlderThan: 48 * time.Hour},
			want:   []string{"OLD/TOLD"},
		},
		{
			name:   "any age, oldest first",
			chats:  []livechat.Chat{unassigned("YOUNG", time.Hour), unassigned("OLD", 72*time.Hour)},
			params: sweep.Params{},
			want:   []string{"OLD/TOLD", "YOUNG/TYOUNG"},
		},
		{
			name:   "assigned and unpinned chats are not Unassigned",
			chats:  []livechat.Chat{assigned, unpinned, unassigned("C1", 72*time.Hour)},
			params: sweep.Params{OlderThan: 48 * time.Hour},
			want:   []string{"C1/TC1"},
		},
		{
			name:   "groups",
			chats:  []livechat.Chat{inGroup(unassigned("G1", 72*time.Hour), 1), inGroup(unassigned("G2", 73*time.Hour), 2), inGroup(unassigned("G3", 74*time.Hour), 3)},
			params: sweep.Params{Groups: []int{2, 3}},
			want:   []string{"G3/TG3", "G2/TG2"},
		},
		{
			name: "limit: the oldest",
			chats: []livechat.Chat{unassigned("C1", 50*time.Hour), unassigned("C2", 51*time.Hour), unassigned("C3", 52*time.Hour),
				unassigned("C4", 53*time.Hour)},
			params: sweep.Params{Limit: 2},
			want:   []string{"C4/TC4", "C3/TC3"},
		},
		{
			name:  "a chat with two matching threads is one chat, with its newer thread",
			chats: []livechat.Chat{unassigned("TWO", 50*time.Hour), unassigned("ONE", 60*time.Hour)},
			threads: map[string]livechat.Thread{"TWO": {ID: "TTWO-OLD", CreatedAt: time.Now().Add(-100 * time.Hour),
				Properties: livechat.Properties{"routing": {"unassigned": true, "pinned": true}}}},
			params: sweep.Params{OlderThan: 48 * time.Hour},
			want:   []string{"ONE/TONE", "TWO/TTWO"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := startFake(t)
			for _, c := range tt.chats {
				fake.AddChat(c)
			}
			for chat, th := range tt.threads {
				require.NoError(t, fake.AddThread(chat, th))
			}
			tt.params.Kind = sweep.KindLiveChatUnassigned
			chats, err := newSweeper(t, api, nil).Find(context.Background(), tt.params, nil)
			require.NoError(t, err)
			var got []string
			for _, c := range chats {
				got = append(got, c.ID+"/"+c.ThreadID)
				assert.Nil(t, c.Row.Thread.Events, "the row is kept without events")
			}
			assert.Equal(t, tt.want, got)
			for _, call := range fake.Calls() {
				assert.Equal(t, "list_archives", call.Action, "finding only lists")
			}
		})
	}
}

func TestFindPagesThroughEveryPage(t *testing.T) {
	fake, api := startFake(t)
	for i := range 250 {
		fake.AddChat(unassigned(fmt.Sprintf("C%03d", i), 49*time.Hour+time.Duration(i)*time.Minute))
	}
	var pages []sweep.ListProgress
	chats, err := newSweeper(t, api, nil).Find(context.Background(),
		sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour}, func(p sweep.ListProgress) { pages = append(pages, p) })
	require.NoError(t, err)
	assert.Len(t, chats, 250)
	assert.Equal(t, []sweep.ListProgress{{Pages: 1, Rows: 100, Chats: 100}, {Pages: 2, Rows: 200, Chats: 200}, {Pages: 3, Rows: 250, Chats: 250}}, pages)

	calls := fake.CallsTo("list_archives")
	require.Len(t, calls, 3)
	var first struct {
		Filters   map[string]any `json:"filters"`
		Limit     int            `json:"limit"`
		SortOrder string         `json:"sort_order"`
	}
	require.NoError(t, json.Unmarshal(calls[0].Body, &first))
	assert.Equal(t, 100, first.Limit)
	assert.Equal(t, "asc", first.SortOrder)
	assert.Equal(t, map[string]any{"routing": map[string]any{
		"unassigned": map[string]any{"values": []any{true}}, "pinned": map[string]any{"values": []any{true}},
	}}, first.Filters["properties"])
	assert.NotEmpty(t, first.Filters["to"])
	for _, c := range calls[1:] {
		var next map[string]any
		require.NoError(t, json.Unmarshal(c.Body, &next))
		assert.Len(t, next, 1, "later pages send only page_id")
		assert.Contains(t, next, "page_id")
	}
}

func TestFindRetriesRetryableFailures(t *testing.T) {
	tests := []struct {
		name      string
		failure   livechattest.Failure
		times     int
		wantErr   error
		wantCalls int
	}{
		{"429 twice, then the page", livechattest.TooManyRequests(0), 2, nil, 3},
		{"500 twice, then the page", livechattest.ServerError(), 2, nil, 3},
		{"500 beyond the retries", livechattest.ServerError(), 5, livechat.ErrInternal, 3},
		{"validation: at once", livechattest.Validation("bad filter"), 1, livechat.ErrValidation, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := startFake(t)
			fake.AddChat(unassigned("C1", 72*time.Hour))
			fake.FailNext("list_archives", tt.times, tt.failure)
			sw := newSweeper(t, api, nil, sweep.WithListRetries(2, 10*time.Millisecond))
			chats, err := sw.Find(context.Background(), sweep.Params{Kind: sweep.KindLiveChatUnassigned}, nil)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				assert.Len(t, chats, 1)
			}
			assert.Len(t, fake.CallsTo("list_archives"), tt.wantCalls)
		})
	}
}

func TestParamsCheck(t *testing.T) {
	tests := []struct {
		name    string
		params  sweep.Params
		wantErr string
	}{
		{"valid", sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: time.Hour, Groups: []int{0}}, ""},
		{"unknown kind", sweep.Params{Kind: "helpcrunch-open"}, `sweep: unknown kind "helpcrunch-open" (known: livechat-unassigned)`},
		{"negative age", sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: -time.Hour}, "older than must not be negative"},
		{"negative limit", sweep.Params{Kind: sweep.KindLiveChatUnassigned, Limit: -1}, "limit must not be negative"},
		{"negative group", sweep.Params{Kind: sweep.KindLiveChatUnassigned, Groups: []int{-1}}, "group ids are 0 or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Check()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestNewEvent(t *testing.T) {
	c := sweep.Chat{ID: "C1", ThreadID: "T1", GroupIDs: []int{0}, StartedAt: time.Now().Add(-72 * time.Hour),
		Row: unassigned("C1", 72*time.Hour)}
	p := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: 48 * time.Hour, Groups: []int{0}}
	ev, err := sweep.NewEvent(c, p, sweep.TriggerCommand, time.Now(), time.Now())
	require.NoError(t, err)
	assert.Equal(t, event.LiveChat, ev.Platform)
	assert.Equal(t, sweep.ActionUnassigned, ev.Action)
	assert.Equal(t, event.SourceSweep, ev.Source)
	assert.Equal(t, "C1", ev.ChatID)
	assert.Equal(t, "T1", ev.ThreadID)
	var payload sweep.Payload
	require.NoError(t, json.Unmarshal(ev.Payload, &payload))
	assert.Equal(t, "48h0m0s", payload.Sweep.OlderThan)
	assert.Equal(t, "C1", payload.Chat.ID)
	assert.Equal(t, sweep.TriggerCommand, payload.Sweep.Trigger)

	tests := []struct {
		name   string
		chat   sweep.Chat
		params sweep.Params
		same   bool
	}{
		{"another run, other parameters, later: the same id", c, sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: time.Hour}, true},
		{"another thread of the chat: another id", sweep.Chat{ID: "C1", ThreadID: "T2"}, p, false},
		{"another organization: another id", c, sweep.Params{Kind: sweep.KindLiveChatUnassigned, Tenant: "org-2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other, err := sweep.NewEvent(tt.chat, tt.params, sweep.TriggerSchedule, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
			require.NoError(t, err)
			assert.Equal(t, tt.same, other.ID == ev.ID)
		})
	}
}
