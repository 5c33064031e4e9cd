package rules_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatwarden/chatwarden/livechat"
	. "github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

// benchRules builds n rules on incoming_chat with realistic conditions.
func benchRules(n int) string {
	conds := []string{
		`chat.unassigned && chat.pinned`,
		`chat.age > duration("48h") && chat.unassigned`,
		`"sales" in chat.tags || (chat.thread_properties.routing?.start_url ?? "") contains "/pricing"`,
		`chat.customer.email endsWith "@example.com" && len(chat.agents) == 0`,
		`0 in chat.group_ids && chat.idle > duration("30m")`,
		`chat.properties.routing?.continuous == true && !chat.enriched`,
		`event.source == "webhook" && event.age < duration("1h") && chat.active`,
		`any(chat.users, .type == "customer" && .present)`,
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    on: [livechat.incoming_chat]\n    if: '%s'\n    then: [{livechat.tag_thread: {tag: t%d}}]\n",
			i, strings.ReplaceAll(conds[i%len(conds)], "'", "''"), i)
	}
	return b.String()
}

// BenchmarkConditions evaluates 50 rule conditions against one realistic
// incoming_chat event per iteration (the env is built once per event, as the
// engine does). Report: conditions/s.
//
//	go test ./rules -run '^$' -bench Conditions -benchtime 2s -cpu 1
func BenchmarkConditions(b *testing.B) {
	set, err := LoadBytes([]byte(benchRules(50)), "bench", DefaultActions(), NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	body := samples.LiveChat("incoming_chat", "s", "PJ0MRSHTDG", "K600PKZON8")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ev, _, err := livechat.ParseWebhook(body, now)
	if err != nil {
		b.Fatal(err)
	}
	chat := chatOf(ev, now)
	env := &Env{Event: NewEventEnv(ev, now, false), Chat: chat, Now: func() time.Time { return now }}
	matched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range set.CompiledRules() {
			ok, err := r.Eval(env)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				matched++
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(set.CompiledRules()))/b.Elapsed().Seconds(), "conditions/s")
	if matched == 0 {
		b.Fatal("no condition matched: the benchmark measures nothing realistic")
	}
}

// BenchmarkEventSetup measures what the engine does once per event before
// evaluating conditions: decoding the chat from the webhook and building the
// environment.
func BenchmarkEventSetup(b *testing.B) {
	body := samples.LiveChat("incoming_chat", "s", "PJ0MRSHTDG", "K600PKZON8")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ev, _, _ := livechat.ParseWebhook(body, now)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = &Env{Event: NewEventEnv(ev, now, false), Chat: chatOf(ev, now)}
	}
}
