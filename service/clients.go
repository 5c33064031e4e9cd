package service

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// liveChatClients holds one client per configured organization plus the
// default one (livechat.pat / livechat.token).
type liveChatClients struct {
	def   *livechat.Client
	byOrg map[string]*livechat.Client
}

// NewLiveChatClients builds the LiveChat clients of cfg: one per organization
// in livechat.organizations plus the default (livechat.pat/livechat.token).
// An organization without credentials gets rules.ErrNoCredentials.
func NewLiveChatClients(cfg config.LiveChat, hc *http.Client, logger *zap.Logger) (rules.Clients, error) {
	return newLiveChatClients(cfg, hc, logger)
}

func newLiveChatClients(cfg config.LiveChat, hc *http.Client, logger *zap.Logger) (*liveChatClients, error) {
	if hc == nil {
		hc = &http.Client{Timeout: cfg.RequestTimeout}
	}
	build := func(key string, pat config.PAT, token string) (*livechat.Client, error) {
		var auth livechat.Auth
		switch {
		case pat.Token != "":
			auth = livechat.PAT(pat.AccountID, pat.Token)
		case token != "":
			auth = livechat.Bearer(token)
		default:
			return nil, nil
		}
		c, err := livechat.New(auth, livechat.WithBaseURL(cfg.APIURL), livechat.WithHTTPClient(hc),
			livechat.WithLogger(logger), livechat.WithUserAgent("chatwarden"))
		if err != nil {
			return nil, fmt.Errorf("building LiveChat client for %s: %w", key, err)
		}
		return c, nil
	}
	cs := &liveChatClients{byOrg: map[string]*livechat.Client{}}
	var err error
	if cs.def, err = build("livechat.pat/livechat.token", cfg.PAT, cfg.Token); err != nil {
		return nil, err
	}
	for org, cred := range cfg.Organizations {
		c, err := build("livechat.organizations."+org, cred.PAT, cred.Token)
		if err != nil {
			return nil, err
		}
		if c != nil {
			cs.byOrg[org] = c
		}
	}
	return cs, nil
}

// LiveChat implements rules.Clients: the organization's own client, else the
// default one.
func (cs *liveChatClients) LiveChat(tenant string) (rules.LiveChatAPI, error) {
	if c, ok := cs.byOrg[tenant]; ok {
		return c, nil
	}
	if cs.def != nil {
		return cs.def, nil
	}
	return nil, fmt.Errorf("organization %q: %w", tenant, rules.ErrNoCredentials)
}
