package platform

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// Receiver verifies, decodes and normalizes one platform's webhooks. The
// service mounts it at POST /webhooks/<Name> on the public listener, behind
// the checks every webhook gets first (http.max_body_bytes, the bytes and
// webhooks in flight, the caps per client address, http.body_timeout), and
// stores the event it returns before answering 200 with an empty body.
type Receiver interface {
	// Receive turns body, the whole request body of r (read already), into
	// the event to store, received at now; its Platform is the receiver's
	// platform. A refusal is a *Rejection (any other error: 400,
	// "malformed"). Receive must not keep r or body, and must be safe for
	// concurrent use.
	Receive(r *http.Request, body []byte, now time.Time) (*event.Event, error)
}

// NewReceiverFunc builds a platform's receiver from the configuration (its
// secrets, its limits).
type NewReceiverFunc func(cfg *config.Config) (Receiver, error)

// Reasons a receiver refuses a webhook (label "reason" of
// chatwarden_webhooks_rejected_total); a platform may add its own (HelpCrunch's
// "stale").
const (
	ReasonUnauthorized = "unauthorized"
	ReasonMalformed    = "malformed"
)

// Rejection is a webhook refused by a Receiver: answered with Status and
// {"error": Msg}, counted under Reason, logged with Fields (never a secret).
type Rejection struct {
	Status int
	Reason string
	Msg    string
	Fields []zap.Field
}

// Reject returns a Rejection.
func Reject(status int, reason, msg string, fields ...zap.Field) *Rejection {
	return &Rejection{Status: status, Reason: reason, Msg: msg, Fields: fields}
}

func (r *Rejection) Error() string { return fmt.Sprintf("%d %s: %s", r.Status, r.Reason, r.Msg) }

// Secrets compares a presented secret against several accepted ones (for
// rotation) in constant time. Secrets are hashed first so the comparison
// does not leak their lengths either. The zero value accepts nothing.
type Secrets [][sha256.Size]byte

// NewSecrets returns the set of the non-empty secrets.
func NewSecrets(secrets ...string) Secrets {
	var s Secrets
	for _, v := range secrets {
		if v != "" {
			s = append(s, sha256.Sum256([]byte(v)))
		}
	}
	return s
}

// Match reports whether presented is one of the secrets; an empty one never
// is.
func (s Secrets) Match(presented string) bool {
	if len(s) == 0 || presented == "" {
		return false
	}
	h := sha256.Sum256([]byte(presented))
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(h[:], s[i][:])
	}
	return ok == 1
}

// Clip shortens s to event.MaxFieldLen bytes, for logging values that have
// not been bounds-checked yet (say, of a webhook refused for its secret).
func Clip(s string) string {
	if len(s) <= event.MaxFieldLen {
		return s
	}
	return s[:event.MaxFieldLen] + "…"
}
