package rocketchat_test

import (
	"context"
	"testing"

	"github.com/chatwarden/chatwarden/internal/apiclient/apiclienttest"
	"github.com/chatwarden/chatwarden/rocketchat"
	"github.com/chatwarden/chatwarden/rocketchat/rocketchattest"
)

// contract is the client as the apiclienttest suite sees it.
var contract = apiclienttest.Target[*rocketchat.Client]{
	New: func(url string, opts ...rocketchat.Option) (*rocketchat.Client, error) {
		return rocketchat.New(url, testAuth, opts...)
	},
	Call: func(ctx context.Context, c *rocketchat.Client) error {
		_, err := c.GetRoom(ctx, "R1")
		return err
	},
	OK: `{"success":true,"room":{"_id":"R1","t":"l"}}`,
	TooManyRequests: `{"success":false,"error":"Error, too many requests. Please slow down. ` +
		`You must wait a while before trying this endpoint again. [error-too-many-requests]"}`,
	CredentialHeaders: []string{"X-Auth-Token", "X-User-Id"},
	ErrInvalidOption:  rocketchat.ErrInvalidOption,
	IsRetryable:       rocketchat.IsRetryable,
	RetryAfter:        rocketchat.RetryAfter,
}

func TestClientContract(t *testing.T) { apiclienttest.TestClient(t, contract) }

func TestFakeContract(t *testing.T) {
	apiclienttest.TestFake(t, apiclienttest.Fake[*rocketchat.Client]{
		Client: contract,
		Start: func(t *testing.T) (string, func(apiclienttest.Kind)) {
			srv, url := newFake(t, rocketchattest.WithAuth(testAuth.UserID, testAuth.Token))
			srv.AddRoom(rocketchat.Room{ID: "R1", Open: true})
			return url, func(k apiclienttest.Kind) {
				srv.FailNext(rocketchat.PathRoomsInfo, 1, [...]rocketchattest.Failure{
					apiclienttest.TooManyRequests:    rocketchattest.TooManyRequests(apiclienttest.FakeRetryAfter),
					apiclienttest.ServerError:        rocketchattest.ServerError(),
					apiclienttest.ServiceUnavailable: rocketchattest.ServiceUnavailable(),
					apiclienttest.Hang:               rocketchattest.Hang(apiclienttest.FakeHang),
				}[k])
			}
		},
	})
}
