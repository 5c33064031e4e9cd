package all_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	. "github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/samples"
)

// platformClients serves the HelpCrunch and Rocket.Chat clients of a test
// (nil: no credentials).
type platformClients struct {
	hc HelpCrunchAPI
	rc RocketChatAPI
}

func (p platformClients) Client(platform, _ string) (any, error) {
	switch platform {
	case event.HelpCrunch:
		if p.hc == nil {
			return nil, NoCredentials("HelpCrunch", "set helpcrunch.api_key")
		}
		return p.hc, nil
	case event.RocketChat:
		if p.rc == nil {
			return nil, NoCredentials("Rocket.Chat", "set rocketchat.url, rocketchat.user_id and rocketchat.auth_token")
		}
		return p.rc, nil
	}
	return nil, NoCredentials("LiveChat", "not in this test")
}

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newPlatformEngine(t *testing.T, rulesYAML string, clients Clients) (*Engine, *memAudit) {
	t.Helper()
	set, err := LoadBytes([]byte(rulesYAML), "test", DefaultActions(), NewRegistry())
	require.NoError(t, err)
	aud := &memAudit{}
	return NewEngine(set, clients, aud, WithClock(func() time.Time { return testNow }), WithScheduler(&memScheduler{}),
		WithPlatforms(shippedHooks())), aud
}

func startHelpCrunch(t *testing.T) (*helpcrunchtest.Server, *helpcrunch.Client) {
	t.Helper()
	fake := helpcrunchtest.New()
	url, stop := fake.Start()
	t.Cleanup(stop)
	c, err := helpcrunch.New("key", helpcrunch.WithBaseURL(url), helpcrunch.WithRateLimit(0))
	require.NoError(t, err)
	return fake, c
}

func startRocketChat(t *testing.T) (*rocketchattest.Server, *rocketchat.Client) {
	t.Helper()
	fake := rocketchattest.New()
	url, stop := fake.Start()
	t.Cleanup(stop)
	c, err := rocketchat.New(url, rocketchat.Auth{UserID: "bot", Token: "tok"}, rocketchat.WithMaxRateLimitWait(0))
	require.NoError(t, err)
	return fake, c
}

func helpCrunchEvent(t *testing.T, name string, chatID int64) *event.Event {
	t.Helper()
	w, err := helpcrunch.ParseWebhook(samples.HelpCrunch(name, strconv.FormatInt(chatID, 10), "ev-"+name))
	require.NoError(t, err)
	return w.Normalize(testNow)
}

func rocketChatEvent(t *testing.T, typ, room string) *event.Event {
	t.Helper()
	w, err := rocketchat.ParseWebhook(samples.RocketChat(typ, room))
	require.NoError(t, err)
	return w.Normalize(testNow)
}

func permanentReason(err error) string {
	var pe *consumer.PermanentError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

func TestHelpCrunchActions(t *testing.T) {
	const chat = int64(7700123)
	tests := []struct {
		name     string
		then     string
		wantBody string
		check    func(t *testing.T, c helpcrunch.Chat)
	}{
		{"set_status", `helpcrunch.set_status: {status: closed}`, `{"id":7700123,"status":"closed"}`,
			func(t *testing.T, c helpcrunch.Chat) { assert.Equal(t, helpcrunch.StatusClosed, c.Status) }},
		{"set_status normalises on hold", `helpcrunch.set_status: {status: onhold}`, `{"id":7700123,"status":"on hold"}`,
			func(t *testing.T, c helpcrunch.Chat) { assert.Equal(t, helpcrunch.StatusOnHold, c.Status) }},
		{"assign", `helpcrunch.assign: {agent_id: 42}`, `{"id":7700123,"assignee":42}`,
			func(t *testing.T, c helpcrunch.Chat) {
				require.NotNil(t, c.Assignee)
				assert.Equal(t, int64(42), c.Assignee.ID)
			}},
		{"unassign", `helpcrunch.unassign: {}`, `{"id":7700123,"assignee":null}`,
			func(t *testing.T, c helpcrunch.Chat) { assert.True(t, c.Unassigned()) }},
		{"snooze from when the event was received", `helpcrunch.snooze: {for: 24h}`,
			`{"id":7700123,"snoozedUntil":"` + strconv.FormatInt(testNow.Add(24*time.Hour).Unix(), 10) + `"}`,
			func(t *testing.T, c helpcrunch.Chat) { assert.True(t, c.Snoozed(testNow.Add(23*time.Hour))) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, client := startHelpCrunch(t)
			fake.AddChat(helpcrunch.Chat{ID: chat, Status: helpcrunch.StatusOpened, Assignee: &helpcrunch.Agent{ID: 9}})
			engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: [helpcrunch.chat.closed]
    if: chat.id == "7700123"
    then:
      - `+tt.then+`
`, platformClients{hc: client})
			require.NoError(t, engine.Handle(context.Background(), helpCrunchEvent(t, "chat.closed", chat)))
			require.NoError(t, engine.Handle(context.Background(), helpCrunchEvent(t, "chat.new", chat)), "another action: no rule")
			calls := fake.Calls()
			require.Len(t, calls, 1)
			assert.JSONEq(t, tt.wantBody, string(calls[0].Body))
			got, _ := fake.Chat(chat)
			tt.check(t, got)
			recs := aud.ByRule()["r"]
			require.Len(t, recs, 1)
			assert.Regexp(t, `^acted:helpcrunch\.`, recs[0])
		})
	}
}

func TestHelpCrunchActionErrors(t *testing.T) {
	tests := []struct {
		name          string
		failure       *helpcrunchtest.Failure
		noClient      bool
		event         string
		wantPermanent bool
		wantReason    string
	}{
		{"429 is retried", ptr(helpcrunchtest.TooManyRequests(3 * time.Second)), false, "chat.closed", false, ""},
		{"500 is retried", ptr(helpcrunchtest.ServerError()), false, "chat.closed", false, ""},
		{"proxy 503 is retried", ptr(helpcrunchtest.ServiceUnavailable()), false, "chat.closed", false, ""},
		{"404 is permanent", ptr(helpcrunchtest.NotFound()), false, "chat.closed", true, "not_found"},
		{"401 is permanent", ptr(helpcrunchtest.Unauthorized()), false, "chat.closed", true, "authentication"},
		{"400 is permanent", ptr(helpcrunchtest.Validation("status", "bad")), false, "chat.closed", true, "validation"},
		{"no credentials", nil, true, "chat.closed", true, "no credentials"},
		{"an event without a chat id", nil, false, "customer.new", true, "validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, client := startHelpCrunch(t)
			fake.AddChat(helpcrunch.Chat{ID: 7700123})
			if tt.failure != nil {
				fake.FailNext("", 1, *tt.failure)
			}
			clients := platformClients{hc: client}
			if tt.noClient {
				clients.hc = nil
			}
			engine, _ := newPlatformEngine(t, `
rules:
  - name: r
    on: [helpcrunch.*]
    then:
      - helpcrunch.set_status: {status: closed}
`, clients)
			err := engine.Handle(context.Background(), helpCrunchEvent(t, tt.event, 7700123))
			require.Error(t, err)
			permanent, hint := consumer.Classify(err)
			assert.Equal(t, tt.wantPermanent, permanent, "%v", err)
			if tt.wantPermanent {
				assert.Equal(t, tt.wantReason, permanentReason(err))
			}
			if tt.name == "429 is retried" {
				assert.Equal(t, 3*time.Second, hint, "Retry-After is honoured")
			}
			if tt.noClient {
				assert.ErrorIs(t, err, ErrNoCredentials)
				assert.Contains(t, err.Error(), "helpcrunch.api_key")
			}
		})
	}
}

func TestRocketChatActions(t *testing.T) {
	const room = "ROOM1"
	tests := []struct {
		name      string
		then      string
		endpoint  string
		wantBody  string
		wantCalls int
		check     func(t *testing.T, fake *rocketchattest.Server)
	}{
		{"close_room", `rocketchat.close_room: {comment: abandoned, tags: [auto]}`, rocketchat.PathCloseRoom,
			`{"rid":"ROOM1","comment":"abandoned","tags":["auto"]}`, 1, func(t *testing.T, fake *rocketchattest.Server) {
				r, _ := fake.Room(room)
				assert.False(t, r.Open)
				assert.Equal(t, "abandoned", fake.CloseComment(room))
			}},
		{"close_room with transcript", `rocketchat.close_room: {transcript_email: {email: v@example.com, subject: Your chat}}`, rocketchat.PathCloseRoom,
			`{"rid":"ROOM1","transcriptEmail":{"sendToVisitor":true,"requestData":{"email":"v@example.com","subject":"Your chat"}}}`, 1, nil},
		{"forward to a department", `rocketchat.forward: {department_id: D2, comment: night shift}`, rocketchat.PathForwardRoom,
			`{"roomId":"ROOM1","departmentId":"D2","comment":"night shift"}`, 1, func(t *testing.T, fake *rocketchattest.Server) {
				r, _ := fake.Room(room)
				assert.Equal(t, "D2", r.DepartmentID)
			}},
		{"return_to_queue", `rocketchat.return_to_queue: {}`, rocketchat.PathReturnToQueue,
			`{"roomId":"ROOM1"}`, 1, func(t *testing.T, fake *rocketchattest.Server) {
				r, _ := fake.Room(room)
				assert.True(t, r.Unassigned())
			}},
		{"tag adds to the room's tags", `rocketchat.tag: {tags: [abandoned]}`, rocketchat.PathSaveRoomInfo,
			`{"guestData":{"_id":"VIS1"},"roomData":{"_id":"ROOM1","tags":["vip","abandoned"]}}`, 1, func(t *testing.T, fake *rocketchattest.Server) {
				r, _ := fake.Room(room)
				assert.Equal(t, []string{"vip", "abandoned"}, r.Tags)
			}},
		{"tag with replace", `rocketchat.tag: {tags: [abandoned], replace: true}`, rocketchat.PathSaveRoomInfo,
			`{"guestData":{"_id":"VIS1"},"roomData":{"_id":"ROOM1","tags":["abandoned"]}}`, 1, nil},
		{"tag already there changes nothing", `rocketchat.tag: {tags: [vip]}`, rocketchat.PathSaveRoomInfo, ``, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, client := startRocketChat(t)
			fake.AddRoom(rocketchat.Room{ID: room, Open: true, Visitor: &rocketchat.Visitor{ID: "VIS1"},
				ServedBy: &rocketchat.UserRef{ID: "agent-1"}, Tags: []string{"vip"}, DepartmentID: "D1"})
			engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: [rocketchat.LivechatSessionTaken]
    if: chat.id == "ROOM1"
    then:
      - `+tt.then+`
`, platformClients{rc: client})
			require.NoError(t, engine.Handle(context.Background(), rocketChatEvent(t, "LivechatSessionTaken", room)))
			require.NoError(t, engine.Handle(context.Background(), rocketChatEvent(t, "LivechatSession", room)), "another type: no rule")
			calls := fake.CallsTo(tt.endpoint)
			require.Len(t, calls, tt.wantCalls)
			if tt.wantCalls > 0 {
				assert.JSONEq(t, tt.wantBody, string(calls[0].Body))
			}
			if tt.check != nil {
				tt.check(t, fake)
			}
			require.Len(t, aud.ByRule()["r"], 1)
		})
	}
}

func TestRocketChatActionErrors(t *testing.T) {
	tests := []struct {
		name          string
		failure       *rocketchattest.Failure
		noClient      bool
		wantPermanent bool
		wantReason    string
	}{
		{"429 is retried with the reset as hint", ptr(rocketchattest.TooManyRequests(4 * time.Second)), false, false, ""},
		{"500 is retried", ptr(rocketchattest.ServerError()), false, false, ""},
		{"proxy 503 is retried", ptr(rocketchattest.ServiceUnavailable()), false, false, ""},
		{"transient close failure is retried", ptr(rocketchattest.Error(rocketchat.TypeCannotCloseTryAgain)), false, false, ""},
		{"comment required is permanent", ptr(rocketchattest.Error(rocketchat.TypeCommentRequired)), false, true, rocketchat.TypeCommentRequired},
		{"success false is permanent", ptr(rocketchattest.SuccessFalse(rocketchat.TypeNotAuthorized)), false, true, rocketchat.TypeNotAuthorized},
		{"no credentials", nil, true, true, "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, client := startRocketChat(t)
			fake.AddRoom(rocketchat.Room{ID: "ROOM1", Open: true})
			if tt.failure != nil {
				fake.FailNext("", 1, *tt.failure)
			}
			clients := platformClients{rc: client}
			if tt.noClient {
				clients.rc = nil
			}
			engine, _ := newPlatformEngine(t, `
rules:
  - name: r
    on: rocketchat.LivechatSessionQueued
    then:
      - rocketchat.close_room: {}
`, clients)
			err := engine.Handle(context.Background(), rocketChatEvent(t, "LivechatSessionQueued", "ROOM1"))
			require.Error(t, err)
			permanent, hint := consumer.Classify(err)
			assert.Equal(t, tt.wantPermanent, permanent, "%v", err)
			if tt.wantPermanent {
				assert.Equal(t, tt.wantReason, permanentReason(err))
			}
			if tt.name == "429 is retried with the reset as hint" {
				assert.InDelta(t, (4 * time.Second).Seconds(), hint.Seconds(), 1)
			}
		})
	}
}

func TestRocketChatCloseOfAClosedRoomIsDone(t *testing.T) {
	fake, client := startRocketChat(t)
	fake.AddRoom(rocketchat.Room{ID: "ROOM1", Open: false})
	engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: rocketchat.LivechatSession
    then:
      - rocketchat.close_room: {}
`, platformClients{rc: client})
	require.NoError(t, engine.Handle(context.Background(), rocketChatEvent(t, "LivechatSession", "ROOM1")))
	assert.Equal(t, []string{"acted:rocketchat.close_room"}, aud.ByRule()["r"])
}

func TestPlatformActionParameters(t *testing.T) {
	tests := []struct {
		name    string
		step    string
		wantErr string
	}{
		{"status ok", `helpcrunch.set_status: {status: "no communication"}`, ""},
		{"status unknown", `helpcrunch.set_status: {status: archived}`, "unknown chat status"},
		{"status missing", `helpcrunch.set_status: {}`, "unknown chat status"},
		{"assign without agent", `helpcrunch.assign: {}`, "agent_id: required"},
		{"assign with a string agent", `helpcrunch.assign: {agent_id: bob}`, "agent_id"},
		{"unassign takes nothing", `helpcrunch.unassign: {agent_id: 1}`, "unknown field"},
		{"snooze without for", `helpcrunch.snooze: {}`, "for: required"},
		{"snooze in days", `helpcrunch.snooze: {for: 2d}`, "not a duration"},
		{"snooze too short", `helpcrunch.snooze: {for: 10s}`, "between 1m"},
		{"snooze ok", `helpcrunch.snooze: {for: 72h}`, ""},
		{"close ok", `rocketchat.close_room: {comment: bye, tags: [a], generate_transcript_pdf: true, force_close: true}`, ""},
		{"close with an empty tag", `rocketchat.close_room: {tags: [""]}`, "empty tag"},
		{"close with a transcript without email", `rocketchat.close_room: {transcript_email: {subject: x}}`, "transcript_email.email"},
		{"forward to both", `rocketchat.forward: {user_id: u, department_id: d}`, "exactly one"},
		{"forward to nobody", `rocketchat.forward: {}`, "exactly one"},
		{"return to queue of a department", `rocketchat.return_to_queue: {department_id: D}`, ""},
		{"tag without tags", `rocketchat.tag: {}`, "tags: required"},
		{"tag unknown key", `rocketchat.tag: {tags: [a], mode: add}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on := "helpcrunch.chat.new"
			if strings.HasPrefix(tt.step, "rocketchat.") {
				on = "rocketchat.LivechatSession"
			}
			_, err := LoadBytes([]byte("rules:\n  - name: r\n    on: ["+on+"]\n    then:\n      - "+tt.step+"\n"), "test", DefaultActions(), NewRegistry())
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), `rule "r"`)
		})
	}
}

func TestPlatformActionsIdempotentFlags(t *testing.T) {
	acts := DefaultActions()
	want := map[string]bool{
		"helpcrunch.set_status": true, "helpcrunch.assign": true, "helpcrunch.unassign": true, "helpcrunch.snooze": true,
		"rocketchat.close_room": true, "rocketchat.forward": false, "rocketchat.return_to_queue": true, "rocketchat.tag": true,
	}
	for name, idem := range want {
		act, ok := acts[name]
		require.True(t, ok, name)
		assert.Equal(t, idem, act.Idempotent, name)
	}
}

// A forward is not idempotent: a redelivered event does not forward again.
func TestRocketChatForwardIsNotRepeatedOnRedelivery(t *testing.T) {
	fake, client := startRocketChat(t)
	fake.AddRoom(rocketchat.Room{ID: "ROOM1", Open: true, ServedBy: &rocketchat.UserRef{ID: "a"}})
	engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: rocketchat.LivechatSessionTaken
    then:
      - rocketchat.forward: {department_id: D9}
`, platformClients{rc: client})
	ev := rocketChatEvent(t, "LivechatSessionTaken", "ROOM1")
	require.NoError(t, engine.Handle(context.Background(), ev))
	require.NoError(t, engine.Handle(context.Background(), ev))
	assert.Len(t, fake.CallsTo(rocketchat.PathForwardRoom), 1)
	assert.Equal(t, []string{"acted:rocketchat.forward", "skipped:rocketchat.forward"}, aud.ByRule()["r"])
}

// A snooze that would already be over (an old event replayed) does nothing.
func TestHelpCrunchSnoozeOfAnOldEventDoesNothing(t *testing.T) {
	fake, client := startHelpCrunch(t)
	fake.AddChat(helpcrunch.Chat{ID: 5})
	engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: [helpcrunch.chat.new]
    then:
      - helpcrunch.snooze: {for: 1h}
`, platformClients{hc: client})
	ev := helpCrunchEvent(t, "chat.new", 5)
	ev.ReceivedAt = testNow.Add(-2 * time.Hour)
	require.NoError(t, engine.Handle(context.Background(), ev))
	assert.Empty(t, fake.Calls())
	assert.Equal(t, []string{"acted:helpcrunch.snooze"}, aud.ByRule()["r"])
}

// Conditions of other platforms see the chat id and the payload.
func TestPlatformConditionsSeeChatIDAndPayload(t *testing.T) {
	fake, client := startHelpCrunch(t)
	fake.AddChat(helpcrunch.Chat{ID: 5})
	engine, aud := newPlatformEngine(t, `
rules:
  - name: r
    on: [helpcrunch.chat.status_updated]
    if: chat.id == "5" && event.payload.status == "closed" && event.platform == "helpcrunch" && event.action == "chat.status_updated"
    then:
      - helpcrunch.unassign: {}
`, platformClients{hc: client})
	ev := helpCrunchEvent(t, "chat.status_updated", 5)
	var p map[string]any
	require.NoError(t, json.Unmarshal(ev.Payload, &p))
	p["status"] = "closed"
	ev.Payload, _ = json.Marshal(p)
	require.NoError(t, engine.Handle(context.Background(), ev))
	assert.Equal(t, []string{"acted:helpcrunch.unassign"}, aud.ByRule()["r"])
}

// TestForwardIsFoundRatherThanRepeated: the same for rocketchat.forward,
// by the room's agent or department.
func TestForwardIsFoundRatherThanRepeated(t *testing.T) {
	const room = "ROOM1"
	tests := []struct {
		name         string
		then         string
		firstRun     bool
		meanwhile    *rocketchat.ForwardRequest
		attempt      uint64
		wantForwards int
		wantLast     string
	}{
		{"department: redelivered after a crash before the record: found, not repeated",
			`rocketchat.forward: {department_id: D2}`, true, nil, 2, 1, "skipped"},
		{"department: first delivery: forwarded without looking",
			`rocketchat.forward: {department_id: D2}`, false, nil, 1, 1, "acted"},
		{"department: redelivered but never forwarded: forwarded",
			`rocketchat.forward: {department_id: D2}`, false, nil, 2, 1, "acted"},
		{"agent: redelivered after a crash before the record: found, not repeated",
			`rocketchat.forward: {user_id: agent-2}`, true, nil, 2, 1, "skipped"},
		{"agent: forwarded to someone else meanwhile: forwarded again",
			`rocketchat.forward: {user_id: agent-2}`, true, &rocketchat.ForwardRequest{UserID: "agent-3"}, 2, 3, "acted"},
		{"agent: redelivered but never forwarded: forwarded",
			`rocketchat.forward: {user_id: agent-2}`, false, nil, 2, 1, "acted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, client := startRocketChat(t)
			fake.AddRoom(rocketchat.Room{ID: room, Open: true, Visitor: &rocketchat.Visitor{ID: "VIS1"},
				ServedBy: &rocketchat.UserRef{ID: "agent-1"}, DepartmentID: "D1"})
			set, err := LoadBytes([]byte(`
rules:
  - name: fwd
    on: [rocketchat.LivechatSessionTaken]
    then:
      - `+tt.then+`
`), "test", DefaultActions(), NewRegistry())
			require.NoError(t, err)
			aud := &memAudit{}
			engine := NewEngine(set, platformClients{rc: client}, aud, WithScheduler(&memScheduler{}), WithDoneStore(forgetfulDone{}))
			ev := rocketChatEvent(t, "LivechatSessionTaken", room)
			if tt.firstRun {
				require.NoError(t, engine.Handle(consumer.WithAttempt(context.Background(), 1), ev))
			}
			if tt.meanwhile != nil {
				req := *tt.meanwhile
				req.RoomID = room
				require.NoError(t, client.ForwardRoom(context.Background(), req))
			}
			require.NoError(t, engine.Handle(consumer.WithAttempt(context.Background(), tt.attempt), ev))
			assert.Len(t, fake.CallsTo(rocketchat.PathForwardRoom), tt.wantForwards)
			outcomes := aud.ByRule()["fwd"]
			require.NotEmpty(t, outcomes)
			assert.Equal(t, tt.wantLast+":rocketchat.forward", outcomes[len(outcomes)-1])
		})
	}
}
