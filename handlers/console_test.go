package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/console"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/metrics"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

const consoleSecret = "console-s3cret"

const consoleRulesYAML = `
rules:
  - name: unpin-abandoned-unassigned
    description: Unpin chats deactivated while still pinned and unassigned.
    on: [livechat.chat_deactivated]
    if: chat.pinned
    then:
      - livechat.unpin: {}
  - name: tag-transfers
    on: [livechat.chat_transferred]
    then:
      - livechat.tag_thread: {tag: transferred}
    dry_run: true
`

// consoleActions are the two actions consoleRulesYAML names, with
// LiveChat's names and parameters: the console lists rules, it runs none
// (handlers does not depend on the platform adapters).
func consoleActions(t *testing.T) rules.Actions {
	t.Helper()
	noop := func(context.Context, *rules.Call, struct {
		Tag string `json:"tag"`
	}) error {
		return nil
	}
	acts, err := rules.NewActions(
		rules.Define("livechat.unpin", "Unpin the chat.", true, func(context.Context, *rules.Call, rules.NoParams) error { return nil }),
		rules.Define("livechat.tag_thread", "Tag the thread.", true, noop))
	require.NoError(t, err)
	return acts
}

// consoleEnv is the receiver and the console over a real embedded NATS
// server with the streams and the worker consumer provisioned (no workers
// run: what they would record is written by the test).
type consoleEnv struct {
	public *httptest.Server // the webhooks
	srv    *httptest.Server // the admin listener: the console and its API
	bus    *bus.Bus
	m      *metrics.Metrics
}

func newConsoleEnv(t *testing.T, token string) *consoleEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := config.Default().NATS
	cfg.DataDir, cfg.Listen = t.TempDir(), "off"
	b, err := bus.Open(ctx, cfg, bus.WithPartitions(4))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	require.NoError(t, bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 4, DuplicateWindow: time.Minute, Retention: time.Hour}))
	_, err = bus.ProvisionWorkerConsumers(ctx, b.JS, bus.ConsumerSettings{Partitions: 4, AckWait: 30 * time.Second, MaxAckPending: 100})
	require.NoError(t, err)

	set, err := rules.LoadBytes([]byte(consoleRulesYAML), "rules.yaml", consoleActions(t), rules.NewRegistry())
	require.NoError(t, err)
	store, err := dlq.New(b.JS)
	require.NoError(t, err)
	m := metrics.New()
	cons, err := console.New(b.JS, b.Partitions(), console.WithDeadLetters(store), console.WithGatherer(m.Registry),
		console.WithRules(func() (*rules.RuleSet, bool, error) { return set, false, nil }))
	require.NoError(t, err)
	d := Deps{
		Logger: zaptest.NewLogger(t), Metrics: m, Ready: b, Publisher: b,
		Receive: true, Receivers: receivers([]string{consoleSecret}, "", ""),
		AdminToken: token, DeadLetters: store, Console: cons,
	}
	public, admin := httptest.NewServer(New(d)), httptest.NewServer(NewAdmin(d))
	t.Cleanup(public.Close)
	t.Cleanup(admin.Close)
	return &consoleEnv{public: public, srv: admin, bus: b, m: m}
}

// post sends a LiveChat webhook through the receiver.
func (env *consoleEnv) post(t *testing.T, action, chat string) {
	t.Helper()
	body := samples.LiveChat(action, consoleSecret, chat, "T-"+chat)
	resp, err := http.Post(env.public.URL+"/webhooks/livechat", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// get calls an admin route with the token and decodes the JSON answer into v.
func (env *consoleEnv) get(t *testing.T, path string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v), "%s answered %s", path, data)
	return resp.StatusCode
}

func (env *consoleEnv) audit(t *testing.T, rec audit.Record) {
	t.Helper()
	require.NoError(t, audit.Writer{JS: env.bus.JS}.Write(context.Background(), rec))
}

func TestConsolePageIsServedWithoutTheTokenAndLocksItselfDown(t *testing.T) {
	for _, token := range []string{adminToken, ""} {
		env := newConsoleEnv(t, token)
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

		resp, err := noRedirect.Get(env.srv.URL + "/ui")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
		assert.Equal(t, "/ui/", resp.Header.Get("Location"))

		for path, wantType := range map[string]string{"/ui/": "text/html", "/ui/index.html": "text/html",
			"/ui/app.js": "javascript", "/ui/app.css": "text/css"} {
			resp, err := http.Get(env.srv.URL + path)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, path)
			assert.Contains(t, resp.Header.Get("Content-Type"), wantType, path)
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", path)
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
			assert.NotEmpty(t, body, path)
		}
		for _, path := range []string{"/ui/nothing.js", "/ui/../go.mod", "/ui/%2e%2e/routes.go"} {
			resp, err := http.Get(env.srv.URL + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
		}
	}
}

func TestConsoleAPINeedsTheToken(t *testing.T) {
	paths := []string{"/admin/api/overview", "/admin/api/events", "/admin/api/timeline?chat_id=C1", "/admin/api/rules"}
	tests := []struct {
		name, configured, auth string
		want                   int
	}{
		{"no token sent", adminToken, "", http.StatusUnauthorized},
		{"wrong token", adminToken, "Bearer nope", http.StatusUnauthorized},
		{"right token", adminToken, "Bearer " + adminToken, http.StatusOK},
		{"admin API disabled", "", "Bearer " + adminToken, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newConsoleEnv(t, tt.configured)
			srv := &httptest.Server{URL: env.srv.URL}
			for _, p := range paths {
				status, body, _ := call(t, srv, http.MethodGet, p, tt.auth)
				assert.Equal(t, tt.want, status, "%s: %v", p, body)
			}
		})
	}
}

func TestConsoleEventsJoinDecisionsAndDeadLetters(t *testing.T) {
	env := newConsoleEnv(t, adminToken)
	env.post(t, "chat_deactivated", "C1")
	env.post(t, "chat_transferred", "C2")
	env.post(t, "incoming_chat", "C3")

	var page console.Page
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/events", &page))
	require.Len(t, page.Entries, 3)
	assert.Equal(t, 3, page.Count)
	assert.False(t, page.Truncated)
	// Newest first.
	assert.Equal(t, []string{"incoming_chat", "chat_transferred", "chat_deactivated"},
		[]string{page.Entries[0].Event.Action, page.Entries[1].Event.Action, page.Entries[2].Event.Action})
	c1, c2 := *page.Entries[2].Event, *page.Entries[1].Event
	assert.Equal(t, "C1", c1.ChatID)
	assert.Equal(t, "livechat", c1.Platform)
	assert.Equal(t, "webhook", c1.Source)
	assert.NotZero(t, c1.Seq)
	assert.NotEmpty(t, c1.Payload)
	assert.NotContains(t, string(c1.Payload), consoleSecret, "secrets never reach the console")
	for _, e := range page.Entries {
		assert.Empty(t, e.Decisions)
		assert.Empty(t, e.DeadLetters)
	}

	// What a worker would record: a decision on C1, a failure and a dead
	// letter on C2, and a record of an event that is not in the list.
	env.audit(t, audit.Record{EventID: c1.ID, Platform: "livechat", Action: c1.Action, ChatID: "C1",
		Rule: "unpin-abandoned-unassigned", Operation: "livechat.unpin", Outcome: audit.Acted})
	env.audit(t, audit.Record{EventID: c2.ID, Platform: "livechat", Action: c2.Action, ChatID: "C2",
		Rule: "tag-transfers", Operation: "livechat.tag_thread", Outcome: audit.Failed, Error: "validation: no such thread", Attempt: 1})
	env.audit(t, audit.Record{EventID: "elsewhere", Platform: "livechat", Action: "chat_deactivated", ChatID: "C9",
		Rule: "unpin-abandoned-unassigned", Outcome: audit.Skipped})
	ev2, err := json.Marshal(map[string]any{"id": c2.ID, "platform": "livechat", "action": c2.Action, "chat_id": "C2", "source": "webhook", "payload": map[string]any{}})
	require.NoError(t, err)
	require.NoError(t, consumer.JetStreamDeadLetters{JS: env.bus.JS}.DeadLetter(context.Background(), &consumer.DeadLetter{
		ID: c2.ID, Platform: "livechat", Action: c2.Action, ChatID: "C2", Event: ev2, Subject: c2.Subject, StreamSeq: c2.Seq,
		Reason: consumer.ReasonPermanent, Cause: "validation", Error: "no such thread", Rule: "tag-transfers",
		Operation: "livechat.tag_thread", Attempts: 1, FailedAt: time.Now().UTC(),
	}))

	page = console.Page{}
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/events", &page))
	require.Len(t, page.Entries, 3, "records of events not listed add no entries")
	got := map[string]console.Entry{}
	for _, e := range page.Entries {
		got[e.Event.ChatID] = e
	}
	require.Len(t, got["C1"].Decisions, 1)
	assert.Equal(t, "unpin-abandoned-unassigned", got["C1"].Decisions[0].Rule)
	assert.Equal(t, audit.Acted, got["C1"].Decisions[0].Outcome)
	assert.Equal(t, "livechat.unpin", got["C1"].Decisions[0].Operation)
	require.Len(t, got["C2"].Decisions, 1)
	assert.Equal(t, "validation: no such thread", got["C2"].Decisions[0].Error)
	require.Len(t, got["C2"].DeadLetters, 1)
	assert.Equal(t, consumer.ReasonPermanent, got["C2"].DeadLetters[0].Reason)
	assert.Equal(t, "validation", got["C2"].DeadLetters[0].Cause)
	assert.NotZero(t, got["C2"].DeadLetters[0].Seq)
	assert.Empty(t, got["C3"].Decisions)

	t.Run("limit", func(t *testing.T) {
		var p console.Page
		require.Equal(t, http.StatusOK, env.get(t, "/admin/api/events?limit=1", &p))
		require.Len(t, p.Entries, 1)
		assert.Equal(t, "incoming_chat", p.Entries[0].Event.Action)
	})
	t.Run("by action", func(t *testing.T) {
		var p console.Page
		require.Equal(t, http.StatusOK, env.get(t, "/admin/api/events?platform=livechat&action=chat_transferred", &p))
		require.Len(t, p.Entries, 1)
		assert.Equal(t, "C2", p.Entries[0].Event.ChatID)
	})
	t.Run("other platform", func(t *testing.T) {
		var p console.Page
		require.Equal(t, http.StatusOK, env.get(t, "/admin/api/events?platform=helpcrunch", &p))
		assert.Empty(t, p.Entries)
		assert.NotNil(t, p.Entries, "an empty list, not null")
	})
	for _, bad := range []string{"limit=0", "limit=501", "limit=many", "since=yesterday"} {
		t.Run("bad "+bad, func(t *testing.T) {
			var e map[string]string
			assert.Equal(t, http.StatusBadRequest, env.get(t, "/admin/api/events?"+bad, &e))
			assert.NotEmpty(t, e["error"])
		})
	}
}

func TestConsoleTimeline(t *testing.T) {
	env := newConsoleEnv(t, adminToken)
	env.post(t, "incoming_chat", "PJ0MRSHTDG")
	env.post(t, "chat_deactivated", "OTHER")
	env.post(t, "chat_deactivated", "PJ0MRSHTDG")

	var tl console.Timeline
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/timeline?chat_id=PJ0MRSHTDG", &tl))
	require.Len(t, tl.Entries, 2)
	assert.Equal(t, "PJ0MRSHTDG", tl.ChatID)
	assert.Equal(t, "incoming_chat", tl.Entries[0].Event.Action, "oldest first")
	assert.Equal(t, "chat_deactivated", tl.Entries[1].Event.Action)

	deact := *tl.Entries[1].Event
	env.audit(t, audit.Record{EventID: deact.ID, Platform: "livechat", Action: deact.Action, ChatID: "PJ0MRSHTDG",
		Rule: "unpin-abandoned-unassigned", Operation: "livechat.unpin", Outcome: audit.DryRun})
	// A decision whose event is no longer stored (nats.retention is shorter
	// than the audit's 30 days).
	env.audit(t, audit.Record{Time: time.Now().Add(-48 * time.Hour).UTC(), EventID: "expired", Platform: "livechat",
		Action: "chat_deactivated", ChatID: "PJ0MRSHTDG", Rule: "unpin-abandoned-unassigned", Outcome: audit.Acted})

	tl = console.Timeline{}
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/timeline?chat_id=PJ0MRSHTDG&platform=livechat", &tl))
	require.Len(t, tl.Entries, 3)
	assert.Equal(t, "expired", tl.Entries[0].EventID)
	assert.Nil(t, tl.Entries[0].Event)
	require.Len(t, tl.Entries[0].Decisions, 1)
	assert.Equal(t, deact.ID, tl.Entries[2].EventID)
	require.Len(t, tl.Entries[2].Decisions, 1)
	assert.Equal(t, audit.DryRun, tl.Entries[2].Decisions[0].Outcome)

	var none console.Timeline
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/timeline?chat_id=NOPE", &none))
	assert.Empty(t, none.Entries)

	for _, bad := range []string{"", "chat_id=", "chat_id=C1&platform=icq", "chat_id=C1&since=later"} {
		var e map[string]string
		assert.Equal(t, http.StatusBadRequest, env.get(t, "/admin/api/timeline?"+bad, &e), bad)
		assert.NotEmpty(t, e["error"], bad)
	}
}

func TestConsoleRulesCountDecisions(t *testing.T) {
	env := newConsoleEnv(t, adminToken)
	for i, outcome := range []string{audit.Acted, audit.Acted, audit.Skipped, audit.Failed} {
		env.audit(t, audit.Record{EventID: "E" + string(rune('a'+i)), Platform: "livechat", Action: "chat_deactivated",
			ChatID: "C1", Rule: "unpin-abandoned-unassigned", Outcome: outcome, Attempt: uint64(i)})
	}
	env.audit(t, audit.Record{EventID: "Ex", Platform: "livechat", ChatID: "C1", Rule: "removed-rule", Outcome: audit.Acted})

	var set console.RuleSet
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/rules", &set))
	assert.Equal(t, "rules.yaml", set.Source)
	assert.False(t, set.DryRunAll)
	require.Len(t, set.Rules, 2)
	unpin, tag := set.Rules[0], set.Rules[1]
	assert.Equal(t, "unpin-abandoned-unassigned", unpin.Name)
	assert.Equal(t, []string{"livechat.chat_deactivated"}, unpin.On)
	assert.Equal(t, "chat.pinned", unpin.If)
	assert.Equal(t, []string{"livechat.unpin"}, unpin.Then)
	assert.False(t, unpin.DryRun)
	assert.Equal(t, map[string]int{"acted": 2, "skipped": 1, "failed": 1}, unpin.Hits)
	assert.Equal(t, 4, unpin.Total)
	assert.NotNil(t, unpin.LastHit)
	assert.True(t, tag.DryRun)
	assert.True(t, tag.RuleDryRun)
	assert.Zero(t, tag.Total)
	assert.Equal(t, map[string]int{"removed-rule": 1}, set.Other)

	// A window that starts after the records counts none of them.
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/rules?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), &set))
	assert.Zero(t, set.Rules[0].Total)

	var e map[string]string
	assert.Equal(t, http.StatusBadRequest, env.get(t, "/admin/api/rules?since=soon", &e))
}

func TestConsoleOverview(t *testing.T) {
	env := newConsoleEnv(t, adminToken)
	env.post(t, "chat_deactivated", "C1")
	env.post(t, "chat_deactivated", "C2")
	env.post(t, "chat_deactivated", "C2") // a duplicate

	var ov console.Overview
	require.Equal(t, http.StatusOK, env.get(t, "/admin/api/overview", &ov))
	streams := map[string]console.StreamStat{}
	for _, s := range ov.Streams {
		streams[s.Name] = s
	}
	assert.EqualValues(t, 2, streams[bus.EventsStream].Messages)
	assert.False(t, streams[bus.EventsStream].Missing)
	assert.Contains(t, streams, bus.AuditStream)
	assert.Contains(t, streams, bus.DeadLetterStream)
	require.Len(t, ov.Consumers, 4, "the durable consumers only, one per partition: %+v", ov.Consumers)
	pending := uint64(0)
	for i, c := range ov.Consumers {
		assert.Equal(t, bus.EventsStream, c.Stream)
		assert.Equal(t, bus.WorkerConsumerName(i), c.Name)
		assert.Equal(t, strconv.Itoa(i), c.Partition)
		pending += c.Pending
	}
	assert.EqualValues(t, 2, pending, "no worker runs here: both events wait")

	assert.EqualValues(t, 3, ov.Counters["webhooks_received_total"].Total)
	assert.EqualValues(t, 3, ov.Counters["webhooks_received_total"].By["livechat"])
	assert.EqualValues(t, 1, ov.Counters["webhooks_duplicate_total"].Total)
	assert.Contains(t, ov.Counters, "actions_total")
	for name := range ov.Counters {
		assert.False(t, strings.HasPrefix(name, "chatwarden_"), name)
	}
}
