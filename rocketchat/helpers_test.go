package rocketchat_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/internal/httpcall/httpcalltest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

var testAuth = rocketchat.Auth{UserID: "bot-user-id", Token: "secret-pat-token"}

func newFake(t *testing.T, opts ...rocketchattest.Option) (*rocketchattest.Server, string) {
	return apiclienttest.StartFake(t, rocketchattest.New(opts...))
}

func newClient(t *testing.T, url string, opts ...rocketchat.Option) *rocketchat.Client {
	t.Helper()
	c, err := rocketchat.New(url, testAuth, opts...)
	require.NoError(t, err)
	return c
}

// wireRequest is a request as a wireServer saw it.
type wireRequest = httpcalltest.Request

// wireServer records every request and answers with answer (nil: 200 {"success":true}),
// for exact wire checks.
func wireServer(t *testing.T, answer http.HandlerFunc) (url string, requests func() []wireRequest) {
	return httpcalltest.Record(t, answer, `{"success":true}`)
}
