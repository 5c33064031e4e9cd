package rules_test

import (
	"slices"
	"time"

	"github.com/chatwarden/chatwarden/event"
	hcp "github.com/chatwarden/chatwarden/platform/helpcrunch"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	rcp "github.com/chatwarden/chatwarden/platform/rocketchat"
	. "github.com/chatwarden/chatwarden/rules"
)

// The engine's tests run the shipped platforms' actions, taken from their
// adapter packages (rules itself imports none of them: see
// TestRulesImportsNoPlatform).

// LiveChatAPI is the client interface LiveChat's actions need.
type LiveChatAPI = lcp.API

// DefaultActions are the actions of the three shipped platforms.
func DefaultActions() Actions {
	a, err := NewActions(slices.Concat(lcp.Actions(), hcp.Actions(), rcp.Actions())...)
	if err != nil {
		panic(err)
	}
	return a
}

// shippedHooks are the shipped platforms' engine hooks.
func shippedHooks() map[string]PlatformHooks {
	return map[string]PlatformHooks{
		event.LiveChat: lcp.Platform().Hooks(), event.HelpCrunch: hcp.Platform().Hooks(), event.RocketChat: rcp.Platform().Hooks(),
	}
}

// chatOf is what a rule sees of ev's chat without enrichment.
func chatOf(ev *event.Event, now time.Time) ChatEnv {
	if ev.Platform == event.LiveChat {
		return lcp.Chat(ev, now)
	}
	return ChatEnv{ID: ev.ChatID, ThreadID: ev.ThreadID}
}
