package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/consumer"
	"github.com/chatwarden/chatwarden/dlq"
)

// TestDLQListFitsTheWidthAndKeepsTheCause: `dlq list` fits its table in the
// terminal's width, cutting the widest columns with an ellipsis, and shows
// the first line of the last error (CAUSE) however narrow, never cut away.
func TestDLQListFitsTheWidthAndKeepsTheCause(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	dls := []dlq.DeadLetter{
		{Seq: 7, DeadLetter: consumer.DeadLetter{ID: "e1", Platform: "livechat", Action: "chat_deactivated",
			ChatID: "SOME-RATHER-LONG-CHAT-ID-0123456789", Rule: "unpin-abandoned-unassigned-chats-after-two-days",
			Operation: "livechat.unpin", Reason: consumer.ReasonExhausted, Outage: true, Attempts: 8, FailedAt: now.Add(-time.Hour),
			Error: "rule unpin-abandoned-unassigned-chats-after-two-days, action livechat.unpin: retryable: livechat: update_chat_properties chat SOME-RATHER-LONG-CHAT-ID-0123456789: dial tcp 10.0.0.1:443: connect: connection refused\nsecond line of detail"}},
		{Seq: 8, DeadLetter: consumer.DeadLetter{ID: "e2", Platform: "livechat", Action: "incoming_event", ChatID: "C2",
			Rule: "tag", Operation: "livechat.tag", Reason: consumer.ReasonPermanent, Cause: "validation", Attempts: 1,
			FailedAt: now.Add(-2 * time.Minute), Error: "rule tag, action livechat.tag: permanent (validation): HTTP 422 validation: tag is required"}},
	}
	for _, tc := range []struct {
		name  string
		width int
		// wantCause must appear on dead letter 7's line (the cause's start).
		wantCause string
	}{
		{"wide: everything in full", 400, "dial tcp 10.0.0.1:443: connect: connection refused"},
		{"default width", defaultTermWidth, "dial tcp 10.0.0.1:443:"},
		{"narrow", 60, "dial tcp 10.0.0.1:443:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, printDeadLetters(&out, dls, false, now, tc.width))
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 3)
			header, row7, row8 := lines[0], lines[1], lines[2]
			assert.True(t, strings.HasSuffix(header, "CAUSE"), "CAUSE is the last column: %q", header)
			assert.Contains(t, row7, tc.wantCause)
			assert.NotContains(t, out.String(), "second line", "only the error's first line")
			if tc.width >= 400 {
				assert.Contains(t, row7, "attempts_exhausted (outage)", "the reason")
			}
			assert.Contains(t, row8, "HTTP 422", "the other cause is there too")
			for _, l := range lines[:3] {
				if tc.width >= 100 {
					assert.LessOrEqual(t, utf8.RuneCountInString(l), tc.width, "fits in %d: %q", tc.width, l)
				}
			}
			if tc.width < 400 {
				assert.Contains(t, row7, "…", "cut with an ellipsis")
			}
			assert.True(t, strings.HasPrefix(row7, "7 "), "SEQ is never cut")
			t.Logf("width %d:\n%s", tc.width, out.String())
		})
	}
}

func TestTermWidthFromCOLUMNS(t *testing.T) {
	for _, tc := range []struct {
		name, columns string
		want          int
	}{
		{"set", "132", 132},
		{"unset", "", defaultTermWidth},
		{"garbage", "wide", defaultTermWidth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{getenv: func(k string) string {
				if k == "COLUMNS" {
					return tc.columns
				}
				return ""
			}, stdout: &bytes.Buffer{}}
			assert.Equal(t, tc.want, e.termWidth())
		})
	}
}
