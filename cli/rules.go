package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/platform"
	"github.com/chatwarden/chatwarden/rules"
	"github.com/chatwarden/chatwarden/rules/rulestest"
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
	cmd.AddCommand(rulesCheckCmd(e), newCmdRulesTest(e, nil))
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
			set, err := rules.LoadFile(args[0], platform.Actions(), rules.DefaultRegistry(), opts...)
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

// RulesTestOptions are the arguments and flags of `chatwarden rules test`.
type RulesTestOptions struct {
	Ctx                context.Context
	ConfigPath         string
	RulesFile          string
	EventFiles         []string
	ChatsPath, NowText string
}

// newCmdRulesTest builds `chatwarden rules test`; runF, when set, runs
// instead of rulesTestRun (tests check the options).
func newCmdRulesTest(e *env, runF func(*RulesTestOptions) error) *cobra.Command {
	opts := &RulesTestOptions{}
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
			opts.Ctx, opts.RulesFile, opts.EventFiles = cmd.Context(), args[0], args[1:]
			if runF != nil {
				return runF(opts)
			}
			return e.rulesTestRun(opts)
		},
	}
	e.addConfigFlag(cmd, &opts.ConfigPath)
	cmd.Flags().StringVar(&opts.ChatsPath, "chats", "", "JSON array of chats (get_chat shape) the fake API serves for enrichment")
	cmd.Flags().StringVar(&opts.NowText, "now", "", "the time conditions see as now() (RFC 3339; default: the current time)")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rulesTestRun runs every event file through the rule file with
// rulestest.RunFile and prints what each rule decided.
func (e *env) rulesTestRun(o *RulesTestOptions) error {
	now := time.Now().UTC()
	if o.NowText != "" {
		t, err := time.Parse(time.RFC3339, o.NowText)
		if err != nil {
			return usageError{fmt.Errorf("--now %q: want RFC 3339, e.g. 2026-11-22T12:00:00Z", o.NowText)}
		}
		now = t
	}
	var chats []livechat.Chat
	if o.ChatsPath != "" {
		data, err := os.ReadFile(o.ChatsPath)
		if err != nil {
			return fmt.Errorf("--chats: %w", err)
		}
		if err := json.Unmarshal(data, &chats); err != nil {
			return fmt.Errorf("--chats %s: want a JSON array of chats: %w", o.ChatsPath, err)
		}
	}
	set, err := rules.LoadFile(o.RulesFile, platform.Actions(), rules.DefaultRegistry())
	if err != nil {
		return err
	}
	failures := 0
	for _, path := range o.EventFiles {
		res, err := rulestest.RunFile(o.Ctx, set, path, rulestest.Params{Chats: chats, Now: now})
		if err != nil {
			fmt.Fprintf(e.stdout, "%s: ERROR %v\n\n", path, err)
			failures++
			continue
		}
		printEventResult(e.stdout, path, res)
		if !res.OK() {
			failures++
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d of %s did not meet their expectations", failures, quantity(len(o.EventFiles), "event file", "event files"))
	}
	_, err = fmt.Fprintf(e.stdout, "all %s met their expectations\n", quantity(len(o.EventFiles), "event file", "event files"))
	return err
}

// printEventResult prints what the rules decided about one event file, the
// calls they would make and how the outcomes compare with the expectations.
func printEventResult(out io.Writer, path string, res *rulestest.Result) {
	ev := res.Event
	fmt.Fprintf(out, "%s: %s.%s, chat %s\n", path, ev.Platform, ev.Action, orDash(ev.ChatID))
	w := newTable(out)
	fmt.Fprintln(w, "  RULE\tOUTCOME\tACTION\tDETAIL")
	for _, r := range res.Records {
		detail := r.Reason
		if r.Error != "" {
			detail = r.Error
		}
		if r.Params != nil && r.Outcome != audit.Skipped {
			detail = string(r.Params)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", r.Rule, r.Outcome, orDash(r.Operation), oneLineText(detail))
	}
	if len(res.Records) == 0 {
		fmt.Fprintln(w, "  (no rule listens to this event)\t\t\t")
	}
	_ = w.Flush()
	for _, c := range res.Calls {
		switch {
		case c.Action == "get_chat":
		case c.Status == http.StatusOK:
			fmt.Fprintf(out, "  would call %s %s\n", c.Action, strings.TrimSpace(string(c.Body)))
		default:
			fmt.Fprintf(out, "  call %s %s fails here with HTTP %d (is the chat in --chats or the expectation file?)\n",
				c.Action, strings.TrimSpace(string(c.Body)), c.Status)
		}
	}
	if res.HandleErr != nil {
		fmt.Fprintf(out, "  the event would be retried or dead-lettered: %v\n", oneLineText(res.HandleErr.Error()))
	}
	for _, name := range res.Unexpected {
		fmt.Fprintf(out, "  FAILED   %s: the rule failed (write `%s: failed` under expect in %s if that is intended)\n",
			name, name, res.ExpectationFile)
	}
	for _, c := range res.Checks {
		if c.OK() {
			fmt.Fprintf(out, "  ok       %s: %s\n", c.Rule, c.Got)
		} else {
			fmt.Fprintf(out, "  MISMATCH %s: expected %s, got %s\n", c.Rule, c.Want, c.Got)
		}
	}
	fmt.Fprintln(out)
}
