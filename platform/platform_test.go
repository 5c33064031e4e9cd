package platform_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

func action(name string) rules.Action {
	return rules.Define(name, "test action", true, func(context.Context, *rules.Call, rules.NoParams) error { return nil })
}

func actions(names ...string) func() []rules.Action {
	return func() []rules.Action {
		out := make([]rules.Action, 0, len(names))
		for _, n := range names {
			out = append(out, action(n))
		}
		return out
	}
}

// registeredInInit is registered in the default registry the way an
// adapter package does it, once per test binary.
const registeredInInit = "testinit"

func init() {
	platform.Register(platform.Platform{Name: registeredInInit, Actions: actions(registeredInInit + ".ping"),
		WebhookActions: []string{"opened", "closed"}})
}

func TestRegistryRegister(t *testing.T) {
	tests := []struct {
		name    string
		p       platform.Platform
		wantErr string
	}{
		{name: "actions of its own", p: platform.Platform{Name: "acme", Title: "Acme Chat", Actions: actions("acme.ping", "acme.close")}},
		{name: "no actions", p: platform.Platform{Name: "acme2"}},
		{name: "empty name", p: platform.Platform{}, wantErr: `name "": want lower case`},
		{name: "upper case name", p: platform.Platform{Name: "Acme"}, wantErr: `name "Acme"`},
		{name: "dotted name", p: platform.Platform{Name: "acme.chat"}, wantErr: `name "acme.chat"`},
		{name: "action of another platform", p: platform.Platform{Name: "acme", Actions: actions("livechat.unpin")},
			wantErr: `platform acme: action "livechat.unpin" must be named acme.<action>`},
		{name: "action named by the prefix alone", p: platform.Platform{Name: "acme", Actions: actions("acme.")},
			wantErr: `action "acme." must be named acme.<action>`},
		{name: "empty webhook action", p: platform.Platform{Name: "acme", WebhookActions: []string{"opened", ""}},
			wantErr: `platform acme: webhook action "": want a name`},
		{name: "wildcard webhook action", p: platform.Platform{Name: "acme", WebhookActions: []string{"*"}},
			wantErr: `platform acme: webhook action "*": want a name`},
		{name: "action defined twice", p: platform.Platform{Name: "acme", Actions: actions("acme.ping", "acme.ping")},
			wantErr: `platform acme: action "acme.ping" is defined twice`},
		{name: "action built without rules.Define",
			p:       platform.Platform{Name: "acme", Actions: func() []rules.Action { return []rules.Action{{Name: "acme.raw"}} }},
			wantErr: "build actions with rules.Define"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := platform.NewRegistry()
			err := r.Register(tt.p)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, r.All(), "a refused platform is not registered")
				return
			}
			require.NoError(t, err)
			got, ok := r.Lookup(tt.p.Name)
			require.True(t, ok)
			assert.Equal(t, tt.p.Name, got.Name)
		})
	}
}

func TestRegistryRefusesANameTwice(t *testing.T) {
	r := platform.NewRegistry()
	require.NoError(t, r.Register(platform.Platform{Name: "acme", Actions: actions("acme.ping")}))
	err := r.Register(platform.Platform{Name: "acme", Actions: actions("acme.other")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `platform: "acme" is registered twice`)
	p, _ := r.Lookup("acme")
	assert.Equal(t, []string{"acme.ping"}, rulesNames(p.Actions()), "the first registration stays")
}

func rulesNames(acts []rules.Action) []string {
	set, err := rules.NewActions(acts...)
	if err != nil {
		panic(err)
	}
	return set.Names()
}

func TestRegistryAllActionsAndLookup(t *testing.T) {
	r := platform.NewRegistry()
	for _, p := range []platform.Platform{
		{Name: "zeta", Actions: actions("zeta.b", "zeta.a")},
		{Name: "acme", Title: "Acme Chat", Actions: actions("acme.ping")},
		{Name: "mute"},
	} {
		require.NoError(t, r.Register(p))
	}
	var names []string
	for _, p := range r.All() {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"acme", "mute", "zeta"}, names, "sorted by name")
	assert.Equal(t, []string{"acme.ping", "zeta.a", "zeta.b"}, r.Actions().Names())

	acme, ok := r.Lookup("acme")
	require.True(t, ok)
	assert.Equal(t, "Acme Chat", acme.Title)
	mute, ok := r.Lookup("mute")
	require.True(t, ok)
	assert.Equal(t, "mute", mute.Title, "Title defaults to Name")
	_, ok = r.Lookup("nope")
	assert.False(t, ok)
}

func TestRegisterPanicsLikeDatabaseSQL(t *testing.T) {
	tests := []struct {
		name      string
		p         platform.Platform
		wantPanic string
	}{
		{name: "empty name", p: platform.Platform{}, wantPanic: `platform: name "": want lower case letters and digits, starting with a letter`},
		{name: "registered twice", p: platform.Platform{Name: registeredInInit}, wantPanic: `platform: "testinit" is registered twice`},
		{name: "webhook actions event knows", p: platform.Platform{Name: "livechat", WebhookActions: []string{"incoming_chat"}},
			wantPanic: "platform livechat: event knows its webhook actions already; leave WebhookActions nil"},
		{name: "empty webhook action", p: platform.Platform{Name: "testempty", WebhookActions: []string{""}},
			wantPanic: `platform testempty: webhook action "": want a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithError(t, tt.wantPanic, func() { platform.Register(tt.p) })
		})
	}
	p, ok := platform.Lookup(registeredInInit)
	require.True(t, ok, "registered from init")
	assert.Equal(t, []string{"testinit.ping"}, rulesNames(p.Actions()))
	assert.Contains(t, platform.Actions().Names(), "testinit.ping")
	var all []string
	for _, p := range platform.All() {
		all = append(all, p.Name)
	}
	assert.Contains(t, all, registeredInInit)
	_, ok = platform.Lookup("livechat")
	assert.False(t, ok, "a refused platform is not registered")

	// Its webhook actions reached package event: rules may name them in
	// `on`, and metrics label them.
	assert.True(t, event.KnownAction(registeredInInit, "opened"))
	assert.False(t, event.KnownAction(registeredInInit, "opend"))
	assert.Equal(t, registeredInInit, event.PlatformLabel(registeredInInit))
	assert.Equal(t, "closed", event.ActionLabel(registeredInInit, "closed"))
}
