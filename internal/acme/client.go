package acme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
)

// Client calls Acme's API.
type Client struct {
	url, token string
	hc         *http.Client
}

// APIError is an answer other than 2xx.
type APIError struct{ StatusCode int }

func (e *APIError) Error() string { return fmt.Sprintf("acme: HTTP %d", e.StatusCode) }

// Ping posts a note to a conversation.
func (c *Client) Ping(ctx context.Context, conversation, note string) error {
	body, err := json.Marshal(map[string]string{"conversation": conversation, "note": note})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/ping", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("acme ping: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("acme ping: %w", &APIError{StatusCode: resp.StatusCode})
	}
	return nil
}

// Errors classifies the client's errors: 429 and 5xx and no answer are
// retried, other statuses are permanent, named by rules.StatusReason.
var Errors = rules.PlatformErrors{
	Retryable: func(err error) bool {
		ae, ok := errors.AsType[*APIError](err)
		return !ok || ae.StatusCode == http.StatusTooManyRequests || ae.StatusCode >= 500
	},
	RetryAfter: func(error) (time.Duration, bool) { return 0, false },
	Status: func(err error) int {
		if ae, ok := errors.AsType[*APIError](err); ok {
			return ae.StatusCode
		}
		return 0
	},
	Reason: func(err error) string {
		if ae, ok := errors.AsType[*APIError](err); ok {
			return rules.StatusReason(ae.StatusCode)
		}
		return ""
	},
}

// What Acme's rule steps are told without credentials.
const (
	title         = "Acme Chat"
	noCredentials = "set platforms.acme.url and platforms.acme.token"
)

// NewClients builds the client of platforms.acme (platform.Platform.NewClients):
// its HTTP client from the service, with the section's timeout, behind the
// platform's circuit breaker.
func NewClients(_ context.Context, env platform.ClientEnv) (platform.Clients, error) {
	cfg := configOf(env.Config)
	if cfg.Token == "" {
		return platform.Single(nil, title, noCredentials), nil
	}
	c := &Client{url: cfg.URL, token: cfg.Token, hc: env.HTTP(cfg.RequestTimeout)(platform.DefaultOrg)}
	return platform.Single(c, title, noCredentials), nil
}
