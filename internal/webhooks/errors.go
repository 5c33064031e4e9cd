package webhooks

import "errors"

// ErrNoWebhook is returned by Select for an id the owner has no webhook
// with, as "no webhook <id>".
var ErrNoWebhook = errors.New("no webhook")
