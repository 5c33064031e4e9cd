package oauth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/sealed"
	"github.com/chatwarden/chatwarden/livechat/oauth"
)

func testKey(t *testing.T, id string) sealed.Key {
	t.Helper()
	b := make([]byte, sealed.KeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return sealed.Key{ID: id, Secret: b}
}

func testKeyring(t *testing.T, keys ...sealed.Key) *sealed.Keyring {
	t.Helper()
	k, err := sealed.NewKeyring(keys...)
	require.NoError(t, err)
	return k
}

// tokenState is a state whose tokens are easy to look for in raw values.
func tokenState() oauth.State {
	return oauth.State{Token: oauth.Token{AccessToken: "dal:ACCESS-SECRET", RefreshToken: "REFRESH-SECRET",
		ExpiresAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, Seed: "seed-1", Refreshes: 3}
}

// rawValue reads key from the bucket with the KV API, as anyone with access
// to the broker can.
func rawValue(t *testing.T, js jetstream.JetStream, key string) []byte {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), oauth.Bucket)
	require.NoError(t, err)
	e, err := kv.Get(context.Background(), key)
	require.NoError(t, err)
	return e.Value()
}

func putRaw(t *testing.T, js jetstream.JetStream, key string, v []byte) {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), oauth.Bucket)
	require.NoError(t, err)
	_, err = kv.Put(context.Background(), key, v)
	require.NoError(t, err)
}

func openStore(t *testing.T, js jetstream.JetStream, k *sealed.Keyring) *oauth.KVStore {
	t.Helper()
	st, err := oauth.OpenKVStore(context.Background(), js, 1, oauth.WithKeyring(k))
	require.NoError(t, err)
	return st
}

func TestKVStoreSealsTokens(t *testing.T) {
	ctx := context.Background()
	js := startJS(t)
	st := openStore(t, js, testKeyring(t, testKey(t, "k1")))
	rev, err := st.Save(ctx, "livechat.a", tokenState(), 0)
	require.NoError(t, err)

	raw := string(rawValue(t, js, "livechat.a"))
	assert.True(t, strings.HasPrefix(raw, "cw1:k1:"), "sealed under the key id: %q", raw)
	for _, secret := range []string{"ACCESS-SECRET", "REFRESH-SECRET", "access_token", "seed-1"} {
		assert.NotContains(t, raw, secret)
	}

	got, grev, err := st.Load(ctx, "livechat.a")
	require.NoError(t, err)
	assert.Equal(t, tokenState(), got)
	assert.Equal(t, rev, grev)

	t.Run("a value moved to another key does not open", func(t *testing.T) {
		putRaw(t, js, "livechat.b", []byte(raw))
		_, _, err := st.Load(ctx, "livechat.b")
		require.ErrorIs(t, err, oauth.ErrUnreadable)
		assert.ErrorIs(t, err, sealed.ErrAuthentication)
	})
	t.Run("a flipped byte fails authentication", func(t *testing.T) {
		body, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(raw, "cw1:k1:"))
		require.NoError(t, err)
		body[len(body)/2] ^= 0x01
		putRaw(t, js, "livechat.c", []byte("cw1:k1:"+base64.RawURLEncoding.EncodeToString(body)))
		_, _, err = st.Load(ctx, "livechat.c")
		require.ErrorIs(t, err, oauth.ErrUnreadable)
		assert.ErrorIs(t, err, sealed.ErrAuthentication)
		assert.Contains(t, err.Error(), "nats kv del CHATWARDEN_OAUTH livechat.c", "says how to recover")
	})
	t.Run("without a keyring the sealed value is an error naming the key id", func(t *testing.T) {
		clear := openStore(t, js, nil)
		_, _, err := clear.Load(ctx, "livechat.a")
		require.ErrorIs(t, err, oauth.ErrUnreadable)
		assert.Contains(t, err.Error(), `key id "k1"`)
		assert.Contains(t, err.Error(), "secrets.keys")
	})
}

func TestKVStoreKeyRotation(t *testing.T) {
	ctx := context.Background()
	js := startJS(t)
	a, b := testKey(t, "a"), testKey(t, "b")
	underA := openStore(t, js, testKeyring(t, a))
	_, err := underA.Save(ctx, "livechat.x", tokenState(), 0)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(rawValue(t, js, "livechat.x")), "cw1:a:"))

	rotated := openStore(t, js, testKeyring(t, b, a))
	st, rev, err := rotated.Load(ctx, "livechat.x")
	require.NoError(t, err, "the old key still decrypts")
	assert.Equal(t, tokenState(), st)

	st.Refreshes++
	_, err = rotated.Save(ctx, "livechat.x", st, rev)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(rawValue(t, js, "livechat.x")), "cw1:b:"), "the next write is under the new key")

	got, _, err := openStore(t, js, testKeyring(t, b)).Load(ctx, "livechat.x")
	require.NoError(t, err, "once re-written, the old key may go")
	assert.Equal(t, st, got)

	t.Run("unknown key id", func(t *testing.T) {
		_, _, err := underA.Load(ctx, "livechat.x")
		require.ErrorIs(t, err, oauth.ErrUnreadable)
		assert.ErrorIs(t, err, sealed.ErrUnknownKey)
		assert.Contains(t, err.Error(), `unknown key id "b"`)
		assert.Contains(t, err.Error(), "add that key back")
		assert.Contains(t, err.Error(), "secrets.keys")
	})
}

func TestKVStoreReadsLegacyClearValues(t *testing.T) {
	ctx := context.Background()
	js := startJS(t)
	st := openStore(t, js, testKeyring(t, testKey(t, "k1")))
	legacy, err := json.Marshal(tokenState())
	require.NoError(t, err)
	putRaw(t, js, "livechat.old", legacy)

	got, rev, err := st.Load(ctx, "livechat.old")
	require.NoError(t, err)
	assert.Equal(t, tokenState(), got, "a value stored in clear by an older version is read")

	_, err = st.Save(ctx, "livechat.old", got, rev)
	require.NoError(t, err)
	raw := string(rawValue(t, js, "livechat.old"))
	assert.True(t, strings.HasPrefix(raw, "cw1:k1:"), "and written sealed on the next write")
	assert.NotContains(t, raw, "REFRESH-SECRET")
}

// An undecryptable state is permanent for API clients: `authentication`
// (401), not a retryable 503.
func TestTransportTreatsUnreadableStateAsPermanent(t *testing.T) {
	ctx := context.Background()
	js := startJS(t)
	clk := newClock()
	_, url := startAccounts(t, clk)
	src := newSource(t, url, clk, openStore(t, js, testKeyring(t, testKey(t, "k1"))))
	_, err := src.Token(ctx)
	require.NoError(t, err)

	other := newSource(t, url, clk, openStore(t, js, testKeyring(t, testKey(t, "k2"))))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the API must not be called without a token")
	}))
	t.Cleanup(api.Close)
	resp, err := oauth.Client(other, nil).Get(api.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(body), `"authentication"`)
	assert.Contains(t, string(body), `k1`)
}
