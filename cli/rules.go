package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/yamlline"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/rules"
)

func rulesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check rule files and try them on saved webhooks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{errors.New("rules needs a subcommand: check or test")}
		},
	}
	cmd.AddCommand(rulesCheckCmd(e), rulesTestCmd(e))
	return cmd
}

func rulesCheckCmd(e *env) *cobra.Command {
	var (
		cfgPath             string
		allowUnknownActions bool
		strict              bool
	)
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a rule file and list its rules",
		Long: `check parses FILE, compiles every condition, validates every action's parameters, and lists
the rules. Errors, reported with the rule's name and line, make the exit status 1:

  - an ` + "`on`" + ` action that is not a documented webhook action of its platform (with the nearest
    one as "did you mean"); --allow-unknown-actions makes it a warning, for an action newer
    than this version (serve and reloads always treat it as a warning)
  - a step of another platform than one of the rule's ` + "`on`" + ` entries, unless the rule says
    cross_platform: true
  - conditions that do not compile, unknown actions or handlers, invalid parameters

Warnings are listed after the rules and leave the exit status 0 (1 with --strict): a condition
that is always false, and a delayed (` + "`after`" + `) non-idempotent step without a re-check of the
chat's current state (` + "`enrich`" + ` and ` + "`if`" + `).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []rules.LoadOption
			if allowUnknownActions {
				opts = append(opts, rules.AllowUnknownActions())
			}
			set, err := rules.LoadFile(args[0], rules.DefaultActions(), rules.DefaultRegistry(), opts...)
			if err != nil {
				return err
			}
			w := newTable(e.stdout)
			fmt.Fprintln(w, "RULE\tON\tIF\tAFTER\tTHEN\tDRY RUN")
			for _, r := range set.Rules() {
				after := "-"
				if r.After > 0 {
					after = r.After.String()
				}
				cond := r.If
				if cond == "" {
					cond = "(always)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\n", r.Name, strings.Join(r.On, ","), oneLineText(cond), after, strings.Join(r.Then, ", "), r.DryRun)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			warns := set.Warnings()
			for _, wr := range warns {
				fmt.Fprintf(e.stdout, "warning: %s\n", wr)
			}
			summary := fmt.Sprintf("%d %s, %d %s", set.Len(), plural(set.Len(), "rule", "rules"), len(warns), plural(len(warns), "warning", "warnings"))
			if len(warns) > 0 && strict {
				return fmt.Errorf("%s: %s (--strict: warnings fail the check)", args[0], summary)
			}
			if len(warns) == 0 {
				summary += ", all valid"
			}
			_, err = fmt.Fprintf(e.stdout, "%s: %s\n", args[0], summary)
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVar(&allowUnknownActions, "allow-unknown-actions", false, "report `on` actions this version does not know as warnings, not errors")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when there are warnings")
	return cmd
}

func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

// exactArgs wants n positional arguments; otherwise it is bad usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s wants %s, got %d; see --help", cmd.CommandPath(), quantity(n, "argument", "arguments"), len(args))}
		}
		return nil
	}
}

// expectation is the optional file beside an event (EVENT.expect.yaml):
// the chat state for enrichment, and the outcome expected of each rule.
type expectation struct {
	Chat   *livechat.Chat    `yaml:"-" json:"chat"`
	Expect map[string]string `yaml:"expect" json:"expect"` // rule → acted | skipped | scheduled | failed | dry_run | none
}

func rulesTestCmd(e *env) *cobra.Command {
	var (
		cfgPath, chatsPath, nowText string
	)
	cmd := &cobra.Command{
		Use:   "test FILE EVENT.json...",
		Short: "Run rules over saved webhook bodies offline and check expectations",
		Long: `test runs the rules of FILE over saved webhook bodies (as LiveChat posts them), offline: the
chat state for enrichment comes from --chats (a JSON array of chats in get_chat's shape) or
from the expectation file beside each event, and actions go to an in-process fake of the API.
It prints what each rule decided and which calls it would make.

Beside EVENT.json, an optional EVENT.expect.yaml states what must happen:

  chat: {id: C1, properties: {routing: {pinned: true}}, thread: {id: T1, properties: {routing: {unassigned: true}}}}
  expect:
    unpin-abandoned-unassigned: acted     # acted, skipped, scheduled, failed, dry_run or none
    tag-pricing-chats: none

The exit status is 1 when an expectation is not met, when a rule's outcome is failed and the
expectation file does not say failed for it, or when an event cannot be read, so rule files
can be tested in CI.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{fmt.Errorf("%s wants a rule file and at least one event file; see --help", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now().UTC()
			if nowText != "" {
				t, err := time.Parse(time.RFC3339, nowText)
				if err != nil {
					return usageError{fmt.Errorf("--now %q: want RFC 3339, e.g. 2026-11-22T12:00:00Z", nowText)}
				}
				now = t
			}
			var chats []livechat.Chat
			if chatsPath != "" {
				data, err := os.ReadFile(chatsPath)
				if err != nil {
					return fmt.Errorf("--chats: %w", err)
				}
				if err := json.Unmarshal(data, &chats); err != nil {
					return fmt.Errorf("--chats %s: want a JSON array of chats: %w", chatsPath, err)
				}
			}
			set, err := rules.LoadFile(args[0], rules.DefaultActions(), rules.DefaultRegistry())
			if err != nil {
				return err
			}
			failures := 0
			for _, path := range args[1:] {
				ok, err := testEventFile(cmd.Context(), e.stdout, set, path, chats, now)
				if err != nil {
					fmt.Fprintf(e.stdout, "%s: ERROR %v\n\n", path, err)
					failures++
					continue
				}
				if !ok {
					failures++
				}
			}
			if failures > 0 {
				return fmt.Errorf("%d of %s did not meet their expectations", failures, quantity(len(args)-1, "event file", "event files"))
			}
			_, err = fmt.Fprintf(e.stdout, "all %s met their expectations\n", quantity(len(args)-1, "event file", "event files"))
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&chatsPath, "chats", "", "JSON array of chats (get_chat shape) the fake API serves for enrichment")
	cmd.Flags().StringVar(&nowText, "now", "", "the time conditions see as now() (RFC 3339; default: the current time)")
	return cmd
}

// testEventFile runs one saved webhook through the rules against a fake API
// and compares the outcome of each rule with the expectation file, if any.
func testEventFile(ctx context.Context, out io.Writer, set *rules.RuleSet, path string, chats []livechat.Chat, now time.Time) (bool, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	ev, _, err := livechat.ParseWebhook(body, now)
	if err != nil {
		return false, fmt.Errorf("not a LiveChat webhook body: %w", err)
	}
	exp, err := readExpectation(path)
	if err != nil {
		return false, err
	}
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	// The chat an incoming_chat webhook carries is the starting state;
	// --chats and the expectation file override it.
	if ev.Action == "incoming_chat" {
		var p struct {
			Chat livechat.Chat `json:"chat"`
		}
		if json.Unmarshal(ev.Payload, &p) == nil && p.Chat.ID != "" {
			fake.AddChat(p.Chat)
		}
	}
	for _, c := range chats {
		fake.AddChat(c)
	}
	if exp != nil && exp.Chat != nil {
		fake.AddChat(*exp.Chat)
	}
	client, err := livechat.New(livechat.PAT("offline", "offline"), livechat.WithBaseURL(url))
	if err != nil {
		return false, err
	}
	rec := &recorder{}
	engine := rules.NewEngine(set, offlineClients{client}, rec, rules.WithClock(func() time.Time { return now }),
		rules.WithScheduler(noScheduler{}))
	handleErr := engine.Handle(ctx, ev)

	fmt.Fprintf(out, "%s: %s.%s, chat %s\n", path, ev.Platform, ev.Action, orDash(ev.ChatID))
	w := newTable(out)
	fmt.Fprintln(w, "  RULE\tOUTCOME\tACTION\tDETAIL")
	outcomes := map[string]string{}
	for _, r := range rec.recs {
		detail := r.Reason
		if r.Error != "" {
			detail = r.Error
		}
		if r.Params != nil && r.Outcome != audit.Skipped {
			detail = string(r.Params)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", r.Rule, r.Outcome, orDash(r.Operation), oneLineText(detail))
		outcomes[r.Rule] = summarize(outcomes[r.Rule], r.Outcome)
	}
	if len(rec.recs) == 0 {
		fmt.Fprintln(w, "  (no rule listens to this event)\t\t\t")
	}
	_ = w.Flush()
	for _, c := range fake.Calls() {
		switch {
		case c.Action == "get_chat":
		case c.Status == http.StatusOK:
			fmt.Fprintf(out, "  would call %s %s\n", c.Action, strings.TrimSpace(string(c.Body)))
		default:
			fmt.Fprintf(out, "  call %s %s fails here with HTTP %d (is the chat in --chats or the expectation file?)\n",
				c.Action, strings.TrimSpace(string(c.Body)), c.Status)
		}
	}
	if handleErr != nil {
		fmt.Fprintf(out, "  the event would be retried or dead-lettered: %v\n", oneLineText(handleErr.Error()))
	}
	ok := true
	// A failure is a test failure unless the expectation file says so: a
	// rule file that can only fail must not pass CI.
	var failed []string
	for name, got := range outcomes {
		if got == audit.Failed && (exp == nil || exp.Expect[name] == "") {
			failed = append(failed, name)
		}
	}
	sort.Strings(failed)
	for _, name := range failed {
		fmt.Fprintf(out, "  FAILED   %s: the rule failed (write `%s: failed` under expect in %s if that is intended)\n",
			name, name, expectationName(path))
		ok = false
	}
	if exp != nil {
		names := make([]string, 0, len(exp.Expect))
		for n := range exp.Expect {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			want, got := exp.Expect[name], outcomes[name]
			if got == "" {
				got = "none"
			}
			if want == got {
				fmt.Fprintf(out, "  ok       %s: %s\n", name, got)
			} else {
				fmt.Fprintf(out, "  MISMATCH %s: expected %s, got %s\n", name, want, got)
				ok = false
			}
		}
	}
	fmt.Fprintln(out)
	return ok, nil
}

// summarize folds a rule's audit outcomes into one: failed beats acted beats
// dry_run beats scheduled beats skipped.
func summarize(prev, next string) string {
	rank := map[string]int{"": 0, audit.Skipped: 1, audit.Scheduled: 2, audit.DryRun: 3, audit.Acted: 4, audit.Failed: 5}
	if rank[next] > rank[prev] {
		return next
	}
	return prev
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// expectationName is the name of the expectation file beside eventPath
// (the YAML one, when there is none yet).
func expectationName(eventPath string) string {
	base := strings.TrimSuffix(eventPath, filepath.Ext(eventPath))
	for _, ext := range []string{".expect.yaml", ".expect.yml", ".expect.json"} {
		if _, err := os.Stat(base + ext); err == nil {
			return filepath.Base(base + ext)
		}
	}
	return filepath.Base(base + ".expect.yaml")
}

func readExpectation(eventPath string) (*expectation, error) {
	base := strings.TrimSuffix(eventPath, filepath.Ext(eventPath))
	for _, ext := range []string{".expect.yaml", ".expect.yml", ".expect.json"} {
		data, err := os.ReadFile(base + ext)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("%s: %w", base+ext, yamlline.Fix(data, err))
		}
		for k := range raw {
			if k != "chat" && k != "expect" {
				return nil, fmt.Errorf("%s: unknown key %q (want chat and expect)", base+ext, k)
			}
		}
		// Through JSON so that the chat decodes exactly as the API's would.
		js, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", base+ext, err)
		}
		var exp expectation
		if err := json.Unmarshal(js, &exp); err != nil {
			return nil, fmt.Errorf("%s: %w", base+ext, err)
		}
		for rule, o := range exp.Expect {
			switch o {
			case audit.Acted, audit.Skipped, audit.Scheduled, audit.Failed, audit.DryRun, "none":
			default:
				return nil, fmt.Errorf("%s: expect.%s: want acted, skipped, scheduled, failed, dry_run or none, got %q", base+ext, rule, o)
			}
		}
		return &exp, nil
	}
	return nil, nil
}

type recorder struct{ recs []audit.Record }

func (r *recorder) Write(_ context.Context, rec audit.Record) error {
	r.recs = append(r.recs, rec)
	return nil
}

type offlineClients struct{ c *livechat.Client }

func (o offlineClients) LiveChat(string) (rules.LiveChatAPI, error) { return o.c, nil }

// HelpCrunch implements rules.Clients: `rules test` runs LiveChat webhooks only.
func (o offlineClients) HelpCrunch(string) (rules.HelpCrunchAPI, error) {
	return nil, rules.NoCredentials("HelpCrunch", "rules test runs LiveChat webhooks only")
}

// RocketChat implements rules.Clients: `rules test` runs LiveChat webhooks only.
func (o offlineClients) RocketChat(string) (rules.RocketChatAPI, error) {
	return nil, rules.NoCredentials("Rocket.Chat", "rules test runs LiveChat webhooks only")
}

// noScheduler accepts re-checks without scheduling them: offline, a delayed
// rule is reported as scheduled.
type noScheduler struct{}

func (noScheduler) ScheduleRecheck(context.Context, *event.Event, time.Time) error { return nil }
