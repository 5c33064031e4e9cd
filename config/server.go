package config

import (
	"fmt"
	"net/url"

	"github.com/chatwarden/chatwarden/internal/sealed"
)

// Secrets configures the encryption of the secrets chatwarden keeps in NATS:
// the LiveChat OAuth access and refresh tokens in the key-value bucket
// CHATWARDEN_OAUTH (AES-256-GCM, see internal/sealed).
type Secrets struct {
	// Keys are the encryption keys, each an id (stored with every value,
	// 1-64 letters, digits, '.', '_', '-') and a key: base64 of 32 random
	// bytes (`openssl rand -base64 32`), typically "${CHATWARDEN_SECRETS_KEY}".
	// The first key encrypts every new write; the others only decrypt, so a
	// key is rotated by putting the new one first and keeping the old one
	// until every value was written again. Entries with an empty key (an
	// unset variable) are dropped. Default none: tokens are stored in clear,
	// with a warning at startup when OAuth is configured.
	Keys []SecretKey `yaml:"keys"`
}

// SecretKey is one entry of secrets.keys.
type SecretKey struct {
	ID  string `yaml:"id"`
	Key string `yaml:"key"`
}

// Keyring is the keyring of secrets.keys, nil without keys. Validate
// reports the errors it can return.
func (s Secrets) Keyring() (*sealed.Keyring, error) {
	if len(s.Keys) == 0 {
		return nil, nil
	}
	keys := make([]sealed.Key, 0, len(s.Keys))
	for i, k := range s.Keys {
		key, err := sealed.ParseKey(k.ID, k.Key)
		if err != nil {
			return nil, fmt.Errorf("secrets.keys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	k, err := sealed.NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("secrets.keys: %w", err)
	}
	return k, nil
}

// Validate reports every problem of secrets.keys, each a *FieldError
// naming the entry ("secrets.keys[1].id: ..."), joined with errors.Join;
// nil when there is none. The section has no defaults.
func (s *Secrets) Validate() error { return validateWith(s.validate) }

func (s *Secrets) validate(v *validator) {
	seen := map[string]int{}
	for i, k := range s.Keys {
		idKey, keyKey := fmt.Sprintf("secrets.keys[%d].id", i), fmt.Sprintf("secrets.keys[%d].key", i)
		switch j, dup := seen[k.ID]; {
		case k.ID == "":
			v.add(idKey, "required: a short name stored with every value the key encrypts, e.g. \"k1\"")
		case sealed.CheckID(k.ID) != nil:
			v.add(idKey, "%v", sealed.CheckID(k.ID))
		case dup:
			v.add(idKey, "%q is also the id of secrets.keys[%d]: every key needs its own id", k.ID, j)
		default:
			seen[k.ID] = i
		}
		if _, err := sealed.DecodeKey(k.Key); err != nil {
			v.add(keyKey, "key %q: %v", k.ID, err)
		}
	}
}

// Defaults of the otel section.
const (
	DefaultOTelServiceName = "chatwarden"
	DefaultOTelSampleRatio = 1.0
)

// OTel configures OpenTelemetry tracing: spans from each webhook request
// through the stored event (W3C traceparent in the NATS message headers) to
// the worker, each rule and each platform API call, exported over OTLP/HTTP.
// Off by default, at no cost.
type OTel struct {
	// Endpoint is the OTLP/HTTP collector, e.g. "http://otel-collector:4318"
	// (traces go to <endpoint>/v1/traces). Default "": tracing off.
	Endpoint string `yaml:"endpoint"`
	// ServiceName names this process in traces. Default "chatwarden".
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of new traces recorded, 0..1 (a webhook's
	// trace continues in the workers whatever the ratio). Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Provision sets each zero setting of the otel section to its default;
// settings already set are kept. It is the one place the section's
// defaults are applied.
func (o *OTel) Provision() {
	setString(&o.ServiceName, DefaultOTelServiceName)
	setFloat(&o.SampleRatio, DefaultOTelSampleRatio)
}

// Validate reports every problem of the otel section, each a *FieldError
// naming its key, joined with errors.Join; nil when there is none.
func (o *OTel) Validate() error { return validateWith(o.validate) }

func (o *OTel) validate(v *validator) {
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		v.add("otel.sample_ratio", "must be between 0 and 1, got %g", o.SampleRatio)
	}
	if o.Endpoint != "" {
		if u, err := url.Parse(o.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("otel.endpoint", "must be an http(s) URL such as http://otel-collector:4318, got %q", o.Endpoint)
		}
	}
}
