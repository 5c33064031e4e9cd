package audit_test

import (
	"context"
	"fmt"
	"strings"
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

// TestChatsWithLookalikeOrLongIDsKeepSeparateTimelines: chats whose ids
// differ only in characters a subject cannot hold (a.b, a_b, "a b") each
// read back their own records only, and a 4,100-character chat id (longer
// than the server's control line) is stored and read back without
// breaking the connection.
func TestChatsWithLookalikeOrLongIDsKeepSeparateTimelines(t *testing.T) {
	srv := bustest.Start(t)
	nc, js := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, bus.ProvisionStreams(ctx, js, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))

	chats := []string{"a.b", "a_b", "a b", "a*b", "", strings.Repeat("C", 4100), strings.Repeat("C", 4101), "ü", "PJ0MRSHTDG"}
	w := audit.Writer{JS: js}
	for i, chat := range chats {
		rec := audit.Record{EventID: fmt.Sprintf("e%d", i), Platform: "livechat", ChatID: chat, Rule: "r", Outcome: audit.Acted}
		require.NoError(t, w.Write(ctx, rec), "chat %.20q", chat)
		assert.LessOrEqual(t, len(rec.Subject()), len(bus.AuditPrefix)+2+2*64, "bounded subject for chat %.20q", chat)
	}
	for i, chat := range chats {
		if chat == "" {
			continue // an empty ChatID reads every chat
		}
		recs, err := audit.Read(ctx, js, audit.Query{Platform: "livechat", ChatID: chat})
		require.NoError(t, err)
		if assert.Len(t, recs, 1, "chat %.20q", chat) {
			assert.Equal(t, fmt.Sprintf("e%d", i), recs[0].EventID)
			assert.Equal(t, chat, recs[0].ChatID)
		}
	}
	all, err := audit.Read(ctx, js, audit.Query{Platform: "livechat"})
	require.NoError(t, err)
	assert.Len(t, all, len(chats))
	assert.Equal(t, nats.CONNECTED, nc.Status())
}

// TestWriteAsync: records sent one after another without waiting are each
// stored once their wait returns nil (and a repeat of one, as after a
// redelivery, is a duplicate, read back once); a record the audit stream
// does not store (here: no stream at all) makes its wait fail, so the
// caller does not count it stored.
func TestWriteAsync(t *testing.T) {
	tests := []struct {
		name      string
		provision bool
	}{
		{"stored", true},
		{"no audit stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bustest.Start(t)
			_, js := srv.Connect(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if tt.provision {
				require.NoError(t, bus.ProvisionStreams(ctx, js, bus.StreamSettings{Partitions: 1, DuplicateWindow: time.Minute, Retention: time.Hour}))
			}
			w := audit.Writer{JS: js}
			var waits []func(context.Context) error
			for _, rule := range []string{"a", "b", "c", "a"} {
				wait, err := w.WriteAsync(audit.Record{EventID: "e1", Platform: "livechat", ChatID: "C1", Rule: rule, Outcome: audit.Acted})
				require.NoError(t, err)
				waits = append(waits, wait)
			}
			for _, wait := range waits {
				if tt.provision {
					assert.NoError(t, wait(ctx))
				} else {
					assert.Error(t, wait(ctx))
				}
			}
			if !tt.provision {
				return
			}
			recs, err := audit.Read(ctx, js, audit.Query{ChatID: "C1"})
			require.NoError(t, err)
			var rules []string
			for _, r := range recs {
				rules = append(rules, r.Rule)
			}
			assert.Equal(t, []string{"a", "b", "c"}, rules)
		})
	}
}

// TestWriteStoresAgainUnderAnIDOfItsOwnWhenTheIDIsInDoubt: the stream
// answers that a write with the record's message id is still in process (a
// write a failing stream leader never committed, which it keeps in doubt
// for its duplicate window). The record is stored once more under an id of
// its own; any other refusal is the caller's to handle.
func TestWriteStoresAgainUnderAnIDOfItsOwnWhenTheIDIsInDoubt(t *testing.T) {
	const inProcess = `{"error":{"code":409,"err_code":10158,"description":"duplicate message id is in process"}}`
	const otherError = `{"error":{"code":503,"err_code":10008,"description":"jetstream system temporarily unavailable"}}`
	cases := []struct {
		name    string
		first   string // the stream's answer to the first write
		wantErr string
		writes  int
	}{
		{name: "id in process: stored under an id of its own", first: inProcess, writes: 2},
		{name: "another refusal: returned, not written again", first: otherError, wantErr: "temporarily unavailable", writes: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := bustest.Start(t)
			nc, err := nats.Connect(srv.URL())
			require.NoError(t, err)
			defer nc.Close()
			// A stand-in for the stream: the first write gets the answer
			// of the case, a later one is stored.
			var ids []string
			var data [][]byte
			sub, err := nc.Subscribe(bus.AuditPrefix+".>", func(m *nats.Msg) {
				ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
				data = append(data, m.Data)
				answer := fmt.Sprintf(`{"stream":%q,"seq":%d}`, bus.AuditStream, len(ids))
				if len(ids) == 1 {
					answer = tc.first
				}
				_ = m.Respond([]byte(answer))
			})
			require.NoError(t, err)
			defer sub.Unsubscribe()
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			rec := audit.Record{EventID: "ev-1", Platform: "livechat", ChatID: "C1", Rule: "r", Operation: "livechat.unpin", Outcome: audit.Acted}
			err = audit.Writer{JS: js}.Write(context.Background(), rec)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, ids, tc.writes)
			if tc.writes == 2 {
				assert.True(t, strings.HasPrefix(ids[1], ids[0]+"|again-"), "the second write's id %q is the first's %q plus a suffix", ids[1], ids[0])
				assert.Equal(t, data[0], data[1], "the same record")
			}
		})
	}
}
