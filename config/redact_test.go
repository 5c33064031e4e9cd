package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// secretKeys classifies every text setting: true for secrets. A new text
// setting fails TestRedactedClassifiesEveryField until it is listed here
// (and, if secret, redacted).
var secretKeys = map[string]bool{
	"http.addr":                    false,
	"admin.addr":                   false,
	"admin.token":                  true,
	"http.trusted_proxies":         false,
	"nats.url":                     false, // its credentials are redacted; see TestRedactedURLs
	"nats.listen":                  false,
	"nats.data_dir":                false,
	"nats.creds_file":              false, // a path
	"nats.user":                    false,
	"nats.password":                true,
	"nats.token":                   true,
	"nats.tls.ca_file":             false,
	"nats.tls.cert_file":           false,
	"nats.tls.key_file":            false, // a path
	"nats.name":                    false,
	"livechat.api_url":             false,
	"livechat.webhook_secrets":     true,
	"livechat.pat.account_id":      false,
	"livechat.pat.token":           true,
	"livechat.token":               true,
	"livechat.organizations":       true, // tested through its entries' token and pat.token
	"livechat.oauth.client_id":     false,
	"livechat.oauth.client_secret": true,
	"livechat.oauth.refresh_token": true,
	"livechat.oauth.accounts_url":  false, // its credentials are redacted like other URLs
	"livechat.owner_client_id":     false,
	"helpcrunch.api_url":           false,
	"helpcrunch.api_key":           true,
	"helpcrunch.signing_key":       true,
	"rocketchat.url":               false,
	"rocketchat.user_id":           false,
	"rocketchat.auth_token":        true,
	"rocketchat.webhook_token":     true,
	"rules_file":                   false,
	"sweep.schedule":               false,
	"sweep.groups":                 false,
	"log.level":                    false,
	"log.format":                   false,
	"otel.endpoint":                false,
	"otel.service_name":            false,
	"otel.sample_ratio":            false,
	"secrets.keys":                 true, // the key of each entry; see TestRedactedSecretsKeys
	"platforms":                    true, // each section's fields tagged secret; see TestPlatformSections
}

func TestRedactedClassifiesEveryField(t *testing.T) {
	for _, key := range allKeys(configType, "") {
		f := fieldByKey(t, key)
		switch f.Kind() {
		case reflect.String, reflect.Slice, reflect.Map:
			_, ok := secretKeys[key]
			assert.True(t, ok, "classify %s in secretKeys", key)
		}
	}
}

// fieldByKey returns the type of the setting at a dotted key.
func fieldByKey(t *testing.T, key string) reflect.Type {
	t.Helper()
	typ := configType
	for name := range strings.SplitSeq(key, ".") {
		f, ok := yamlFields(typ)[name]
		require.True(t, ok, key)
		typ = f.Type
	}
	return typ
}

func TestRedacted(t *testing.T) {
	// Every text setting holds a marker naming it.
	c := Default()
	setAll(reflect.ValueOf(c).Elem(), "")
	c.LiveChat.WebhookSecrets = []string{"marker:livechat.webhook_secrets[0]", "marker:livechat.webhook_secrets[1]"}
	c.LiveChat.Organizations = map[string]Credentials{
		"org-1": {Token: "marker:org-1.token"},
		"org-2": {PAT: PAT{AccountID: "marker:org-2.account_id", Token: "marker:org-2.pat.token"}},
		"org-3": {RefreshToken: "marker:org-3.refresh_token"},
	}
	orig := *c

	r := c.Redacted()
	out, err := yaml.Marshal(r)
	require.NoError(t, err)
	dump := string(out) + fmt.Sprintf("%+v", *r)

	for key, secret := range secretKeys {
		marker := "marker:" + key
		if !strings.Contains(fmt.Sprintf("%+v", orig), marker) {
			continue // not a plain text setting
		}
		if secret {
			assert.NotContains(t, dump, marker, "%s is a secret", key)
		} else {
			assert.Contains(t, dump, marker, "%s is not a secret", key)
		}
	}
	for _, m := range []string{"marker:livechat.webhook_secrets", "marker:org-1.token", "marker:org-2.pat.token", "marker:org-3.refresh_token"} {
		assert.NotContains(t, dump, m)
	}
	assert.Contains(t, dump, "marker:org-2.account_id", "account ids are kept")
	assert.Equal(t, []string{RedactedValue, RedactedValue}, r.LiveChat.WebhookSecrets)
	assert.Equal(t, RedactedValue, r.LiveChat.Organizations["org-1"].Token)
	assert.Equal(t, RedactedValue, r.Admin.Token)

	assert.Equal(t, orig, *c, "the original is unchanged")
	assert.Equal(t, "marker:livechat.webhook_secrets[0]", c.LiveChat.WebhookSecrets[0])
	assert.Equal(t, "marker:org-1.token", c.LiveChat.Organizations["org-1"].Token)
}

func TestRedactedSecretsKeys(t *testing.T) {
	c := Default()
	c.Secrets.Keys = []SecretKey{{ID: "k2", Key: "marker:secrets.keys[0].key"}, {ID: "k1", Key: "marker:secrets.keys[1].key"}}
	r := c.Redacted()
	out, err := yaml.Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(out)+fmt.Sprintf("%+v", *r), "marker:")
	assert.Equal(t, []SecretKey{{ID: "k2", Key: RedactedValue}, {ID: "k1", Key: RedactedValue}}, r.Secrets.Keys, "ids are kept")
	assert.Equal(t, "marker:secrets.keys[0].key", c.Secrets.Keys[0].Key, "the original is unchanged")
}

func TestRedactedKeepsUnsetSecretsEmpty(t *testing.T) {
	c := Default()
	r := c.Redacted()
	assert.Equal(t, c, r, "nothing set, nothing to hide: the copy shows what is missing")
}

func TestRedactedURLs(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no credentials", "nats://nats:4222", "nats://nats:4222"},
		{"user and password", "nats://user:pw@nats:4222", "nats://user:REDACTED@nats:4222"},
		{"token as user", "nats://s3cret@nats:4222", "nats://REDACTED@nats:4222"},
		{"list", "nats://u:p@a:4222,nats://b:4222", "nats://u:REDACTED@a:4222,nats://b:4222"},
		{"at sign in path", "https://host/@me", "https://host/@me"},
		{"unparseable", "nats://u:p@a:4222%zz", RedactedValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.NATS.URL = tt.in
			c.RocketChat.URL = tt.in
			r := c.Redacted()
			assert.Equal(t, tt.want, r.NATS.URL)
			if !strings.Contains(tt.in, ",") {
				assert.Equal(t, tt.want, r.RocketChat.URL)
			}
		})
	}
}

// setAll sets every string field under v to "marker:<key>".
func setAll(v reflect.Value, path string) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		key := join(path, name)
		switch fv := v.Field(i); fv.Kind() {
		case reflect.String:
			fv.SetString("marker:" + key)
		case reflect.Struct:
			setAll(fv, key)
		}
	}
}
