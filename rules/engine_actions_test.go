package rules

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
)

// TestEngineRunsTheActionsItsRulesWereCompiledWith: an engine built without
// WithActions lets Go handlers' c.Do run the actions its rule set was
// compiled with (a registered platform's, in `rules test`), not only
// DefaultActions; WithActions still decides when given.
func TestEngineRunsTheActionsItsRulesWereCompiledWith(t *testing.T) {
	var pings []string
	ping := Define("acme.ping", "Record a ping.", true, func(_ context.Context, c *Call, _ NoParams) error {
		pings = append(pings, c.Rule)
		return nil
	})
	compiledWith, err := NewActions(append(LiveChatActions(), ping)...)
	require.NoError(t, err)
	reg := NewRegistry()
	require.NoError(t, reg.Register("ping", RuleFunc(func(ctx context.Context, c *Call) error {
		return c.Do(ctx, "acme.ping", nil)
	})))

	tests := []struct {
		name      string
		opts      []EngineOption
		wantPings []string
		wantErr   string
	}{
		{name: "the set's actions", wantPings: []string{"r"}},
		{name: "WithActions decides", opts: []EngineOption{WithActions(DefaultActions())}, wantErr: `unknown action "acme.ping"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pings = nil
			set, err := LoadBytes([]byte("rules:\n  - {name: r, on: [livechat.incoming_chat], handler: ping}\n"), "t", compiledWith, reg)
			require.NoError(t, err)
			e := NewEngine(set, clientsFunc(func(string) (LiveChatAPI, error) { return nil, ErrNoCredentials }), &memAudit{}, tt.opts...)
			err = e.Handle(context.Background(), &event.Event{ID: "e1", Platform: event.LiveChat, Action: "incoming_chat", ChatID: "C1", ThreadID: "T1"})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantPings, pings)
			_, ok := e.Actions()["acme.ping"]
			assert.True(t, ok)
		})
	}
}
