package service_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/livechat/oauth/oauthtest"
	"github.com/chatwarden/chatwarden/service"
)

// sampleOrg is the organization_id of the LiveChat fixtures.
const sampleOrg = "390e44e6-f1e6-0368c-z6ddb-74g14508c2ex"

// deactivatedOf is a chat_deactivated webhook of organization org.
func deactivatedOf(org, chat string) []byte {
	return bytes.ReplaceAll(deactivated(chat), []byte(sampleOrg), []byte(org))
}

// Every action on an event uses the credentials of the event's organization;
// an organization without any is stored and dead-lettered with the cause
// "no credentials".
func TestOrganizationsActWithTheirOwnCredentials(t *testing.T) {
	// One fake API accepting both organizations' credentials; each call
	// records which ones it came with.
	fake := livechattest.New(livechattest.WithAuth("acc-acme", "pat-acme"), livechattest.WithBearer("dal:globex"))
	fake.AddChat(livechattest.UnassignedChat("ACME1", time.Now().Add(-time.Hour)))
	fake.AddChat(livechattest.UnassignedChat("GLOBEX1", time.Now().Add(-time.Hour)))
	fake.AddChat(livechattest.UnassignedChat("INITECH1", time.Now().Add(-time.Hour)))
	url, stop := fake.Start()
	defer stop()

	cfg := testConfig(t, url, "")
	cfg.LiveChat.PAT = config.PAT{}
	cfg.LiveChat.Organizations = map[string]config.Credentials{
		"org-acme":   {PAT: config.PAT{AccountID: "acc-acme", Token: "pat-acme"}},
		"org-globex": {Token: "dal:globex"},
	}
	mustValidate(t, cfg)
	svc := start(t, cfg, both)

	require.Equal(t, http.StatusOK, post(t, svc, deactivatedOf("org-acme", "ACME1")).StatusCode)
	require.Equal(t, http.StatusOK, post(t, svc, deactivatedOf("org-globex", "GLOBEX1")).StatusCode)
	require.Equal(t, http.StatusOK, post(t, svc, deactivatedOf("org-initech", "INITECH1")).StatusCode,
		"an event of an organization without credentials is still stored")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1, unpinCalls(fake, "ACME1"))
		assert.Equal(c, 1, unpinCalls(fake, "GLOBEX1"))
		assert.Len(c, deadLetters(c, svc.Bus().JS), 1)
	}, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	acmeAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("acc-acme:pat-acme"))
	for _, c := range fake.Calls() {
		var body struct {
			ID     string `json:"id"`
			ChatID string `json:"chat_id"`
		}
		require.NoError(t, json.Unmarshal(c.Body, &body))
		switch body.ID + body.ChatID {
		case "ACME1":
			assert.Equal(t, acmeAuth, c.Header.Get("Authorization"), "%s of acme's chat with acme's PAT", c.Action)
		case "GLOBEX1":
			assert.Equal(t, "Bearer dal:globex", c.Header.Get("Authorization"), "%s of globex's chat with globex's token", c.Action)
		default:
			t.Errorf("unexpected call %s %s", c.Action, c.Body)
		}
	}

	dl := deadLetters(t, svc.Bus().JS)[0]
	assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
	assert.Equal(t, "no credentials", dl.Cause)
	assert.Equal(t, "INITECH1", dl.ChatID)
	assert.Contains(t, dl.Error, "org-initech")
	assert.Contains(t, dl.Error, "livechat.organizations")
	assert.Equal(t, uint64(1), dl.Attempts)
	ev, err := event.Unmarshal(dl.Event)
	require.NoError(t, err)
	assert.Equal(t, "org-initech", ev.Tenant)
}

// oauthAPI is the LiveChat fake behind the accounts server's token check.
func oauthAPI(t *testing.T, acc *oauthtest.Server) (*livechattest.Server, string) {
	t.Helper()
	fake := livechattest.New()
	ts := httptest.NewServer(acc.Protect(fake))
	t.Cleanup(ts.Close)
	return fake, ts.URL
}

func oauthConfig(t *testing.T, apiURL, accountsURL, natsURL string) *config.Config {
	t.Helper()
	cfg := testConfig(t, apiURL, natsURL)
	cfg.LiveChat.PAT = config.PAT{}
	cfg.LiveChat.OAuth = config.OAuth{ClientID: "client-1", ClientSecret: "secret-1", RefreshToken: "refresh-0", AccountsURL: accountsURL}
	mustValidate(t, cfg)
	return cfg
}

func TestOAuthRenewsAndSharesTheRefreshTokenAcrossRestarts(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "refresh-0")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	fake, apiURL := oauthAPI(t, acc)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	fake.AddChat(livechattest.UnassignedChat("C2", time.Now().Add(-time.Hour)))
	fake.AddChat(livechattest.UnassignedChat("C3", time.Now().Add(-time.Hour)))
	nats := bustest.Start(t)
	cfg := oauthConfig(t, apiURL, accURL, nats.URL())

	// Two worker replicas and a receiver share one token.
	receiver := start(t, cfg, servicesRoles(true, false))
	w1 := start(t, cfg, servicesRoles(false, true))
	_ = start(t, cfg, servicesRoles(false, true))
	require.Equal(t, http.StatusOK, post(t, receiver, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1, acc.Mints(), "one access token for every replica")

	// The newest refresh token is in the bucket, not the spent configured one.
	st := readOAuthState(t, nats.URL())
	assert.Equal(t, "refresh-1", st.RefreshToken)
	assert.Equal(t, acc.Latest(), st.AccessToken)

	// The token is revoked early: the next call renews after the
	// authentication error and is repeated.
	acc.Revoke(acc.Latest())
	forceOld(t, nats.URL())
	require.Equal(t, http.StatusOK, post(t, receiver, deactivated("C2")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C2") == 1 }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, 2, acc.Mints())
	waitIdle(t, w1.Bus().JS)
	assert.Empty(t, deadLetters(t, w1.Bus().JS))

	// A restarted worker (the configured refresh-0 is long spent) resumes
	// with the stored token and renews with the stored refresh token.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, w1.Stop(ctx))
	cancel()
	_ = start(t, cfg, servicesRoles(false, true))
	require.Equal(t, http.StatusOK, post(t, receiver, deactivated("C3")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C3") == 1 }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, 2, acc.Mints(), "the stored access token is reused after the restart")
}

// forceOld back-dates the stored renewal so that a rejected token may be
// renewed at once (the source refuses to renew a token renewed less than
// oauth.MinRenewInterval ago).
func forceOld(t *testing.T, url string) {
	t.Helper()
	kv := oauthKV(t, url)
	ctx := context.Background()
	keys, err := kv.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	e, err := kv.Get(ctx, keys[0])
	require.NoError(t, err)
	var st oauth.State
	require.NoError(t, json.Unmarshal(e.Value(), &st))
	st.UpdatedAt = st.UpdatedAt.Add(-2 * oauth.MinRenewInterval)
	data, err := json.Marshal(st)
	require.NoError(t, err)
	_, err = kv.Update(ctx, keys[0], data, e.Revision())
	require.NoError(t, err)
}

func oauthKV(t *testing.T, url string) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.KeyValue(context.Background(), oauth.Bucket)
	require.NoError(t, err)
	return kv
}

func readOAuthState(t *testing.T, url string) oauth.State {
	t.Helper()
	kv := oauthKV(t, url)
	keys, err := kv.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	e, err := kv.Get(context.Background(), keys[0])
	require.NoError(t, err)
	var st oauth.State
	require.NoError(t, json.Unmarshal(e.Value(), &st))
	return st
}

func TestOAuthRefreshTokenRefusedDeadLetters(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "some-other-token")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	fake, apiURL := oauthAPI(t, acc)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	svc := start(t, oauthConfig(t, apiURL, accURL, ""), both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.Len(c, deadLetters(c, svc.Bus().JS), 1) }, 20*time.Second, 20*time.Millisecond)
	dl := deadLetters(t, svc.Bus().JS)[0]
	assert.Equal(t, consumer.ReasonPermanent, dl.Reason)
	assert.Equal(t, "authentication", dl.Cause)
	assert.Contains(t, dl.Error, "invalid_grant")
	assert.NotContains(t, dl.Error, "secret-1")
	assert.NotContains(t, dl.Error, "refresh-0")
	assert.Empty(t, fake.Calls(), "nothing is sent without a token")
	assert.Equal(t, 1, acc.Requests(), "a refused refresh token is not tried again and again")
}

// The accounts server failing for a while is retried like any 5xx.
func TestOAuthAccountsServerDownIsRetried(t *testing.T) {
	acc := oauthtest.New("client-1", "secret-1", "refresh-0")
	acc.FailNext(2, http.StatusServiceUnavailable, "temporarily_unavailable")
	accURL, stopAcc := acc.Start()
	defer stopAcc()
	fake, apiURL := oauthAPI(t, acc)
	fake.AddChat(livechattest.UnassignedChat("C1", time.Now().Add(-time.Hour)))
	svc := start(t, oauthConfig(t, apiURL, accURL, ""), both)
	require.Equal(t, http.StatusOK, post(t, svc, deactivated("C1")).StatusCode)
	require.Eventually(t, func() bool { return unpinCalls(fake, "C1") == 1 }, 20*time.Second, 20*time.Millisecond)
	waitIdle(t, svc.Bus().JS)
	assert.Empty(t, deadLetters(t, svc.Bus().JS))
	assert.Equal(t, 1, acc.Mints())
	assert.Equal(t, 3, acc.Requests())
}

func servicesRoles(receive, work bool) service.Roles {
	return service.Roles{Receive: receive, Work: work}
}

// mustValidate checks cfg as Load would (testConfig lowers
// workers.failover_after below its minimum afterwards, for speed).
func mustValidate(t *testing.T, cfg *config.Config) {
	t.Helper()
	c := *cfg
	c.Workers.FailoverAfter = config.DefaultFailoverAfter
	require.NoError(t, c.Validate())
}
