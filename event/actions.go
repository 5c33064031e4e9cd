package event

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// webhookActions are the documented webhook actions of each platform: the
// one list the receivers, the platform packages and the metric labels
// share.
//
//   - LiveChat: the webhook actions of Agent Chat API v3.6 (and a few of
//     v3.5), https://platform.text.com/docs/management/webhooks
//   - HelpCrunch: the event names of chat, message and customer webhooks,
//     https://docs.helpcrunch.com/en/webhooks/chat-webhooks
//   - Rocket.Chat: the Omnichannel webhook types (apps/meteor/app/livechat/
//     server/hooks/sendToCRM.ts and offlineMessage.ts)
var webhookActions = map[string]map[string]bool{
	LiveChat: {
		"incoming_chat": true, "chat_deactivated": true, "chat_access_updated": true,
		"chat_transferred": true, "user_added_to_chat": true, "user_removed_from_chat": true,
		"incoming_event": true, "event_updated": true, "event_deleted": true,
		"incoming_rich_message_postback": true, "chat_properties_updated": true,
		"chat_properties_deleted": true, "thread_properties_updated": true,
		"thread_properties_deleted": true, "event_properties_updated": true,
		"event_properties_deleted": true, "thread_tagged": true, "thread_untagged": true,
		"routing_status_set": true, "customer_session_fields_updated": true,
		"incoming_customer": true, "thread_summary_set": true, "agent_created": true,
		"agent_approved": true, "agent_updated": true, "agent_suspended": true,
		"agent_unsuspended": true, "agent_deleted": true, "auto_accesses_updated": true,
		"bot_created": true, "bot_updated": true, "bot_deleted": true, "group_created": true,
		"group_updated": true, "group_deleted": true, "tag_created": true, "tag_deleted": true,
		"tag_updated": true, "agent_status_changed": true,
	},
	HelpCrunch: {
		"chat.new": true, "chat.status_updated": true, "chat.assigned": true,
		"chat.snoozed": true, "chat.unsnoozed": true, "chat.closed": true, "chat.rated": true,
		"message.chat.customer": true, "message.email.customer": true, "message.private": true,
		"message.chat.agent": true, "message.email.agent": true,
		"customer.new": true, "customer.email_updated": true, "customer.tags_changed": true,
		"customer.unsubscribed": true, "customer.subscribed": true, "customer.blocked": true,
		"customer.unblocked": true, "customer.deleted": true,
	},
	RocketChat: {
		"LivechatSessionStart": true, "LivechatSessionQueued": true, "LivechatSessionTaken": true,
		"LivechatSessionForwarded": true, "LivechatSession": true, "Message": true,
		"LivechatOfflineMessage": true, "LivechatEdit": true, "LeadCapture": true,
	},
}

// internalActions are the actions of chatwarden's own events (the backlog
// sweep's; see package sweep), on the LiveChat platform.
var internalActions = map[string]bool{"sweep_unassigned": true, "sweep_tick": true}

// builtinPlatforms are the platforms listed in webhookActions above; others
// come from RegisterWebhookActions.
var builtinPlatforms = []string{LiveChat, HelpCrunch, RocketChat}

// platformName is what a registered platform's name may be.
var platformName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// RegisterWebhookActions adds a platform beyond LiveChat, HelpCrunch and
// Rocket.Chat, with its documented webhook actions: rules may then name
// them in `on` (KnownAction), and metrics label its events with the
// platform and action instead of OtherLabel. It fails on a malformed or
// already known platform name, or an empty action. It is meant for init
// functions (package platform calls it from platform.Register): it is not
// safe to call while events are being labelled or rules checked.
func RegisterWebhookActions(platform string, actions ...string) error {
	if !platformName.MatchString(platform) {
		return fmt.Errorf("event: platform %q: want lower case letters and digits, starting with a letter", platform)
	}
	if _, known := webhookActions[platform]; known {
		return fmt.Errorf("event: the webhook actions of platform %q are known already", platform)
	}
	set := make(map[string]bool, len(actions))
	for _, a := range actions {
		if a == "" || a == "*" {
			return fmt.Errorf("event: platform %s: webhook action %q: want a name", platform, a)
		}
		set[a] = true
	}
	webhookActions[platform] = set
	return nil
}

// KnownPlatform reports whether platform is LiveChat, HelpCrunch,
// Rocket.Chat or one registered with RegisterWebhookActions.
func KnownPlatform(platform string) bool {
	_, ok := webhookActions[platform]
	return ok
}

// Platforms lists the known platforms: LiveChat, HelpCrunch and Rocket.Chat,
// then the registered ones sorted.
func Platforms() []string {
	var extra []string
	for p := range webhookActions {
		if !slices.Contains(builtinPlatforms, p) {
			extra = append(extra, p)
		}
	}
	slices.Sort(extra)
	return append(slices.Clone(builtinPlatforms), extra...)
}

// PlatformList is Platforms for messages: "livechat, helpcrunch or
// rocketchat".
func PlatformList() string {
	ps := Platforms()
	return strings.Join(ps[:len(ps)-1], ", ") + " or " + ps[len(ps)-1]
}

// WebhookActions returns the documented webhook actions of platform (nil
// for an unknown platform). The map is shared: do not modify it.
func WebhookActions(platform string) map[string]bool { return webhookActions[platform] }

// KnownWebhookAction reports whether action is a documented webhook action
// of platform.
func KnownWebhookAction(platform, action string) bool { return webhookActions[platform][action] }

// OtherLabel is the metric label value of every action or platform outside
// the known sets.
const OtherLabel = "other"

// ActionLabel is the metric label for an event's action: the action when it
// is a documented webhook action of platform or one of chatwarden's own,
// OtherLabel otherwise, so that payloads cannot grow the label set.
func ActionLabel(platform, action string) string {
	if webhookActions[platform][action] || platform == LiveChat && internalActions[action] {
		return action
	}
	return OtherLabel
}

// PlatformLabel is the metric label for a platform: one of LiveChat,
// HelpCrunch and RocketChat or a platform registered with
// RegisterWebhookActions, or OtherLabel.
func PlatformLabel(platform string) string {
	if _, ok := webhookActions[platform]; ok {
		return platform
	}
	return OtherLabel
}

// KnownAction reports whether action can reach a rule of platform: a
// documented webhook action of platform, or (on LiveChat) one of
// chatwarden's own, such as the backlog sweep's sweep_unassigned.
func KnownAction(platform, action string) bool {
	return webhookActions[platform][action] || platform == LiveChat && internalActions[action]
}

// KnownActions lists the actions KnownAction accepts for platform, sorted
// (nil for an unknown platform).
func KnownActions(platform string) []string {
	known, ok := webhookActions[platform]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(known)+len(internalActions))
	for a := range known {
		out = append(out, a)
	}
	if platform == LiveChat {
		for a := range internalActions {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
