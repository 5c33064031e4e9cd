package livechat

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidArgument is wrapped by methods called with a missing required
// argument (an empty chat id, ...); no request is sent. Permanent.
var ErrInvalidArgument = errors.New("livechat: invalid argument")

func required(action, target string, args ...string) error {
	for i := 0; i < len(args); i += 2 {
		if args[i+1] == "" {
			return wrapErr(action, target, fmt.Errorf("%w: empty %s", ErrInvalidArgument, args[i]))
		}
	}
	return nil
}

func chatTarget(chatID string) string { return "chat " + chatID }

// GetChat returns the chat with one thread: threadID, or the latest thread
// when threadID is "". The Thread is nil for a chat without threads.
// https://platform.text.com/docs/messaging/agent-chat-api#get-chat
func (c *Client) GetChat(ctx context.Context, chatID, threadID string) (*Chat, error) {
	const action = "get_chat"
	target := chatTarget(chatID)
	if err := required(action, target, "chat id", chatID); err != nil {
		return nil, err
	}
	in := struct {
		ChatID   string `json:"chat_id"`
		ThreadID string `json:"thread_id,omitempty"`
	}{chatID, threadID}
	var out Chat
	if err := c.call(ctx, action, target, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateChatProperties sets chat-level properties (merged into the existing
// ones by the API). To unpin a chat:
//
//	c.UpdateChatProperties(ctx, id, livechat.Properties{"routing": {"pinned": false}})
//
// https://platform.text.com/docs/messaging/agent-chat-api#update-chat-properties
func (c *Client) UpdateChatProperties(ctx context.Context, chatID string, props Properties) error {
	const action = "update_chat_properties"
	target := chatTarget(chatID)
	if err := required(action, target, "chat id", chatID); err != nil {
		return err
	}
	if len(props) == 0 {
		return wrapErr(action, target, fmt.Errorf("%w: no properties", ErrInvalidArgument))
	}
	in := struct {
		ID         string     `json:"id"`
		Properties Properties `json:"properties"`
	}{chatID, props}
	return c.call(ctx, action, target, in, nil)
}

// DeleteChatProperties deletes chat-level properties: namespace → names.
// https://platform.text.com/docs/messaging/agent-chat-api#delete-chat-properties
func (c *Client) DeleteChatProperties(ctx context.Context, chatID string, props map[string][]string) error {
	const action = "delete_chat_properties"
	target := chatTarget(chatID)
	if err := required(action, target, "chat id", chatID); err != nil {
		return err
	}
	if len(props) == 0 {
		return wrapErr(action, target, fmt.Errorf("%w: no properties", ErrInvalidArgument))
	}
	in := struct {
		ID         string              `json:"id"`
		Properties map[string][]string `json:"properties"`
	}{chatID, props}
	return c.call(ctx, action, target, in, nil)
}

// DeactivateChat closes the chat's active thread. With
// ignoreRequesterPresence the requester need not be a user of the chat
// (needed for a service token). It fails with ErrChatInactive when the chat
// has no active thread. Deactivating does not change routing.pinned.
// https://platform.text.com/docs/messaging/agent-chat-api#deactivate-chat
func (c *Client) DeactivateChat(ctx context.Context, chatID string, ignoreRequesterPresence bool) error {
	const action = "deactivate_chat"
	target := chatTarget(chatID)
	if err := required(action, target, "chat id", chatID); err != nil {
		return err
	}
	in := struct {
		ID                      string `json:"id"`
		IgnoreRequesterPresence bool   `json:"ignore_requester_presence,omitempty"`
	}{chatID, ignoreRequesterPresence}
	return c.call(ctx, action, target, in, nil)
}

// TransferChat transfers an active chat to groups or agents.
// https://platform.text.com/docs/messaging/agent-chat-api#transfer-chat
func (c *Client) TransferChat(ctx context.Context, req TransferChatRequest) error {
	const action = "transfer_chat"
	target := chatTarget(req.ChatID)
	if err := required(action, target, "chat id", req.ChatID); err != nil {
		return err
	}
	return c.call(ctx, action, target, req, nil)
}

// TagThread adds tag (case-sensitive) to a thread.
// https://platform.text.com/docs/messaging/agent-chat-api#tag-thread
func (c *Client) TagThread(ctx context.Context, chatID, threadID, tag string) error {
	return c.tag(ctx, "tag_thread", chatID, threadID, tag)
}

// UntagThread removes tag from a thread.
// https://platform.text.com/docs/messaging/agent-chat-api#untag-thread
func (c *Client) UntagThread(ctx context.Context, chatID, threadID, tag string) error {
	return c.tag(ctx, "untag_thread", chatID, threadID, tag)
}

func (c *Client) tag(ctx context.Context, action, chatID, threadID, tag string) error {
	target := chatTarget(chatID) + " thread " + threadID
	if err := required(action, target, "chat id", chatID, "thread id", threadID, "tag", tag); err != nil {
		return err
	}
	in := struct {
		ChatID   string `json:"chat_id"`
		ThreadID string `json:"thread_id"`
		Tag      string `json:"tag"`
	}{chatID, threadID, tag}
	return c.call(ctx, action, target, in, nil)
}

// SendEvent sends ev to the chat and returns the new event's id. The chat
// needs an active thread: on an inactive chat the API fails with
// ErrChatInactive (v3.6 has no attach_to_last_thread; earlier versions'
// flag is not sent). Build ev with Message or SystemMessage.
// https://platform.text.com/docs/messaging/agent-chat-api#send-event
func (c *Client) SendEvent(ctx context.Context, chatID string, ev OutgoingEvent) (string, error) {
	const action = "send_event"
	target := chatTarget(chatID)
	if err := required(action, target, "chat id", chatID, "event type", ev.Type); err != nil {
		return "", err
	}
	if ev.Type == EventSystemMessage {
		if err := required(action, target, "system message type", ev.SystemMessageType); err != nil {
			return "", err
		}
	}
	in := struct {
		ChatID string        `json:"chat_id"`
		Event  OutgoingEvent `json:"event"`
	}{chatID, ev}
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := c.call(ctx, action, target, in, &out); err != nil {
		return "", err
	}
	return out.EventID, nil
}

// SetRoutingStatus sets the routing status (RoutingAcceptingChats,
// RoutingNotAcceptingChats, or RoutingOffline for bots) of agentID, or of the
// requester when agentID is "".
// https://platform.text.com/docs/messaging/agent-chat-api#set-routing-status
func (c *Client) SetRoutingStatus(ctx context.Context, agentID, status string) error {
	const action = "set_routing_status"
	target := "agent " + agentID
	if agentID == "" {
		target = "requester"
	}
	if err := required(action, target, "status", status); err != nil {
		return err
	}
	in := struct {
		Status  string `json:"status"`
		AgentID string `json:"agent_id,omitempty"`
	}{status, agentID}
	return c.call(ctx, action, target, in, nil)
}
