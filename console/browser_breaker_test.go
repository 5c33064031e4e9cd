package console_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/livechat/livechattest"
)

// TestConsoleShowsAnUnavailablePlatform: while LiveChat answers every call
// with 503, its circuit breaker opens and the live view says so, naming the
// platform, the organization and the last error, in a card marked bad.
func TestConsoleShowsAnUnavailablePlatform(t *testing.T) {
	ctx := newBrowser(t)
	s := startScenario(t)
	s.fake.FailNext("", 1000, livechattest.ServiceUnavailable())
	s.post(t, "chat_deactivated", chatUnpinned)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#login")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#counters .stat.bad")].some((e) =>
			e.textContent.includes("down") && e.textContent.includes("livechat/default") && e.textContent.includes("HTTP 503"))`),
	), "the live view shows the open breaker")
	shot := run(t, ctx, chromedp.CaptureScreenshot(), "taking the screenshot")
	out := filepath.Join(t.TempDir(), "breaker.png")
	if dir := os.Getenv("CHATWARDEN_SHOT_DIR"); dir != "" {
		out = filepath.Join(dir, "breaker.png")
	}
	require.NoError(t, os.WriteFile(out, shot, 0o644))
}
