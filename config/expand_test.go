package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestExpand(t *testing.T) {
	getenv := env("HOST", "nats.example.com", "EMPTY", "", "DOLLAR", "a$b", "NESTED", "${HOST}", "_X1", "x")
	tests := []struct {
		name, in, want string
	}{
		{"no reference", "plain text", "plain text"},
		{"variable", "${HOST}", "nats.example.com"},
		{"inside text", "nats://${HOST}:4222", "nats://nats.example.com:4222"},
		{"two variables", "${HOST}/${_X1}", "nats.example.com/x"},
		{"unset is empty", "[${UNSET}]", "[]"},
		{"default when unset", "${UNSET:-fallback}", "fallback"},
		{"default when empty", "${EMPTY:-fallback}", "fallback"},
		{"default not used when set", "${HOST:-fallback}", "nats.example.com"},
		{"default without colon", "${UNSET-fallback}", "fallback"},
		{"empty default", "${UNSET:-}", ""},
		{"default with spaces and colons", "${UNSET:-nats://a:4222, b}", "nats://a:4222, b"},
		{"nested default", "${UNSET:-${HOST}}", "nats.example.com"},
		{"nested default falls through", "${UNSET:-${ALSO_UNSET:-last}}", "last"},
		{"required and set", "${HOST:?must be set}", "nats.example.com"},
		{"double dollar escapes", "$${HOST}", "${HOST}"},
		{"double dollar alone", "cost: $$5", "cost: $5"},
		{"lone dollar kept", "pa$word", "pa$word"},
		{"trailing dollar kept", "price$", "price$"},
		{"bare $NAME is not a reference", "$HOST", "$HOST"},
		{"values are not expanded again", "${NESTED}", "${HOST}"},
		{"value with dollar kept", "${DOLLAR}", "a$b"},
		{"escape inside default", "${UNSET:-$${HOST}}", "${HOST}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.in, getenv)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"unclosed", "${HOST", "without a closing }"},
		{"unclosed nested", "${A:-${B}", "without a closing }"},
		{"empty name", "${}", "a variable name"},
		{"name starts with digit", "${1A}", "a variable name"},
		{"unsupported operator", "${A:+x}", "unsupported form"},
		{"required unset", "${NATS_URL:?set it to nats://host:4222}", "environment variable NATS_URL is empty or unset: set it to nats://host:4222"},
		{"required without message", "${NATS_URL:?}", "NATS_URL is empty or unset: must be set"},
		{"required without colon", "${NATS_URL?no}", "NATS_URL is empty or unset: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Expand(tt.in, env())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestExpandNilGetenv(t *testing.T) {
	got, err := Expand("[${HOME}]", nil)
	require.NoError(t, err)
	assert.Equal(t, "[]", got, "a nil getenv is an empty environment, never the process's")
}
