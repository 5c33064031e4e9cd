package livechat

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	lc "github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// Client returns the LiveChat client of c's event organization (see
// rules.ClientAs).
func Client(c *rules.Call) (API, error) { return rules.ClientAs[API](c, event.LiveChat) }

// Chat is the chat.* a rule sees of a LiveChat event without enrichment
// (rules.PlatformHooks.Chat).
func Chat(ev *event.Event, now time.Time) rules.ChatEnv {
	return ChatEnv(chatFromEvent(ev), now, false)
}

// Enrich fetches the event's chat with get_chat (rules.PlatformHooks.Enrich),
// through the organization's client; its error is classified with Errors.
func Enrich(ctx context.Context, clients rules.Clients, ev *event.Event, now time.Time) (rules.ChatEnv, error) {
	raw, err := clients.Client(event.LiveChat, ev.Tenant)
	if err != nil {
		return rules.ChatEnv{}, consumer.Permanent("no credentials", err)
	}
	api, ok := raw.(API)
	if !ok {
		return rules.ChatEnv{}, consumer.Permanent("configuration", fmt.Errorf("the LiveChat client is a %T, which does not implement livechat.API", raw))
	}
	c, err := api.GetChat(ctx, ev.ChatID, "")
	if err != nil {
		return rules.ChatEnv{}, Errors.Classify(ctx, fmt.Errorf("fetching chat %s: %w", ev.ChatID, err))
	}
	return ChatEnv(c, now, true), nil
}

// chatFromEvent builds what the webhook itself says about the chat:
// incoming_chat carries the whole chat; additional_data.chat_properties
// carries current properties; otherwise only the ids are known.
func chatFromEvent(ev *event.Event) *lc.Chat {
	c := &lc.Chat{ID: ev.ChatID}
	if ev.Platform == event.LiveChat && ev.Action == "incoming_chat" {
		var p struct {
			Chat lc.Chat `json:"chat"`
		}
		if json.Unmarshal(ev.Payload, &p) == nil && p.Chat.ID != "" {
			c = &p.Chat
		}
	}
	if len(ev.AdditionalData) > 0 {
		var ad struct {
			ChatProperties lc.Properties `json:"chat_properties"`
		}
		if json.Unmarshal(ev.AdditionalData, &ad) == nil && ad.ChatProperties != nil {
			c.Properties = ad.ChatProperties
		}
	}
	if c.Thread == nil && ev.ThreadID != "" {
		c.Thread = &lc.Thread{ID: ev.ThreadID}
	}
	return c
}

// ChatEnv describes c at time now; enriched: c was fetched from the API.
func ChatEnv(c *lc.Chat, now time.Time, enriched bool) rules.ChatEnv {
	e := rules.ChatEnv{
		ID: c.ID, Active: c.Active(), Unassigned: c.Unassigned(), Pinned: c.Pinned(),
		Properties: c.Properties, GroupIDs: c.GroupIDs(), Enriched: enriched,
	}
	for _, u := range c.Users {
		ue := rules.UserEnv{ID: u.ID, Type: u.Type, Name: u.Name, Email: u.Email, Present: u.Present}
		e.Users = append(e.Users, ue)
		switch u.Type {
		case lc.UserAgent:
			e.Agents = append(e.Agents, ue)
		case lc.UserCustomer:
			if e.Customer.ID == "" {
				e.Customer = ue
			}
		}
	}
	if t := c.Thread; t != nil {
		e.ThreadID = t.ID
		e.ThreadProperties = t.Properties
		e.Tags = t.Tags
		e.CreatedAt = t.CreatedAt
		for _, ev := range t.Events {
			if ev.Type == "message" || ev.Type == "file" || ev.Type == "rich_message" {
				if ev.CreatedAt.After(e.LastMessageAt) {
					e.LastMessageAt = ev.CreatedAt
				}
			}
			if e.CreatedAt.IsZero() || (!ev.CreatedAt.IsZero() && ev.CreatedAt.Before(e.CreatedAt)) {
				e.CreatedAt = ev.CreatedAt
			}
		}
	}
	if !e.CreatedAt.IsZero() {
		e.Age = now.Sub(e.CreatedAt)
		e.Idle = e.Age
	}
	if !e.LastMessageAt.IsZero() {
		e.Idle = now.Sub(e.LastMessageAt)
	}
	return e
}
