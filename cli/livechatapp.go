package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	"github.com/chatwarden/chatwarden/service"
)

// liveChatApp is what the webhooks and chats commands act with: the
// top-level LiveChat credentials and, for an OAuth refresh token, the token
// store shared with the service.
type liveChatApp struct {
	cfg    *config.Config
	cred   config.Credentials
	store  oauth.Store
	logger *zap.Logger
	close  func()
}

// openLiveChatApp loads what a command acting for the app needs. With an
// OAuth refresh token it connects to the broker (as the operational
// commands do) so that the command renews tokens with the service rather
// than against it: a refresh token rotated here would otherwise be lost.
func (e *env) openLiveChatApp(ctx context.Context, cfgPath string) (*liveChatApp, error) {
	cfg, err := e.loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	app := &liveChatApp{cfg: cfg, cred: cfg.LiveChat.DefaultCredentials(), close: func() {}}
	if app.cred.IsZero() {
		return nil, errors.New("no LiveChat credentials: set livechat.pat (a personal access token), livechat.token or livechat.oauth.refresh_token")
	}
	if app.cred.RefreshToken == "" {
		logCfg := cfg.Log
		logCfg.Level = "warn"
		if cfg.Log.Level == "debug" || cfg.Log.Level == "error" {
			logCfg.Level = cfg.Log.Level
		}
		if app.logger, err = e.newLogger(logCfg); err != nil {
			return nil, err
		}
		return app, nil
	}
	b, logger, closeBus, err := e.openOperatorBus(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("livechat.oauth.refresh_token: this command renews OAuth tokens together with the service, through the NATS key-value bucket %s, "+
			"so start `chatwarden serve` (or `work`) once first, or use a personal access token (livechat.pat): %w", oauth.Bucket, err)
	}
	st, err := service.OpenOAuthStore(ctx, cfg, b.JS, logger)
	if err != nil {
		closeBus()
		return nil, err
	}
	app.store, app.logger, app.close = st, logger, closeBus
	return app, nil
}

// configClient is a client of the Configuration API with the app's
// credentials.
// openWebhooksClient opens the app (see openLiveChatApp), finds the owner
// client id (see owner) and builds the Configuration API client; the caller
// closes the app when there is no error.
func (e *env) openWebhooksClient(ctx context.Context, cfgPath, ownerFlag string, ownerRequired bool) (*liveChatApp, string, *livechat.Client, error) {
	app, err := e.openLiveChatApp(ctx, cfgPath)
	if err != nil {
		return nil, "", nil, err
	}
	ownerID, err := app.owner(ownerFlag, ownerRequired)
	if err == nil {
		var client *livechat.Client
		if client, err = app.configClient(); err == nil {
			return app, ownerID, client, nil
		}
	}
	app.close()
	return nil, "", nil, err
}

func (a *liveChatApp) configClient() (*livechat.Client, error) {
	return service.NewLiveChatClient(a.cfg.LiveChat, a.cred, "", &http.Client{Timeout: a.cfg.LiveChat.RequestTimeout}, a.store, a.logger)
}

// owner resolves owner_client_id: the flag, livechat.owner_client_id, then
// livechat.oauth.client_id. required makes a missing one bad usage.
func (a *liveChatApp) owner(flag string, required bool) (string, error) {
	for _, o := range []string{flag, a.cfg.LiveChat.OwnerClientID, a.cfg.LiveChat.OAuth.ClientID} {
		if o != "" {
			return o, nil
		}
	}
	if required || a.cred.Token == "" && a.cred.RefreshToken == "" {
		return "", usageError{errors.New("no owner_client_id: give --owner-client-id or set livechat.owner_client_id (the Client ID of your app in the LiveChat Developer Console)")}
	}
	return "", nil
}
