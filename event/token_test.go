package event

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validToken is what a token must be: one NATS subject token (no '.', '*',
// '>' or whitespace) that is also a JetStream key-value key
// ([-/_=.a-zA-Z0-9]), bounded.
var validToken = regexp.MustCompile(`^[-_=a-zA-Z0-9]{1,64}$`)

func TestToken(t *testing.T) {
	hashed := func(prefix string) string { return "^" + regexp.QuoteMeta(prefix) + "=[0-9a-f]{32}$" }
	long := strings.Repeat("A", 4100)
	tests := []struct{ name, in, want string }{
		{"plain action unchanged", "chat_deactivated", "^chat_deactivated$"},
		{"livechat chat id unchanged", "PJ0MRSHTDG", "^PJ0MRSHTDG$"},
		{"rocket.chat type unchanged", "LivechatSessionStart", "^LivechatSessionStart$"},
		{"underscore unchanged", "a_b", "^a_b$"},
		{"64 bytes unchanged", strings.Repeat("x", 64), "^x{64}$"},
		{"65 bytes hashed", strings.Repeat("x", 65), hashed(strings.Repeat("x", 31))},
		{"dot hashed", "a.b", hashed("a_b")},
		{"space hashed", "a b", hashed("a_b")},
		{"wildcards hashed", "a.b*c>d", hashed("a_b_c_d")},
		{"unicode hashed, prefix per byte", "chats ü", hashed("chats___")},
		{"empty hashed", "", hashed("")},
		{"4,100-char chat id bounded", long, hashed(strings.Repeat("A", 31))},
		{"marker itself hashed", "a=b", hashed("a_b")},
		{"control bytes hashed", "a\r\nb\x00", hashed("a__b_")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Token(tt.in)
			assert.Regexp(t, tt.want, got)
			assert.Regexp(t, validToken, got)
		})
	}
}

func TestTokenCollisions(t *testing.T) {
	tests := []struct {
		name string
		in   []string
	}{
		{"dot, underscore, space", []string{"a.b", "a_b", "a b", "a*b", "a>b", "a\tb"}},
		{"empty and underscore", []string{"", "_", "=", " "}},
		{"long ids sharing a prefix", []string{strings.Repeat("A", 4100), strings.Repeat("A", 4101), strings.Repeat("A", 65), strings.Repeat("A", 64)}},
		{"unicode sharing a prefix", []string{"ü", "ö", "__", "_"}},
		{"encoded form as input", []string{"a.b", Token("a.b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]string{}
			for _, in := range tt.in {
				tok := Token(in)
				if prev, dup := seen[tok]; dup {
					t.Errorf("Token(%q) = Token(%q) = %q", in, prev, tok)
				}
				seen[tok] = in
			}
		})
	}
}

func TestActionToken(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"livechat action unchanged", "incoming_chat", "^incoming_chat$"},
		{"helpcrunch action keeps its stored token", "chat.new", "^chat_new$"},
		{"helpcrunch message action", "message.chat.agent", "^message_chat_agent$"},
		{"legacy token as input is hashed", "chat_new", "^chat_new=[0-9a-f]{32}$"},
		{"unknown dotted action hashed", "chat.teleported", "^chat_teleported=[0-9a-f]{32}$"},
		{"5,000-char action bounded", strings.Repeat("a", 5000), "^a{31}=[0-9a-f]{32}$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ActionToken(tt.in)
			assert.Regexp(t, tt.want, got)
			assert.Regexp(t, validToken, got)
		})
	}
	t.Run("documented actions distinct", func(t *testing.T) {
		seen := map[string]string{}
		for _, actions := range webhookActions {
			for a := range actions {
				tok := ActionToken(a)
				require.NotContains(t, seen, tok, "ActionToken(%q) = ActionToken(%q)", a, seen[tok])
				seen[tok] = a
				if tok != a {
					assert.NotEqual(t, tok, ActionToken(tok), "input %q must not share the token of %q", tok, a)
				}
			}
		}
	})
}

// FuzzToken: distinct values give distinct tokens, and every token is a
// valid, bounded subject token and key-value key (Token and ActionToken).
func FuzzToken(f *testing.F) {
	for _, s := range [][2]string{{"a.b", "a_b"}, {"a b", "a_b"}, {"", "_"}, {"chat.new", "chat_new"},
		{strings.Repeat("A", 4100), strings.Repeat("A", 4099)}, {"ü", "__"}, {"x=y", "x_y"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, enc := range []func(string) string{Token, ActionToken} {
			ta, tb := enc(a), enc(b)
			if !validToken.MatchString(ta) || !validToken.MatchString(tb) {
				t.Fatalf("invalid token: %q -> %q, %q -> %q", a, ta, b, tb)
			}
			if a != b && ta == tb {
				t.Fatalf("%q and %q share the token %q", a, b, ta)
			}
			if a == b && ta != tb {
				t.Fatalf("%q gives two tokens", a)
			}
		}
	})
}

func TestLabels(t *testing.T) {
	tests := []struct{ name, platform, action, wantAction, wantPlatform string }{
		{"livechat action", LiveChat, "incoming_chat", "incoming_chat", LiveChat},
		{"helpcrunch action", HelpCrunch, "chat.new", "chat.new", HelpCrunch},
		{"rocket.chat type", RocketChat, "LivechatSession", "LivechatSession", RocketChat},
		{"sweep action", LiveChat, "sweep_unassigned", "sweep_unassigned", LiveChat},
		{"sweep action on another platform", HelpCrunch, "sweep_unassigned", OtherLabel, HelpCrunch},
		{"another platform's action", LiveChat, "chat.new", OtherLabel, LiveChat},
		{"unknown action", LiveChat, "x" + strings.Repeat("y", 5000), OtherLabel, LiveChat},
		{"empty action", RocketChat, "", OtherLabel, RocketChat},
		{"unknown platform", "teams", "incoming_chat", OtherLabel, OtherLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantAction, ActionLabel(tt.platform, tt.action))
			assert.Equal(t, tt.wantPlatform, PlatformLabel(tt.platform))
		})
	}
}
