package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
)

// TestWriteGivesUpWhenNoAcknowledgementComes: a record whose acknowledgement
// never comes (it was in flight when the stream leader died) fails after a
// few seconds, not when the caller's context ends, so the caller can retry.
func TestWriteGivesUpWhenNoAcknowledgementComes(t *testing.T) {
	srv := bustest.Start(t)
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	// A plain subscriber takes the record and never answers, as a stream
	// leader that dies with the record in flight.
	sub, err := nc.SubscribeSync(bus.AuditPrefix + ".>")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err = audit.Writer{JS: js}.Write(ctx, audit.Record{EventID: "e1", Platform: "livechat", ChatID: "C1", Rule: "r", Outcome: audit.Acted})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 15*time.Second, "gave up long before the caller's minute")
	assert.NoError(t, ctx.Err())
}
