// Package sealed encrypts small values at rest with AES-256-GCM under a
// keyring whose keys carry ids, so that keys can be rotated.
//
// A sealed value is text:
//
//	cw1:<key id>:<base64url, no padding, of nonce (12 bytes) | ciphertext | tag (16 bytes)>
//
// Seal always uses the keyring's first key (the primary) and a fresh random
// nonce; Open picks the key by the id in the value, so values sealed under an
// older key still open as long as that key stays in the keyring. The caller's
// context (e.g. the key-value key a value is stored under) and the value's
// own "cw1:<key id>:" prefix are authenticated as additional data: a value
// copied to another context, or with any byte changed, fails to open with
// ErrAuthentication.
//
// Values that do not start with Prefix are not sealed (IsSealed), which lets
// callers read what older versions stored in clear.
package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

const (
	// Prefix starts every sealed value (format version 1).
	Prefix = "cw1:"
	// KeySize is the length of a key: 32 bytes, AES-256.
	KeySize = 32
	// MaxIDLength bounds a key id.
	MaxIDLength = 64
	nonceSize   = 12
)

// Key is one key of a keyring: its id, stored in every value it seals, and
// its 32 secret bytes.
type Key struct {
	ID     string
	Secret []byte
}

// ParseKey checks id (see CheckID) and decodes secret (see DecodeKey).
// Errors wrap ErrInvalidKey and name the id, never the key.
func ParseKey(id, secret string) (Key, error) {
	if err := CheckID(id); err != nil {
		return Key{}, err
	}
	b, err := DecodeKey(secret)
	if err != nil {
		return Key{}, fmt.Errorf("%w %q: %w", ErrInvalidKey, id, err)
	}
	return Key{ID: id, Secret: b}, nil
}

// DecodeKey decodes secret, the base64 text of a 32-byte key (standard or
// URL alphabet, padded or not, surrounding space ignored; `openssl rand
// -base64 32` makes one). Errors never show the key.
func DecodeKey(secret string) ([]byte, error) {
	b, err := decodeBase64(strings.TrimSpace(secret))
	if err != nil {
		return nil, errors.New("not base64 (make a key with `openssl rand -base64 32`)")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("must be %d bytes, base64-encoded, got %d bytes (make a key with `openssl rand -base64 32`)", KeySize, len(b))
	}
	return b, nil
}

func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.Strict().DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// CheckID accepts a key id of 1 to MaxIDLength letters, digits, '.', '_'
// and '-'; errors wrap ErrInvalidKey.
func CheckID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty key id", ErrInvalidKey)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%w %q: the id is longer than %d characters", ErrInvalidKey, id, MaxIDLength)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w %q: an id may hold only letters, digits, '.', '_' and '-'", ErrInvalidKey, id)
		}
	}
	return nil
}

// Keyring seals with its primary key and opens with any of its keys. It is
// safe for concurrent use. Build it with NewKeyring.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring of keys; the first is the primary, which
// Seal uses. It fails, wrapping ErrInvalidKey, without keys, with an
// invalid id or key size, or with two keys of the same id.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: a keyring needs at least one key", ErrInvalidKey)
	}
	k := &Keyring{primary: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, key := range keys {
		if err := CheckID(key.ID); err != nil {
			return nil, err
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("%w %q: two keys with this id", ErrInvalidKey, key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("%w %q: must be %d bytes, got %d", ErrInvalidKey, key.ID, KeySize, len(key.Secret))
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidKey, key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidKey, key.ID, err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// PrimaryID is the id of the key Seal uses.
func (k *Keyring) PrimaryID() string { return k.primary }

// Seal encrypts plaintext under the primary key with a fresh random nonce,
// authenticating context with it, and returns the sealed value (see the
// package documentation). Open needs the same context.
func (k *Keyring) Seal(plaintext, context []byte) ([]byte, error) {
	aead := k.aeads[k.primary]
	header := Prefix + k.primary + ":"
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealed: drawing a nonce: %w", err)
	}
	raw := aead.Seal(nonce, nonce, plaintext, additionalData(header, context))
	out := make([]byte, len(header)+base64.RawURLEncoding.EncodedLen(len(raw)))
	copy(out, header)
	base64.RawURLEncoding.Encode(out[len(header):], raw)
	return out, nil
}

// Open decrypts a value made by Seal under the same context with any key of
// the keyring. Errors wrap ErrMalformed, ErrUnknownKey (naming the id) or
// ErrAuthentication; a value that is not sealed at all is ErrMalformed (test
// with IsSealed first to accept legacy clear values).
func (k *Keyring) Open(value, context []byte) ([]byte, error) {
	id, body, err := split(value)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(body)))
	n, err := base64.RawURLEncoding.Strict().Decode(raw, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	raw = raw[:n]
	if len(raw) < nonceSize+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a nonce and a tag", ErrMalformed, len(raw))
	}
	header := Prefix + id + ":"
	plain, err := aead.Open(nil, raw[:nonceSize], raw[nonceSize:], additionalData(header, context))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrAuthentication, id)
	}
	return plain, nil
}

// IsSealed reports whether value has the sealed prefix.
func IsSealed(value []byte) bool { return bytes.HasPrefix(value, []byte(Prefix)) }

// KeyID returns the key id a sealed value names; ok is false when value is
// not a well-formed sealed value.
func KeyID(value []byte) (id string, ok bool) {
	id, _, err := split(value)
	return id, err == nil
}

// split cuts "cw1:<id>:<body>" into id and body.
func split(value []byte) (string, []byte, error) {
	rest, ok := bytes.CutPrefix(value, []byte(Prefix))
	if !ok {
		return "", nil, fmt.Errorf("%w: no %q prefix", ErrMalformed, Prefix)
	}
	id, body, ok := bytes.Cut(rest, []byte(":"))
	if !ok {
		return "", nil, fmt.Errorf("%w: no key id", ErrMalformed)
	}
	if err := CheckID(string(id)); err != nil {
		return "", nil, fmt.Errorf("%w: bad key id", ErrMalformed)
	}
	return string(id), body, nil
}

// additionalData is header, a NUL and the caller's context: the NUL keeps
// the two parts from running into each other.
func additionalData(header string, context []byte) []byte {
	ad := make([]byte, 0, len(header)+1+len(context))
	ad = append(ad, header...)
	ad = append(ad, 0)
	return append(ad, context...)
}
