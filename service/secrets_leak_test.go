package service_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/helpcrunch"
	"github.com/chatwarden/chatwarden/helpcrunch/helpcrunchtest"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

// Distinctive credentials: each is configured (or presented) once, so any
// occurrence in a log line, a stored message or an answer is a leak.
const (
	leakWebhookSecret    = "lk-webhook-secret-A1b2C3d4"
	leakOldWebhookSecret = "lk-webhook-secret-old-Z9y8X7"
	leakAccount          = "lk-account-1"
	leakPAT              = "lk-pat-token-Q7w8E9r0"
	leakOrgBadPATAccount = "lk-account-2"
	leakOrgBadPAT        = "lk-org-pat-rejected-R4t5Y6"
	leakOrgBearer        = "dal:lk-org-bearer-U1i2O3"
	leakAdminToken       = "lk-admin-token-I8o9P0a1"
	leakHCSigningKey     = "lk-hc-signing-key-S1d2F3"
	leakHCAPIKey         = "lk-hc-api-key-G4h5J6"
	leakRCWebhookToken   = "lk-rc-webhook-token-H5j6K7"
	leakRCUser           = "lk-rc-user"
	leakRCAuthToken      = "lk-rc-auth-token-K7l8M9"

	// Wrong credentials presented by a caller; they may be a near miss of
	// a real one, so they must not be logged either.
	leakWrongSecret     = "lk-wrong-secret-M9n0B1"
	leakWrongAdminToken = "lk-wrong-admin-V2b3N4"
	leakWrongRCToken    = "lk-wrong-rc-token-N4m5Q6"
	leakWrongHCKey      = "lk-wrong-hc-key-W7e8R9"

	leakOrgBadPATID = "org-badpat"
	leakOrgBearerID = "org-bearer"
)

// leakRules act on every LiveChat webhook the test sends: an unpin after
// enrichment (acted, or failing on get_chat), a tag (made to fail
// permanently) and an internal note (not idempotent: recorded in
// CHATWARDEN_DONE; failing for the organization with a rejected token).
const leakRules = `
rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
  - name: tag-transfers
    on: [livechat.chat_transferred]
    then:
      - livechat.tag_thread: {tag: moved}
  - name: note-incoming
    on: [livechat.incoming_chat]
    then:
      - livechat.send_event: {text: "picked up by chatwarden", visibility: agents}
`

// leakLog is the service's log: every level, JSON, kept whole.
type leakLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *leakLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *leakLog) Sync() error { return nil }

func (l *leakLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// leakForms are the spellings of a secret to look for: as is, and in every
// base64 alphabet (alone and as "user:secret", as Basic auth sends it).
func leakForms(secret string, users ...string) []string {
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	forms := []string{secret}
	for _, plain := range append([]string{secret}, func() []string {
		var out []string
		for _, u := range users {
			out = append(out, u+":"+secret)
		}
		return out
	}()...) {
		for _, enc := range encs {
			forms = append(forms, enc.EncodeToString([]byte(plain)))
		}
	}
	return forms
}

// orgWebhook is a LiveChat fixture of another organization.
func orgWebhook(t *testing.T, action, secret, org, chat string) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(samples.LiveChat(action, secret, chat, "T"+chat), &m))
	m["organization_id"] = org
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestNoSecretInLogsEventsAuditOrDeadLetters runs the whole service (embedded
// NATS, receivers, workers) with distinctive credentials for every setting
// that holds one, sends accepted and rejected webhooks of every platform,
// makes actions succeed and fail (dead letters, failed audit records), uses
// the admin API, and then reads every message of CHATWARDEN_EVENTS,
// CHATWARDEN_AUDIT, CHATWARDEN_DLQ and CHATWARDEN_DONE, the admin answers and
// the whole debug log: no credential appears in any of them, in any
// spelling.
func TestNoSecretInLogsEventsAuditOrDeadLetters(t *testing.T) {
	ctx := context.Background()
	now := time.Now()

	lc := livechattest.New(livechattest.WithAuth(leakAccount, leakPAT))
	lcURL, stopLC := lc.Start()
	t.Cleanup(stopLC)
	for _, id := range []string{"LK-ACT", "LK-RETRY", "LK-IN", "LK-TAG"} {
		lc.AddChat(livechattest.UnassignedChat(id, now.Add(-time.Hour)))
	}
	hcURL, stopHC := helpcrunchtest.New(helpcrunchtest.WithAPIKey(leakHCAPIKey)).Start()
	t.Cleanup(stopHC)
	rcURL, stopRC := rocketchattest.New(rocketchattest.WithAuth(leakRCUser, leakRCAuthToken)).Start()
	t.Cleanup(stopRC)

	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(leakRules), 0o600))
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.HTTP.PublishTimeout = time.Second
	cfg.HTTP.MaxBodyBytes = 64 << 10
	cfg.Admin.Token = leakAdminToken
	cfg.NATS.DataDir = t.TempDir()
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = lcURL
	cfg.LiveChat.WebhookSecrets = []string{leakWebhookSecret, leakOldWebhookSecret}
	cfg.LiveChat.PAT = config.PAT{AccountID: leakAccount, Token: leakPAT}
	cfg.LiveChat.Organizations = map[string]config.Credentials{
		leakOrgBadPATID: {PAT: config.PAT{AccountID: leakOrgBadPATAccount, Token: leakOrgBadPAT}},
		leakOrgBearerID: {Token: leakOrgBearer},
	}
	cfg.LiveChat.RequestTimeout = 2 * time.Second
	cfg.HelpCrunch.APIURL = hcURL
	cfg.HelpCrunch.APIKey = leakHCAPIKey
	cfg.HelpCrunch.SigningKey = leakHCSigningKey
	cfg.RocketChat.URL = rcURL
	cfg.RocketChat.UserID = leakRCUser
	cfg.RocketChat.AuthToken = leakRCAuthToken
	cfg.RocketChat.WebhookToken = leakRCWebhookToken
	cfg.Workers.Concurrency = 4
	cfg.Workers.MaxAttempts = 2
	cfg.Workers.AckWait = 2 * time.Second
	cfg.Workers.BackoffBase = 20 * time.Millisecond
	cfg.Workers.BackoffMax = 100 * time.Millisecond
	cfg.RulesFile = rulesFile
	require.NoError(t, cfg.Validate())

	logs := &leakLog{}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, logs, zap.DebugLevel), zap.ErrorOutput(logs))
	startCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	svc, err := service.Start(startCtx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(logger))
	require.NoError(t, err)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		assert.NoError(t, svc.Stop(sctx))
	}
	t.Cleanup(stop)
	base, adminBase := "http://"+svc.Addr(), "http://"+svc.AdminAddr()
	js := svc.Bus().JS

	var answers bytes.Buffer // every answer of the service, searched too
	send := func(method, path string, body []byte, header map[string]string) int {
		t.Helper()
		url := base + path
		if strings.HasPrefix(path, "/admin/") {
			url = adminBase + path // the admin API is on the admin listener
		}
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		fmt.Fprintf(&answers, "%s %s -> %d %v %s\n", method, path, resp.StatusCode, resp.Header, b)
		return resp.StatusCode
	}
	// The readers take the *assert.CollectT of an EventuallyWithT condition
	// too, so that a transient read error is retried rather than fatal.
	deadLetters := func(t require.TestingT) []consumer.DeadLetter {
		dls, err := consumer.ReadDeadLetters(ctx, js)
		require.NoError(t, err)
		return dls
	}
	outcomes := func(t require.TestingT, chat string) []string {
		recs, err := audit.Read(ctx, js, audit.Query{ChatID: chat})
		require.NoError(t, err)
		var out []string
		for _, r := range recs {
			out = append(out, r.Outcome)
		}
		return out
	}
	hasDeadLetter := func(chat, reason string) func(*assert.CollectT) {
		return func(c *assert.CollectT) {
			var got []string
			for _, dl := range deadLetters(c) {
				got = append(got, dl.ChatID+" "+dl.Reason)
			}
			assert.Contains(c, got, chat+" "+reason)
		}
	}

	// An action that succeeds, then retryable failures until attempts run
	// out: each phase alone, so the armed failures hit the intended chat.
	lcHook := func(action, secret, chat string) []byte { return samples.LiveChat(action, secret, chat, "T"+chat) }
	require.Equal(t, 200, send("POST", "/webhooks/livechat", lcHook("chat_deactivated", leakWebhookSecret, "LK-ACT"), nil))
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Equal(c, []string{audit.Acted}, outcomes(c, "LK-ACT")) },
		20*time.Second, 20*time.Millisecond)
	lc.FailNext("get_chat", cfg.Workers.MaxAttempts, livechattest.ServerError())
	require.Equal(t, 200, send("POST", "/webhooks/livechat", lcHook("chat_deactivated", leakOldWebhookSecret, "LK-RETRY"), nil))
	require.EventuallyWithT(t, hasDeadLetter("LK-RETRY", consumer.ReasonExhausted), 20*time.Second, 20*time.Millisecond)

	// Then every other request at once.
	lc.FailNext("tag_thread", 1, livechattest.Validation("tag rejected by the fake"))
	hcBody := samples.HelpCrunch("chat.new", "4242", "lk-hc-event-1")
	hcSig := helpcrunch.Sign(hcBody, leakHCSigningKey)
	hcWrongSig := helpcrunch.Sign(hcBody, leakWrongHCKey)
	rcBody := samples.RocketChat("LivechatSession", "LK-ROOM")
	truncated := lcHook("chat_deactivated", leakWebhookSecret, "LK-BROKEN")
	truncated = truncated[:len(truncated)/2]
	huge := lcHook("chat_deactivated", leakWebhookSecret, "LK-HUGE")
	huge = append(huge[:len(huge)-2], []byte(`,"pad":"`+strings.Repeat("x", int(cfg.HTTP.MaxBodyBytes))+`"}`)...)
	requests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header map[string]string
		want   int
	}{
		{"livechat transfer (tag fails: dead letter)", "POST", "/webhooks/livechat", lcHook("chat_transferred", leakWebhookSecret, "LK-TAG"), nil, 200},
		{"livechat incoming chat (note acted, recorded as done)", "POST", "/webhooks/livechat", lcHook("incoming_chat", leakWebhookSecret, "LK-IN"), nil, 200},
		{"livechat organization with a rejected PAT", "POST", "/webhooks/livechat", orgWebhook(t, "incoming_chat", leakWebhookSecret, leakOrgBadPATID, "LK-BADPAT"), nil, 200},
		{"livechat organization with a rejected bearer token", "POST", "/webhooks/livechat", orgWebhook(t, "chat_deactivated", leakWebhookSecret, leakOrgBearerID, "LK-BEARER"), nil, 200},
		{"livechat wrong secret", "POST", "/webhooks/livechat", lcHook("chat_deactivated", leakWrongSecret, "LK-X"), nil, 401},
		{"livechat no secret", "POST", "/webhooks/livechat", lcHook("chat_deactivated", "", "LK-X"), nil, 401},
		{"livechat truncated JSON holding the secret", "POST", "/webhooks/livechat", truncated, nil, 400},
		{"livechat right secret, no action", "POST", "/webhooks/livechat", []byte(`{"secret_key":"` + leakWebhookSecret + `","payload":{}}`), nil, 400},
		{"livechat body over the cap holding the secret", "POST", "/webhooks/livechat", huge, nil, 413},
		{"helpcrunch signed", "POST", "/webhooks/helpcrunch", hcBody, map[string]string{helpcrunch.SignatureHeader: hcSig}, 200},
		{"helpcrunch wrong signature", "POST", "/webhooks/helpcrunch", hcBody, map[string]string{helpcrunch.SignatureHeader: hcWrongSig}, 401},
		{"helpcrunch signed, malformed", "POST", "/webhooks/helpcrunch", []byte(`{"event":`), map[string]string{helpcrunch.SignatureHeader: helpcrunch.Sign([]byte(`{"event":`), leakHCSigningKey)}, 400},
		{"rocketchat right token", "POST", "/webhooks/rocketchat", rcBody, map[string]string{rocketchat.TokenHeader: leakRCWebhookToken}, 200},
		{"rocketchat wrong token", "POST", "/webhooks/rocketchat", rcBody, map[string]string{rocketchat.TokenHeader: leakWrongRCToken}, 401},
		{"admin wrong token", "GET", "/admin/dlq", nil, map[string]string{"Authorization": "Bearer " + leakWrongAdminToken}, 401},
		{"admin token as Basic auth", "GET", "/admin/dlq", nil, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+leakAdminToken))}, 401},
	}
	for _, r := range requests {
		assert.Equal(t, r.want, send(r.method, r.path, r.body, r.header), r.name)
	}
	for _, want := range []struct{ chat, reason string }{
		{"LK-TAG", consumer.ReasonPermanent},
		{"LK-BADPAT", consumer.ReasonPermanent},
		{"LK-BEARER", consumer.ReasonPermanent},
	} {
		require.EventuallyWithT(t, hasDeadLetter(want.chat, want.reason), 20*time.Second, 20*time.Millisecond,
			"dead letter of %s", want.chat)
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Equal(c, []string{audit.Acted}, outcomes(c, "LK-IN")) },
		20*time.Second, 20*time.Millisecond)
	assert.Contains(t, outcomes(t, "LK-BADPAT"), audit.Failed)

	// The admin API over the dead letters (it answers with their errors).
	admin := map[string]string{"Authorization": "Bearer " + leakAdminToken}
	require.Equal(t, 200, send("GET", "/admin/dlq", nil, admin))
	for _, dl := range deadLetters(t) {
		require.Equal(t, 200, send("GET", "/admin/dlq/"+dl.ID, nil, admin), "dead letter of %s", dl.ChatID)
	}
	require.Equal(t, 200, send("POST", "/admin/dlq/retry?dry_run=true", nil, admin))

	// The credentials were really used: the fake saw the PAT, and rejected
	// the other organizations' tokens.
	var sawPAT, saw401 bool
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(leakAccount+":"+leakPAT))
	for _, c := range lc.Calls() {
		sawPAT = sawPAT || c.Header.Get("Authorization") == wantAuth
		saw401 = saw401 || c.Status == http.StatusUnauthorized
	}
	require.True(t, sawPAT, "the fake never saw the PAT")
	require.True(t, saw401, "the fake never rejected a token")

	haystacks := map[string]string{"admin answers": answers.String()}
	for _, stream := range []string{bus.EventsStream, bus.AuditStream, bus.DeadLetterStream, "KV_" + bus.DoneBucket} {
		var b strings.Builder
		n := 0
		err := bus.ReadAll(ctx, js, stream, jetstream.OrderedConsumerConfig{}, func(m jetstream.Msg) error {
			n++
			// Events are stored compressed: look at what they hold, and
			// at the stored bytes too.
			data, err := event.JSON(m.Data())
			require.NoError(t, err, stream)
			fmt.Fprintf(&b, "%s %v %s %s\n", m.Subject(), m.Headers(), data, m.Data())
			return nil
		})
		require.NoError(t, err, stream)
		require.NotZero(t, n, "%s is empty: the test would prove nothing", stream)
		haystacks[stream] = b.String()
	}
	stop() // flushes the shutdown lines into the log
	haystacks["log"] = logs.String()
	for _, want := range []string{`"webhook stored"`, `"webhook rejected"`, `"level":"debug"`} {
		require.Contains(t, haystacks["log"], want, "the log is not the debug log of this run")
	}

	secrets := []struct {
		name  string
		forms []string
	}{
		{"livechat.webhook_secrets[0]", leakForms(leakWebhookSecret)},
		{"livechat.webhook_secrets[1]", leakForms(leakOldWebhookSecret)},
		{"livechat.pat.token", leakForms(leakPAT, leakAccount)},
		{"livechat.organizations PAT", leakForms(leakOrgBadPAT, leakOrgBadPATAccount)},
		{"livechat.organizations bearer token", append(leakForms(leakOrgBearer), leakForms(strings.TrimPrefix(leakOrgBearer, "dal:"))...)},
		{"admin.token", leakForms(leakAdminToken, "admin")},
		{"helpcrunch.signing_key", leakForms(leakHCSigningKey)},
		{"helpcrunch.api_key", leakForms(leakHCAPIKey)},
		{"helpcrunch signatures", []string{hcSig, strings.ToUpper(hcSig), hcWrongSig}},
		{"rocketchat.webhook_token", leakForms(leakRCWebhookToken)},
		{"rocketchat.auth_token", leakForms(leakRCAuthToken, leakRCUser)},
		{"rocketchat visitor token", leakForms(samples.RocketChatVisitorToken)},
		{"wrong webhook secret", leakForms(leakWrongSecret)},
		{"wrong admin token", leakForms(leakWrongAdminToken)},
		{"wrong rocketchat token", leakForms(leakWrongRCToken)},
		{"wrong helpcrunch key", leakForms(leakWrongHCKey)},
	}
	for where, text := range haystacks {
		t.Run(where, func(t *testing.T) {
			for _, s := range secrets {
				for _, form := range s.forms {
					if i := strings.Index(text, form); i >= 0 {
						t.Errorf("%s (as %q) appears in %s: ...%s...", s.name, form, where,
							text[max(0, i-200):min(len(text), i+len(form)+100)])
					}
				}
			}
		})
	}
}
