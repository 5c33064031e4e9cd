package rules

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
)

// TestEventPartsDecodedOncePerEvent: however many rules read the event's
// payload, its chat and the chat properties it carries, each part of the
// event's JSON is decoded once per event: the payload for expressions, the
// payload's chat, and additional_data's chat_properties (which every rule
// with enrich: properties checks, and the chat uses). Three rules here
// would decode additional_data three times if each looked for itself.
func TestEventPartsDecodedOncePerEvent(t *testing.T) {
	const rulesYAML = `
rules:
  - name: a
    on: [livechat.incoming_chat]
    enrich: properties
    if: chat.id != ""
    then: [{livechat.tag_thread: {tag: a}}]
  - name: b
    on: [livechat.incoming_chat]
    enrich: properties
    if: event.payload.chat.id != "" && chat.active
    then: [{livechat.tag_thread: {tag: b}}]
  - name: c
    on: [livechat.incoming_chat]
    enrich: properties
    if: chat.properties.routing.pinned == true
    then: [{livechat.tag_thread: {tag: c}}]
`
	h := newHarness(t, []byte(rulesYAML))
	h.fake.AddChat(unassignedChat("C1"))
	ev := h.webhook(t, "incoming_chat", "C1", nil)
	ev.AdditionalData = []byte(`{"chat_properties": {"routing": {"pinned": true}}}`)

	before := jsonDecodes.Load()
	require.NoError(t, h.engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
	assert.Equal(t, int64(3), jsonDecodes.Load()-before, "decodes of the payload (as a map, as the chat) and of additional_data")
	assert.Empty(t, h.fake.CallsTo("get_chat"), "the properties the webhook carries spare the fetch")
	assert.Len(t, h.fake.CallsTo("tag_thread"), 3, "every rule saw the properties")
}
