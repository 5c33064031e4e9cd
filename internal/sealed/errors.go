package sealed

import "errors"

// Errors of the package. Every error of Open and ParseKey wraps one of them.
var (
	// ErrInvalidKey is wrapped by ParseKey and NewKeyring for a key id or
	// key that cannot be used: an empty or badly formed id, a key that is
	// not base64 or not 32 bytes long, two keys with the same id.
	ErrInvalidKey = errors.New("sealed: invalid key")
	// ErrUnknownKey is wrapped by Open when the value names a key id the
	// keyring does not hold (a key removed too early, or a keyring of
	// another deployment). The error names the id.
	ErrUnknownKey = errors.New("sealed: unknown key id")
	// ErrMalformed is wrapped by Open when the value has the sealed prefix
	// but not the sealed layout (cut short, bad base64).
	ErrMalformed = errors.New("sealed: malformed value")
	// ErrAuthentication is wrapped by Open when the value does not
	// authenticate under its key and context: it was changed, or moved from
	// another context (another key-value key), or sealed by a different key
	// under the same id.
	ErrAuthentication = errors.New("sealed: value failed authentication")
)
