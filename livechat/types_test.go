package livechat_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat"
)

func TestChatState(t *testing.T) {
	tests := []struct {
		name                       string
		json                       string
		wantPinned, wantUnassigned bool
		wantActive                 bool
		wantGroups                 []int
	}{
		{
			name: "real unassigned chat",
			json: `{"id":"A","properties":{"routing":{"continuous":true,"pinned":true}},"access":{"group_ids":[0]},
				"thread":{"id":"T","active":true,"properties":{"routing":{"pinned":true,"unassigned":true}},"access":{"group_ids":[3]}}}`,
			wantPinned: true, wantUnassigned: true, wantActive: true, wantGroups: []int{3},
		},
		{
			name:       "pinned is read at chat level only",
			json:       `{"id":"A","properties":{"routing":{"pinned":false}},"thread":{"id":"T","properties":{"routing":{"pinned":true}}}}`,
			wantPinned: false,
		},
		{
			name:           "thread unassigned wins over chat",
			json:           `{"id":"A","properties":{"routing":{"unassigned":true}},"thread":{"id":"T","properties":{"routing":{"unassigned":false}}}}`,
			wantUnassigned: false,
		},
		{
			name:           "chat-level unassigned when the thread lacks it",
			json:           `{"id":"A","properties":{"routing":{"unassigned":true}},"thread":{"id":"T","active":true},"access":{"group_ids":[1]}}`,
			wantUnassigned: true, wantActive: true, wantGroups: []int{1},
		},
		{
			name:       "no thread",
			json:       `{"id":"A","properties":{"routing":{"unassigned":true,"pinned":true}}}`,
			wantPinned: true, wantUnassigned: true,
		},
		{
			name: "non-bool values are false",
			json: `{"id":"A","properties":{"routing":{"pinned":"yes"}},"thread":{"id":"T","properties":{"routing":{"unassigned":1}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c livechat.Chat
			require.NoError(t, json.Unmarshal([]byte(tt.json), &c))
			assert.Equal(t, tt.wantPinned, c.Pinned())
			assert.Equal(t, tt.wantUnassigned, c.Unassigned())
			assert.Equal(t, tt.wantActive, c.Active())
			assert.Equal(t, tt.wantGroups, c.GroupIDs())
		})
	}
}

func TestChatSummaryState(t *testing.T) {
	var s livechat.ChatSummary
	require.NoError(t, json.Unmarshal([]byte(`{"id":"A","properties":{"routing":{"pinned":true}},
		"last_thread_summary":{"id":"T","active":true,"properties":{"routing":{"unassigned":true}}}}`), &s))
	assert.True(t, s.Pinned())
	assert.True(t, s.Unassigned())
	assert.True(t, s.Active())
	assert.False(t, (&livechat.ChatSummary{}).Active())
}

func TestPropertiesAccessors(t *testing.T) {
	p := livechat.Properties{"routing": {"pinned": true, "start_url": "https://x"}}
	v, ok := p.Get("routing", "start_url")
	assert.True(t, ok)
	assert.Equal(t, "https://x", v)
	s, ok := p.String("routing", "start_url")
	assert.True(t, ok)
	assert.Equal(t, "https://x", s)
	_, ok = p.String("routing", "pinned")
	assert.False(t, ok)
	_, ok = livechat.Properties(nil).Bool("routing", "pinned")
	assert.False(t, ok)
}

func TestEventKeepsUnknownFields(t *testing.T) {
	in := `{"id":"E1","type":"rich_message","template_id":"cards","elements":[{"title":"x"}],"created_at":"2020-05-28T11:45:32.269000Z"}`
	var ev livechat.Event
	require.NoError(t, json.Unmarshal([]byte(in), &ev))
	assert.Equal(t, "E1", ev.ID)
	assert.Equal(t, "rich_message", ev.Type)
	assert.Equal(t, 2020, ev.CreatedAt.Year())
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(out))

	out, err = json.Marshal(livechat.Event{ID: "E2", Type: "message", Text: "hi"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"E2","type":"message","text":"hi"}`, string(out))
}
