package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const (
	hcKey   = "hc-signing-key"
	rcToken = "rc-webhook-token"
)

// platformRules act on HelpCrunch and Rocket.Chat events.
const platformRules = `
rules:
  - name: assign-new-helpcrunch-chats
    on: [helpcrunch.chat.new]
    if: chat.id != "" && event.payload.status == "new"
    then:
      - helpcrunch.assign: {agent_id: 42}
  - name: close-queued-rocketchat-rooms
    on: [rocketchat.LivechatSessionQueued]
    if: chat.id != ""
    then:
      - rocketchat.close_room: {comment: "closed by chatwarden", tags: [auto-closed]}
`

// platformService starts serve with both fakes configured.
func platformService(t *testing.T, hcFake *helpcrunchtest.Server, rcFake *rocketchattest.Server, edit func(*config.Config)) *service.Service {
	t.Helper()
	_, lcURL := startFake(t)
	cfg := testConfig(t, lcURL, "")
	cfg.RulesFile = writeRules(t, platformRules)
	if hcFake != nil {
		url, stop := hcFake.Start()
		t.Cleanup(stop)
		cfg.HelpCrunch = config.HelpCrunch{APIURL: url, APIKey: "hc-api-key", SigningKey: hcKey}
	}
	if rcFake != nil {
		url, stop := rcFake.Start()
		t.Cleanup(stop)
		cfg.RocketChat = config.RocketChat{URL: url, UserID: "bot-id", AuthToken: "rc-auth", WebhookToken: rcToken}
	}
	if edit != nil {
		edit(cfg)
	}
	return start(t, cfg, both)
}

func postTo(t *testing.T, svc *service.Service, path string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+svc.Addr()+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func postHelpCrunch(t *testing.T, svc *service.Service, body []byte, signature string) int {
	t.Helper()
	h := map[string]string{}
	if signature != "" {
		h[helpcrunch.SignatureHeader] = signature
	}
	status, b := postTo(t, svc, "/webhooks/helpcrunch", body, h)
	if status == http.StatusOK {
		assert.Empty(t, b)
	}
	return status
}

func postRocketChat(t *testing.T, svc *service.Service, body []byte, token string) int {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h[rocketchat.TokenHeader] = token
	}
	status, b := postTo(t, svc, "/webhooks/rocketchat", body, h)
	if status == http.StatusOK {
		assert.Empty(t, b, "Rocket.Chat saves the answer's body on the room: it must be empty")
	}
	return status
}

// okCalls counts the calls of endpoint answered 200.
func okCalls[C any](calls []C, status func(C) int) int {
	n := 0
	for _, c := range calls {
		if status(c) == http.StatusOK {
			n++
		}
	}
	return n
}

func hcStatus(c helpcrunchtest.Call) int { return c.Status }
func rcStatus(c rocketchattest.Call) int { return c.Status }

func storedEvents(t *testing.T, svc *service.Service, platform string) int {
	t.Helper()
	n := 0
	for _, r := range auditAll(t, svc) {
		if r.Platform == platform && r.Outcome == audit.Acted {
			n++
		}
	}
	return n
}

func auditAll(t *testing.T, svc *service.Service) []audit.Record {
	t.Helper()
	recs, err := audit.Read(t.Context(), svc.Bus().JS, audit.Query{})
	require.NoError(t, err)
	return recs
}

func TestHelpCrunchEndToEnd(t *testing.T) {
	hc := helpcrunchtest.New(helpcrunchtest.WithAPIKey("hc-api-key"))
	hc.AddChat(helpcrunch.Chat{ID: 7001, Status: helpcrunch.StatusNew})
	svc := platformService(t, hc, nil, nil)

	body, sig := samples.HelpCrunchSigned("chat.new", hcKey, "7001", "evt-1")
	// The same delivery retried: HelpCrunch bumps attempts and re-signs.
	var env map[string]any
	require.NoError(t, json.Unmarshal(body, &env))
	env["attempts"], env["lastAttemptAt"] = 2, 1765450999
	retried, err := json.Marshal(env)
	require.NoError(t, err)
	notJSON := []byte(`{"event": "chat.new", "eventData": `)
	noEvent := []byte(`{"eventData": {"id": 7001}, "id": "evt-x"}`)

	tests := []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"signed delivery", body, sig, http.StatusOK},
		{"the same delivery retried", retried, helpcrunch.Sign(retried, hcKey), http.StatusOK},
		{"wrong signature", body, helpcrunch.Sign(body, "other-key"), http.StatusUnauthorized},
		{"no signature", body, "", http.StatusUnauthorized},
		{"signature of other bytes", retried, sig, http.StatusUnauthorized},
		{"signed, not JSON", notJSON, helpcrunch.Sign(notJSON, hcKey), http.StatusBadRequest},
		{"signed, no event name", noEvent, helpcrunch.Sign(noEvent, hcKey), http.StatusBadRequest},
		{"another event no rule uses", samples.HelpCrunch("chat.rated", "7001", "evt-2"),
			helpcrunch.Sign(samples.HelpCrunch("chat.rated", "7001", "evt-2"), hcKey), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, postHelpCrunch(t, svc, tt.body, tt.sig))
		})
	}

	require.Eventually(t, func() bool { return len(hc.CallsTo(helpcrunchtest.EndpointAssignee)) == 1 }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	calls := hc.CallsTo(helpcrunchtest.EndpointAssignee)
	require.Len(t, calls, 1, "one assignment despite the retried delivery")
	assert.JSONEq(t, `{"id":7001,"assignee":42}`, string(calls[0].Body))
	assert.Equal(t, "Bearer hc-api-key", calls[0].Header.Get("Authorization"))
	c, _ := hc.Chat(7001)
	require.NotNil(t, c.Assignee)
	assert.Equal(t, int64(42), c.Assignee.ID)
	assert.Len(t, hc.Calls(), 1, "nothing else was called")

	st, err := svc.Bus().JS.Stream(t.Context(), "CHATWARDEN_EVENTS")
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs, "chat.new once, chat.rated once")
	assert.Equal(t, 1, storedEvents(t, svc, event.HelpCrunch))
	assert.Empty(t, deadLetters(t, svc.Bus().JS))
}

func TestHelpCrunchRetryableFailuresThenSuccess(t *testing.T) {
	tests := []struct {
		name    string
		failure helpcrunchtest.Failure
		times   int
	}{
		{"429 with Retry-After", helpcrunchtest.TooManyRequests(time.Second), 1},
		{"429 without a hint", helpcrunchtest.TooManyRequests(0), 2},
		{"500", helpcrunchtest.ServerError(), 2},
		{"503 page of a proxy", helpcrunchtest.ServiceUnavailable(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := helpcrunchtest.New()
			hc.AddChat(helpcrunch.Chat{ID: 7001, Status: helpcrunch.StatusNew})
			hc.FailNext(helpcrunchtest.EndpointAssignee, tt.times, tt.failure)
			svc := platformService(t, hc, nil, nil)
			body, sig := samples.HelpCrunchSigned("chat.new", hcKey, "7001", "evt-1")
			require.Equal(t, http.StatusOK, postHelpCrunch(t, svc, body, sig))

			require.Eventually(t, func() bool {
				return okCalls(hc.CallsTo(helpcrunchtest.EndpointAssignee), hcStatus) == 1
			}, 30*time.Second, 20*time.Millisecond)
			waitIdle(t, svc.Bus().JS)
			calls := hc.CallsTo(helpcrunchtest.EndpointAssignee)
			assert.Len(t, calls, tt.times+1)
			assert.Equal(t, 1, okCalls(calls, hcStatus))
			assert.GreaterOrEqual(t, testutil.ToFloat64(svc.Metrics().Retries.WithLabelValues(event.HelpCrunch)), float64(tt.times))
			assert.Empty(t, deadLetters(t, svc.Bus().JS))
			if tt.failure.RetryAfter > 0 {
				assert.GreaterOrEqual(t, calls[1].Time.Sub(calls[0].Time), tt.failure.RetryAfter, "Retry-After is honoured")
			}
		})
	}
}

func TestPlatformPermanentFailuresDeadLetter(t *testing.T) {
	tests := []struct {
		name      string
		hcFailure *helpcrunchtest.Failure
		rcFailure *rocketchattest.Failure
		noCreds   bool
		platform  string
		wantCause string
		wantError string
	}{
		{name: "helpcrunch chat not found", hcFailure: &[]helpcrunchtest.Failure{helpcrunchtest.NotFound()}[0],
			platform: event.HelpCrunch, wantCause: "not_found", wantError: "chat_not_found"},
		{name: "helpcrunch key revoked", hcFailure: &[]helpcrunchtest.Failure{helpcrunchtest.Unauthorized()}[0],
			platform: event.HelpCrunch, wantCause: "authentication", wantError: "invalid_token"},
		{name: "helpcrunch without an api key", noCreds: true,
			platform: event.HelpCrunch, wantCause: "no credentials", wantError: "helpcrunch.api_key"},
		{name: "rocketchat comment required", rcFailure: &[]rocketchattest.Failure{rocketchattest.Error(rocketchat.TypeCommentRequired)}[0],
			platform: event.RocketChat, wantCause: rocketchat.TypeCommentRequired, wantError: "comment"},
		{name: "rocketchat without credentials", noCreds: true,
			platform: event.RocketChat, wantCause: "no credentials", wantError: "rocketchat.auth_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := helpcrunchtest.New()
			hc.AddChat(helpcrunch.Chat{ID: 7001, Status: helpcrunch.StatusNew})
			rc := rocketchattest.New()
			rc.AddRoom(rocketchat.Room{ID: "ROOM1", Open: true, Visitor: &rocketchat.Visitor{ID: "V1"}})
			if tt.hcFailure != nil {
				hc.FailNext("", 1, *tt.hcFailure)
			}
			if tt.rcFailure != nil {
				rc.FailNext("", 1, *tt.rcFailure)
			}
			svc := platformService(t, hc, rc, func(c *config.Config) {
				if tt.noCreds && tt.platform == event.HelpCrunch {
					c.HelpCrunch.APIKey = ""
				}
				if tt.noCreds && tt.platform == event.RocketChat {
					c.RocketChat.UserID, c.RocketChat.AuthToken = "", ""
				}
			})
			if tt.platform == event.HelpCrunch {
				body, sig := samples.HelpCrunchSigned("chat.new", hcKey, "7001", "evt-1")
				require.Equal(t, http.StatusOK, postHelpCrunch(t, svc, body, sig))
			} else {
				require.Equal(t, http.StatusOK, postRocketChat(t, svc, samples.RocketChat("LivechatSessionQueued", "ROOM1"), rcToken))
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, deadLetters(c, svc.Bus().JS), 1) }, 20*time.Second, 20*time.Millisecond)
			dl := deadLetters(t, svc.Bus().JS)[0]
			assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
			assert.Equal(t, tt.wantCause, dl.Cause)
			assert.Contains(t, dl.Error, tt.wantError)
			assert.Equal(t, uint64(1), dl.Attempts, "no retry")
			assert.Equal(t, tt.platform, dl.Platform)
		})
	}
}

func TestRocketChatEndToEnd(t *testing.T) {
	rc := rocketchattest.New(rocketchattest.WithAuth("bot-id", "rc-auth"))
	rc.AddRoom(rocketchat.Room{ID: "ROOM1", Open: true, Visitor: &rocketchat.Visitor{ID: "V1"}})
	rc.AddRoom(rocketchat.Room{ID: "BIGROOM", Open: true, Visitor: &rocketchat.Visitor{ID: "V2"}})
	svc := platformService(t, nil, rc, nil)

	queued := samples.RocketChat("LivechatSessionQueued", "ROOM1")
	// The same content re-encoded (Rocket.Chat's retry may format it differently).
	var m map[string]any
	require.NoError(t, json.Unmarshal(queued, &m))
	reencoded, err := json.MarshalIndent(m, "", "    ")
	require.NoError(t, err)
	big := bigQueued(t, "BIGROOM", 600<<10)

	tests := []struct {
		name  string
		body  []byte
		token string
		want  int
	}{
		{"queued room", queued, rcToken, http.StatusOK},
		{"the same delivery again", queued, rcToken, http.StatusOK},
		{"the same delivery re-encoded", reencoded, rcToken, http.StatusOK},
		{"wrong token", queued, "nope", http.StatusUnauthorized},
		{"no token", queued, "", http.StatusUnauthorized},
		{"not JSON", []byte(`{"type": "LivechatSessionQueued", `), rcToken, http.StatusBadRequest},
		{"a room event without _id", []byte(`{"type": "LivechatSessionQueued"}`), rcToken, http.StatusBadRequest},
		{"a long conversation", big, rcToken, http.StatusOK},
		{"a type no rule uses", samples.RocketChat("Message", "ROOM1"), rcToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, postRocketChat(t, svc, tt.body, tt.token))
		})
	}

	require.Eventually(t, func() bool { return okCalls(rc.CallsTo(rocketchat.PathCloseRoom), rcStatus) == 2 }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	calls := rc.CallsTo(rocketchat.PathCloseRoom)
	require.Len(t, calls, 2, "ROOM1 once despite the repeated deliveries, and BIGROOM")
	byRoom := map[string]string{}
	for _, c := range calls {
		var b struct {
			RID string `json:"rid"`
		}
		require.NoError(t, json.Unmarshal(c.Body, &b))
		byRoom[b.RID] = string(c.Body)
		assert.Equal(t, "rc-auth", c.Header.Get("X-Auth-Token"))
		assert.Equal(t, "bot-id", c.Header.Get("X-User-Id"))
	}
	assert.JSONEq(t, `{"rid":"ROOM1","comment":"closed by chatwarden","tags":["auto-closed"]}`, byRoom["ROOM1"])
	assert.Contains(t, byRoom, "BIGROOM")
	r, _ := rc.Room("ROOM1")
	assert.False(t, r.Open)
	assert.Empty(t, deadLetters(t, svc.Bus().JS))
	assert.Equal(t, 2, storedEvents(t, svc, event.RocketChat))
}

func TestRocketChatRetryableFailuresThenSuccess(t *testing.T) {
	tests := []struct {
		name    string
		failure rocketchattest.Failure
		times   int
	}{
		{"429 of the REST limiter", rocketchattest.TooManyRequests(time.Second), 1},
		{"500", rocketchattest.ServerError(), 2},
		{"503 page of a proxy", rocketchattest.ServiceUnavailable(), 1},
		{"transient close failure", rocketchattest.Error(rocketchat.TypeCannotCloseTryAgain), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := rocketchattest.New()
			rc.AddRoom(rocketchat.Room{ID: "ROOM1", Open: true})
			rc.FailNext(rocketchat.PathCloseRoom, tt.times, tt.failure)
			svc := platformService(t, nil, rc, nil)
			require.Equal(t, http.StatusOK, postRocketChat(t, svc, samples.RocketChat("LivechatSessionQueued", "ROOM1"), rcToken))

			require.Eventually(t, func() bool {
				return okCalls(rc.CallsTo(rocketchat.PathCloseRoom), rcStatus) == 1
			}, 30*time.Second, 20*time.Millisecond)
			waitIdle(t, svc.Bus().JS)
			calls := rc.CallsTo(rocketchat.PathCloseRoom)
			assert.Equal(t, 1, okCalls(calls, rcStatus))
			assert.GreaterOrEqual(t, len(calls), tt.times+1)
			assert.GreaterOrEqual(t, testutil.ToFloat64(svc.Metrics().Retries.WithLabelValues(event.RocketChat)), 1.0)
			assert.Empty(t, deadLetters(t, svc.Bus().JS))
			r, _ := rc.Room("ROOM1")
			assert.False(t, r.Open)
		})
	}
}

// bigQueued is a LivechatSessionQueued of room carrying about size bytes of
// message history.
func bigQueued(t *testing.T, room string, size int) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(samples.RocketChat("LivechatSessionQueued", room), &m))
	var msgs []any
	text := strings.Repeat("a long message ", 64)
	for i := 0; len(msgs)*len(text) < size; i++ {
		msgs = append(msgs, map[string]any{"_id": fmt.Sprintf("m%d", i), "msg": text, "rid": room, "username": "visitor"})
	}
	m["messages"] = msgs
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}
