package rocketchat_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

// contract is the client as the apiclienttest suite sees it; Rocket.Chat
// takes the server URL as New's argument.
var contract = apiclienttest.Target[*rocketchat.Client]{
	New: func(url string, opts ...rocketchat.Option) (*rocketchat.Client, error) {
		return rocketchat.New(url, testAuth, opts...)
	},
	Call: func(ctx context.Context, c *rocketchat.Client) (err error) {
		_, err = c.GetRoom(ctx, "R1")
		return err
	},
	CredentialHeaders: []string{"X-Auth-Token", "X-User-Id"}, OK: `{"success":true,"room":{"_id":"R1","t":"l"}}`,
	TooManyRequests: `{"success":false,"error":"Error, too many requests. Please slow down. ` +
		`You must wait a while before trying this endpoint again. [error-too-many-requests]"}`,
	Errors: apiclienttest.ErrorsOf(rocketchat.ErrInvalidOption, rocketchat.IsRetryable, rocketchat.RetryAfter),
}

func TestClientContract(t *testing.T) { apiclienttest.TestClient(t, contract) }

// The fake, with room R1, through the client; failures are armed for
// rooms.info.
func TestFakeContract(t *testing.T) {
	failures := []rocketchattest.Failure{
		apiclienttest.TooManyRequests:    rocketchattest.TooManyRequests(apiclienttest.FakeRetryAfter),
		apiclienttest.ServerError:        rocketchattest.ServerError(),
		apiclienttest.ServiceUnavailable: rocketchattest.ServiceUnavailable(),
		apiclienttest.Hang:               rocketchattest.Hang(apiclienttest.FakeHang),
	}
	apiclienttest.TestFake(t, apiclienttest.Fake[*rocketchat.Client]{Client: contract, Start: func(t *testing.T) (string, func(apiclienttest.Kind)) {
		srv, url := newFake(t, rocketchattest.WithAuth(testAuth.UserID, testAuth.Token))
		srv.AddRoom(rocketchat.Room{ID: "R1", Open: true})
		return url, func(k apiclienttest.Kind) { srv.FailNext(rocketchat.PathRoomsInfo, 1, failures[k]) }
	}})
}
