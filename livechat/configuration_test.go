package livechat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

func newConfigFake(t *testing.T, opts ...livechattest.ConfigurationOption) (*livechattest.Configuration, *livechat.Client) {
	t.Helper()
	fake := livechattest.NewConfiguration(opts...)
	url, stop := fake.Start()
	t.Cleanup(stop)
	return fake, newClient(t, url, testPAT)
}

func hook(action string) livechat.Webhook {
	return livechat.Webhook{Action: action, URL: "https://cw.example.com/webhooks/livechat", SecretKey: "whsec",
		OwnerClientID: "app-1", Type: livechat.WebhookTypeLicense}
}

func TestWebhookRegistrationLifecycle(t *testing.T) {
	fake, c := newConfigFake(t, livechattest.ConfigurationAuth("acc-1", "secret-pat"))
	ctx := context.Background()

	withProps := hook("chat_deactivated")
	withProps.AdditionalData = []string{livechat.AdditionalChatProperties}
	withProps.Description = "chatwarden"
	id, err := c.RegisterWebhook(ctx, withProps)
	require.NoError(t, err)
	assert.NotEmpty(t, id)
	calls := fake.CallsTo("register_webhook")
	require.Len(t, calls, 1)
	assert.JSONEq(t, `{"action":"chat_deactivated","url":"https://cw.example.com/webhooks/livechat","secret_key":"whsec",
		"description":"chatwarden","owner_client_id":"app-1","type":"license","additional_data":["chat_properties"]}`, string(calls[0].Body))

	list, err := c.ListWebhooks(ctx, "app-1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ID)
	assert.Empty(t, list[0].SecretKey, "list_webhooks returns no secret")
	assert.True(t, list[0].Same(withProps))
	assert.False(t, list[0].Same(hook("chat_deactivated")), "other additional data")
	assert.False(t, list[0].Same(hook("incoming_chat")))

	other, err := c.ListWebhooks(ctx, "app-2")
	require.NoError(t, err)
	assert.Empty(t, other)

	require.NoError(t, c.UnregisterWebhook(ctx, id, "app-1"))
	list, err = c.ListWebhooks(ctx, "app-1")
	require.NoError(t, err)
	assert.Empty(t, list)
	err = c.UnregisterWebhook(ctx, id, "app-1")
	assert.ErrorIs(t, err, livechat.ErrNotFound)
}

func TestRegisterWebhookValidation(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*livechat.Webhook)
		wantSent bool
		wantErr  error
	}{
		{"no secret", func(w *livechat.Webhook) { w.SecretKey = "" }, false, livechat.ErrInvalidArgument},
		{"no owner", func(w *livechat.Webhook) { w.OwnerClientID = "" }, false, livechat.ErrInvalidArgument},
		{"no type", func(w *livechat.Webhook) { w.Type = "" }, false, livechat.ErrInvalidArgument},
		{"url too long", func(w *livechat.Webhook) { w.URL = "https://x/" + string(make([]byte, 500)) }, false, livechat.ErrInvalidArgument},
		{"unknown action", func(w *livechat.Webhook) { w.Action = "chat_exploded" }, true, livechat.ErrValidation},
		{"unknown additional data", func(w *livechat.Webhook) { w.AdditionalData = []string{"everything"} }, true, livechat.ErrValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := newConfigFake(t)
			w := hook("incoming_chat")
			tt.edit(&w)
			_, err := c.RegisterWebhook(context.Background(), w)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.wantSent, len(fake.Calls()) > 0)
			assert.False(t, livechat.IsRetryable(err))
		})
	}
}

func TestRegisterWebhookLimitPerAction(t *testing.T) {
	_, c := newConfigFake(t)
	for i := range livechat.MaxWebhooksPerAction {
		w := hook("incoming_chat")
		w.URL += "?n=" + string(rune('a'+i))
		_, err := c.RegisterWebhook(context.Background(), w)
		require.NoError(t, err)
	}
	_, err := c.RegisterWebhook(context.Background(), hook("incoming_chat"))
	assert.ErrorIs(t, err, livechat.ErrLimitReached)
}

func TestLicenseWebhooksState(t *testing.T) {
	fake, c := newConfigFake(t)
	ctx := context.Background()
	on, err := c.LicenseWebhooksState(ctx, "app-1")
	require.NoError(t, err)
	assert.True(t, on)

	require.NoError(t, c.DisableLicenseWebhooks(ctx, "app-1"))
	on, err = c.LicenseWebhooksState(ctx, "app-1")
	require.NoError(t, err)
	assert.False(t, on)
	assert.False(t, fake.LicenseWebhooksEnabled("app-1"))

	require.NoError(t, c.EnableLicenseWebhooks(ctx, "app-1"))
	on, err = c.LicenseWebhooksState(ctx, "app-1")
	require.NoError(t, err)
	assert.True(t, on)
	assert.JSONEq(t, `{"owner_client_id":"app-1"}`, string(fake.CallsTo("get_license_webhooks_state")[0].Body))

	_, err = c.LicenseWebhooksState(ctx, "")
	assert.ErrorIs(t, err, livechat.ErrValidation, "a PAT needs owner_client_id")
	bearer := newClient(t, fakeURL(t, fake), livechat.Bearer("dal:x"))
	on, err = bearer.LicenseWebhooksState(ctx, "")
	require.NoError(t, err, "a bearer token's own client id is used")
	assert.True(t, on)
}

func TestConfigurationErrorsAndRetries(t *testing.T) {
	tests := []struct {
		name          string
		failure       livechattest.Failure
		wantRetryable bool
	}{
		{"429", livechattest.TooManyRequests(0), true},
		{"500", livechattest.ServerError(), true},
		{"authorization", livechattest.Failure{Type: livechat.TypeAuthorization, Message: "missing scope webhooks.configuration:rw"}, false},
		{"already exists", livechattest.Failure{Type: livechat.TypeAlreadyExists, Message: "exists"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := newConfigFake(t)
			fake.FailNext("list_webhooks", 1, tt.failure)
			_, err := c.ListWebhooks(context.Background(), "app-1")
			require.Error(t, err)
			assert.Equal(t, tt.wantRetryable, livechat.IsRetryable(err))
			assert.Contains(t, err.Error(), "list_webhooks")
		})
	}
}

func TestConfigurationFakeInFrontOfTheAgentFake(t *testing.T) {
	agent := livechattest.New()
	agent.AddChat(livechattest.UnassignedChat("C1", time.Now()))
	conf := livechattest.NewConfiguration()
	ts := httptest.NewServer(conf.Handler(agent))
	defer ts.Close()
	c := newClient(t, ts.URL, testPAT)
	_, err := c.GetChat(context.Background(), "C1", "")
	require.NoError(t, err)
	_, err = c.ListWebhookNames(context.Background(), "3.6")
	require.NoError(t, err)
	assert.Len(t, agent.Calls(), 1)
	assert.Len(t, conf.Calls(), 1)
}

// fakeURL serves fake on another server (for a second client).
func fakeURL(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
