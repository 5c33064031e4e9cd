package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/sweep"
)

// sweepResult is the JSON of a sweep.
type sweepResult struct {
	Kind          string        `json:"kind"`
	OlderThan     string        `json:"older_than"`
	Groups        []int         `json:"groups"`
	DryRun        bool          `json:"dry_run"`
	Found         int           `json:"found"`
	Chats         []sweptChat   `json:"chats,omitempty"` // dry run
	Published     int           `json:"published"`
	AlreadyQueued int           `json:"already_queued"`
	Decisions     *sweep.Counts `json:"decisions,omitempty"`
	Audit         string        `json:"audit,omitempty"`
	Error         string        `json:"error,omitempty"`
}

type sweptChat struct {
	ID            string    `json:"id"`
	ThreadID      string    `json:"thread_id"`
	GroupIDs      []int     `json:"group_ids"`
	StartedAt     time.Time `json:"started_at"`
	AgeSeconds    int64     `json:"age_seconds"`
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
}

// sweepAuditQuery is the command that shows the decisions about this sweep.
func (e *env) sweepAuditQuery(cfg *config.Config, start time.Time) string {
	q := "chatwarden audit --rule " + sweep.BuiltinRuleName + " --since " + sinceArg(start)
	if cfg.RulesFile != "" {
		if set, err := rules.LoadFile(cfg.RulesFile, platform.Actions(), rules.DefaultRegistry(), rules.AllowUnknownActions()); err == nil && sweep.Overrides(set) {
			q = "chatwarden audit --platform livechat --since " + sinceArg(start)
		}
	}
	return q
}

// sinceArg is a --since value covering everything since start: whole
// minutes, rounded up.
func sinceArg(start time.Time) string {
	return strconv.Itoa(int(time.Since(start).Minutes())+1) + "m"
}

func (e *env) printDryRun(res sweepResult, chats []sweep.Chat, asJSON bool, now time.Time) error {
	res.Found = len(chats)
	for _, c := range chats {
		res.Chats = append(res.Chats, sweptChat{ID: c.ID, ThreadID: c.ThreadID, GroupIDs: c.GroupIDs, StartedAt: c.StartedAt,
			AgeSeconds: int64(c.Age(now).Seconds()), LastMessageAt: c.LastMessageAt})
	}
	if asJSON {
		if res.Chats == nil {
			res.Chats = []sweptChat{}
		}
		return writeJSON(e.stdout, res)
	}
	if len(chats) > 0 {
		w := newTable(e.stdout)
		fmt.Fprintln(w, "CHAT\tTHREAD\tGROUP\tAGE\tSTARTED\tLAST MESSAGE")
		for _, c := range chats {
			last := "-"
			if !c.LastMessageAt.IsZero() {
				last = stamp(c.LastMessageAt)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, orDash(c.ThreadID), groupsText(c.GroupIDs), age(c.Age(now)),
				stamp(c.StartedAt), last)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(e.stdout, "dry run: %d %s would be handed to the workers (%s); nothing was changed\n",
		len(chats), plural(len(chats), "chat", "chats"), describeSweep(res))
	return err
}

func (e *env) printSweepSummary(res sweepResult, offline bool, cfg *config.Config, start time.Time) {
	out := e.stdout
	fmt.Fprintf(out, "sweep %s: %s\n", res.Kind, describeSweep(res))
	w := newTable(out)
	fmt.Fprintf(w, "  found\t%d\t\n", res.Found)
	if res.AlreadyQueued > 0 {
		fmt.Fprintf(w, "  already queued\t%d\tan earlier run handed these to the workers; not queued twice\n", res.AlreadyQueued)
	}
	if offline || res.Decisions == nil {
		fmt.Fprintf(w, "  stored\t%d\t\n", res.Published)
		_ = w.Flush()
		fmt.Fprintf(out, "no chatwarden service is running: the events are stored in %s and are handled when `serve` or `work` starts\n",
			cfg.NATS.DataDir)
		fmt.Fprintf(out, "then see: %s\n", res.Audit)
		return
	}
	d := res.Decisions
	fmt.Fprintf(w, "  unpinned\t%d\t\n", d.Unpinned)
	if d.Acted > 0 {
		fmt.Fprintf(w, "  acted\t%d\tyour rule file's rules acted otherwise\n", d.Acted)
	}
	if d.DryRun > 0 {
		fmt.Fprintf(w, "  dry run\t%d\tthe workers run in dry run: recorded, not changed\n", d.DryRun)
	}
	fmt.Fprintf(w, "  skipped\t%d\tno longer pinned, unassigned or old enough when a worker checked\n", d.Skipped)
	if d.Scheduled > 0 {
		fmt.Fprintf(w, "  scheduled\t%d\ta delayed rule re-checks them later\n", d.Scheduled)
	}
	failedNote := ""
	if d.Failed > 0 {
		failedNote = "dead letters: chatwarden dlq list --since " + sinceArg(start)
	}
	fmt.Fprintf(w, "  failed\t%d\t%s\n", d.Failed, failedNote)
	if notPublished := res.Found - res.Published - res.AlreadyQueued; notPublished > 0 {
		fmt.Fprintf(w, "  not handed over\t%d\tthe sweep stopped first\n", notPublished)
	}
	if d.Pending > 0 {
		fmt.Fprintf(w, "  pending\t%d\tno decision yet; the workers go on with them\n", d.Pending)
	}
	_ = w.Flush()
	fmt.Fprintf(out, "details: %s\n", res.Audit)
}

func describeSweep(res sweepResult) string {
	groups := "every group"
	if len(res.Groups) > 0 {
		groups = "groups " + groupsText(res.Groups)
	}
	when := "any age"
	if d, _ := time.ParseDuration(res.OlderThan); d > 0 {
		when = "started " + age(d) + " ago or earlier"
	}
	return fmt.Sprintf("pinned and unassigned, %s, %s", when, groups)
}

func groupsText(ids []int) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}
