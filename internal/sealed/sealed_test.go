package sealed_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/sealed"
)

func newKey(t *testing.T, id string) sealed.Key {
	t.Helper()
	b := make([]byte, sealed.KeySize)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return sealed.Key{ID: id, Secret: b}
}

func keyring(t *testing.T, keys ...sealed.Key) *sealed.Keyring {
	t.Helper()
	k, err := sealed.NewKeyring(keys...)
	require.NoError(t, err)
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := keyring(t, newKey(t, "k1"))
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"json", []byte(`{"access_token":"dal:secret","refresh_token":"rt"}`)},
		{"binary", bytes.Repeat([]byte{0, 0xff, ':'}, 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := k.Seal(tc.plaintext, []byte("ctx"))
			require.NoError(t, err)
			assert.True(t, sealed.IsSealed(v))
			assert.True(t, strings.HasPrefix(string(v), "cw1:k1:"), "value %q", v)
			if len(tc.plaintext) > 3 {
				assert.NotContains(t, string(v), string(tc.plaintext))
			}
			id, ok := sealed.KeyID(v)
			assert.True(t, ok)
			assert.Equal(t, "k1", id)
			got, err := k.Open(v, []byte("ctx"))
			require.NoError(t, err)
			assert.Equal(t, tc.plaintext, append([]byte{}, got...))
		})
	}
	t.Run("fresh nonce each time", func(t *testing.T) {
		a, err := k.Seal([]byte("same"), nil)
		require.NoError(t, err)
		b, err := k.Seal([]byte("same"), nil)
		require.NoError(t, err)
		assert.NotEqual(t, a, b)
	})
}

func TestRotation(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	old := keyring(t, a)
	v, err := old.Seal([]byte("secret"), []byte("ctx"))
	require.NoError(t, err)

	rotated := keyring(t, b, a)
	assert.Equal(t, "b", rotated.PrimaryID())
	got, err := rotated.Open(v, []byte("ctx"))
	require.NoError(t, err, "the old key still opens")
	assert.Equal(t, "secret", string(got))

	nv, err := rotated.Seal(got, []byte("ctx"))
	require.NoError(t, err)
	id, _ := sealed.KeyID(nv)
	assert.Equal(t, "b", id, "new values use the first key")

	_, err = old.Open(nv, []byte("ctx"))
	require.ErrorIs(t, err, sealed.ErrUnknownKey)
	assert.Contains(t, err.Error(), `"b"`, "the error names the key id")
}

func TestOpenFails(t *testing.T) {
	k1 := newKey(t, "k1")
	k := keyring(t, k1)
	v, err := k.Seal([]byte(`{"refresh_token":"rt"}`), []byte("CHATWARDEN_OAUTH/a"))
	require.NoError(t, err)
	body := len("cw1:k1:")

	flip := func(i int) []byte {
		// Flip one bit of the decoded byte i of the body and encode again,
		// so the value stays well-formed base64.
		raw, err := base64.RawURLEncoding.DecodeString(string(v[body:]))
		require.NoError(t, err)
		raw[i] ^= 0x01
		return append([]byte("cw1:k1:"), base64.RawURLEncoding.EncodeToString(raw)...)
	}
	rawLen := base64.RawURLEncoding.DecodedLen(len(v) - body)

	for _, tc := range []struct {
		name    string
		keyring *sealed.Keyring
		value   []byte
		context string
		want    error
		msg     string
	}{
		{"flipped nonce byte", k, flip(0), "CHATWARDEN_OAUTH/a", sealed.ErrAuthentication, `"k1"`},
		{"flipped ciphertext byte", k, flip(14), "CHATWARDEN_OAUTH/a", sealed.ErrAuthentication, ""},
		{"flipped tag byte", k, flip(rawLen - 1), "CHATWARDEN_OAUTH/a", sealed.ErrAuthentication, ""},
		{"other context (moved to another key)", k, v, "CHATWARDEN_OAUTH/b", sealed.ErrAuthentication, ""},
		{"other key under the same id", keyring(t, newKey(t, "k1")), v, "CHATWARDEN_OAUTH/a", sealed.ErrAuthentication, ""},
		{"id changed to another known key", keyring(t, k1, sealed.Key{ID: "k2", Secret: k1.Secret}),
			append([]byte("cw1:k2:"), v[body:]...), "CHATWARDEN_OAUTH/a", sealed.ErrAuthentication, ""},
		{"unknown key id", keyring(t, newKey(t, "other")), v, "CHATWARDEN_OAUTH/a", sealed.ErrUnknownKey, `"k1"`},
		{"not sealed", k, []byte(`{"refresh_token":"rt"}`), "", sealed.ErrMalformed, ""},
		{"no id separator", k, []byte("cw1:k1"), "", sealed.ErrMalformed, ""},
		{"bad base64", k, []byte("cw1:k1:!!!!"), "", sealed.ErrMalformed, ""},
		{"cut short", k, v[:body+10], "CHATWARDEN_OAUTH/a", sealed.ErrMalformed, ""},
		{"bad id", k, []byte("cw1:k 1:AAAA"), "", sealed.ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.keyring.Open(tc.value, []byte(tc.context))
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, sealed.KeySize) // 0xfb gives '+' and '/' in base64
	for _, tc := range []struct {
		name, id, secret string
		wantErr          string
	}{
		{"standard base64", "k1", base64.StdEncoding.EncodeToString(key), ""},
		{"unpadded", "k1", base64.RawStdEncoding.EncodeToString(key), ""},
		{"URL alphabet", "k1", base64.URLEncoding.EncodeToString(key), ""},
		{"surrounding space", "k1", " " + base64.StdEncoding.EncodeToString(key) + "\n", ""},
		{"not base64", "k1", "not base64 at all!", `"k1": not base64`},
		{"too short", "k1", base64.StdEncoding.EncodeToString(key[:16]), `"k1": must be 32 bytes, base64-encoded, got 16 bytes`},
		{"too long", "k1", base64.StdEncoding.EncodeToString(append(key, 1)), "got 33 bytes"},
		{"empty key", "k1", "", "got 0 bytes"},
		{"empty id", "", base64.StdEncoding.EncodeToString(key), "empty key id"},
		{"id with a colon", "k:1", base64.StdEncoding.EncodeToString(key), `"k:1": an id may hold only`},
		{"id too long", strings.Repeat("k", sealed.MaxIDLength+1), base64.StdEncoding.EncodeToString(key), "longer than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := sealed.ParseKey(tc.id, tc.secret)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, sealed.Key{ID: tc.id, Secret: key}, k)
				return
			}
			require.ErrorIs(t, err, sealed.ErrInvalidKey)
			assert.Contains(t, err.Error(), tc.wantErr)
			if len(tc.secret) > 20 {
				assert.NotContains(t, err.Error(), tc.secret, "errors never show the key")
			}
		})
	}
}

func TestNewKeyring(t *testing.T) {
	a := newKey(t, "a")
	for _, tc := range []struct {
		name    string
		keys    []sealed.Key
		wantErr string
	}{
		{"none", nil, "at least one key"},
		{"duplicate ids", []sealed.Key{a, newKey(t, "b"), newKey(t, "a")}, `"a": two keys with this id`},
		{"short key", []sealed.Key{{ID: "s", Secret: make([]byte, 16)}}, `"s": must be 32 bytes, got 16`},
		{"bad id", []sealed.Key{{ID: "a b", Secret: a.Secret}}, `"a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sealed.NewKeyring(tc.keys...)
			require.ErrorIs(t, err, sealed.ErrInvalidKey)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
