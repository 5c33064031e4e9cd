package main

import (
	"context"
	"strings"

	"github.com/chatwarden/chatwarden/platform/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// VIPFirst sends unassigned chats of customers from VIP domains to the VIP
// group, tags them and leaves the agents a note. It acts through c.Do, so
// every action is audited, honours dry run, and is not repeated when the
// event is redelivered.
type VIPFirst struct {
	Domains []string // customer e-mail domains that count as VIP
	Group   int      // the VIP agents' group
}

var _ rules.Rule = VIPFirst{}

// Apply implements rules.Rule.
func (v VIPFirst) Apply(ctx context.Context, c *rules.Call) error {
	if !c.Chat.Unassigned || !v.isVIP(c.Chat.Customer.Email) {
		return nil
	}
	for _, g := range c.Chat.GroupIDs {
		if g == v.Group {
			return nil // already there
		}
	}
	if err := c.Do(ctx, "livechat.tag_thread", livechat.TagParams{Tag: "vip"}); err != nil {
		return err
	}
	if err := c.Do(ctx, "livechat.transfer_chat", livechat.TransferParams{GroupID: &v.Group}); err != nil {
		return err
	}
	return c.Do(ctx, "livechat.send_event", livechat.SendEventParams{
		Text: "VIP customer (" + c.Chat.Customer.Email + "): moved to the VIP group.", Visibility: "agents",
	})
}

func (v VIPFirst) isVIP(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(email[at+1:])
	for _, d := range v.Domains {
		if domain == d {
			return true
		}
	}
	return false
}
