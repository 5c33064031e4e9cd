package event_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/event"
)

// TestTokensAreValidForTheBroker: tokens of hostile values work as
// key-value keys and as subject tokens on a real server, each apart from
// the others, and the connection stays up.
func TestTokensAreValidForTheBroker(t *testing.T) {
	srv := bustest.Start(t)
	nc, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "TOKENS"})
	require.NoError(t, err)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TOKENS_SUBJECTS", Subjects: []string{"t.>"}})
	require.NoError(t, err)

	values := []string{"a.b", "a_b", "a b", "a*b", "a>b", "", "_", "=", "ü", "a\r\nb", "a/b", strings.Repeat("C", 4100), "PJ0MRSHTDG", "chat.new", "chat_new"}
	for _, v := range values {
		key := event.Token(v)
		_, err := kv.Put(ctx, key, []byte(v))
		require.NoError(t, err, "key of %.20q", v)
		_, err = js.Publish(ctx, "t."+event.ActionToken(v)+".x", []byte(v))
		require.NoError(t, err, "subject of %.20q", v)
	}
	for _, v := range values {
		e, err := kv.Get(ctx, event.Token(v))
		require.NoError(t, err)
		assert.Equal(t, v, string(e.Value()), "each value has a key of its own")
		m, err := stream.GetLastMsgForSubject(ctx, "t."+event.ActionToken(v)+".x")
		require.NoError(t, err)
		assert.Equal(t, v, string(m.Data), "each value has a subject of its own")
	}
	assert.Equal(t, nats.CONNECTED, nc.Status())
}
