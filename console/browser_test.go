package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/dlq"
)

// screenshotEnv names the variable that makes TestConsoleInABrowser write
// its screenshot to docs/console.png (shown by the README) instead of a
// temporary directory:
//
//	CHATWARDEN_UPDATE_SCREENSHOT=1 go test ./console -run Browser
const screenshotEnv = "CHATWARDEN_UPDATE_SCREENSHOT"

// browserEnv names a Chromium or Chrome binary to use instead of the ones
// looked up on PATH.
const browserEnv = "CHATWARDEN_BROWSER"

// findBrowser returns the path of a Chromium-based browser, or "".
func findBrowser() string {
	if p := os.Getenv(browserEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless browser with the flags this machine's closed
// network needs, in a fresh profile, and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findBrowser()
	if path == "" {
		msg := fmt.Sprintf("no Chromium found (set %s, or install Debian's chromium: apt-get install -y chromium); the console was not tested in a browser", browserEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: a missing browser fails, it does not skip)")
		}
		t.Skip("SKIP: " + msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-device-scale-factor", "1"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "starting %s", path)
	return ctx
}

// run runs an action that returns a value, failing the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T], what string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err, what)
	return v
}

// The console in a real browser, against the running service and the fake
// LiveChat: the page asks for the token, shows posted webhooks with the
// decisions of the rules (the screenshot the README shows is taken there), a
// chat's timeline, the rules, and the dead letters, one retried with the
// button.
func TestConsoleInABrowser(t *testing.T) {
	ctx := newBrowser(t)
	s := startScenario(t)
	s.postAll(t)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#token"), "wrong-token"),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	), "a wrong token is refused and asked for again")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#login")),
		// The live view: the posted webhook with the rule's decision next to it.
		chromedp.WaitVisible(chromedp.CSS(`#events tr.entry .decision[data-rule="unpin-abandoned-unassigned"][data-outcome="acted"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events tr.entry .decision[data-rule="note-pricing-visitors"][data-outcome="dry_run"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events tr.entry .deadletter`)),
	), "the live view")
	assert.Equal(t, 5, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#events tr.entry").length`), "counting rows"))
	assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.CSS("#counters")), "reading the counters"), "storing",
		"the store's card says the broker stores webhooks")

	// The token is kept for the tab: a reload does not ask again.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#events tr.entry`))))
	assert.True(t, run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("#login").hidden`), "reading the login's state"))

	// The screenshot of the live view, with the dead letter still there.
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#counters .stat.bad`))), "the dead letter is counted")
	shot := run(t, ctx, chromedp.CaptureScreenshot(), "taking the screenshot")

	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, "a PNG")
	assert.Equal(t, 1280, img.Bounds().Dx())
	out := filepath.Join(t.TempDir(), "console.png")
	if os.Getenv(screenshotEnv) != "" {
		out = filepath.Join("..", "docs", "console.png")
		require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	}
	require.NoError(t, os.WriteFile(out, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))

	// A chat's timeline, from a search.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-chat")),
		chromedp.WaitVisible(chromedp.CSS("#chat-form")),
		chromedp.SetValue(chromedp.CSS("#chat-id"), chatUnpinned),
		chromedp.Click(chromedp.CSS(`#chat-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#timeline ol.timeline li.entry .decision[data-rule="unpin-abandoned-unassigned"][data-outcome="acted"]`)),
	), "the chat's timeline")
	timeline := run(t, ctx, chromedp.Text(chromedp.CSS("#timeline")), "reading the timeline")
	assert.Contains(t, timeline, "livechat.chat_deactivated")
	assert.Contains(t, timeline, "livechat.unpin")

	// The rules with their hit counts and dry-run state.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-rules")),
		chromedp.WaitVisible(chromedp.CSS(`#rules tr.rule[data-rule="note-pricing-visitors"] .badge.dry_run`)),
	), "the rules")
	rulesText := run(t, ctx, chromedp.Text(chromedp.CSS("#rules")), "reading the rules")
	assert.Contains(t, rulesText, "unpin-abandoned-unassigned")
	assert.Contains(t, rulesText, "3 in all", "acted, skipped and failed once each")

	// The dead letter; fix its cause and retry it with the button.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-dlq")),
		chromedp.WaitVisible(chromedp.CSS(`#dlq tbody tr[data-seq]`)),
	), "the dead letters")
	dlqText := run(t, ctx, chromedp.Text(chromedp.CSS("#dlq")), "reading the dead letters")
	assert.Contains(t, dlqText, chatMissing)
	assert.Contains(t, dlqText, "permanent")
	s.fake.AddChat(unassigned(chatMissing))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#dlq tbody tr[data-seq] button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#dlq tbody tr[data-seq]`)),
	), "retrying the dead letter")
	s.waitIdle(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[string](`location.hash = "#chat/`+chatMissing+`"`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.CSS(`#timeline .decision[data-rule="unpin-abandoned-unassigned"][data-outcome="acted"]`)),
	), "after the retry the rule acted on the chat")

	// Another dead letter, purged with the button (its confirmation
	// accepted).
	s.post(t, "chat_deactivated", "YY8GONE")
	s.waitIdle(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#nav-dlq")),
		chromedp.WaitVisible(chromedp.CSS(`#dlq tbody tr[data-seq] button.danger`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS(`#dlq tbody tr[data-seq] button.danger`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#dlq tbody tr[data-seq]`)),
	), "purging the dead letter")
	var listing dlq.Listing
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/admin/dlq", &listing))
	assert.Zero(t, listing.Count, "the dead letter is gone")
}
