package rules

import "errors"

// ErrNoCredentials is returned by a ClientFor when no platform credentials
// are configured for the event's organization; actions cannot run until they
// are (livechat.pat, livechat.token or livechat.organizations).
var ErrNoCredentials = errors.New("no LiveChat credentials configured (set livechat.pat, livechat.token or livechat.organizations)")
