package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/internal/textdist"
)

// LiveChat configures the LiveChat (text.com) platform: webhook verification
// and API credentials. Credentials are one of a personal access token (PAT),
// an OAuth/bot bearer Token, or an OAuth refresh token (OAuth.RefreshToken,
// renewed automatically); see https://platform.text.com/docs/authorization.
type LiveChat struct {
	// APIURL is the API base URL; tests point it at a fake. Default
	// "https://api.livechatinc.com".
	APIURL string `yaml:"api_url"`
	// WebhookSecrets are the accepted webhook secret keys; several may be
	// listed while rotating. Load and Parse drop empty entries, so
	// ["${LIVECHAT_WEBHOOK_SECRET}"] with the variable unset is an empty
	// list. Empty list (the default): every LiveChat webhook is rejected
	// with 401.
	WebhookSecrets []string `yaml:"webhook_secrets"`
	// PAT is a personal access token: both account_id and token. Default
	// none.
	PAT PAT `yaml:"pat"`
	// Token is an OAuth access token ("dal:..." or "fra:...") or bot token,
	// sent as a bearer token. Default "".
	Token string `yaml:"token"`
	// OAuth is an OAuth app (client id and secret) and, optionally, the
	// refresh token the workers act with. Default none.
	OAuth OAuth `yaml:"oauth"`
	// Organizations holds credentials per LiveChat organization id, for apps
	// that serve several organizations; an organization not listed uses PAT,
	// Token or OAuth.RefreshToken. Default none.
	Organizations map[string]Credentials `yaml:"organizations"`
	// OwnerClientID is the Client ID that owns the webhooks `chatwarden
	// webhooks` registers, lists and removes (register_webhook's
	// owner_client_id). Default "": OAuth.ClientID.
	OwnerClientID string `yaml:"owner_client_id"`
	// RequestTimeout bounds one API request. Default 20s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxRate is a ceiling on the requests a second each LiveChat client
	// sends (one client per organization, each with its own budget), for
	// a plan whose limit is known: the client starts there and still
	// slows down when the API answers too_many_requests. Default 0: no
	// ceiling; the client starts at InitialRate and finds the limit itself.
	MaxRate float64 `yaml:"max_rate"`
	// InitialRate is where a client without a ceiling starts, in requests
	// a second; it doubles every second while requests wait for it.
	// Default 20.
	InitialRate float64 `yaml:"initial_rate"`
}

// OAuth is a LiveChat OAuth app (Developer Console → your app → Authorization)
// and the refresh token of an account that authorized it. Access tokens live
// 8 hours; chatwarden renews them before they expire and after an
// `authentication` error, and keeps the newest refresh token in the JetStream
// key-value bucket CHATWARDEN_OAUTH so restarts and replicas share it. See
// https://platform.text.com/docs/authorization/oauth-authorization.
type OAuth struct {
	// ClientID and ClientSecret identify the app; give both or neither.
	// Default "".
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RefreshToken, when set, is the default credential (instead of pat or
	// token). Needs ClientID and ClientSecret. Default "".
	RefreshToken string `yaml:"refresh_token"`
	// AccountsURL is the accounts server with the token endpoint /v2/token.
	// Default "https://accounts.livechat.com".
	AccountsURL string `yaml:"accounts_url"`
}

// IsZero reports whether nothing is set but the accounts URL.
func (o OAuth) IsZero() bool { return o.ClientID == "" && o.ClientSecret == "" && o.RefreshToken == "" }

// CredentialsFor returns the credentials to act for a LiveChat organization:
// its entry in Organizations if there is one, else the top-level PAT or
// Token. ok is false when that leaves no credentials.
func (l LiveChat) CredentialsFor(organizationID string) (c Credentials, ok bool) {
	if c, found := l.Organizations[organizationID]; found && !c.IsZero() {
		return c, true
	}
	c = l.DefaultCredentials()
	return c, !c.IsZero()
}

// DefaultCredentials are the top-level credentials: PAT, Token or
// OAuth.RefreshToken (zero when none is set).
func (l LiveChat) DefaultCredentials() Credentials {
	return Credentials{PAT: l.PAT, Token: l.Token, RefreshToken: l.OAuth.RefreshToken}
}

// HasCredentials reports whether any LiveChat credentials are configured:
// PAT, Token, OAuth.RefreshToken or an organization's.
func (l LiveChat) HasCredentials() bool {
	if !l.DefaultCredentials().IsZero() {
		return true
	}
	for _, c := range l.Organizations {
		if !c.IsZero() {
			return true
		}
	}
	return false
}

// PAT is a LiveChat personal access token, created by AccountID; see
// https://platform.text.com/docs/authorization/personal-access-tokens.
type PAT struct {
	AccountID string `yaml:"account_id"`
	Token     string `yaml:"token"`
}

// IsZero reports whether neither field is set.
func (p PAT) IsZero() bool { return p.AccountID == "" && p.Token == "" }

// Credentials are one organization's LiveChat credentials: a PAT, a bearer
// Token, or an OAuth RefreshToken of the app in livechat.oauth; one of them.
type Credentials struct {
	PAT   PAT    `yaml:"pat"`
	Token string `yaml:"token"`
	// RefreshToken is an OAuth refresh token of an account of the
	// organization that authorized the app livechat.oauth (client_id and
	// client_secret); access tokens are renewed from it. Default "".
	RefreshToken string `yaml:"refresh_token"`
	// MaxRate and InitialRate replace livechat.max_rate and
	// livechat.initial_rate for this organization's client. Default 0:
	// livechat's.
	MaxRate     float64 `yaml:"max_rate"`
	InitialRate float64 `yaml:"initial_rate"`
}

// IsZero reports whether no credentials are set.
func (c Credentials) IsZero() bool { return c.PAT.IsZero() && c.Token == "" && c.RefreshToken == "" }

// HelpCrunch configures the HelpCrunch platform.
type HelpCrunch struct {
	// APIURL is the API base URL. Default "https://api.helpcrunch.com".
	APIURL string `yaml:"api_url"`
	// APIKey is the REST API key the workers act with. Default "".
	APIKey string `yaml:"api_key"`
	// SigningKey verifies webhook signatures; empty: every HelpCrunch
	// webhook is rejected with 401. Default "".
	SigningKey string `yaml:"signing_key"`
	// MaxAge is how old a webhook delivery may be (its lastAttemptAt, else
	// createdAt) before it is refused with 401 as a replay; up to
	// HelpCrunchClockSkew in the future is allowed. With a signing key set,
	// nats.duplicate_window must be at least MaxAge + HelpCrunchClockSkew, so
	// that a replay accepted within MaxAge is still recognised as a
	// duplicate. Default 5m.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxRate is a ceiling on the requests a second the HelpCrunch client
	// sends. Default 2 (HelpCrunch allows 120 a minute per account).
	MaxRate float64 `yaml:"max_rate"`
	// RequestTimeout bounds one HelpCrunch API request, from sending it to
	// the end of the answer. Default (and 0): livechat.request_timeout (20s
	// unless set), which timed HelpCrunch requests before this key existed.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// PlatformTimeout is a platform's request timeout d, or
// livechat.request_timeout when d is 0 (see HelpCrunch.RequestTimeout).
func (c *Config) PlatformTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return c.LiveChat.RequestTimeout
}

// HelpCrunchClockSkew is how far in the future a HelpCrunch delivery may be
// dated (helpcrunch.MaxClockSkew; a test keeps them equal).
const HelpCrunchClockSkew = time.Minute

// RocketChat configures a Rocket.Chat workspace.
type RocketChat struct {
	// URL is the workspace's base URL, e.g. https://chat.example.com.
	// Required with UserID and AuthToken. Default "".
	URL string `yaml:"url"`
	// UserID and AuthToken are a personal access token of the user the
	// workers act as; give both or neither. Default "".
	UserID    string `yaml:"user_id"`
	AuthToken string `yaml:"auth_token"`
	// WebhookToken is the token Rocket.Chat's outgoing webhook sends; empty:
	// every Rocket.Chat webhook is rejected with 401. Default "".
	WebhookToken string `yaml:"webhook_token"`
	// MaxRate is a ceiling on the requests a second the Rocket.Chat client
	// sends, on top of the per-route limits the server announces in its
	// X-RateLimit headers (which are always honoured). Default 0: none.
	MaxRate float64 `yaml:"max_rate"`
	// RequestTimeout bounds one Rocket.Chat API request, from sending it to
	// the end of the answer. Default (and 0): livechat.request_timeout (20s
	// unless set), which timed Rocket.Chat requests before this key existed.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Section is the configuration section of a platform registered beyond
// LiveChat, HelpCrunch and Rocket.Chat (whose sections are the top-level
// livechat:, helpcrunch: and rocketchat:): platforms.<name> in the file, in
// the manner of caddy's modules. The platform's adapter registers its type
// (RegisterSection; package platform does it for Platform.Config); Parse
// checks the section's keys against the type's yaml tags as strictly as
// the rest of the file (unknown keys with "did you mean", types,
// durations, ${VAR} expansion), decodes it, sets its defaults (Provision)
// and validates it (Validate).
type Section interface {
	// Provision sets the defaults of the settings left out.
	Provision()
	// Validate reports every problem of the section, joined with
	// errors.Join; errors made with SectionError name their key inside
	// the section, and Validate reports them under
	// platforms.<name>.<key>.
	Validate() error
}

// Sections holds the platform sections by platform name (Config.Platforms).
type Sections map[string]Section

// sectionTypes are the registered sections' constructors by platform name.
var sectionTypes = map[string]func() Section{}

// sectionsType is the type of Config.Platforms, which the walk of Parse
// treats by the registered types.
var sectionsType = reflect.TypeFor[Sections]()

// RegisterSection makes platforms.<name> a section of the configuration,
// decoded into a new value from newSection: a pointer to a struct whose
// fields have yaml tags. It panics when name is registered already or
// newSection gives no such pointer. Call it from an init function; it is
// not safe for use concurrent with Parse.
func RegisterSection(name string, newSection func() Section) {
	if _, dup := sectionTypes[name]; dup {
		panic(fmt.Sprintf("config: section platforms.%s is registered twice", name))
	}
	if t := reflect.TypeOf(newSection()); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: section platforms.%s: want a pointer to a struct, got %v", name, t))
	}
	sectionTypes[name] = newSection
}

// SectionError is a problem with key (a path inside a platform's section,
// e.g. "api_url" or "accounts[2].token") for Section.Validate to return;
// Validate reports it as platforms.<name>.<key>.
func SectionError(key, format string, args ...any) error {
	return fieldErr(key, 0, ErrInvalid, format, args...)
}

// UnmarshalYAML decodes each platform's section into its registered type.
// Parse has checked the keys against the types before (see
// walker.sections).
func (s *Sections) UnmarshalYAML(n *yaml.Node) error {
	var raw map[string]yaml.Node
	if err := n.Decode(&raw); err != nil {
		return err
	}
	out := make(Sections, len(raw))
	for name, node := range raw {
		newSection, ok := sectionTypes[name]
		if !ok {
			return fmt.Errorf("platforms.%s: no platform registered by that name", name)
		}
		sec := newSection()
		if err := node.Decode(sec); err != nil {
			return fmt.Errorf("platforms.%s: %w", name, err)
		}
		out[name] = sec
	}
	*s = out
	return nil
}

// sections checks platforms: each key must name a registered section, whose
// settings are then walked like any other.
func (w *walker) sections(n *yaml.Node, path string) {
	w.members(n, path, "a mapping of platform names to their settings", "platform names", func(key string, k, v *yaml.Node) {
		newSection, ok := sectionTypes[k.Value]
		if !ok {
			names := slices.Sorted(maps.Keys(sectionTypes))
			hint := "none has a section here"
			if len(names) > 0 {
				hint = "those with a section here: " + strings.Join(names, ", ")
			}
			best := textdist.Closest(k.Value, slices.Values(names))
			if best != "" {
				hint += fmt.Sprintf("; did you mean %q?", join(path, best))
			}
			w.fail(key, k.Line, ErrUnknownKey, "no platform registered by that name (%s)", hint)
			return
		}
		w.walk(v, reflect.TypeOf(newSection()).Elem(), key)
	})
}

// provisionSections adds the registered sections the file leaves out and
// sets every section's defaults.
func (c *Config) provisionSections() {
	if len(c.Platforms) == 0 {
		c.Platforms = nil // empty and absent are the same
	}
	for name, newSection := range sectionTypes {
		if _, ok := c.Platforms[name]; !ok {
			if c.Platforms == nil {
				c.Platforms = Sections{}
			}
			c.Platforms[name] = newSection()
		}
	}
	for _, s := range c.Platforms {
		if s != nil {
			s.Provision()
		}
	}
}

// validateSections reports the problems each section's Validate finds,
// under platforms.<name>.
func (c *Config) validateSections(v *validator) {
	for _, name := range slices.Sorted(maps.Keys(c.Platforms)) {
		s := c.Platforms[name]
		if s == nil {
			continue
		}
		err := s.Validate()
		if err == nil {
			continue
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			if fe, ok := errors.AsType[*FieldError](e); ok {
				v.errs = append(v.errs, &FieldError{Key: join("platforms."+name, fe.Key), Err: fe.Err})
				continue
			}
			v.add("platforms."+name, "%v", e)
		}
	}
}

// redactSections returns copies of the sections with their secrets
// replaced (see Config.Redacted): the string fields tagged secret:"true",
// and the credentials inside the URLs of those tagged secret:"url".
func redactSections(in Sections) Sections {
	if in == nil {
		return nil
	}
	out := make(Sections, len(in))
	for name, s := range in {
		v := reflect.ValueOf(s)
		if s == nil || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			out[name] = s
			continue
		}
		cp := reflect.New(v.Elem().Type())
		cp.Elem().Set(v.Elem())
		for _, f := range reflect.VisibleFields(cp.Elem().Type()) {
			if f.Type.Kind() != reflect.String || !f.IsExported() {
				continue
			}
			fv := cp.Elem().FieldByIndex(f.Index)
			switch f.Tag.Get("secret") {
			case "true":
				p := fv.Addr().Interface().(*string)
				redact(p)
			case "url":
				fv.SetString(redactURL(fv.String()))
			}
		}
		out[name] = cp.Interface().(Section)
	}
	return out
}
