package rules

import (
	"errors"
	"fmt"
)

// ErrNoCredentials is matched by the error Clients return when no
// credentials are configured for the event's platform and organization;
// actions cannot run until they are. Platforms say what to set with
// NoCredentials.
var ErrNoCredentials = errors.New("no credentials configured for this organization")

// Clients gives the platform clients of an organization (event.Tenant), by
// platform name (event.Platform). Client returns an error wrapping
// ErrNoCredentials when the platform has no credentials for that tenant.
// Platforms with one account or workspace per configuration (HelpCrunch,
// Rocket.Chat) ignore the tenant. The client's type is the platform's
// business: its adapter package (platform/livechat, ...) asserts it to the
// interface its actions need (see ClientAs).
type Clients interface {
	Client(platform, tenant string) (any, error)
}

// ClientMap is Clients with one client per platform name, the same for
// every organization (tests, offline tools). A platform it lacks has no
// credentials.
type ClientMap map[string]any

// Client implements Clients.
func (m ClientMap) Client(platform, _ string) (any, error) {
	if c, ok := m[platform]; ok && c != nil {
		return c, nil
	}
	return nil, NoCredentials(platform, "none configured here")
}

// ClientAs returns c's client of platform for the event's organization as a
// T (the interface the platform's actions need). It fails, matching
// ErrNoCredentials, when there are no credentials, and names the types when
// the client is not a T.
func ClientAs[T any](c *Call, platform string) (T, error) {
	var zero T
	raw, err := c.engine.clients.Client(platform, c.Event.Tenant)
	if err != nil {
		return zero, err
	}
	t, ok := raw.(T)
	if !ok {
		return zero, fmt.Errorf("the %s client is a %T, which does not implement %T", platform, raw, &zero)
	}
	return t, nil
}

// NoCredentials returns an error that matches ErrNoCredentials and says, in
// its text, which platform lacks credentials and what to set, e.g.
// NoCredentials("HelpCrunch", "set helpcrunch.api_key").
func NoCredentials(platform, hint string) error {
	return &noCredentialsError{platform: platform, hint: hint}
}

type noCredentialsError struct{ platform, hint string }

func (e *noCredentialsError) Error() string {
	return "no " + e.platform + " credentials configured (" + e.hint + ")"
}

func (e *noCredentialsError) Is(target error) bool { return target == ErrNoCredentials }
