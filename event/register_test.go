package event

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// registered is a platform added the way package platform adds one, once
// per test binary.
const registered = "evtest"

func init() {
	if err := RegisterWebhookActions(registered, "opened", "closed"); err != nil {
		panic(err)
	}
}

func TestRegisterWebhookActionsRefuses(t *testing.T) {
	tests := []struct {
		name     string
		platform string
		actions  []string
		wantErr  string
	}{
		{name: "empty name", platform: "", wantErr: `platform "": want lower case`},
		{name: "upper case", platform: "Acme", wantErr: `platform "Acme": want lower case`},
		{name: "built-in platform", platform: LiveChat, actions: []string{"x"}, wantErr: `platform "livechat" are known already`},
		{name: "registered twice", platform: registered, actions: []string{"x"}, wantErr: `platform "evtest" are known already`},
		{name: "empty action", platform: "acme", actions: []string{"opened", ""}, wantErr: `platform acme: webhook action "": want a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RegisterWebhookActions(tt.platform, tt.actions...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.platform == LiveChat || tt.platform == registered, KnownPlatform(tt.platform), "a refused platform stays as it was")
		})
	}
	assert.False(t, KnownAction(registered, "x"), "a refused registration adds nothing")
}

func TestRegisteredPlatformIsKnown(t *testing.T) {
	tests := []struct {
		name, platform, action  string
		known                   bool
		platformLabel, actLabel string
	}{
		{"registered action", registered, "opened", true, registered, "opened"},
		{"unregistered action of a registered platform", registered, "reopened", false, registered, OtherLabel},
		{"LiveChat's sweep is not the registered platform's", registered, "sweep_unassigned", false, registered, OtherLabel},
		{"built-in platform unchanged", HelpCrunch, "chat.closed", true, HelpCrunch, "chat.closed"},
		{"unknown platform", "teams", "opened", false, OtherLabel, OtherLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.known, KnownAction(tt.platform, tt.action))
			assert.Equal(t, tt.platformLabel, PlatformLabel(tt.platform))
			assert.Equal(t, tt.actLabel, ActionLabel(tt.platform, tt.action))
		})
	}
	assert.Equal(t, []string{"closed", "opened"}, KnownActions(registered))
	assert.Equal(t, []string{LiveChat, HelpCrunch, RocketChat, registered}, Platforms())
	assert.Equal(t, "livechat, helpcrunch, rocketchat or evtest", PlatformList())
}
