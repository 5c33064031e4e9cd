// Package rulestest runs a rule file over saved webhook bodies offline and
// checks the outcomes against expectation files: the work of
// `chatwarden rules test`. Enrichment and actions go to an in-process fake
// of the LiveChat API (livechattest), so nothing leaves the process.
package rulestest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/event"
	"github.com/chatwarden/chatwarden/internal/yamlline"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	lcplatform "github.com/chatwarden/chatwarden/platform/livechat"
	"github.com/chatwarden/chatwarden/rules"
)

// None is the expected outcome of a rule that must not decide anything
// about the event.
const None = "none"

// Expectation is the optional file beside an event (EVENT.expect.yaml, .yml
// or .json): the chat state for enrichment, and the outcome expected of
// each rule.
type Expectation struct {
	Chat   *livechat.Chat    `yaml:"-" json:"chat"`
	Expect map[string]string `yaml:"expect" json:"expect"` // rule → acted | skipped | scheduled | failed | dry_run | none
}

// expectationExts are the names an expectation file may have beside
// EVENT.json, in the order they are looked for.
var expectationExts = []string{".expect.yaml", ".expect.yml", ".expect.json"}

// ExpectationName is the name of the expectation file beside eventPath
// (the YAML one, when there is none yet).
func ExpectationName(eventPath string) string {
	base := strings.TrimSuffix(eventPath, filepath.Ext(eventPath))
	for _, ext := range expectationExts {
		if _, err := os.Stat(base + ext); err == nil {
			return filepath.Base(base + ext)
		}
	}
	return filepath.Base(base + ".expect.yaml")
}

// ReadExpectation reads the expectation file beside eventPath; nil when
// there is none. Unknown keys and unknown outcomes are errors naming the
// file.
func ReadExpectation(eventPath string) (*Expectation, error) {
	base := strings.TrimSuffix(eventPath, filepath.Ext(eventPath))
	for _, ext := range expectationExts {
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
		var exp Expectation
		if err := json.Unmarshal(js, &exp); err != nil {
			return nil, fmt.Errorf("%s: %w", base+ext, err)
		}
		for rule, o := range exp.Expect {
			switch o {
			case audit.Acted, audit.Skipped, audit.Scheduled, audit.Failed, audit.DryRun, None:
			default:
				return nil, fmt.Errorf("%s: expect.%s: want acted, skipped, scheduled, failed, dry_run or none, got %q", base+ext, rule, o)
			}
		}
		return &exp, nil
	}
	return nil, nil
}

// Params are the world an event file runs in.
type Params struct {
	// Chats the fake API serves for enrichment (get_chat shape), over the
	// chat an incoming_chat webhook carries, under the expectation file's.
	Chats []livechat.Chat
	// Now is the time conditions see as now().
	Now time.Time
}

// Check is one expectation compared: OK when Want equals Got.
type Check struct {
	Rule, Want, Got string
}

// OK reports whether the rule did as expected.
func (c Check) OK() bool { return c.Want == c.Got }

// Result is what the rules did with one event file.
type Result struct {
	// Event is the webhook as chatwarden stores it.
	Event *event.Event
	// Records are the audit records of the rules' decisions, in order.
	Records []audit.Record
	// Calls are the calls the rules made to the fake API.
	Calls []livechattest.Call
	// HandleErr is the error the workers would retry or dead-letter the
	// event with; nil when handling succeeded.
	HandleErr error
	// Outcomes is each rule's outcome, folded (see Summarize).
	Outcomes map[string]string
	// Unexpected are the rules (sorted) whose outcome is failed while the
	// expectation file does not say failed for them: a rule file that can
	// only fail must not pass.
	Unexpected []string
	// Checks are the expectation file's rules compared with their outcome
	// (None when a rule decided nothing), sorted by rule.
	Checks []Check
	// ExpectationFile is the expectation file's name (see ExpectationName).
	ExpectationFile string
}

// OK reports whether the event met its expectations: no unexpected failure
// and every check OK.
func (r *Result) OK() bool {
	if len(r.Unexpected) > 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK() {
			return false
		}
	}
	return true
}

// RunFile runs the saved LiveChat webhook body at path through set against
// a fake API and compares the outcome of each rule with the expectation
// file beside it, if any. An error means the event could not be run (the
// file is unreadable, not a LiveChat webhook, or its expectation file is
// wrong); a rule's failure is in the Result.
func RunFile(ctx context.Context, set *rules.RuleSet, path string, p Params) (*Result, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ev, _, err := livechat.ParseWebhook(body, p.Now)
	if err != nil {
		return nil, fmt.Errorf("not a LiveChat webhook body: %w", err)
	}
	exp, err := ReadExpectation(path)
	if err != nil {
		return nil, err
	}
	fake := livechattest.New()
	url, stop := fake.Start()
	defer stop()
	// The chat an incoming_chat webhook carries is the starting state;
	// Chats and the expectation file override it.
	if ev.Action == "incoming_chat" {
		var pl struct {
			Chat livechat.Chat `json:"chat"`
		}
		if json.Unmarshal(ev.Payload, &pl) == nil && pl.Chat.ID != "" {
			fake.AddChat(pl.Chat)
		}
	}
	for _, c := range p.Chats {
		fake.AddChat(c)
	}
	if exp != nil && exp.Chat != nil {
		fake.AddChat(*exp.Chat)
	}
	client, err := livechat.New(livechat.PAT("offline", "offline"), livechat.WithBaseURL(url))
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	engine := rules.NewEngine(set, LiveChatOnly{client}, rec, rules.WithClock(func() time.Time { return p.Now }),
		rules.WithScheduler(noScheduler{}),
		rules.WithPlatforms(map[string]rules.PlatformHooks{event.LiveChat: lcplatform.Platform().Hooks()}))
	res := &Result{Event: ev, HandleErr: engine.Handle(ctx, ev), Records: rec.recs, Calls: fake.Calls(),
		Outcomes: map[string]string{}, ExpectationFile: ExpectationName(path)}
	for _, r := range rec.recs {
		res.Outcomes[r.Rule] = Summarize(res.Outcomes[r.Rule], r.Outcome)
	}
	for name, got := range res.Outcomes {
		if got == audit.Failed && (exp == nil || exp.Expect[name] == "") {
			res.Unexpected = append(res.Unexpected, name)
		}
	}
	sort.Strings(res.Unexpected)
	if exp != nil {
		for name, want := range exp.Expect {
			got := res.Outcomes[name]
			if got == "" {
				got = None
			}
			res.Checks = append(res.Checks, Check{Rule: name, Want: want, Got: got})
		}
		sort.Slice(res.Checks, func(i, j int) bool { return res.Checks[i].Rule < res.Checks[j].Rule })
	}
	return res, nil
}

// Summarize folds a rule's audit outcomes into one: failed beats acted
// beats dry_run beats scheduled beats skipped.
func Summarize(prev, next string) string {
	rank := map[string]int{"": 0, audit.Skipped: 1, audit.Scheduled: 2, audit.DryRun: 3, audit.Acted: 4, audit.Failed: 5}
	if rank[next] > rank[prev] {
		return next
	}
	return prev
}

type recorder struct{ recs []audit.Record }

func (r *recorder) Write(_ context.Context, rec audit.Record) error {
	r.recs = append(r.recs, rec)
	return nil
}

// LiveChatOnly is rules.Clients with one LiveChat client for every
// organization and no HelpCrunch or Rocket.Chat credentials: `rules test`
// runs LiveChat webhooks only.
type LiveChatOnly struct{ API *livechat.Client }

var _ rules.Clients = LiveChatOnly{}

// Client implements rules.Clients: the LiveChat client; other platforms
// have no credentials.
func (o LiveChatOnly) Client(platform, _ string) (any, error) {
	if platform == event.LiveChat {
		return o.API, nil
	}
	return nil, rules.NoCredentials(platform, "rules test runs LiveChat webhooks only")
}

// noScheduler accepts re-checks without scheduling them: offline, a delayed
// rule is reported as scheduled.
type noScheduler struct{}

func (noScheduler) ScheduleRecheck(context.Context, *event.Event, time.Time) error { return nil }
