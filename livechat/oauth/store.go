package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/internal/sealed"
)

// Bucket is the JetStream key-value bucket that keeps OAuth state, shared by
// every process of a deployment.
const Bucket = "CHATWARDEN_OAUTH"

// State is what a Store keeps for one authorization: the newest tokens, and
// the lock that lets one process at a time renew them.
type State struct {
	// Token is the newest access and refresh token.
	Token
	// Seed identifies the refresh token from the configuration this state
	// grew from (a hash, not the token). When the configured refresh token
	// changes (the operator authorized again), the stored state is replaced.
	Seed string `json:"seed"`
	// RefreshingBy and RefreshingUntil hold the renewal lock: the process
	// that renews the token, and until when its lock holds.
	RefreshingBy    string    `json:"refreshing_by,omitempty"`
	RefreshingUntil time.Time `json:"refreshing_until,omitzero"`
	// UpdatedAt is when the tokens were last renewed; Refreshes counts
	// renewals.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Refreshes int       `json:"refreshes,omitempty"`
}

// locked reports whether another holder's lock is in force at now.
func (s State) locked(owner string, now time.Time) bool {
	return s.RefreshingBy != "" && s.RefreshingBy != owner && now.Before(s.RefreshingUntil)
}

// Store keeps State by key with optimistic concurrency: Save succeeds only
// when the stored revision is still rev.
type Store interface {
	// Load returns the state under key and its revision; an absent key is
	// the zero State and revision 0, without error.
	Load(ctx context.Context, key string) (State, uint64, error)
	// Save stores st under key if its revision is still rev (0: the key must
	// not exist) and returns the new revision; otherwise it fails with an
	// error wrapping ErrConflict.
	Save(ctx context.Context, key string, st State, rev uint64) (uint64, error)
}

// MemoryStore is a Store in memory, for one process (tests, CLI runs without
// a broker). It is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	data map[string]memEntry
	seq  uint64
}

type memEntry struct {
	st  State
	rev uint64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{data: map[string]memEntry{}} }

// Load implements Store.
func (m *MemoryStore) Load(_ context.Context, key string) (State, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.data[key]
	return e.st, e.rev, nil
}

// Save implements Store.
func (m *MemoryStore) Save(_ context.Context, key string, st State, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data[key].rev != rev {
		return 0, fmt.Errorf("saving %s: %w", key, ErrConflict)
	}
	m.seq++
	m.data[key] = memEntry{st: st, rev: m.seq}
	return m.seq, nil
}

// KVStore keeps State in a JetStream key-value bucket (see OpenKVStore), so
// restarts and replicas share the newest refresh token. Save is a
// compare-and-set on the entry's revision.
//
// With Keys set, every value is sealed (AES-256-GCM, see internal/sealed)
// under the keyring's first key, with the bucket and key as additional data,
// so the bucket holds no token in clear and a value copied under another key
// does not open. Load opens values under any key of the keyring, and still
// reads values stored in clear (by versions before encryption, or without
// Keys); the next Save writes them sealed. Without Keys, values are written
// in clear, and a sealed value fails to load.
type KVStore struct {
	KV jetstream.KeyValue
	// Keys seals and opens the values; nil: clear text.
	Keys *sealed.Keyring
}

// KVOption configures OpenKVStore.
type KVOption func(*KVStore)

// WithKeyring seals the values with k (nil: clear text). See KVStore.
func WithKeyring(k *sealed.Keyring) KVOption { return func(s *KVStore) { s.Keys = k } }

// OpenKVStore creates (or opens) Bucket with the given replicas and returns
// a store on it. The bucket keeps one revision per key: the newest token.
func OpenKVStore(ctx context.Context, js jetstream.JetStream, replicas int, opts ...KVOption) (*KVStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "chatwarden: LiveChat OAuth tokens (newest access and refresh token per authorization)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(1, replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("creating key-value bucket %s: %w", Bucket, err)
	}
	st := &KVStore{KV: kv}
	for _, o := range opts {
		if o != nil {
			o(st)
		}
	}
	return st, nil
}

// sealContext is the additional data of key's value: the bucket and the key.
func sealContext(key string) []byte { return []byte(Bucket + "/" + key) }

// Load implements Store. A sealed value that does not open (no keyring, an
// unknown key id, a changed value) is an error wrapping ErrUnreadable.
func (s *KVStore) Load(ctx context.Context, key string) (State, uint64, error) {
	e, err := s.KV.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return State{}, 0, nil
	case err != nil:
		return State{}, 0, fmt.Errorf("reading %s/%s: %w", Bucket, key, err)
	}
	data := e.Value()
	if sealed.IsSealed(data) {
		if data, err = s.open(key, data); err != nil {
			return State{}, 0, err
		}
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		// A corrupt entry is replaced by the configured refresh token.
		return State{}, e.Revision(), nil
	}
	return st, e.Revision(), nil
}

// open decrypts key's sealed value, with errors that say what to do.
func (s *KVStore) open(key string, data []byte) ([]byte, error) {
	id, _ := sealed.KeyID(data)
	if s.Keys == nil {
		return nil, fmt.Errorf("reading %s/%s: %w: it is encrypted with key id %q and no key is configured: add that key to secrets.keys",
			Bucket, key, ErrUnreadable, id)
	}
	plain, err := s.Keys.Open(data, sealContext(key))
	switch {
	case errors.Is(err, sealed.ErrUnknownKey):
		return nil, fmt.Errorf("reading %s/%s: %w: %w, which secrets.keys does not hold: add that key back "+
			"(retire a key only once no value is sealed with it)", Bucket, key, ErrUnreadable, err)
	case err != nil:
		return nil, fmt.Errorf("reading %s/%s: %w: %w; the value was changed, moved from another key, or sealed by another key of the same id. "+
			"Delete it (`nats kv del %s %s`) to start again from the configured refresh token", Bucket, key, ErrUnreadable, err, Bucket, key)
	}
	return plain, nil
}

// Save implements Store.
func (s *KVStore) Save(ctx context.Context, key string, st State, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("encoding OAuth state: %w", err)
	}
	if s.Keys != nil {
		if data, err = s.Keys.Seal(data, sealContext(key)); err != nil {
			return 0, fmt.Errorf("saving %s/%s: %w", Bucket, key, err)
		}
	}
	var n uint64
	if rev == 0 {
		n, err = s.KV.Create(ctx, key, data)
	} else {
		n, err = s.KV.Update(ctx, key, data, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, fmt.Errorf("saving %s/%s: %w", Bucket, key, ErrConflict)
	case err != nil:
		return 0, fmt.Errorf("saving %s/%s: %w", Bucket, key, err)
	}
	return n, nil
}
