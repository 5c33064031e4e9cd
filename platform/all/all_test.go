package all_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatwarden/chatwarden/platform"
	_ "github.com/chatwarden/chatwarden/platform/all"
)

// Importing platform/all registers the three platforms with the actions
// rules has always offered, and each with its error classification;
// LiveChat alone enriches (get_chat) and describes its webhooks' chat.
func TestAllRegistersTheShippedPlatforms(t *testing.T) {
	var names, titles []string
	for _, p := range platform.All() {
		names, titles = append(names, p.Name), append(titles, p.Title)
		assert.NotNil(t, p.Classify, p.Name)
		assert.NotNil(t, p.NewClients, p.Name)
		assert.NotNil(t, p.NewReceiver, p.Name)
		assert.Equal(t, p.Name == "livechat", p.Enrich != nil, p.Name)
		assert.Equal(t, p.Name == "livechat", p.Chat != nil, p.Name)
	}
	assert.Equal(t, []string{"helpcrunch", "livechat", "rocketchat"}, names)
	assert.Equal(t, []string{"HelpCrunch", "LiveChat", "Rocket.Chat"}, titles)
	assert.Equal(t, []string{
		"helpcrunch.assign", "helpcrunch.set_status", "helpcrunch.snooze", "helpcrunch.unassign",
		"livechat.deactivate_chat", "livechat.delete_chat_properties", "livechat.send_event", "livechat.set_routing_status",
		"livechat.tag_thread", "livechat.transfer_chat", "livechat.unpin", "livechat.untag_thread", "livechat.update_chat_properties",
		"rocketchat.close_room", "rocketchat.forward", "rocketchat.return_to_queue", "rocketchat.tag",
	}, platform.Actions().Names())
	assert.Equal(t, "get_chat", platform.Hooks()["livechat"].EnrichCall)
}
