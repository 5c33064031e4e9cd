package bus_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// TestConcurrentPublishesStoreEachEventIntact: publishes from many
// goroutines (whose stored forms share pooled buffers once the broker has
// answered) each store exactly their own event, in both stored forms.
func TestConcurrentPublishesStoreEachEventIntact(t *testing.T) {
	b := open(t, config.NATS{DataDir: t.TempDir()})
	ctx := context.Background()
	const goroutines, each = 16, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				chat := fmt.Sprintf("C%02d-%02d", g, i)
				ev := testEvent(chat)
				if i%2 == 0 { // large: stored compressed
					ev.Payload = []byte(`{"chat_id":"` + chat + `","text":"` + strings.Repeat(chat+" ", 100) + `"}`)
				}
				_, err := b.Publish(ctx, ev)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()

	s, err := b.JS.Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	seen := map[string]bool{}
	for range goroutines * each {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		require.NoError(t, err)
		ev, err := event.Unmarshal(m.Data())
		require.NoError(t, err)
		assert.Equal(t, event.ContentID([]byte(ev.ChatID)), ev.ID, "the id belongs to the chat stored with it")
		assert.Contains(t, string(ev.Payload), `"chat_id":"`+ev.ChatID+`"`, "the payload belongs to the chat stored with it")
		if strings.Contains(string(ev.Payload), "text") {
			assert.Equal(t, strings.Repeat(ev.ChatID+" ", 100), strings.TrimSuffix(strings.SplitN(string(ev.Payload), `"text":"`, 2)[1], `"}`))
		}
		seen[ev.ChatID] = true
	}
	assert.Len(t, seen, goroutines*each)
}
