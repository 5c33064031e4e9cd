package platform

import (
	"context"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/rules"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
)

// DefaultOrg is the organization label of the calls made with a platform's
// default credentials (LiveChat's top-level ones, the HelpCrunch account):
// the circuit breaker they go through and its metrics.
const DefaultOrg = "default"

// Clients are one platform's API clients, by organization: what its
// NewClients builds and its actions reach through rules.Clients.
type Clients interface {
	// Client returns the client acting for tenant (event.Tenant), or an
	// error wrapping rules.ErrNoCredentials that says what to configure.
	// Platforms with one account per configuration ignore tenant.
	Client(tenant string) (any, error)
	// BreakerOrg is the organization label of the circuit breaker the
	// calls for tenant go through (DefaultOrg for the default credentials).
	BreakerOrg(tenant string) string
}

// ClientEnv is what the service gives a platform's client factory.
type ClientEnv struct {
	// Config is the service's configuration: the platform reads its own
	// section (Section), and the workers' settings when it needs them.
	Config *config.Config
	// HTTP returns the HTTP clients of the platform's calls, for a
	// timeout of a whole call (the platform's request_timeout; 0: the
	// default): call it once, then with each organization's label
	// (BreakerOrg; "" is DefaultOrg) for the client of that
	// organization's credentials. All share a transport tuned for the
	// workers' concurrency, are instrumented and traced, and each
	// organization's calls go through its own circuit breaker. Call it only
	// for credentials that exist: a breaker is created per label.
	HTTP func(timeout time.Duration) func(org string) *http.Client
	// JetStream, when not nil, keeps state the service's processes share
	// (LiveChat's OAuth tokens); nil: keep it in memory.
	JetStream jetstream.JetStream
	// Logger is the service's logger (never nil).
	Logger *zap.Logger
}

// NewClientsFunc builds a platform's clients from env; it fails only on
// configuration that cannot work (a malformed credential), not on missing
// credentials, which its Clients.Client reports per call.
type NewClientsFunc func(ctx context.Context, env ClientEnv) (Clients, error)

// Single is the Clients of a platform with one account per configuration:
// c for every tenant, behind the DefaultOrg breaker. Without credentials,
// pass a nil c: Client then answers rules.NoCredentials(title, hint), hint
// saying what to set.
func Single(c any, title, hint string) Clients { return single{c: c, title: title, hint: hint} }

type single struct {
	c           any
	title, hint string
}

func (s single) Client(string) (any, error) {
	if s.c == nil {
		return nil, rules.NoCredentials(s.title, s.hint)
	}
	return s.c, nil
}

func (single) BreakerOrg(string) string { return DefaultOrg }
