package apiurl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{"https with a path", "https://api.example.com/v3.5/", "https://api.example.com/v3.5", ""},
		{"http with a port, spaces trimmed", "  http://127.0.0.1:8080 ", "http://127.0.0.1:8080", ""},
		{"another scheme", "ftp://example.com", "", "scheme must be http or https"},
		{"relative", "/api", "", "scheme must be http or https"},
		{"no host", "https://", "", "missing host"},
		{"a query", "https://example.com/?a=1", "", "must not have user info, query or fragment"},
		{"user info", "https://u:p@example.com", "", "must not have user info, query or fragment"},
		{"unparsable", "http://[::1", "", "missing ']' in host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), ":p@", "a password is not echoed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
}
