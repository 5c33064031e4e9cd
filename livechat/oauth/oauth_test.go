package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/livechat/oauth/oauthtest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startAccounts(t *testing.T, clk *clock, opts ...oauthtest.Option) (*oauthtest.Server, string) {
	t.Helper()
	acc := oauthtest.New("client-1", "secret-1", "refresh-0", append([]oauthtest.Option{oauthtest.WithClock(clk.Now)}, opts...)...)
	url, stop := acc.Start()
	t.Cleanup(stop)
	return acc, url
}

func newSource(t *testing.T, accountsURL string, clk *clock, store oauth.Store, opts ...oauth.Option) *oauth.Source {
	t.Helper()
	src, err := oauth.NewSource(oauth.Config{ClientID: "client-1", ClientSecret: "secret-1", AccountsURL: accountsURL}, "refresh-0",
		append([]oauth.Option{oauth.WithStore(store), oauth.WithClock(clk.Now), oauth.WithLogger(zaptest.NewLogger(t))}, opts...)...)
	require.NoError(t, err)
	return src
}

func kvStore(t *testing.T) oauth.Store {
	t.Helper()
	st, err := oauth.OpenKVStore(context.Background(), startJS(t), 1)
	require.NoError(t, err)
	return st
}

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := bustest.Start(t).Connect(t)
	return js
}

// sealedKVStore is a KVStore sealing its values under one fresh key.
func sealedKVStore(t *testing.T) oauth.Store {
	t.Helper()
	st, err := oauth.OpenKVStore(context.Background(), startJS(t), 1, oauth.WithKeyring(testKeyring(t, testKey(t, "k1"))))
	require.NoError(t, err)
	return st
}

func stores(t *testing.T) map[string]func(t *testing.T) oauth.Store {
	return map[string]func(t *testing.T) oauth.Store{
		"memory":              func(*testing.T) oauth.Store { return oauth.NewMemoryStore() },
		"jetstream kv":        kvStore,
		"jetstream kv sealed": sealedKVStore,
	}
}

func TestNewSourceRequiresConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     oauth.Config
		refresh string
	}{
		{"no client id", oauth.Config{ClientSecret: "s"}, "r"},
		{"no secret", oauth.Config{ClientID: "c"}, "r"},
		{"no refresh token", oauth.Config{ClientID: "c", ClientSecret: "s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oauth.NewSource(tt.cfg, tt.refresh)
			assert.ErrorIs(t, err, oauth.ErrMissingConfig)
		})
	}
	_, err := oauth.NewSource(oauth.Config{ClientID: "c", ClientSecret: "s", AccountsURL: "ftp://x"}, "r")
	assert.Error(t, err)
}

func TestRenewsOnceAndBeforeExpiry(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			acc, url := startAccounts(t, clk)
			src := newSource(t, url, clk, mk(t))
			ctx := context.Background()

			tok, err := src.Token(ctx)
			require.NoError(t, err)
			assert.Equal(t, "dal:access-1", tok)
			for range 5 {
				again, err := src.Token(ctx)
				require.NoError(t, err)
				assert.Equal(t, tok, again)
			}
			assert.Equal(t, 1, acc.Mints())

			clk.Add(8*time.Hour - oauth.DefaultRenewBefore - time.Minute)
			tok, err = src.Token(ctx)
			require.NoError(t, err)
			assert.Equal(t, "dal:access-1", tok, "still well before expiry")

			clk.Add(2 * time.Minute) // inside the renew window
			tok, err = src.Token(ctx)
			require.NoError(t, err)
			assert.Equal(t, "dal:access-2", tok, "renewed before it expired, with the rotated refresh token")
			assert.Equal(t, 2, acc.Mints())
		})
	}
}

func TestReplicasShareOneRenewal(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			acc, url := startAccounts(t, clk)
			store := mk(t)
			replicas := []*oauth.Source{newSource(t, url, clk, store), newSource(t, url, clk, store), newSource(t, url, clk, store)}
			var wg sync.WaitGroup
			var failures atomic.Int32
			tokens := sync.Map{}
			for i := range 30 {
				wg.Go(func() {
					tok, err := replicas[i%3].Token(context.Background())
					if err != nil {
						failures.Add(1)
						return
					}
					tokens.Store(tok, true)
				})
			}
			wg.Wait()
			assert.Zero(t, failures.Load())
			assert.Equal(t, 1, acc.Mints(), "one token for every replica")
			n := 0
			tokens.Range(func(any, any) bool { n++; return true })
			assert.Equal(t, 1, n)
		})
	}
}

func TestRestartResumesWithTheStoredRefreshToken(t *testing.T) {
	clk := newClock()
	acc, url := startAccounts(t, clk)
	store := kvStore(t)
	first := newSource(t, url, clk, store)
	_, err := first.Token(context.Background())
	require.NoError(t, err)
	// refresh-0 (the configured one) is spent now: the server rotated it.

	clk.Add(9 * time.Hour) // the access token expired while the process was down
	restarted := newSource(t, url, clk, store)
	tok, err := restarted.Token(context.Background())
	require.NoError(t, err, "the stored refresh-1 is used, not the spent refresh-0 of the configuration")
	assert.Equal(t, "dal:access-2", tok)
	assert.Equal(t, 2, acc.Mints())
}

func TestANewConfiguredRefreshTokenReplacesTheStoredState(t *testing.T) {
	clk := newClock()
	acc, url := startAccounts(t, clk, oauthtest.WithoutRotation())
	store := oauth.NewMemoryStore()
	_, err := newSource(t, url, clk, store).Token(context.Background())
	require.NoError(t, err)

	// The operator authorized again; the accounts server accepts only the new token.
	acc2 := oauthtest.New("client-1", "secret-1", "refresh-new", oauthtest.WithClock(clk.Now))
	url2, stop := acc2.Start()
	defer stop()
	src, err := oauth.NewSource(oauth.Config{ClientID: "client-1", ClientSecret: "secret-1", AccountsURL: url2}, "refresh-new",
		oauth.WithStore(store), oauth.WithClock(clk.Now))
	require.NoError(t, err)
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "dal:access-1", tok)
	assert.Equal(t, 1, acc2.Mints(), "the stored token of the old authorization is not reused")
	assert.Equal(t, 1, acc.Mints())
}

func TestWaitsForAnotherRenewerAndTakesOverAnExpiredLock(t *testing.T) {
	clk := newClock()
	acc, url := startAccounts(t, clk)
	store := oauth.NewMemoryStore()
	src := newSource(t, url, clk, store, oauth.WithLockTTL(time.Second))
	ctx := context.Background()
	_, err := src.Token(ctx)
	require.NoError(t, err)

	// Hours later the token expired, and another replica took the renewal
	// lock and died before storing a token.
	clk.Add(9 * time.Hour)
	st, rev, err := store.Load(ctx, src.Key())
	require.NoError(t, err)
	st.RefreshingBy, st.RefreshingUntil = "dead-replica", clk.Now().Add(time.Second)
	_, err = store.Save(ctx, src.Key(), st, rev)
	require.NoError(t, err)

	done := make(chan string, 1)
	go func() {
		tok, _ := src.Token(ctx)
		done <- tok
	}()
	require.Never(t, func() bool { return acc.Requests() > 1 }, 300*time.Millisecond, 20*time.Millisecond,
		"no renewal while the lock holds")
	clk.Add(2 * time.Second) // the lock expires
	select {
	case tok := <-done:
		assert.Equal(t, "dal:access-2", tok)
	case <-time.After(10 * time.Second):
		t.Fatal("the source did not take over the expired lock")
	}
	assert.Equal(t, 2, acc.Mints())
}

func TestUsesTheCurrentTokenWhileAnotherReplicaRenews(t *testing.T) {
	clk := newClock()
	acc, url := startAccounts(t, clk)
	store := oauth.NewMemoryStore()
	a, b := newSource(t, url, clk, store), newSource(t, url, clk, store)
	ctx := context.Background()
	tok, err := a.Token(ctx)
	require.NoError(t, err)

	clk.Add(8*time.Hour - time.Minute) // due for renewal, not expired
	st, rev, err := store.Load(ctx, a.Key())
	require.NoError(t, err)
	st.RefreshingBy, st.RefreshingUntil = "other-replica", clk.Now().Add(time.Minute)
	_, err = store.Save(ctx, a.Key(), st, rev)
	require.NoError(t, err)

	got, err := b.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok, got, "the still valid token, without waiting")
	assert.Equal(t, 1, acc.Mints())
}

func TestTransportRenewsAfterAnAuthenticationError(t *testing.T) {
	clk := newClock()
	acc, accURL := startAccounts(t, clk)
	api := livechattest.New()
	api.AddChat(livechattest.UnassignedChat("C1", clk.Now()))
	apiURL, stop := startHandler(t, acc.Protect(api))
	defer stop()

	src := newSource(t, accURL, clk, oauth.NewMemoryStore())
	client, err := livechat.New(livechat.Bearer("replaced-by-the-transport"), livechat.WithBaseURL(apiURL),
		livechat.WithHTTPClient(oauth.Client(src, nil)))
	require.NoError(t, err)
	ctx := context.Background()

	require.NoError(t, client.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"pinned": false}}))
	assert.Equal(t, 1, acc.Mints())

	clk.Add(time.Hour)
	acc.Revoke(acc.Latest()) // the token dies early
	require.NoError(t, client.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"pinned": false}}),
		"renewed after the authentication error and repeated with its body")
	assert.Equal(t, 2, acc.Mints())
	calls := api.CallsTo("update_chat_properties")
	require.Len(t, calls, 2, "the rejected request never reached the API behind Protect")
	assert.Equal(t, "Bearer dal:access-2", calls[1].Header.Get("Authorization"))
	assert.JSONEq(t, `{"id":"C1","properties":{"routing":{"pinned":false}}}`, string(calls[1].Body))

	// The renewed token is rejected at once too: no minting in a loop.
	acc.Revoke(acc.Latest())
	err = client.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"pinned": false}})
	require.Error(t, err)
	assert.ErrorIs(t, err, livechat.ErrAuthentication)
	assert.False(t, livechat.IsRetryable(err))
	err = client.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"pinned": false}})
	require.Error(t, err)
	assert.Equal(t, 2, acc.Mints(), "no new token within a minute of the last renewal")

	clk.Add(oauth.MinRenewInterval + time.Second)
	require.NoError(t, client.UpdateChatProperties(ctx, "C1", livechat.Properties{"routing": {"pinned": false}}))
	assert.Equal(t, 3, acc.Mints())
}

func TestTransportClassifiesTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		code          string
		wantType      error
		wantRetryable bool
	}{
		{"accounts server down", http.StatusServiceUnavailable, "temporarily_unavailable", livechat.ErrServiceUnavailable, true},
		{"rate limited", http.StatusTooManyRequests, "too_many_requests", livechat.ErrServiceUnavailable, true},
		{"refresh token revoked", http.StatusBadRequest, "invalid_grant", livechat.ErrAuthentication, false},
		{"wrong client secret", http.StatusUnauthorized, "invalid_client", livechat.ErrAuthentication, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			acc, accURL := startAccounts(t, clk)
			acc.FailNext(1, tt.status, tt.code)
			api := livechattest.New()
			api.AddChat(livechattest.UnassignedChat("C1", clk.Now()))
			apiURL, stop := startHandler(t, acc.Protect(api))
			defer stop()
			src := newSource(t, accURL, clk, oauth.NewMemoryStore())
			client, err := livechat.New(livechat.Bearer("x"), livechat.WithBaseURL(apiURL), livechat.WithHTTPClient(oauth.Client(src, nil)))
			require.NoError(t, err)

			_, err = client.GetChat(context.Background(), "C1", "")
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantType)
			assert.Equal(t, tt.wantRetryable, livechat.IsRetryable(err))
			assert.Contains(t, err.Error(), tt.code)
			assert.Empty(t, api.Calls(), "nothing is sent without a token")

			if tt.wantRetryable {
				_, err = client.GetChat(context.Background(), "C1", "")
				require.NoError(t, err, "the next attempt renews")
			}
		})
	}
}

func TestTransportSetsRegionOfEUTokens(t *testing.T) {
	clk := newClock()
	acc, accURL := startAccounts(t, clk, oauthtest.WithRegion("fra"))
	api := livechattest.New(livechattest.WithRegion("fra"))
	api.AddChat(livechattest.UnassignedChat("C1", clk.Now()))
	apiURL, stop := startHandler(t, acc.Protect(api))
	defer stop()
	src := newSource(t, accURL, clk, oauth.NewMemoryStore())
	client, err := livechat.New(livechat.Bearer("x"), livechat.WithBaseURL(apiURL), livechat.WithHTTPClient(oauth.Client(src, nil)))
	require.NoError(t, err)
	_, err = client.GetChat(context.Background(), "C1", "")
	require.NoError(t, err)
	calls := api.CallsTo("get_chat")
	require.Len(t, calls, 1)
	assert.Equal(t, "fra", calls[0].Header.Get("X-Region"))
}

func TestKVStoreCompareAndSet(t *testing.T) {
	st := kvStore(t)
	ctx := context.Background()
	s0, rev, err := st.Load(ctx, "k")
	require.NoError(t, err)
	assert.Zero(t, rev)
	assert.Equal(t, oauth.State{}, s0)

	rev1, err := st.Save(ctx, "k", oauth.State{Seed: "a"}, 0)
	require.NoError(t, err)
	_, err = st.Save(ctx, "k", oauth.State{Seed: "b"}, 0)
	assert.ErrorIs(t, err, oauth.ErrConflict, "create of an existing key")
	_, err = st.Save(ctx, "k", oauth.State{Seed: "b"}, rev1+10)
	assert.ErrorIs(t, err, oauth.ErrConflict, "stale revision")
	rev2, err := st.Save(ctx, "k", oauth.State{Seed: "c"}, rev1)
	require.NoError(t, err)
	got, rev, err := st.Load(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, rev2, rev)
	assert.Equal(t, "c", got.Seed)
	assert.False(t, errors.Is(err, oauth.ErrConflict))
}

func startHandler(t *testing.T, h http.Handler) (string, func()) {
	t.Helper()
	ts := httptest.NewServer(h)
	return ts.URL, ts.Close
}

func TestTokenErrorText(t *testing.T) {
	err := &oauth.TokenError{StatusCode: 400, Code: "invalid_grant", Description: "expired"}
	assert.Equal(t, "oauth: renewing the LiveChat access token: HTTP 400 invalid_grant: expired", err.Error())
	assert.False(t, err.Retryable())
	assert.True(t, (&oauth.TokenError{StatusCode: 502}).Retryable())
	var buf bytes.Buffer
	buf.WriteString(err.Error())
	assert.NotContains(t, buf.String(), "secret-1")
}
