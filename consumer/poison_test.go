package consumer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
)

// TestPoisonEventNeverStopsTheWorker: an event that reached the stream by
// another path than the receiver (replay, an older version, a forged
// publish), with ids far longer than any subject may be, fails permanently.
// Whatever the broker accepts of its dead letter (in full, reduced, or
// nothing at all), the event is settled, the chat's later event and other
// chats' events are processed, and the connection stays up.
func TestPoisonEventNeverStopsTheWorker(t *testing.T) {
	longChat, longAction := strings.Repeat("C", 4100), strings.Repeat("a", 5000)
	tests := []struct {
		name string
		// dlqMaxMsgSize limits the dead-letter stream's messages (0: none).
		dlqMaxMsgSize int32
		payload       string
		// want checks the dead letters stored.
		want func(t *testing.T, dls []consumer.DeadLetter)
	}{
		{
			name: "4,100-char chat id and 5,000-char action: dead-lettered in full", payload: `{}`,
			want: func(t *testing.T, dls []consumer.DeadLetter) {
				require.Len(t, dls, 1)
				assert.Equal(t, longChat, dls[0].ChatID)
				assert.Equal(t, longAction, dls[0].Action)
				assert.Empty(t, dls[0].Reduced)
				ev, err := event.Unmarshal(dls[0].Event)
				require.NoError(t, err)
				assert.Equal(t, longChat, ev.ChatID)
			},
		},
		{
			name: "dead letter too large for the stream: a reduced one is stored", dlqMaxMsgSize: 4096,
			payload: `{"blob":"` + strings.Repeat("x", 16<<10) + `"}`,
			want: func(t *testing.T, dls []consumer.DeadLetter) {
				require.Len(t, dls, 1)
				dl := dls[0]
				assert.Contains(t, dl.Reduced, "full dead letter was refused")
				assert.Equal(t, "null", string(dl.Event))
				assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
				assert.NotZero(t, dl.StreamSeq)
				assert.Less(t, len(dl.ChatID), 300)
				assert.True(t, strings.HasPrefix(longChat, dl.ChatID))
			},
		},
		{
			// A large webhook is stored compressed; its dead letter holds it
			// decompressed, beyond the server's max payload (8 MiB here).
			name:    "compressed event whose dead letter exceeds the max payload: a reduced one is stored",
			payload: `{"blob":"` + strings.Repeat("x", 9<<20) + `"}`,
			want: func(t *testing.T, dls []consumer.DeadLetter) {
				require.Len(t, dls, 1)
				assert.Contains(t, dls[0].Reduced, "maximum payload exceeded")
				assert.Equal(t, "null", string(dls[0].Event))
			},
		},
		{
			name: "even the reduced dead letter refused: terminated", dlqMaxMsgSize: 64, payload: `{}`,
			want: func(t *testing.T, dls []consumer.DeadLetter) { assert.Empty(t, dls) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := onePartitionBus(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if tt.dlqMaxMsgSize > 0 {
				s, err := b.JS.Stream(ctx, bus.DeadLetterStream)
				require.NoError(t, err)
				cfg := s.CachedInfo().Config
				cfg.MaxMsgSize = tt.dlqMaxMsgSize
				_, err = b.JS.UpdateStream(ctx, cfg)
				require.NoError(t, err)
			}
			cons, err := bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 1, AckWait: 2 * time.Second,
				MaxAckPending: 100, PinnedTTL: 2 * time.Second})
			require.NoError(t, err)
			var mu sync.Mutex
			var done []string
			h := consumer.HandlerFunc(func(_ context.Context, ev *event.Event) error {
				if ev.ThreadID == "poison" {
					return consumer.Permanent("validation", errors.New("this event cannot be processed"))
				}
				mu.Lock()
				done = append(done, ev.ChatID[:min(len(ev.ChatID), 8)]+"/"+ev.ThreadID)
				mu.Unlock()
				return nil
			})
			runPinned(t, b, cons[0], h, 2*time.Second, consumer.WithLogger(zaptest.NewLogger(t)), consumer.WithMaxAttempts(3),
				consumer.WithBackoff(consumer.Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}))

			// Stored straight into the stream, as an older version or a
			// replay would have: no receiver bounds apply.
			poison := &event.Event{ID: "poison-1", Platform: event.LiveChat, Action: longAction, ChatID: longChat, ThreadID: "poison",
				Source: event.SourceWebhook, ReceivedAt: time.Now(), Payload: []byte(tt.payload)}
			data, err := poison.Encode()
			require.NoError(t, err)
			_, err = b.JS.Publish(ctx, event.SubjectPrefix+".livechat.poison.0", data)
			require.NoError(t, err)
			for _, ev := range []*event.Event{
				{ID: "later-same-chat", ChatID: longChat, ThreadID: "after"},
				{ID: "other-chat", ChatID: "B", ThreadID: "b1"},
			} {
				ev.Platform, ev.Action, ev.Source, ev.ReceivedAt, ev.Payload = event.LiveChat, "incoming_event", event.SourceWebhook, time.Now(), []byte(`{}`)
				_, err := b.Publish(ctx, ev)
				require.NoError(t, err)
			}

			require.EventuallyWithT(t, func(c *assert.CollectT) {
				mu.Lock()
				defer mu.Unlock()
				// At least once: a delivery may come twice when the machine
				// is slow enough for the pin or the ack wait to lapse.
				assert.Equal(c, []string{"B/b1", "CCCCCCCC/after"}, slices.Compact(slices.Sorted(slices.Values(done))))
				info, err := cons[0].Info(ctx)
				if assert.NoError(c, err) {
					assert.Zero(c, info.NumAckPending, "every event settled, the poison one included")
					assert.Zero(c, info.NumPending)
				}
			}, 30*time.Second, 50*time.Millisecond)
			assert.Equal(t, nats.CONNECTED, b.Conn.Status(), "the connection stays up")
			dls, err := consumer.ReadDeadLetters(ctx, b.JS)
			require.NoError(t, err)
			tt.want(t, dls)
			_, err = b.JS.Stream(ctx, bus.EventsStream)
			require.NoError(t, err, "the broker still answers")
		})
	}
}
