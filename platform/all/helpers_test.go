package all_test

import (
	"context"

	"github.com/chatwarden/chatwarden/platform"
	hcp "github.com/chatwarden/chatwarden/platform/helpcrunch"
	lcp "github.com/chatwarden/chatwarden/platform/livechat"
	rcp "github.com/chatwarden/chatwarden/platform/rocketchat"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/rules/enginetest"
)

// The shipped platforms' actions and hooks, as the service gets them from
// the registry.

// The clients' interfaces the shipped actions need.
type (
	HelpCrunchAPI = hcp.API
	RocketChatAPI = rcp.API
)

type (
	memAudit     = enginetest.Audit
	memScheduler = enginetest.Scheduler
)

// DefaultActions are the registered platforms' actions.
func DefaultActions() rules.Actions { return platform.Actions() }

// shippedHooks are the registered platforms' engine hooks.
func shippedHooks() map[string]rules.PlatformHooks { return platform.Hooks() }

// The shipped platforms' error classifications.
var (
	liveChatErr   = func(ctx context.Context, err error) error { return lcp.Errors.Classify(ctx, err) }
	helpCrunchErr = func(ctx context.Context, err error) error { return hcp.Errors.Classify(ctx, err) }
	rocketChatErr = func(ctx context.Context, err error) error { return rcp.Errors.Classify(ctx, err) }
)

func ptr[T any](v T) *T { return &v }

// forgetfulDone loses every record: as a worker that died after the action
// and before recording it.
type forgetfulDone = enginetest.ForgetfulDone
