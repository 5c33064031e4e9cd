package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chatwarden/chatwarden/platform"
)

// webhook receives POST /webhooks/<name> with the platform's receiver rc.
//
// Order of checks: first those every webhook gets (readOrReject: body size
// 413, bytes in flight 503, the client address's share 429, body timeout
// 408), then rc's own (its secret or signature, its envelope, the bounds of
// the event's fields; see platform.Receiver and each platform's Receiver),
// then the event is stored (store: 200 with an empty body once the broker
// acknowledged it, 503 when it could not be stored).
func webhook(name string, rc platform.Receiver, d Deps) echo.HandlerFunc {
	r := newReceiver(name, d)
	return func(c echo.Context) error {
		body, ok := r.readOrReject(c)
		if !ok {
			return nil
		}
		ev, err := rc.Receive(c.Request(), body, d.Now())
		if rej, ok := errors.AsType[*platform.Rejection](err); ok {
			return r.reject(c, rej.Status, rej.Reason, rej.Msg, rej.Fields...)
		}
		if err != nil {
			return r.reject(c, http.StatusBadRequest, reasonMalformed, err.Error())
		}
		if ev == nil || ev.Platform != name {
			return fmt.Errorf("the receiver of %s returned no event of its platform (%v)", name, ev)
		}
		return r.store(c, ev)
	}
}
