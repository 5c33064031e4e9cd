package livechat_test

import (
	"os"
	"testing"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
)

// BenchmarkParseWebhook parses a v3.2 incoming_chat, the largest webhook the
// receiver takes in bulk.
func BenchmarkParseWebhook(b *testing.B) {
	file := "testdata/webhook_v3.2_incoming_chat.json"
	if f := os.Getenv("PARSE_BENCH_BODY"); f != "" { // e.g. ../shared/bench/incoming_chat.json (2.9 KB)
		file = f
	}
	body, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := livechat.ParseWebhook(body, at); err != nil {
			b.Fatal(err)
		}
	}
}
