package livechat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Configuration API v3.6 webhook management
// (https://platform.text.com/docs/management/configuration-api#webhooks).
// Every call is `POST {baseURL}/v3.6/configuration/action/<action>`, with
// the same credentials, region handling and errors as the Agent Chat Web
// API calls. Webhooks belong to a Client ID (an app): they fire on every
// license that installed the app, at most three per action and Client ID,
// and changes take up to two minutes to propagate. A registration cannot be
// edited: to change it, register a new one and unregister the old.

// Error types the Configuration API adds to the Agent Chat Web API's.
const (
	TypeAlreadyExists     = "already_exists"
	TypeGroupNotFound     = "group_not_found"
	TypeOwnershipTransfer = "ownership_transfer"
)

// Webhook types of register_webhook.
const (
	WebhookTypeLicense = "license"
	WebhookTypeBot     = "bot"
)

// Additional data a webhook can carry (register_webhook's additional_data).
const (
	AdditionalChatProperties      = "chat_properties"
	AdditionalChatPresenceUserIDs = "chat_presence_user_ids"
)

// MaxWebhookURL is the longest url register_webhook accepts.
const MaxWebhookURL = 500

// MaxWebhooksPerAction is how many webhooks a Client ID may register per
// action.
const MaxWebhooksPerAction = 3

// Webhook is a webhook registration. SecretKey is sent when registering and
// never returned by list_webhooks.
type Webhook struct {
	ID             string          `json:"id,omitempty"`
	Action         string          `json:"action"`
	URL            string          `json:"url"`
	SecretKey      string          `json:"secret_key,omitempty"`
	Description    string          `json:"description,omitempty"`
	OwnerClientID  string          `json:"owner_client_id"`
	Type           string          `json:"type"`
	AdditionalData []string        `json:"additional_data,omitempty"`
	Filters        json.RawMessage `json:"filters,omitempty"`
}

// Same reports whether w and o register the same thing: action, URL, type,
// additional data (in any order) and filters. IDs, descriptions and secrets
// are not compared (list_webhooks does not return secrets).
func (w Webhook) Same(o Webhook) bool {
	if w.Action != o.Action || w.URL != o.URL || w.Type != o.Type {
		return false
	}
	a, b := slices.Clone(w.AdditionalData), slices.Clone(o.AdditionalData)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		return false
	}
	return emptyJSON(w.Filters) && emptyJSON(o.Filters) || string(w.Filters) == string(o.Filters)
}

func emptyJSON(r json.RawMessage) bool {
	s := string(r)
	return s == "" || s == "null" || s == "{}"
}

// WebhookName is one entry of list_webhook_names: an action and the filters
// and additional data it supports.
type WebhookName struct {
	Action         string   `json:"action"`
	Filters        []string `json:"filters,omitempty"`
	AdditionalData []string `json:"additional_data,omitempty"`
}

// configCall is call for the Configuration API, not paced by the limiter.
func (c *Client) configCall(ctx context.Context, action, target string, in, out any) error {
	return c.exchange(ctx, "configuration", action, target, in, out, c.do)
}

// RegisterWebhook registers w and returns its id. Action, URL (at most
// MaxWebhookURL characters), SecretKey, OwnerClientID and Type are
// required; no request is sent when one is missing.
// https://platform.text.com/docs/management/configuration-api#register-webhook
func (c *Client) RegisterWebhook(ctx context.Context, w Webhook) (string, error) {
	const action = "register_webhook"
	target := "action " + w.Action
	if err := required(action, target, "action", w.Action, "url", w.URL, "secret_key", w.SecretKey,
		"owner_client_id", w.OwnerClientID, "type", w.Type); err != nil {
		return "", err
	}
	if len(w.URL) > MaxWebhookURL {
		return "", wrapErr(action, target, fmt.Errorf("%w: url longer than %d characters", ErrInvalidArgument, MaxWebhookURL))
	}
	w.ID = ""
	var out struct {
		ID string `json:"id"`
	}
	if err := c.configCall(ctx, action, target, w, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ListWebhooks lists the webhooks of ownerClientID (required).
// https://platform.text.com/docs/management/configuration-api#list-webhooks
func (c *Client) ListWebhooks(ctx context.Context, ownerClientID string) ([]Webhook, error) {
	const action = "list_webhooks"
	target := "of client " + ownerClientID
	if err := required(action, target, "owner_client_id", ownerClientID); err != nil {
		return nil, err
	}
	in := struct {
		OwnerClientID string `json:"owner_client_id"`
	}{ownerClientID}
	var out []Webhook
	if err := c.configCall(ctx, action, target, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// UnregisterWebhook removes the webhook id of ownerClientID.
// https://platform.text.com/docs/management/configuration-api#unregister-webhook
func (c *Client) UnregisterWebhook(ctx context.Context, id, ownerClientID string) error {
	const action = "unregister_webhook"
	target := "webhook " + id
	if err := required(action, target, "id", id, "owner_client_id", ownerClientID); err != nil {
		return err
	}
	in := struct {
		ID            string `json:"id"`
		OwnerClientID string `json:"owner_client_id"`
	}{id, ownerClientID}
	return c.configCall(ctx, action, target, in, nil)
}

// ListWebhookNames lists the webhook actions of version ("" for the API's
// default) with the filters and additional data each supports. It needs no
// authorization.
// https://platform.text.com/docs/management/configuration-api#list-webhook-names
func (c *Client) ListWebhookNames(ctx context.Context, version string) ([]WebhookName, error) {
	const action = "list_webhook_names"
	in := struct {
		Version string `json:"version,omitempty"`
	}{version}
	var out []WebhookName
	if err := c.configCall(ctx, action, "", in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ownerBody is the body of the license-webhook state calls: owner_client_id
// is required with a PAT; with a bearer token it may be empty (the token's
// client id is used).
type ownerBody struct {
	OwnerClientID string `json:"owner_client_id,omitempty"`
}

// LicenseWebhooksState reports whether the license's webhooks of
// ownerClientID are enabled.
// https://platform.text.com/docs/management/configuration-api#get-license-webhooks-state
func (c *Client) LicenseWebhooksState(ctx context.Context, ownerClientID string) (enabled bool, err error) {
	var out struct {
		Enabled bool `json:"license_webhooks_enabled"`
	}
	if err := c.configCall(ctx, "get_license_webhooks_state", "of client "+ownerClientID, ownerBody{ownerClientID}, &out); err != nil {
		return false, err
	}
	return out.Enabled, nil
}

// EnableLicenseWebhooks enables the license's webhooks of ownerClientID
// again after DisableLicenseWebhooks (installing the app does not).
// https://platform.text.com/docs/management/configuration-api#enable-license-webhooks
func (c *Client) EnableLicenseWebhooks(ctx context.Context, ownerClientID string) error {
	return c.configCall(ctx, "enable_license_webhooks", "of client "+ownerClientID, ownerBody{ownerClientID}, nil)
}

// DisableLicenseWebhooks stops the license's webhooks of ownerClientID;
// they stay disabled, even after reinstalling the app, until enabled again.
// https://platform.text.com/docs/management/configuration-api#disable-license-webhooks
func (c *Client) DisableLicenseWebhooks(ctx context.Context, ownerClientID string) error {
	return c.configCall(ctx, "disable_license_webhooks", "of client "+ownerClientID, ownerBody{ownerClientID}, nil)
}
