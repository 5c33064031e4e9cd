package livechattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chatwarden/chatwarden/internal/fakeapi"
	"github.com/chatwarden/chatwarden/livechat"
)

// ConfigurationPrefix is the path prefix of the Configuration API actions
// the Configuration fake serves.
const ConfigurationPrefix = "/v" + livechat.APIVersion + "/configuration/action/"

// Configuration is an in-memory fake of the webhook part of the LiveChat
// Configuration API v3.6: register_webhook, list_webhooks,
// unregister_webhook, list_webhook_names, get_license_webhooks_state,
// enable_license_webhooks and disable_license_webhooks. Like the API it
// requires owner_client_id (except for the state calls with a bearer token),
// keeps at most livechat.MaxWebhooksPerAction webhooks per action and Client
// ID (limit_reached beyond), never returns secrets from list_webhooks, and
// starts with license webhooks enabled. It records every call (Call.Action
// is the action name) and takes the same Failure switches as the Agent API
// fake (FailNext).
//
// Serve it alone (Start), or in front of the Agent API fake so that one base
// URL serves both:
//
//	agent, conf := livechattest.New(), livechattest.NewConfiguration()
//	ts := httptest.NewServer(conf.Handler(agent))
//
// A Configuration is safe for concurrent use.
type Configuration struct {
	authHeaders []string

	mu       sync.Mutex
	webhooks []livechat.Webhook // with secrets, in registration order
	disabled map[string]bool    // owner_client_id → license webhooks disabled
	seq      int
	log      *fakeapi.Log[Call, Failure]
}

// ConfigurationOption configures a Configuration fake.
type ConfigurationOption func(*Configuration)

// ConfigurationAuth makes the fake require the PAT of accountID; see WithAuth.
func ConfigurationAuth(accountID, token string) ConfigurationOption {
	return func(c *Configuration) { c.authHeaders = append(c.authHeaders, livechatAuthHeader(accountID, token)) }
}

// ConfigurationBearer makes the fake require a bearer token; see WithBearer.
func ConfigurationBearer(token string) ConfigurationOption {
	return func(c *Configuration) { c.authHeaders = append(c.authHeaders, "Bearer "+token) }
}

// NewConfiguration returns a fake with no webhooks.
func NewConfiguration(opts ...ConfigurationOption) *Configuration {
	c := &Configuration{disabled: map[string]bool{}, log: fakeapi.NewLog[Call, Failure](callShape)}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// Start serves the fake alone on an httptest server.
func (c *Configuration) Start() (url string, stop func()) { return c.log.Start(c) }

// Handler serves Configuration API paths itself and passes every other
// request to next (nil: 404).
func (c *Configuration) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ConfigurationPrefix) || next == nil {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Webhooks returns the registered webhooks, with their secrets, in
// registration order.
func (c *Configuration) Webhooks() []livechat.Webhook {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]livechat.Webhook, len(c.webhooks))
	for i, w := range c.webhooks {
		out[i] = cloneWebhook(w)
	}
	return out
}

// AddWebhook registers w as it is (an id is generated when empty) and
// returns its id, bypassing validation: for webhooks registered elsewhere.
func (c *Configuration) AddWebhook(w livechat.Webhook) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.ID == "" {
		c.seq++
		w.ID = fmt.Sprintf("wh-%d", c.seq)
	}
	c.webhooks = append(c.webhooks, cloneWebhook(w))
	return w.ID
}

// SetLicenseWebhooks sets the license webhook state of ownerClientID.
func (c *Configuration) SetLicenseWebhooks(ownerClientID string, enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disabled[ownerClientID] = !enabled
}

// LicenseWebhooksEnabled reports the license webhook state of ownerClientID.
func (c *Configuration) LicenseWebhooksEnabled(ownerClientID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.disabled[ownerClientID]
}

// FailNext arms f for the next n calls of action ("" matches every action).
// Only the error of f is used (the Configuration fake does not hang).
func (c *Configuration) FailNext(action string, n int, f Failure) { c.log.FailNext(action, n, f) }

// Calls returns every call received so far.
func (c *Configuration) Calls() []Call { return c.log.Calls() }

// CallsTo returns the calls of one action.
func (c *Configuration) CallsTo(action string) []Call { return c.log.CallsTo(action) }

func cloneWebhook(w livechat.Webhook) livechat.Webhook {
	w.AdditionalData = slices.Clone(w.AdditionalData)
	w.Filters = slices.Clone(w.Filters)
	return w
}

// ServeHTTP implements http.Handler.
func (c *Configuration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.URL.Path, ConfigurationPrefix)
	if !ok {
		action = r.URL.Path
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	t, f, armed := c.log.Record(Call{Action: action, Body: body, Header: fakeapi.Headers(r, recordedHeaders[:]...), Time: time.Now()})
	var rep reply
	switch {
	case armed && f.isError():
		rep = failureReply(f)
	case !ok || r.Method != http.MethodPost:
		rep = errReply(0, livechat.TypeNotFound, "Unknown path "+r.URL.Path, nil)
	default:
		c.mu.Lock()
		rep = c.answer(r, action, body)
		c.mu.Unlock()
	}
	c.log.Answer(w, t, rep.status, nil, rep.body, rep.retryAfter)
}

// configFields are the request fields the Configuration API documents for
// each action the fake serves; any other field is a validation error.
var configFields = map[string][]string{
	"register_webhook":           {"action", "secret_key", "url", "description", "owner_client_id", "type", "additional_data", "filters"},
	"list_webhooks":              {"owner_client_id"},
	"unregister_webhook":         {"id", "owner_client_id"},
	"get_license_webhooks_state": {"owner_client_id"},
	"enable_license_webhooks":    {"owner_client_id"},
	"disable_license_webhooks":   {"owner_client_id"},
}

// answer serves one action. c.mu held.
func (c *Configuration) answer(r *http.Request, action string, body []byte) reply {
	if action == "list_webhook_names" {
		var a args
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &a); err != nil || a == nil {
				return validation("Wrong format of request: body must be a JSON object")
			}
		}
		if k := unknownField(a, "version"); k != "" {
			return validation("Wrong format of request: unknown field `" + k + "` for " + action)
		}
		return c.webhookNames()
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errReply(0, livechat.TypeAuthentication, "Missing Authorization header", nil)
	}
	if len(c.authHeaders) > 0 && !slices.Contains(c.authHeaders, auth) {
		return errReply(0, livechat.TypeAuthentication, "Invalid access token", nil)
	}
	bearer := strings.HasPrefix(auth, "Bearer ")
	var in livechat.Webhook
	if len(strings.TrimSpace(string(body))) > 0 {
		var a args
		if err := json.Unmarshal(body, &a); err != nil || a == nil {
			return validation("Wrong format of request: body must be a JSON object")
		}
		if k := unknownField(a, configFields[action]...); k != "" {
			return validation("Wrong format of request: unknown field `" + k + "` for " + action)
		}
		if err := strictDecode(body, &in); err != nil {
			return validation("Wrong format of request: " + err.Error())
		}
	}
	switch action {
	case "register_webhook":
		return c.register(in)
	case "list_webhooks":
		if in.OwnerClientID == "" {
			return validation("`owner_client_id` is required")
		}
		out := []livechat.Webhook{}
		for _, w := range c.webhooks {
			if w.OwnerClientID == in.OwnerClientID {
				w = cloneWebhook(w)
				w.SecretKey = ""
				out = append(out, w)
			}
		}
		return okReply(out)
	case "unregister_webhook":
		if in.ID == "" || in.OwnerClientID == "" {
			return validation("`id` and `owner_client_id` are required")
		}
		for i, w := range c.webhooks {
			if w.ID == in.ID && w.OwnerClientID == in.OwnerClientID {
				c.webhooks = append(c.webhooks[:i:i], c.webhooks[i+1:]...)
				return okReply(nil)
			}
		}
		return notFound("Webhook not found")
	case "get_license_webhooks_state", "enable_license_webhooks", "disable_license_webhooks":
		owner := in.OwnerClientID
		if owner == "" && !bearer {
			return validation("`owner_client_id` is required when authorizing with a personal access token")
		}
		switch action {
		case "enable_license_webhooks":
			c.disabled[owner] = false
			return okReply(nil)
		case "disable_license_webhooks":
			c.disabled[owner] = true
			return okReply(nil)
		}
		return okReply(map[string]bool{"license_webhooks_enabled": !c.disabled[owner]})
	}
	return notFound("Unknown action " + action)
}

func (c *Configuration) register(in livechat.Webhook) reply {
	switch {
	case in.Action == "":
		return validation("`action` is required")
	case !livechat.WebhookActions[in.Action]:
		return validation("`action` " + in.Action + " is not a webhook action")
	case in.URL == "" || !(strings.HasPrefix(in.URL, "http://") || strings.HasPrefix(in.URL, "https://")):
		return validation("`url` must be an http(s) URL")
	case len(in.URL) > livechat.MaxWebhookURL:
		return validation("`url` is too long")
	case in.SecretKey == "":
		return validation("`secret_key` is required")
	case in.OwnerClientID == "":
		return validation("`owner_client_id` is required")
	case in.Type != livechat.WebhookTypeLicense && in.Type != livechat.WebhookTypeBot:
		return validation("`type` must be license or bot")
	}
	for _, d := range in.AdditionalData {
		if d != livechat.AdditionalChatProperties && d != livechat.AdditionalChatPresenceUserIDs {
			return validation("`additional_data` " + d + " is not supported")
		}
	}
	n := 0
	for _, w := range c.webhooks {
		if w.OwnerClientID == in.OwnerClientID && w.Action == in.Action {
			n++
		}
	}
	if n >= livechat.MaxWebhooksPerAction {
		return errReply(0, livechat.TypeLimitReached, fmt.Sprintf("Limit of %d webhooks for action %s reached", livechat.MaxWebhooksPerAction, in.Action), nil)
	}
	c.seq++
	in.ID = fmt.Sprintf("wh-%d", c.seq)
	c.webhooks = append(c.webhooks, cloneWebhook(in))
	return okReply(map[string]string{"id": in.ID})
}

func (c *Configuration) webhookNames() reply {
	names := make([]string, 0, len(livechat.WebhookActions))
	for a := range livechat.WebhookActions {
		names = append(names, a)
	}
	slices.Sort(names)
	out := make([]livechat.WebhookName, 0, len(names))
	for _, a := range names {
		wn := livechat.WebhookName{Action: a}
		if a != "agent_status_changed" && a != "agent_deleted" {
			wn.AdditionalData = []string{livechat.AdditionalChatProperties, livechat.AdditionalChatPresenceUserIDs}
		}
		out = append(out, wn)
	}
	return okReply(out)
}
