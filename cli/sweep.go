package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/service"
	"github.com/chatwarden/chatwarden/sweep"
)

// sweepCmd is `chatwarden sweep <kind>`: one subcommand per kind of sweep
// (sweep.Kinds), so other platforms' sweeps slot in beside
// livechat-unassigned.
func sweepCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "sweep KIND",
		Short: "Clean up a backlog: hand every matching chat to the workers (livechat-unassigned)",
		Long: `sweep finds chats through a platform's API and publishes one event per chat into the events
stream, so the workers apply the same rules, rate limits, audit records, retries and dead
letters to the backlog as to live webhooks. It works while "chatwarden serve" or "work" runs
(through nats.listen or nats.url).

Kinds:
  livechat-unassigned   LiveChat chats that are Unassigned (pinned and unassigned); the built-in
                        rule unpins each one that is still so when a worker checks it`,
		Example: "  chatwarden sweep livechat-unassigned --dry-run\n  chatwarden sweep livechat-unassigned --older-than 72h --group 2",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown kind of sweep %q; want one of: %s; see chatwarden sweep --help",
					args[0], strings.Join(sweep.Kinds(), ", "))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{fmt.Errorf("a kind of sweep is required: %s", strings.Join(sweep.Kinds(), ", "))}
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.AddCommand(sweepUnassignedCmd(e))
	return cmd
}

// sweepFlags are the flags of a sweep; unset ones take the sweep section of
// the configuration.
type sweepFlags struct {
	cfgPath, organization string
	olderThan, wait       time.Duration
	groups                []int
	limit, concurrency    int
	maxRate               float64
	dryRun, asJSON        bool
}

func sweepUnassignedCmd(e *env) *cobra.Command {
	var f sweepFlags
	cmd := &cobra.Command{
		Use:   sweep.KindLiveChatUnassigned,
		Short: "Unpin LiveChat chats stuck in Unassigned",
		Long: `livechat-unassigned lists the LiveChat chats that are Unassigned (list_archives filtered on
routing.unassigned and routing.pinned), oldest first, one per chat, and hands each to the workers
as a livechat.sweep_unassigned event. The built-in rule "sweep-unpin-unassigned" fetches the
chat again and unpins it if it is still pinned, unassigned and older than --older-than; a rule
of your rule file with "on: [livechat.sweep_unassigned]" replaces it.

It lists everything first, then publishes at most --concurrency chats ahead of the workers'
decisions (and at most --max-rate per second), waits for the decisions and prints a summary:
found, unpinned, skipped, failed, with the audit query that shows each decision. On a terminal
it shows a progress bar.

Running it again is safe, also after an interruption: unpinned chats are no longer listed, and
the event of a chat is the same in every run (its id comes from the chat and its thread), so
one still queued is not stored twice. With --dry-run it only prints the chats it would hand
over and changes nothing.

Flags left out take the sweep section of the configuration (sweep.older_than, sweep.groups,
sweep.limit, sweep.concurrency, sweep.max_rate, sweep.wait).`,
		Example: `  chatwarden sweep livechat-unassigned --dry-run
  chatwarden sweep livechat-unassigned --older-than 72h --group 2 --group 5
  chatwarden sweep livechat-unassigned --limit 500 --max-rate 20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return e.runSweep(cmd, f) },
	}
	e.addConfigFlag(cmd, &f.cfgPath)
	fl := cmd.Flags()
	fl.DurationVar(&f.olderThan, "older-than", 0, "only chats whose thread started at least this long ago, e.g. 48h (default sweep.older_than, 48h)")
	fl.IntSliceVar(&f.groups, "group", nil, "only chats of this group id; repeat for several (default sweep.groups: every group)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the chats it would hand to the workers; change nothing")
	fl.IntVar(&f.limit, "limit", 0, "at most this many chats, oldest first (default sweep.limit; 0: no cap)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "chats waiting for the workers' decision at once (default sweep.concurrency, 64)")
	fl.Float64Var(&f.maxRate, "max-rate", 0, "at most this many chats per second to the workers (default sweep.max_rate; 0: no cap)")
	fl.DurationVar(&f.wait, "wait", 0, "give up waiting when the workers decide nothing for this long (default sweep.wait, 2m)")
	fl.StringVar(&f.organization, "organization", "", "LiveChat organization id whose credentials to use (livechat.organizations); default: livechat.pat/token")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON instead of a table and a summary")
	return cmd
}

// apply puts the flags that were given over the configuration's sweep
// section.
func (f sweepFlags) apply(cmd *cobra.Command, s config.Sweep) (config.Sweep, error) {
	set := cmd.Flags().Changed
	if set("older-than") {
		if f.olderThan < 0 {
			return s, usageError{fmt.Errorf("--older-than must not be negative, got %s", f.olderThan)}
		}
		s.OlderThan = f.olderThan
	}
	if set("group") {
		for _, g := range f.groups {
			if g < 0 {
				return s, usageError{fmt.Errorf("--group must be a group id (0 or more), got %d", g)}
			}
		}
		s.Groups = f.groups
	}
	if set("limit") {
		if f.limit < 0 {
			return s, usageError{fmt.Errorf("--limit must be 0 (no cap) or more, got %d", f.limit)}
		}
		s.Limit = f.limit
	}
	if set("concurrency") {
		if f.concurrency < 1 || f.concurrency > config.MaxConcurrency {
			return s, usageError{fmt.Errorf("--concurrency must be between 1 and %d, got %d", config.MaxConcurrency, f.concurrency)}
		}
		s.Concurrency = f.concurrency
	}
	if set("max-rate") {
		if f.maxRate < 0 || math.IsNaN(f.maxRate) || math.IsInf(f.maxRate, 0) {
			return s, usageError{fmt.Errorf("--max-rate must be 0 (no cap) or a positive number, got %v", f.maxRate)}
		}
		s.MaxRate = f.maxRate
	}
	if set("wait") {
		if f.wait <= 0 {
			return s, usageError{fmt.Errorf("--wait must be a positive duration, got %s", f.wait)}
		}
		s.Wait = f.wait
	}
	return s, nil
}

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

func (e *env) runSweep(cmd *cobra.Command, f sweepFlags) error {
	cfg, err := e.loadConfig(f.cfgPath)
	if err != nil {
		return err
	}
	sc, err := f.apply(cmd, cfg.Sweep)
	if err != nil {
		return err
	}
	if f.organization != "" {
		if _, ok := cfg.LiveChat.Organizations[f.organization]; !ok {
			return usageError{fmt.Errorf("--organization %q is not in livechat.organizations", f.organization)}
		}
	}
	params := sweep.Params{Kind: sweep.KindLiveChatUnassigned, OlderThan: sc.OlderThan, Groups: sc.Groups,
		Limit: sc.Limit, Tenant: f.organization}
	ctx := cmd.Context()
	start := time.Now()

	// The bus carries the events, and the OAuth tokens the service keeps in
	// JetStream; a dry run goes on without it.
	b, logger, closeBus, err := e.openOperatorBus(ctx, cfg)
	if err != nil {
		if !f.dryRun {
			return err
		}
		if logger, err = e.quietLogger(cfg.Log); err != nil {
			return err
		}
		defer func() { _ = logger.Sync() }()
	} else {
		defer closeBus()
	}
	var js jetstream.JetStream
	if b != nil {
		js = b.JS
	}
	clients, err := service.NewClients(ctx, cfg, js, nil, logger)
	if err != nil {
		return err
	}
	api, err := clients.LiveChat(f.organization)
	if err != nil {
		return fmt.Errorf("sweep needs LiveChat credentials to list chats: %w", err)
	}
	lister, ok := api.(sweep.Lister)
	if !ok {
		return sweep.ErrNotLister
	}

	res := sweepResult{Kind: params.Kind, OlderThan: sc.OlderThan.String(), Groups: sc.Groups, DryRun: f.dryRun}
	if res.Groups == nil {
		res.Groups = []int{}
	}
	prog := newSweepProgress(e.stderr, !f.asJSON)
	defer prog.stop()

	if f.dryRun {
		sw, err := sweep.New(lister, nil, sweep.WithLogger(logger))
		if err != nil {
			return err
		}
		chats, err := sw.Find(ctx, params, prog.listed)
		prog.stop()
		if err != nil {
			return err
		}
		return e.printDryRun(res, chats, f.asJSON, time.Now())
	}

	sw, err := sweep.New(lister, b, sweep.WithLogger(logger), sweep.WithMaxRate(sc.MaxRate))
	if err != nil {
		return err
	}
	// Without a running service nothing decides; with one, follow the
	// decisions from one duplicate window back: a chat an earlier run
	// published in that window is not stored again, and may be decided
	// already.
	var tracker *sweep.Tracker
	if !b.Embedded() {
		since := start.Add(-cfg.NATS.DuplicateWindow - time.Minute)
		tracker, err = sweep.NewTracker(ctx, b.JS, event.LiveChat, sweep.ActionUnassigned, since, sweep.WithIdle(sc.Wait))
		if err != nil {
			return fmt.Errorf("%w (has the service run with this configuration?)", err)
		}
		defer tracker.Stop()
		prog.follow(tracker)
	}

	chats, err := sw.Find(ctx, params, prog.listed)
	res.Found = len(chats)
	if err != nil {
		prog.stop()
		return err
	}
	prog.publishing(len(chats))
	opts := sweep.PublishOptions{StartedAt: start, OnPublish: prog.published}
	if tracker != nil {
		opts.Window, opts.Size = tracker, sc.Concurrency
	}
	pub, runErr := sw.Publish(ctx, chats, params, opts)
	res.Published, res.AlreadyQueued = pub.Stored, pub.Duplicates
	if runErr == nil && tracker != nil {
		prog.waiting()
		runErr = tracker.WaitAll(ctx)
	}
	prog.stop()

	res.Audit = e.sweepAuditQuery(cfg, start)
	if tracker != nil {
		c := tracker.Counts()
		res.Decisions = &c
	}
	var failure error
	switch {
	case runErr != nil && ctx.Err() != nil:
		failure = fmt.Errorf("interrupted after handing %d of %s to the workers; run the same command again to continue "+
			"(chats already unpinned are not listed again, chats still queued are not queued twice)", pub.Total(), quantity(len(chats), "chat", "chats"))
	case errors.Is(runErr, sweep.ErrNoProgress):
		failure = fmt.Errorf("%w; is `chatwarden work` (or serve) running with this configuration? The events stay stored "+
			"and are handled when the workers run", runErr)
	case runErr != nil:
		failure = runErr
	case res.Decisions != nil && res.Decisions.Failed > 0:
		failure = fmt.Errorf("%d of %s failed; see `chatwarden dlq list --since %s`", res.Decisions.Failed, quantity(len(chats), "chat", "chats"), sinceArg(start))
	}
	if failure != nil {
		res.Error = failure.Error()
	}
	if f.asJSON {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else {
		e.printSweepSummary(res, b.Embedded(), cfg, start)
	}
	return failure
}

// quietLogger is the process logger at warn level unless debug is asked
// for: a command's output is its own.
func (e *env) quietLogger(c config.Log) (*zap.Logger, error) {
	if c.Level != "debug" {
		c.Level = "warn"
	}
	return e.newLogger(c)
}

// sweepAuditQuery is the command that shows the decisions about this sweep.
func (e *env) sweepAuditQuery(cfg *config.Config, start time.Time) string {
	q := "chatwarden audit --rule " + sweep.BuiltinRuleName + " --since " + sinceArg(start)
	if cfg.RulesFile != "" {
		if set, err := rules.LoadFile(cfg.RulesFile, rules.DefaultActions(), rules.DefaultRegistry(), rules.AllowUnknownActions()); err == nil && sweep.Overrides(set) {
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

// sweepProgress shows how a sweep goes on stderr: a bar redrawn in place on
// a terminal, a plain line every few seconds otherwise, nothing with --json.
type sweepProgress struct {
	w       io.Writer
	tty     bool
	enabled bool
	tracker *sweep.Tracker

	mu       sync.Mutex
	phase    string
	list     sweep.ListProgress
	total    int
	pub      sweep.Published
	started  time.Time
	lastLine time.Time
	drawn    bool
	stopOnce sync.Once
	done     chan struct{}
	stopped  chan struct{}
}

func newSweepProgress(w io.Writer, enabled bool) *sweepProgress {
	p := &sweepProgress{w: w, enabled: enabled, phase: "listing", started: time.Now(),
		done: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	if !enabled {
		close(p.stopped)
		return p
	}
	go p.loop()
	return p
}

func (p *sweepProgress) loop() {
	defer close(p.stopped)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

func (p *sweepProgress) follow(t *sweep.Tracker) {
	p.mu.Lock()
	p.tracker = t
	p.mu.Unlock()
}

func (p *sweepProgress) listed(lp sweep.ListProgress) {
	p.mu.Lock()
	p.list = lp
	p.mu.Unlock()
}

func (p *sweepProgress) publishing(total int) {
	p.mu.Lock()
	p.phase, p.total = "publishing", total
	p.mu.Unlock()
}

func (p *sweepProgress) published(n sweep.Published) {
	p.mu.Lock()
	p.pub = n
	p.mu.Unlock()
}

func (p *sweepProgress) waiting() {
	p.mu.Lock()
	p.phase = "waiting"
	p.mu.Unlock()
}

// stop draws the last state and ends the display (idempotent).
func (p *sweepProgress) stop() {
	p.stopOnce.Do(func() {
		close(p.done)
		<-p.stopped
	})
}

func (p *sweepProgress) draw(final bool) {
	p.mu.Lock()
	phase, list, total, pub, tracker := p.phase, p.list, p.total, p.pub, p.tracker
	p.mu.Unlock()
	var c sweep.Counts
	if tracker != nil {
		c = tracker.Counts()
	}
	elapsed := time.Since(p.started).Round(time.Second)
	var line string
	if phase == "listing" {
		line = fmt.Sprintf("listing: %s, %s found", quantity(list.Pages, "page", "pages"), quantity(list.Chats, "chat", "chats"))
	} else {
		done := pub.Total()
		if tracker != nil {
			done = c.Decided()
		}
		line = fmt.Sprintf("%s %d/%d", bar(done, total, 24), done, total)
		if tracker != nil {
			line += fmt.Sprintf("  unpinned %d  skipped %d  failed %d  queued %d", c.Unpinned+c.Acted+c.DryRun, c.Skipped, c.Failed, c.Pending)
			if s := elapsed.Seconds(); s > 0 && done > 0 && done < total {
				eta := time.Duration(float64(total-done) / (float64(done) / s) * float64(time.Second)).Round(time.Second)
				line += fmt.Sprintf("  eta %s", eta)
			}
		}
	}
	line += fmt.Sprintf("  %s", elapsed)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	if final || time.Since(p.lastLine) >= 5*time.Second {
		if final && !p.drawn && phase == "listing" && list.Pages == 0 {
			return
		}
		fmt.Fprintln(p.w, "sweep: "+line)
		p.lastLine, p.drawn = time.Now(), true
	}
}

func bar(done, total, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := min(width, done*width/total)
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
