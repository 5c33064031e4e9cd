// Command sweep measures `chatwarden sweep livechat-unassigned` end to end on
// 127.0.0.1, bounded in chats and in time, and stops by itself. It starts, in
// one process:
//
//   - the fake LiveChat API (livechat/livechattest) holding -chats Unassigned
//     chats older than 48h, answering too_many_requests beyond -rate
//     requests a second;
//   - the workers (`work`: service.Start with the work role, embedded NATS
//     in a temporary directory, listening on a free loopback port), with the
//     built-in sweep rule (or, with -recheck=false, a rule file rule that
//     unpins without fetching the chat first);
//
// and runs the command itself (cli.Run) against them, twice per scenario:
//
//   - clean: the sweep, then the same sweep again, which must find nothing;
//   - interrupted: another -chats chats; the sweep is interrupted (its
//     context cancelled, as Ctrl-C does) once half of them are unpinned, and
//     run again to the end.
//
// For each it prints the time, the API calls by action, the share of
// too_many_requests, and how often each chat was unpinned (exactly once is
// the requirement), and compares the time with the floor the rate limit
// allows: API calls / rate.
//
//	go run ./bench/sweep -chats 5000 -rate 200
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/service"
)

type options struct {
	chats, workers, window int
	rate                   float64
	recheck                bool
	timeout                time.Duration
	scenarios              string
	verbose, timeline      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sweep bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.IntVar(&o.chats, "chats", 5000, "Unassigned chats per scenario (at most 20,000)")
	fs.Float64Var(&o.rate, "rate", 200, "requests a second the fake LiveChat answers before too_many_requests")
	fs.IntVar(&o.workers, "workers", 32, "workers.concurrency")
	fs.IntVar(&o.window, "concurrency", 64, "the sweep's --concurrency")
	fs.BoolVar(&o.recheck, "recheck", true, "use the built-in rule (get_chat, then unpin); false: a rule that only unpins")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop after this long whatever happens (at most 30m)")
	fs.StringVar(&o.scenarios, "scenarios", "clean,interrupted", "scenarios to run")
	fs.BoolVar(&o.verbose, "v", false, "show the sweep command's own output")
	fs.BoolVar(&o.timeline, "timeline", false, "print the API calls of every second of each run (ok/429)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.chats < 1 || o.chats > 20000 || o.rate <= 0 {
		return errors.New("-chats must be 1..20000 and -rate positive")
	}
	ctx, cancel := context.WithTimeout(ctx, min(o.timeout, 30*time.Minute))
	defer cancel()

	fake := livechattest.New(livechattest.WithRateLimit(o.rate))
	apiURL, stopFake := fake.Start()
	defer stopFake()

	dir, err := os.MkdirTemp("", "chatwarden-sweep-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath, cfg, err := writeConfig(dir, apiURL, o)
	if err != nil {
		return err
	}
	workers, err := service.Start(ctx, cfg, service.Roles{Work: true}, service.WithLogger(zap.NewNop()))
	if err != nil {
		return fmt.Errorf("starting the workers: %w", err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		_ = workers.Stop(sctx)
	}()

	rule := "built-in sweep-unpin-unassigned (get_chat, then unpin: 2 calls a chat)"
	if !o.recheck {
		rule = "unpin only (1 call a chat)"
	}
	fmt.Fprintf(out, "sweep bench: %d Unassigned chats per scenario, %d a page; fake LiveChat limited to %.0f requests/s; "+
		"workers.concurrency %d; sweep --concurrency %d; rule: %s; 127.0.0.1\n",
		o.chats, livechattest.MaxLimit, o.rate, o.workers, o.window, rule)
	fmt.Fprintf(out, "%-12s %-9s %6s %7s %9s %9s %9s %9s %6s %7s %7s %9s %9s %9s %6s\n",
		"scenario", "run", "found", "calls", "list", "get_chat", "unpin", "429", "429%", "unpins", "min/max", "listing", "took", "floor", "ratio")
	fmt.Fprintf(out, "(floor: the listing as measured, then every other successful call at exactly %.0f/s; ratio: took/floor)\n", o.rate)
	for _, sc := range strings.Split(o.scenarios, ",") {
		var err error
		switch sc {
		case "clean":
			err = clean(ctx, out, fake, cfgPath, o)
		case "interrupted":
			err = interrupted(ctx, out, fake, cfgPath, o)
		default:
			err = fmt.Errorf("unknown scenario %q", sc)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
	}
	return nil
}

// writeConfig writes the configuration the workers and the command share.
func writeConfig(dir, apiURL string, o options) (string, *config.Config, error) {
	listen, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	rulesYAML := "rules: []\n" // the built-in sweep rule acts (a rule file means: not the dry-run examples)
	if !o.recheck {
		rulesYAML = "rules:\n  - name: unpin-swept\n    on: [livechat.sweep_unassigned]\n    then:\n      - livechat.unpin: {}\n"
	}
	if err := os.WriteFile(rulesFile, []byte(rulesYAML), 0o600); err != nil {
		return "", nil, err
	}
	yaml := fmt.Sprintf(`http: {addr: "127.0.0.1:0"}
admin: {addr: "off"}
nats: {listen: %q, data_dir: %q}
livechat:
  api_url: %q
  pat: {account_id: bench, token: bench}
workers: {concurrency: %d}
rules_file: %q
sweep: {concurrency: %d, wait: 1m}
log: {level: error}
`, listen, filepath.Join(dir, "data"), apiURL, o.workers, rulesFile, o.window)
	path := filepath.Join(dir, "chatwarden.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", nil, err
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	return path, cfg, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// addChats stores n Unassigned chats prefix00001..., started 49 hours ago
// and earlier, one thread each.
func addChats(fake *livechattest.Server, prefix string, n int) []string {
	ids := make([]string, n)
	base := time.Now().Add(-49 * time.Hour)
	for i := range n {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i+1)
		fake.AddChat(livechattest.UnassignedChat(ids[i], base.Add(-time.Duration(n-i)*time.Second)))
	}
	return ids
}

func clean(ctx context.Context, out io.Writer, fake *livechattest.Server, cfgPath string, o options) error {
	ids := addChats(fake, "A", o.chats)
	fake.ResetCalls()
	res, err := sweep(ctx, cfgPath, o, nil)
	if err != nil {
		return err
	}
	if err := report(out, "clean", "first", fake.Calls(), ids, res, o); err != nil {
		return err
	}
	if err := allUnpinned(fake, ids); err != nil {
		return err
	}
	from := len(fake.Calls())
	again, err := sweep(ctx, cfgPath, o, nil)
	if err != nil {
		return err
	}
	if again.Found != 0 {
		return fmt.Errorf("the second run found %d chats, want none", again.Found)
	}
	return report(out, "clean", "again", fake.Calls()[from:], nil, again, o)
}

// allUnpinned checks the fake's own state: every chat of ids is unpinned.
func allUnpinned(fake *livechattest.Server, ids []string) error {
	if n := unpinnedChats(fake, ids); n != len(ids) {
		return fmt.Errorf("%d of %d chats are still pinned", len(ids)-n, len(ids))
	}
	return nil
}

func interrupted(ctx context.Context, out io.Writer, fake *livechattest.Server, cfgPath string, o options) error {
	ids := addChats(fake, "B", o.chats)
	fake.ResetCalls()
	half := func() bool { return unpinnedChats(fake, ids) >= len(ids)/2 }
	res, err := sweep(ctx, cfgPath, o, half)
	if err != nil {
		return err
	}
	if !res.interrupted {
		return errors.New("the first run finished before it could be interrupted")
	}
	// The workers go on with the events the interrupted run handed over
	// while the second run starts: calls are counted from the scenario's
	// start, and split between the runs where the second one starts.
	from := len(fake.Calls())
	if err := report(out, "interrupted", "stopped", fake.Calls(), ids, res, o); err != nil {
		return err
	}
	rest, err := sweep(ctx, cfgPath, o, nil)
	if err != nil {
		return err
	}
	calls := fake.Calls()
	if err := report(out, "interrupted", "again", calls[from:], nil, rest, o); err != nil {
		return err
	}
	if err := allUnpinned(fake, ids); err != nil {
		return err
	}
	// Exactly once over both runs.
	perChat := unpinsPerChat(calls)
	lo, hi := minMax(perChat, ids)
	fmt.Fprintf(out, "%-12s %-9s %6s %7s %9s %9s %9s %9s %6s %7d %7s %9s %9s\n", "interrupted", "both", "-", "-", "-", "-", "-", "-", "-",
		sum(perChat, ids), fmt.Sprintf("%d/%d", lo, hi), "-", res.took+rest.took)
	if lo != 1 || hi != 1 {
		return fmt.Errorf("chats were unpinned between %d and %d times over both runs, want exactly once", lo, hi)
	}
	return nil
}

// result is one run of the command.
type result struct {
	Found         int `json:"found"`
	Published     int `json:"published"`
	AlreadyQueued int `json:"already_queued"`
	Decisions     *struct {
		Unpinned, Skipped, Failed, Pending int
	} `json:"decisions"`
	Error string `json:"error"`

	start       time.Time
	took        time.Duration
	interrupted bool
}

// sweep runs `chatwarden sweep livechat-unassigned --json`; with stopWhen it
// cancels the command once stopWhen holds, as Ctrl-C would.
func sweep(ctx context.Context, cfgPath string, o options, stopWhen func() bool) (result, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool
	if stopWhen != nil {
		go func() {
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
					if stopWhen() {
						stopped.Store(true)
						cancel()
						return
					}
				}
			}
		}()
	}
	var stdout, stderr bytes.Buffer
	var errOut io.Writer = &stderr
	if o.verbose {
		errOut = io.MultiWriter(&stderr, os.Stderr)
	}
	start := time.Now()
	err := cli.Run(runCtx, []string{"sweep", livechatKind, "--config", cfgPath, "--json"}, func(string) string { return "" }, &stdout, errOut)
	var res result
	res.start = start
	res.took = time.Since(start).Round(10 * time.Millisecond)
	res.interrupted = stopped.Load()
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		return res, fmt.Errorf("sweep printed no result (%v); stderr:\n%s", err, stderr.String())
	}
	if err != nil && !res.interrupted {
		return res, fmt.Errorf("sweep failed: %v; stderr:\n%s", err, stderr.String())
	}
	return res, nil
}

const livechatKind = "livechat-unassigned"

func report(out io.Writer, scenario, run string, calls []livechattest.Call, ids []string, res result, o options) error {
	by := map[string]int{}
	tooMany := 0
	for _, c := range calls {
		by[c.Action]++
		if c.Status == 429 {
			tooMany++
		}
	}
	share := 0.0
	if len(calls) > 0 {
		share = 100 * float64(tooMany) / float64(len(calls))
	}
	// The floor: the listing as it went, then every other successful call
	// at exactly the rate limit.
	var listing time.Duration
	work := 0
	for _, c := range calls {
		switch {
		case c.Action == "list_archives" && c.Time.After(res.start):
			listing = max(listing, c.Time.Sub(res.start))
		case c.Action != "list_archives" && c.Status == 200:
			work++
		}
	}
	floor := (listing + time.Duration(float64(work)/o.rate*float64(time.Second))).Round(10 * time.Millisecond)
	ratio := "-"
	if floor > 0 {
		ratio = fmt.Sprintf("%.2f", res.took.Seconds()/floor.Seconds())
	}
	perChat := unpinsPerChat(calls)
	unpins, minmax := "-", "-"
	if ids != nil {
		lo, hi := minMax(perChat, ids)
		unpins, minmax = fmt.Sprint(sum(perChat, ids)), fmt.Sprintf("%d/%d", lo, hi)
	}
	fmt.Fprintf(out, "%-12s %-9s %6d %7d %9d %9d %9d %9d %6.2f %7s %7s %9s %9s %9s %6s\n", scenario, run, res.Found, len(calls),
		by["list_archives"], by["get_chat"], by["update_chat_properties"], tooMany, share, unpins, minmax,
		listing.Round(10*time.Millisecond), res.took, floor, ratio)
	if o.timeline && len(calls) > 0 {
		printTimeline(out, calls)
	}
	if res.Decisions != nil && res.Decisions.Failed > 0 {
		return fmt.Errorf("%d chats failed: %s", res.Decisions.Failed, res.Error)
	}
	return nil
}

// unpinsPerChat counts the successful unpins of each chat.
func unpinsPerChat(calls []livechattest.Call) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		if c.Action != "update_chat_properties" || c.Status != 200 {
			continue
		}
		var body struct {
			ID         string              `json:"id"`
			Properties livechat.Properties `json:"properties"`
		}
		if json.Unmarshal(c.Body, &body) == nil {
			if v, ok := body.Properties.Bool(livechat.NSRouting, livechat.PropPinned); ok && !v {
				n[body.ID]++
			}
		}
	}
	return n
}

func unpinnedChats(fake *livechattest.Server, ids []string) int {
	n := 0
	for _, id := range ids {
		if c, ok := fake.Chat(id); ok && !c.Pinned() {
			n++
		}
	}
	return n
}

func minMax(n map[string]int, ids []string) (lo, hi int) {
	lo = -1
	for _, id := range ids {
		v := n[id]
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return max(lo, 0), hi
}

func sum(n map[string]int, ids []string) int {
	s := 0
	for _, id := range ids {
		s += n[id]
	}
	return s
}

// printTimeline prints, per second of the run, the successful calls by
// action and the too_many_requests.
func printTimeline(out io.Writer, calls []livechattest.Call) {
	start := calls[0].Time
	type sec struct{ list, get, unpin, tooMany int }
	var secs []sec
	for _, c := range calls {
		i := int(c.Time.Sub(start) / time.Second)
		for len(secs) <= i {
			secs = append(secs, sec{})
		}
		switch {
		case c.Status == 429:
			secs[i].tooMany++
		case c.Action == "list_archives":
			secs[i].list++
		case c.Action == "get_chat":
			secs[i].get++
		case c.Action == "update_chat_properties":
			secs[i].unpin++
		}
	}
	fmt.Fprintf(out, "  second: list+get_chat+unpin ok / 429\n")
	var line strings.Builder
	for i, s := range secs {
		fmt.Fprintf(&line, "  %3d: %3d+%3d+%3d /%2d", i, s.list, s.get, s.unpin, s.tooMany)
		if i%4 == 3 || i == len(secs)-1 {
			fmt.Fprintln(out, line.String())
			line.Reset()
		}
	}
}
