package livechat

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/chatwarden/chatwarden/consumer"
	lc "github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// API is what LiveChat actions and enrichment need from a client.
type API interface {
	GetChat(ctx context.Context, chatID, threadID string) (*lc.Chat, error)
	UpdateChatProperties(ctx context.Context, chatID string, props lc.Properties) error
	DeleteChatProperties(ctx context.Context, chatID string, props map[string][]string) error
	DeactivateChat(ctx context.Context, chatID string, ignoreRequesterPresence bool) error
	TransferChat(ctx context.Context, req lc.TransferChatRequest) error
	TagThread(ctx context.Context, chatID, threadID, tag string) error
	UntagThread(ctx context.Context, chatID, threadID, tag string) error
	SendEvent(ctx context.Context, chatID string, ev lc.OutgoingEvent) (string, error)
	SetRoutingStatus(ctx context.Context, agentID, status string) error
}

// liveChatErr maps a LiveChat error onto the runner's retry policy with the
// livechat package's one decision function.
func liveChatErr(ctx context.Context, err error) error {
	return Errors.Classify(ctx, err)
}

// Errors is what the livechat client package says about its errors:
// permanent failures are named by LiveChat's error type (validation,
// not_found, chat_inactive, ...).
var Errors = rules.PlatformErrors{Retryable: lc.IsRetryable, RetryAfter: lc.RetryAfter,
	Status: func(err error) int {
		if ae, ok := errors.AsType[*lc.APIError](err); ok {
			return ae.StatusCode
		}
		return 0
	},
	Reason: func(err error) string {
		if ae, ok := errors.AsType[*lc.APIError](err); ok {
			return ae.Type
		}
		return ""
	}}

// withLiveChat runs f with the event organization's LiveChat client and
// classifies its error.
func withLiveChat(ctx context.Context, c *rules.Call, f func(api API, chatID string) error) error {
	api, err := Client(c)
	if err != nil {
		return consumer.Permanent("no credentials", err)
	}
	chatID := c.ChatID()
	if chatID == "" {
		return consumer.Permanent("validation", fmt.Errorf("event %s has no chat id", c.Event.ID))
	}
	return liveChatErr(ctx, f(api, chatID))
}

// threadOf returns the thread to act on: the event's, or the chat's latest
// (fetched when the event does not name one).
func threadOf(ctx context.Context, c *rules.Call, api API, chatID string) (string, error) {
	if id := c.ThreadID(); id != "" {
		return id, nil
	}
	chat, err := api.GetChat(ctx, chatID, "")
	if err != nil {
		return "", err
	}
	if chat.Thread == nil || chat.Thread.ID == "" {
		return "", consumer.Permanent("validation", fmt.Errorf("chat %s has no thread to tag", chatID))
	}
	return chat.Thread.ID, nil
}

// UpdatePropertiesParams: properties to write, {namespace: {name: value}}.
type UpdatePropertiesParams struct {
	Properties lc.Properties `json:"properties"`
}

// Validate implements rules.Validator.
func (p *UpdatePropertiesParams) Validate() error {
	if len(p.Properties) == 0 {
		return errors.New("properties: required, e.g. {routing: {pinned: false}}")
	}
	return nil
}

// DeletePropertiesParams: properties to delete, {namespace: [names]}.
type DeletePropertiesParams struct {
	Properties map[string][]string `json:"properties"`
}

// Validate implements rules.Validator.
func (p *DeletePropertiesParams) Validate() error {
	if len(p.Properties) == 0 {
		return errors.New("properties: required, e.g. {my_ns: [flag]}")
	}
	return nil
}

// DeactivateParams for livechat.deactivate_chat.
type DeactivateParams struct {
	// IgnoreRequesterPresence lets the token's account close a chat it is
	// not part of; default true.
	IgnoreRequesterPresence *bool `json:"ignore_requester_presence,omitempty"`
}

// TransferParams for livechat.transfer_chat: a group or agents.
type TransferParams struct {
	GroupID                  *int     `json:"group_id,omitempty"`
	AgentIDs                 []string `json:"agent_ids,omitempty"`
	IgnoreAgentsAvailability bool     `json:"ignore_agents_availability,omitempty"`
	IgnoreRequesterPresence  *bool    `json:"ignore_requester_presence,omitempty"`
}

// Validate implements rules.Validator.
func (p *TransferParams) Validate() error {
	if (p.GroupID == nil) == (len(p.AgentIDs) == 0) {
		return errors.New("give exactly one of group_id or agent_ids")
	}
	return nil
}

// TagParams for livechat.tag_thread and livechat.untag_thread.
type TagParams struct {
	Tag string `json:"tag"`
}

// Validate implements rules.Validator.
func (p *TagParams) Validate() error {
	if p.Tag == "" {
		return errors.New("tag: required")
	}
	return nil
}

// SendEventParams for livechat.send_event: a message (default) or system
// message; visibility "agents" makes an internal note. The event is sent in
// the Agent Chat API v3.6 shape (visibility, and system_message_type for a
// system message). The chat needs an active thread: on an inactive chat the
// API answers chat_inactive and the step fails permanently.
type SendEventParams struct {
	Type       string `json:"type,omitempty"` // message (default) or system_message
	Text       string `json:"text"`
	Visibility string `json:"visibility,omitempty"` // all (default) or agents
	// SystemMessageType is the system_message_type of a system message;
	// default DefaultSystemMessageType. Only for type system_message.
	SystemMessageType string `json:"system_message_type,omitempty"`
}

// DefaultSystemMessageType is the system_message_type of the system messages
// livechat.send_event sends when the rule names none.
const DefaultSystemMessageType = "chatwarden.note"

// Validate implements rules.Validator.
func (p *SendEventParams) Validate() error {
	if p.Text == "" {
		return errors.New("text: required")
	}
	switch p.Type {
	case "", "message", "system_message":
	default:
		return fmt.Errorf("type: want message or system_message, got %q", p.Type)
	}
	switch p.Visibility {
	case "", "all", "agents":
	default:
		return fmt.Errorf("visibility: want all or agents, got %q", p.Visibility)
	}
	if p.SystemMessageType != "" && p.Type != lc.EventSystemMessage {
		return fmt.Errorf("system_message_type: only for type system_message, got type %q", p.Type)
	}
	return nil
}

// RoutingStatusParams for livechat.set_routing_status. AgentID defaults to
// the event payload's agent_id (routing_status_set) when empty.
type RoutingStatusParams struct {
	AgentID string `json:"agent_id,omitempty"`
	Status  string `json:"status"`
}

// Validate implements rules.Validator.
func (p *RoutingStatusParams) Validate() error {
	switch p.Status {
	case lc.RoutingAcceptingChats, lc.RoutingNotAcceptingChats, lc.RoutingOffline:
		return nil
	}
	return fmt.Errorf("status: want accepting_chats, not_accepting_chats or offline, got %q", p.Status)
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// Actions are the lc.* actions.
func Actions() []rules.Action {
	return []rules.Action{
		rules.Define("livechat.unpin", "Unpin the chat: update_chat_properties {routing: {pinned: false}}, taking it out of the Unassigned list.", true,
			func(ctx context.Context, c *rules.Call, _ rules.NoParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					return api.UpdateChatProperties(ctx, chatID, lc.Properties{"routing": {"pinned": false}})
				})
			}),
		rules.Define("livechat.update_chat_properties", "Write chat properties.", true,
			func(ctx context.Context, c *rules.Call, p UpdatePropertiesParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					return api.UpdateChatProperties(ctx, chatID, p.Properties)
				})
			}),
		rules.Define("livechat.delete_chat_properties", "Delete chat properties.", true,
			func(ctx context.Context, c *rules.Call, p DeletePropertiesParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					return api.DeleteChatProperties(ctx, chatID, p.Properties)
				})
			}),
		rules.Define("livechat.deactivate_chat", "Close the chat's active thread (an already inactive chat counts as done).", true,
			func(ctx context.Context, c *rules.Call, p DeactivateParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					err := api.DeactivateChat(ctx, chatID, boolOr(p.IgnoreRequesterPresence, true))
					if errors.Is(err, lc.ErrChatInactive) {
						return nil
					}
					return err
				})
			}),
		rules.DefineChecked("livechat.transfer_chat", "Transfer the chat to a group or to agents. Not repeated on redelivery.",
			func(ctx context.Context, c *rules.Call, p TransferParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					req := lc.TransferChatRequest{ChatID: chatID, IgnoreAgentsAvailability: p.IgnoreAgentsAvailability,
						IgnoreRequesterPresence: boolOr(p.IgnoreRequesterPresence, true)}
					if p.GroupID != nil {
						req.Target = lc.ToGroups(*p.GroupID)
					} else {
						req.Target = lc.ToAgents(p.AgentIDs...)
					}
					return api.TransferChat(ctx, req)
				})
			}, transferred),
		rules.Define("livechat.tag_thread", "Tag the thread of the event (or the chat's latest thread).", true,
			func(ctx context.Context, c *rules.Call, p TagParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					thread, err := threadOf(ctx, c, api, chatID)
					if err != nil {
						return err
					}
					return api.TagThread(ctx, chatID, thread, p.Tag)
				})
			}),
		rules.Define("livechat.untag_thread", "Remove a tag from the thread of the event (or the chat's latest thread).", true,
			func(ctx context.Context, c *rules.Call, p TagParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					thread, err := threadOf(ctx, c, api, chatID)
					if err != nil {
						return err
					}
					return api.UntagThread(ctx, chatID, thread, p.Tag)
				})
			}),
		rules.Define("livechat.send_event", "Send a message or system message to the chat; visibility agents makes an internal note. Not repeated on redelivery.", false,
			func(ctx context.Context, c *rules.Call, p SendEventParams) error {
				return withLiveChat(ctx, c, func(api API, chatID string) error {
					ev := lc.OutgoingEvent{Type: p.Type, Text: p.Text, Visibility: p.Visibility, CustomID: sentEventID(c)}
					if ev.Type == "" {
						ev.Type = lc.EventMessage
					}
					if ev.Type == lc.EventSystemMessage {
						ev.SystemMessageType = cmp.Or(p.SystemMessageType, DefaultSystemMessageType)
					}
					_, err := api.SendEvent(ctx, chatID, ev)
					return err
				})
			}).WithPerformedCheck(sentEventFound),
		rules.Define("livechat.set_routing_status", "Set an agent's routing status (accepting_chats, not_accepting_chats, offline).", true,
			func(ctx context.Context, c *rules.Call, p RoutingStatusParams) error {
				api, err := Client(c)
				if err != nil {
					return consumer.Permanent("no credentials", err)
				}
				agent := p.AgentID
				if agent == "" {
					if id, ok := rules.PayloadString(c.Event.Payload, "agent_id"); ok {
						agent = id
					}
				}
				if agent == "" {
					return consumer.Permanent("validation", fmt.Errorf("no agent_id in the parameters or the event"))
				}
				return liveChatErr(ctx, api.SetRoutingStatus(ctx, agent, p.Status))
			}),
	}
}

// sentEventID is the custom_id livechat.send_event gives the event it
// sends: derived from the action's idempotency key, so a redelivery can find
// it (at most 64 characters).
func sentEventID(c *rules.Call) string {
	if c.IdempotencyKey() == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(c.IdempotencyKey()))
	return "chatwarden-" + hex.EncodeToString(sum[:12])
}

// transferred reports whether the chat already is where
// livechat.transfer_chat puts it: active and in the target group alone, or
// with one of the target agents present in it. A later attempt then does
// not transfer it again (a transfer leaves no marker of ours to look for).
func transferred(ctx context.Context, c *rules.Call, p TransferParams) (bool, error) {
	var done bool
	err := withLiveChat(ctx, c, func(api API, chatID string) error {
		chat, err := api.GetChat(ctx, chatID, "")
		if err != nil {
			return err
		}
		if chat.Thread == nil || !chat.Thread.Active {
			return nil
		}
		if p.GroupID != nil {
			groups := chat.GroupIDs()
			done = len(groups) == 1 && groups[0] == *p.GroupID
			return nil
		}
		for _, u := range chat.Users {
			if u.Type == lc.UserAgent && u.Present && slices.Contains(p.AgentIDs, u.ID) {
				done = true
			}
		}
		return nil
	})
	return done, err
}

// sentEventFound reports whether the chat's latest thread already holds the
// event livechat.send_event sends for this event, rule and step.
func sentEventFound(ctx context.Context, c *rules.Call) (bool, error) {
	api, err := Client(c)
	if err != nil {
		return false, consumer.Permanent("no credentials", err)
	}
	chat, err := api.GetChat(ctx, c.ChatID(), "")
	if err != nil {
		return false, liveChatErr(ctx, err)
	}
	want := sentEventID(c)
	if chat.Thread != nil {
		for _, e := range chat.Thread.Events {
			if e.CustomID == want {
				return true, nil
			}
		}
	}
	return false, nil
}
