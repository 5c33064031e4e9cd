package config

import (
	"time"
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
