package httpcall

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrCrossHostRedirect is matched (errors.Is) by the *RedirectError a
// client made by SameOriginRedirects returns for a redirect to another
// origin. Permanent: following it would hand the platform credentials to
// whoever runs that origin; asking again gets the same redirect.
var ErrCrossHostRedirect = errors.New("refused a redirect to another host")

// maxRedirects is how many same-origin redirects are followed, as
// http.Client does by default.
const maxRedirects = 10

// RedirectError is a refused redirect: From is the origin the request was
// sent to, To the URL the answer redirected to.
type RedirectError struct {
	From, To string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused a redirect from %s to %s: another host (scheme, host or port), which must not receive "+
		"the credentials; configure the URL the platform redirects to if that host is the right one", e.From, e.To)
}

// Is matches ErrCrossHostRedirect.
func (e *RedirectError) Is(target error) bool { return target == ErrCrossHostRedirect }

// SameOriginRedirects returns a copy of hc (nil: http.DefaultClient's
// settings) that follows a redirect only to the origin (scheme, host and
// port; the default port of the scheme counts as given) of the request the
// caller sent, and refuses any other with a *RedirectError before the
// redirected request is sent: a platform client's credentials
// (Authorization, X-Auth-Token and X-User-Id, or whatever a transport adds
// on each round trip) never reach another host. Go itself only drops
// Authorization and cookies on such redirects, and a transport that
// authenticates every request (oauth.Transport) would add them again.
// Same-origin redirects are followed as hc's CheckRedirect allows (nil: at
// most 10). An https URL redirecting to http on the same host is another
// origin, and refused.
//
// Every platform client applies it to the client it is given, so a caller
// cannot forget it. It is idempotent.
func SameOriginRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !SameOrigin(via[0].URL, req.URL) {
			return &RedirectError{From: origin(via[0].URL), To: redactedURL(req.URL)}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c
}

// SameOrigin reports whether a and b have the same scheme, host and port
// (case-insensitive; a scheme's default port counts as given).
func SameOrigin(a, b *url.URL) bool { return origin(a) == origin(b) }

// origin is scheme://host:port in lower case, with the scheme's default
// port when the URL names none.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// redactedURL is u without user information and query (which may carry
// tokens), for error messages.
func redactedURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}
