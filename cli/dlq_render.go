package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/chatwarden/chatwarden/dlq"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printDeadLetters prints dls as a table within width columns: the CAUSE
// column (the first line of the last error) comes last and is never cut
// away entirely; when the table is too wide, the widest columns are cut
// with an ellipsis first.
func printDeadLetters(w io.Writer, dls []dlq.DeadLetter, filtered bool, now time.Time, width int) error {
	if len(dls) == 0 {
		if filtered {
			_, err := fmt.Fprintln(w, "No dead letters match.")
			return err
		}
		_, err := fmt.Fprintln(w, "No dead letters.")
		return err
	}
	rows := [][]string{{"SEQ", "AGE", "EVENT", "CHAT", "RULE", "REASON", "ATTEMPTS", "CAUSE"}}
	for _, dl := range dls {
		ev := dash(dl.Platform)
		if dl.Action != "" {
			ev += "." + dl.Action
		}
		rows = append(rows, []string{strconv.FormatUint(dl.Seq, 10), age(now.Sub(dl.FailedAt)), ev,
			dash(dl.ChatID), dash(dl.Rule), reasonText(dl), strconv.FormatUint(dl.Attempts, 10), dash(causeLine(dl))})
	}
	// SEQ, AGE and ATTEMPTS are never cut. The event (platform.action) is
	// cut first, then CAUSE down to minCauseWidth characters (it is never
	// cut further), then the widest of CHAT, RULE and REASON.
	if err := writeFitted(w, rows, width, []int{-1, -1, 0, 2, 2, 2, -1, 1}, minCauseWidth); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d dead %s. Details: chatwarden dlq show SEQ; retry: chatwarden dlq retry SEQ; delete: chatwarden dlq purge SEQ\n",
		len(dls), plural(len(dls), "letter", "letters"))
	return err
}

// minCauseWidth is the least of the CAUSE column that dlq list keeps.
const minCauseWidth = 24

// defaultTermWidth is the width dlq list fits its table in when neither
// the terminal nor $COLUMNS tells one.
const defaultTermWidth = 100

// termWidth is the width of the terminal stdout is, else $COLUMNS, else
// defaultTermWidth.
func (e *env) termWidth() int {
	if f, ok := e.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if w, err := strconv.Atoi(strings.TrimSpace(e.getenv("COLUMNS"))); err == nil && w > 0 {
		return w
	}
	return defaultTermWidth
}

// reasonText is the dead letter's reason, with "(outage)" when its
// attempts ran out on an outage (dlq.auto_retry retries it). A permanent
// failure's cause (validation, not_found) shows in CAUSE.
func reasonText(dl dlq.DeadLetter) string {
	if dl.Outage {
		return dl.Reason + " (outage)"
	}
	return dash(dl.Reason)
}

// causeLine is the first line of the dead letter's error, without the
// parts other columns show (see shortError) nor the "<platform>: <call>
// chat <chat id>: " of a platform call; a permanent failure's cause
// (validation, not_found) leads when the line does not name it.
func causeLine(dl dlq.DeadLetter) string {
	line, _, _ := strings.Cut(strings.TrimSpace(shortError(dl)), "\n")
	if rest, ok := strings.CutPrefix(line, dl.Platform+": "); ok && dl.Platform != "" && dl.ChatID != "" {
		if _, after, found := strings.Cut(rest, " chat "+dl.ChatID+": "); found {
			line = after
		}
	}
	if dl.Cause != "" && !strings.Contains(line, dl.Cause) {
		line = dl.Cause + ": " + line
	}
	return oneLine(line)
}

// writeFitted writes rows as columns two spaces apart, within width. While
// too wide, the widest column of the lowest tier that can still shrink
// loses a character (tier -1: never; a column keeps its header's width, at
// least 4, and the last column at least minLast); cut cells end with an
// ellipsis. The last column is not padded.
func writeFitted(w io.Writer, rows [][]string, width int, tiers []int, minLast int) error {
	const sep = 2
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	floor := make([]int, n)
	for i := range floor {
		floor[i] = widths[i]
		if tiers[i] >= 0 {
			floor[i] = min(widths[i], max(utf8.RuneCountInString(rows[0][i]), 4))
		}
	}
	floor[n-1] = min(widths[n-1], max(floor[n-1], minLast))
	total := sep * (n - 1)
	for _, x := range widths {
		total += x
	}
	for total > width {
		pick := -1
		for i := range widths {
			if widths[i] <= floor[i] {
				continue
			}
			if pick < 0 || tiers[i] < tiers[pick] || tiers[i] == tiers[pick] && widths[i] > widths[pick] {
				pick = i
			}
		}
		if pick < 0 {
			break // as narrow as it gets
		}
		widths[pick]--
		total--
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, c := range r {
			c = clip(c, widths[i])
			b.WriteString(c)
			if i < n-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+sep))
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

func printDetail(w io.Writer, d *dlq.Detail, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "Dead letter:\t%d\n", d.Seq)
	fmt.Fprintf(tw, "Event:\t%s\n", d.ID)
	fmt.Fprintf(tw, "Platform, action:\t%s %s\n", dash(d.Platform), dash(d.Action))
	fmt.Fprintf(tw, "Chat:\t%s\n", dash(d.ChatID))
	fmt.Fprintf(tw, "Rule:\t%s\n", dash(d.Rule))
	fmt.Fprintf(tw, "Action that failed:\t%s\n", dash(d.Operation))
	reason := dash(d.Reason)
	if d.Cause != "" {
		reason += " (" + d.Cause + ")"
	}
	fmt.Fprintf(tw, "Given up because:\t%s\n", reason)
	fmt.Fprintf(tw, "Error:\t%s\n", oneLine(d.Error))
	fmt.Fprintf(tw, "Deliveries:\t%d\n", d.Attempts)
	if !d.StoredAt.IsZero() {
		fmt.Fprintf(tw, "Stored:\t%s (CHATWARDEN_EVENTS sequence %d, %s)\n", stamp(d.StoredAt), d.StreamSeq, d.Subject)
	}
	fmt.Fprintf(tw, "Failed:\t%s (%s ago)\n", stamp(d.FailedAt), age(now.Sub(d.FailedAt)))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nFailed attempts (from the audit records of the event):")
	if len(d.FailedAttempts) == 0 {
		fmt.Fprintln(w, "  none recorded")
	} else {
		tw = newTable(w)
		fmt.Fprintln(tw, "  ATTEMPT\tTIME\tRULE\tACTION\tERROR")
		for _, a := range d.FailedAttempts {
			n := "-"
			if a.Attempt > 0 {
				n = fmt.Sprint(a.Attempt)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n, stamp(a.Time), dash(a.Rule), dash(a.Operation), oneLine(a.Error))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nOriginal event:")
	var buf bytes.Buffer
	if json.Indent(&buf, d.Event, "  ", "  ") == nil {
		fmt.Fprintf(w, "  %s\n", buf.String())
	} else {
		fmt.Fprintf(w, "  %s\n", d.Event)
	}
	_, err := fmt.Fprintf(w, "\nNext: fix the cause, then `chatwarden dlq retry %d`; or delete it with `chatwarden dlq purge %d`.\n", d.Seq, d.Seq)
	return err
}

func printRetried(w io.Writer, res dlq.Result, offline bool) {
	switch res.Outcome {
	case dlq.Retried:
		fmt.Fprintf(w, "Retried dead letter %d (event %s, chat %s): republished to CHATWARDEN_EVENTS as sequence %d "+
			"(message id %s) and removed from the dead-letter stream.\n", res.Seq, res.EventID, dash(res.ChatID), res.EventSeq, res.MsgID)
		if offline {
			fmt.Fprintln(w, "No service is running: the workers will handle it when `chatwarden serve` or `chatwarden work` starts.")
		} else {
			fmt.Fprintln(w, "The workers handle it again; if it fails again it comes back as a new dead letter.")
		}
	case dlq.WouldRetry:
		fmt.Fprintf(w, "Dry run: would republish event %s (chat %s) of dead letter %d with message id %s, then remove the dead letter. Nothing changed.\n",
			res.EventID, dash(res.ChatID), res.Seq, res.MsgID)
	default:
		fmt.Fprintf(w, "Dead letter %d (event %s): %s: %s\n", res.Seq, res.EventID, res.Outcome, res.Error)
	}
}

func printPurged(w io.Writer, res dlq.Result) {
	switch res.Outcome {
	case dlq.Purged:
		fmt.Fprintf(w, "Purged dead letter %d (event %s, chat %s, %s).\n", res.Seq, res.EventID, dash(res.ChatID), dash(res.Reason))
	case dlq.WouldPurge:
		fmt.Fprintf(w, "Dry run: would purge dead letter %d (event %s, chat %s, %s). Nothing changed.\n", res.Seq, res.EventID, dash(res.ChatID), dash(res.Reason))
	default:
		fmt.Fprintf(w, "Dead letter %d (event %s): %s: %s\n", res.Seq, res.EventID, res.Outcome, res.Error)
	}
}

// printReport prints a bulk retry or purge: one line per dead letter and a
// summary.
func printReport(w io.Writer, rep *dlq.Report, verb string, offline bool) {
	if len(rep.Results) == 0 {
		fmt.Fprintf(w, "No dead letters to %s.\n", verb)
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "SEQ\tEVENT\tCHAT\tREASON\tOUTCOME\tDETAIL")
	for _, r := range rep.Results {
		detail := r.Error
		if r.Outcome == dlq.Retried {
			detail = fmt.Sprintf("events sequence %d", r.EventSeq)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Seq, dash(r.EventID), dash(r.ChatID), dash(r.Reason), r.Outcome, clip(detail, 90))
	}
	_ = tw.Flush()
	done := map[string]string{"retry": "retried", "purge": "purged"}[verb]
	if rep.DryRun {
		fmt.Fprintf(w, "\nDry run: would have %s %d, skipped %d. Nothing changed.\n", done, rep.Done, rep.Skipped)
		return
	}
	fmt.Fprintf(w, "\n%s %d, skipped %d, failed %d.\n", upperFirst(done), rep.Done, rep.Skipped, rep.Failed)
	if verb == "retry" && rep.Done > 0 && offline {
		fmt.Fprintln(w, "No service is running: the workers will handle them when `chatwarden serve` or `chatwarden work` starts.")
	}
}

// shortError is the dead letter's error without the parts other columns
// show (the rule and action that failed, the permanent cause).
func shortError(dl dlq.DeadLetter) string {
	msg := dl.Error
	if dl.Rule != "" || dl.Operation != "" {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("rule %s, action %s: ", dl.Rule, dl.Operation))
	}
	if dl.Cause != "" {
		msg = strings.TrimPrefix(msg, fmt.Sprintf("permanent (%s): ", dl.Cause))
	}
	return strings.TrimPrefix(msg, "retryable: ")
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func clip(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
