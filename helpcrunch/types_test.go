package helpcrunch_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/helpcrunch"
)

func TestTimestampDecoding(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{"integer", `1603885746`, time.Unix(1603885746, 0), false},
		{"string", `"1603885746"`, time.Unix(1603885746, 0), false},
		{"fraction", `"1607542030.713"`, time.Unix(1607542030, 713e6), false},
		{"trailing zeros", `"1603864800.000"`, time.Unix(1603864800, 0), false},
		{"null", `null`, time.Time{}, false},
		{"empty string", `""`, time.Time{}, false},
		{"garbage", `"yesterday"`, time.Time{}, true},
		{"object", `{}`, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts helpcrunch.Timestamp
			err := json.Unmarshal([]byte(tt.in), &ts)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tt.want.IsZero() {
				assert.True(t, ts.IsZero())
			} else {
				assert.True(t, tt.want.Equal(ts.Time), "%v", ts.Time)
			}
		})
	}
}

func TestTimestampEncoding(t *testing.T) {
	tests := []struct {
		in   helpcrunch.Timestamp
		want string
	}{
		{helpcrunch.At(time.Unix(1603885746, 0)), `"1603885746"`},
		{helpcrunch.At(time.Unix(1607542030, 713e6)), `"1607542030.713"`},
		{helpcrunch.At(time.Unix(1607542030, 5e6+999)), `"1607542030.005"`},
		{helpcrunch.Timestamp{}, `null`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.in)
		require.NoError(t, err)
		assert.Equal(t, tt.want, string(b))
		var back helpcrunch.Timestamp
		require.NoError(t, json.Unmarshal(b, &back))
		assert.True(t, tt.in.Equal(back.Time))
	}
}

func TestChatDecodesBothDocumentedShapes(t *testing.T) {
	// The older snooze page answers integers and nulls, the newer one
	// strings; the chat-model page spells "on hold" as "onhold".
	older := `{"id":1568834,"closedBy":null,"lastCustomerMessageAt":1601477718,"status":"onhold","closedAt":null,
		"rating":null,"createdAt":1594322706,"lastMessageAt":1601477718,"snoozedUntil":"1603864800.000",
		"lastMessageText":"Hello World","lastMessageId":8793611,"lastCommunicatedAgentId":4188,"agents":[],
		"customer":{"id":6930456,"name":"Mike","email":"mike@example.com","userId":"company_4180"},
		"assignee":null,"department":null}`
	var c helpcrunch.Chat
	require.NoError(t, json.Unmarshal([]byte(older), &c))
	assert.Equal(t, int64(1568834), c.ID)
	assert.Equal(t, helpcrunch.StatusOnHold, c.Status)
	assert.True(t, c.ClosedAt.IsZero())
	assert.Equal(t, int64(1603864800), c.SnoozedUntil.Unix())
	assert.True(t, c.Unassigned())
	assert.Nil(t, c.Department)
	assert.Equal(t, "company_4180", c.Customer.UserID)

	newer := `{"id":542335,"closedBy":"string","lastCustomerMessageAt":"1603885746","status":"no_communication",
		"closedAt":"1603885746","rating":"perfect","createdAt":"1603885746","lastMessageAt":"1603885746",
		"createdWith":"string","snoozedUntil":"1603885746","lastMessageText":"string","lastMessageId":542335,
		"applicationId":542335,"lastCommunicatedAgentId":542335,
		"agents":[{"id":542335,"name":"string","email":"string","role":"string"}],
		"customer":{"id":542335,"name":"string","email":"string","userId":"string"},
		"assignee":{"id":542335,"name":"string","email":"string","role":"string"},
		"department":{"id":542335,"name":"string"}}`
	require.NoError(t, json.Unmarshal([]byte(newer), &c))
	assert.Equal(t, helpcrunch.StatusNoCommunication, c.Status)
	assert.Equal(t, int64(1603885746), c.ClosedAt.Unix())
	assert.False(t, c.Unassigned())
	assert.Equal(t, int64(542335), c.Department.ID)
}

func TestStatus(t *testing.T) {
	for _, s := range helpcrunch.Statuses() {
		assert.True(t, s.Valid(), s)
		got, err := helpcrunch.ParseStatus(string(s))
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	assert.Len(t, helpcrunch.Statuses(), 6)
	assert.False(t, helpcrunch.Status("onhold").Valid(), "valid means the documented spelling")
	_, err := helpcrunch.ParseStatus("empty")
	assert.ErrorIs(t, err, helpcrunch.ErrInvalidStatus)
	assert.ErrorIs(t, err, helpcrunch.ErrInvalidArgument)

	// Unknown values are kept when decoding, numbers too.
	var s helpcrunch.Status
	require.NoError(t, json.Unmarshal([]byte(`"empty"`), &s))
	assert.Equal(t, helpcrunch.Status("empty"), s)
	require.NoError(t, json.Unmarshal([]byte(`3`), &s))
	assert.Equal(t, helpcrunch.Status("3"), s)
	require.NoError(t, json.Unmarshal([]byte(`"On-Hold"`), &s))
	assert.Equal(t, helpcrunch.StatusOnHold, s)
}

func TestParseChatID(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"542335", 542335, false},
		{" 7 ", 7, false},
		{"0", 0, true},
		{"-3", 0, true},
		{"abc", 0, true},
		{"", 0, true},
		{"1.5", 0, true},
	}
	for _, tt := range tests {
		got, err := helpcrunch.ParseChatID(tt.in)
		if tt.wantErr {
			assert.ErrorIs(t, err, helpcrunch.ErrInvalidArgument, tt.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
}
