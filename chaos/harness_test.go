package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/bus/bustest"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const (
	secret     = "chaos-secret"
	partitions = 16
)

// plan is one scenario: the traffic and the faults.
type plan struct {
	name       string
	webhooks   int     // posted in all
	chats      int     // spread over this many chats
	ghostEvery int     // every n-th chat is unknown to the API: its events must be dead-lettered (0: none)
	rate       float64 // webhooks per second, to all receivers together
	dupShare   float64 // share of webhooks delivered twice (a sender retry after a lost answer)

	receivers   int
	workers     int
	procWorkers bool // workers as processes (killable with SIGKILL) instead of in-process

	// Shares of LiveChat API calls answered 429 too_many_requests, 500, or
	// left hanging past the client's timeout (the issue asks for 10%, 5%, 1%).
	api429, api500, apiHang float64

	killAt    []float64     // kill a worker (SIGKILL) when this share of the webhooks was dispatched
	killEvery time.Duration // and/or kill one every ~killEvery while posting

	natsStopAt  float64       // stop the node leading the events stream at this share (0: never)
	natsDownFor time.Duration // and start it again after this long

	ackWait, failoverAfter time.Duration
	drainTimeout           time.Duration // after posting, how long the workers may take to finish
}

// webhook is one delivery of the scenario and what happened to it.
type webhook struct {
	chat   string
	seq    int // 1.. within the chat
	action string
	body   []byte
	id     string // the event id chatwarden derives
	dup    bool   // delivered twice

	accepted bool  // answered 200
	dupOK    bool  // the second delivery was answered 200 too
	answers  []int // the receivers' answers (0: no answer)
	tries    []try // when and where each answer came
}

// try is one delivery attempt of a webhook: to which receiver, when it was
// sent, and how long the answer took.
type try struct {
	receiver int
	at       time.Time
	took     time.Duration
	status   int // 0: no answer
}

// receiverNode is a receiver replica under test.
type receiverNode interface {
	Addr() string // host:port of its HTTP listener
}

// scenario is a running plan: the cluster, the fake API, chatwarden's
// replicas and what was posted.
type scenario struct {
	t    *testing.T
	p    plan
	seed uint64
	rng  *rand.Rand
	dir  string

	cluster   *bustest.Cluster // nil when the NATS nodes are processes (partition test)
	natsURLs  string
	fake      *livechattest.Server
	flaky     *flakyAPI
	apiURL    string
	receivers []receiverNode
	workers   []worker
	js        jetstream.JetStream // the test's own connection, for checks
	logs      []string

	webhooks   []*webhook
	dispatched atomic.Int64
	non200     atomic.Int64
	postErrors atomic.Int64

	kills, restarts int
	natsRestarts    []string
	timeline        []string // the faults, with their time since the start
	faultReport     []string // more lines for the report, about the faults (the partition test's)
	start           time.Time
	postTime        time.Duration
	drainTime       time.Duration
	pendingAtDrain  uint64 // events not yet finished when the last webhook was answered
	pendingAtEnd    uint64 // and when the drain ended
	unfinished      string // what was still pending when the drain timed out
}

func newScenario(t *testing.T, p plan) *scenario {
	t.Helper()
	s := baseScenario(t, p)
	s.cluster = bustest.StartCluster(t, 3)
	s.natsURLs = s.cluster.URLs()
	s.startAPI("127.0.0.1:0")
	s.connect()

	for i := range p.receivers {
		s.receivers = append(s.receivers, s.startReceiver(fmt.Sprintf("receiver-%d", i+1)))
	}
	for i := range p.workers {
		name := fmt.Sprintf("worker-%d", i+1)
		var w worker
		addr := fmt.Sprintf("127.0.0.1:%d", bustest.FreePort(t))
		// Every start of a replica gets its own configuration, whose API
		// URL names it (see flakyAPI): the fake's call log then tells
		// which replica made each call.
		configure := func(start int) string {
			return s.writeConfig(name, addr, replicaLabel(i+1, start))
		}
		if p.procWorkers {
			w = newProcWorker(t, i+1, name, configure, s.logPath(name), "http://"+addr)
		} else {
			w = newSvcWorker(t, i+1, name, func(start int) *config.Config { return s.loadConfig(configure(start)) }, s.logger(name))
		}
		w.Launch()
		s.workers = append(s.workers, w)
	}
	for _, w := range s.workers {
		w.AwaitUp()
	}
	s.waitConsumers()
	return s
}

// baseScenario is a scenario of plan p before anything runs: its seed,
// directory and random source.
func baseScenario(t *testing.T, p plan) *scenario {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := &scenario{t: t, p: p, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), dir: t.TempDir(), start: time.Now()}
	if *logDirFlag != "" {
		s.dir = filepath.Join(*logDirFlag, fmt.Sprintf("%s-%d", t.Name(), seed))
		require.NoError(t, os.MkdirAll(s.dir, 0o750))
		t.Logf("%s: configuration and logs in %s", p.name, s.dir)
	}
	if *drainFlag > 0 {
		s.p.drainTimeout = *drainFlag
	}
	t.Logf("%s: seed %d (rerun with -chaos.seed %d)", p.name, seed, seed)
	t.Cleanup(s.dumpLogsOnFailure)
	return s
}

// startAPI creates the chats and the webhooks, and serves the fake LiveChat
// API behind flakyAPI on addr.
func (s *scenario) startAPI(addr string) {
	s.t.Helper()
	p := s.p
	s.fake = livechattest.New()
	s.webhooks = s.generate()
	s.flaky = newFlakyAPI(s.fake, rand.New(rand.NewPCG(s.seed, 0xfa11)), p.api429, p.api500, p.apiHang, 10*time.Second, s.start)
	ts := httptest.NewUnstartedServer(s.flaky)
	l, err := net.Listen("tcp", addr)
	require.NoError(s.t, err)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	s.t.Cleanup(func() {
		s.flaky.Close()
		ts.Close()
	})
	s.apiURL = ts.URL
}

// connect opens the test's own connection to the NATS nodes, for checks.
func (s *scenario) connect() {
	s.t.Helper()
	// Quick to notice a node that stopped answering (the partition test
	// cuts one off): its requests go to another node soon.
	nc, err := nats.Connect(s.natsURLs, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3))
	require.NoError(s.t, err)
	s.t.Cleanup(nc.Close)
	s.js, err = jetstream.New(nc)
	require.NoError(s.t, err)
}

// generate builds the chats in the fake and the webhooks in the order they
// will be dispatched: each chat's webhooks in sequence, in bursts of 1-4,
// bursts of different chats interleaved at random.
func (s *scenario) generate() []*webhook {
	p := s.p
	type burst struct{ chat, n int }
	var bursts []burst
	perChat := make([]int, p.chats)
	for i := range p.webhooks {
		perChat[i%p.chats]++
	}
	chatIDs := make([]string, p.chats)
	ghosts := 0
	for c := range p.chats {
		chatIDs[c] = fmt.Sprintf("CHAOS%05d", c)
		if p.ghostEvery > 0 && c%p.ghostEvery == p.ghostEvery-1 {
			chatIDs[c] = fmt.Sprintf("GHOST%05d", c)
			ghosts++
		} else {
			s.fake.AddChat(livechattest.UnassignedChat(chatIDs[c], time.Now().Add(-time.Hour)))
		}
		for left := perChat[c]; left > 0; {
			n := min(left, 1+s.rng.IntN(4))
			bursts = append(bursts, burst{c, n})
			left -= n
		}
	}
	s.rng.Shuffle(len(bursts), func(i, j int) { bursts[i], bursts[j] = bursts[j], bursts[i] })
	next := make([]int, p.chats)
	out := make([]*webhook, 0, p.webhooks)
	for _, b := range bursts {
		for range b.n {
			next[b.chat]++
			w := s.newWebhook(chatIDs[b.chat], next[b.chat])
			w.dup = s.rng.Float64() < p.dupShare
			out = append(out, w)
		}
	}
	s.t.Logf("%s: %d webhooks over %d chats (%d unknown to the API)", p.name, len(out), p.chats, ghosts)
	return out
}

// actionMix: what kind of webhook each is, with the rule it exercises.
var actionMix = []struct {
	action string
	weight int
}{
	{"incoming_event", 45},   // tag-messages: tag_thread (idempotent)
	{"chat_transferred", 20}, // note-transfer: send_event (not idempotent)
	{"chat_deactivated", 20}, // unpin-abandoned-unassigned: enrich, condition, unpin
	{"thread_tagged", 15},    // no rule but chaos-order
}

func (s *scenario) newWebhook(chat string, seq int) *webhook {
	n := s.rng.IntN(100)
	action := actionMix[len(actionMix)-1].action
	for _, m := range actionMix {
		if n < m.weight {
			action = m.action
			break
		}
		n -= m.weight
	}
	var env map[string]json.RawMessage
	must(json.Unmarshal(samples.LiveChat(action, secret, chat, "T"+chat), &env))
	var payload map[string]json.RawMessage
	must(json.Unmarshal(env["payload"], &payload))
	payload["chaos_seq"] = json.RawMessage(fmt.Sprint(seq))
	env["payload"] = mustJSON(payload)
	body := mustJSON(env)
	ev, _, err := livechat.ParseWebhook(body, time.Now())
	must(err)
	if ev.ChatID != chat {
		panic(fmt.Sprintf("webhook %s of chat %s parses as chat %q", action, chat, ev.ChatID))
	}
	return &webhook{chat: chat, seq: seq, action: action, body: body, id: ev.ID}
}

// writeConfig writes the configuration of the replicas (one file each, for
// their HTTP addresses) and returns its path.
func (s *scenario) writeConfig(name, httpAddr, replica string) string {
	rulesPath := filepath.Join(s.dir, "rules.yaml")
	if _, err := os.Stat(rulesPath); err != nil {
		must(os.WriteFile(rulesPath, []byte(rulesYAML), 0o600))
	}
	cfg := fmt.Sprintf(`# written by the chaos test
http:
  addr: %q
  publish_timeout: 3s
admin:
  addr: "off"
nats:
  url: %q
  replicas: 3
  partitions: %d
livechat:
  api_url: %q
  webhook_secrets: [%q]
  pat: {account_id: chaos, token: chaos-token}
  request_timeout: 1s
workers:
  concurrency: 32
  max_attempts: 25
  ack_wait: %s
  failover_after: %s
  backoff_base: 100ms
  backoff_max: 2s
rules_file: %q
log:
  level: %s
  format: json
`, httpAddr, s.natsURLs, partitions, s.apiURL+"/"+replica, secret, s.p.ackWait, s.p.failoverAfter, rulesPath, *logLevelFlag)
	path := filepath.Join(s.dir, name+".yaml")
	must(os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

func (s *scenario) loadConfig(path string) *config.Config {
	s.t.Helper()
	cfg, err := config.Load(path, func(string) string { return "" })
	require.NoError(s.t, err)
	return cfg
}

func (s *scenario) logPath(name string) string {
	p := filepath.Join(s.dir, name+".log")
	s.logs = append(s.logs, p)
	return p
}

// logger writes an in-process replica's log to its own file.
func (s *scenario) logger(name string) *zap.Logger {
	f, err := os.Create(s.logPath(name))
	require.NoError(s.t, err)
	level, err := zapcore.ParseLevel(*logLevelFlag)
	require.NoError(s.t, err)
	l := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(f), level))
	s.t.Cleanup(func() { _ = l.Sync(); f.Close() })
	return l
}

func (s *scenario) startReceiver(name string) *service.Service {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := s.loadConfig(s.writeConfig(name, "127.0.0.1:0", name))
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true}, service.WithLogger(s.logger(name)))
	require.NoError(s.t, err)
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return svc
}

// waitConsumers waits until the workers created their partition consumers.
func (s *scenario) waitConsumers() {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for p := range partitions {
			if _, err := s.js.Consumer(ctx, bus.EventsStream, bus.WorkerConsumerName(p)); err != nil {
				return false
			}
		}
		return true
	}, time.Minute, 100*time.Millisecond, "the workers create their consumers")
}

// run posts the webhooks at the planned rate while the faults happen, then
// waits until the workers have finished every stored event.
func (s *scenario) run() { s.runWith(s.faults) }

// runWith is run with other faults: faults runs in the test goroutine while
// the webhooks are posted, and must return once posted is closed.
func (s *scenario) runWith(faults func(posted <-chan struct{})) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	posted := make(chan struct{})
	go func() { defer close(posted); s.post(ctx) }()
	faults(posted)
	s.postTime = time.Since(s.start)

	// Every replica runs again, then the workers drain what is stored.
	for _, w := range s.workers {
		if !w.Running() {
			w.Start()
			s.restarts++
		}
	}
	drainStart := time.Now()
	s.pendingAtDrain = s.pending()
	s.waitIdle()
	s.drainTime = time.Since(drainStart)
	if s.unfinished != "" {
		s.pendingAtEnd = s.pending()
	}
	for _, w := range s.workers {
		require.NoError(s.t, w.Stop(), "worker %s stops cleanly", w.Name())
	}
}

// faults runs the plan's faults, in the test goroutine, until posting is over.
func (s *scenario) faults(posted <-chan struct{}) {
	p := s.p
	killAt := append([]float64(nil), p.killAt...)
	nextKill := time.Time{}
	if p.killEvery > 0 {
		nextKill = time.Now().Add(s.jitter(p.killEvery))
	}
	natsDone := p.natsStopAt <= 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-posted:
			return
		case <-tick.C:
		}
		share := float64(s.dispatched.Load()) / float64(len(s.webhooks))
		if len(killAt) > 0 && share >= killAt[0] {
			killAt = killAt[1:]
			s.killWorker()
		}
		if !nextKill.IsZero() && time.Now().After(nextKill) {
			s.killWorker()
			nextKill = time.Now().Add(s.jitter(p.killEvery))
		}
		if !natsDone && share >= p.natsStopAt {
			natsDone = true
			s.restartNATSNode()
		}
	}
}

// note records a fault in the timeline.
func (s *scenario) note(format string, args ...any) {
	s.timeline = append(s.timeline, fmt.Sprintf("%s %s", s.since(time.Now()), fmt.Sprintf(format, args...)))
}

// since is t as an offset from the start of the scenario.
func (s *scenario) since(t time.Time) string {
	return fmt.Sprintf("+%.1fs", t.Sub(s.start).Seconds())
}

// jitter is d ± 50%.
func (s *scenario) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(s.rng.Int64N(int64(d)))
}

// killWorker kills the worker replica that made the most API calls in the
// last seconds (one that owns partitions: killing an idle one proves little)
// with SIGKILL, or its in-process equivalent, and starts it again a moment
// later.
func (s *scenario) killWorker() {
	w := s.workers[s.rng.IntN(len(s.workers))]
	busy := s.flaky.RecentCalls(3 * time.Second)
	for _, c := range s.workers {
		if busy[c.Label()] > busy[w.Label()] {
			w = c
		}
	}
	if !w.Running() {
		return
	}
	w.Kill()
	s.kills++
	s.note("SIGKILL %s (%d API calls in the last 3s)", w.Label(), busy[w.Label()])
	time.Sleep(time.Duration(200+s.rng.IntN(800)) * time.Millisecond)
	w.Start()
	s.restarts++
}

// restartNATSNode stops the node leading the events stream, and starts it
// again with its store after natsDownFor.
func (s *scenario) restartNATSNode() {
	var victim *bustest.Node
	role := "events stream leader"
	for _, nd := range s.cluster.Nodes() {
		if srv := nd.Server(); srv != nil && srv.JetStreamIsStreamLeader("$G", bus.EventsStream) {
			victim = nd
		}
	}
	if victim == nil {
		victim, role = s.cluster.Node(s.rng.IntN(len(s.cluster.Nodes()))), "no stream leader found; a random node"
	}
	start := time.Now()
	s.note("stop NATS node %s", victim.Name())
	victim.Stop()
	time.Sleep(s.p.natsDownFor)
	victim.Restart()
	s.note("NATS node %s back", victim.Name())
	s.natsRestarts = append(s.natsRestarts, fmt.Sprintf("%s (%s; down %s)", victim.Name(), role, time.Since(start).Round(100*time.Millisecond)))
}

// post dispatches the webhooks at the planned rate; each chat's webhooks are
// delivered one after the other (the next once the previous was answered 200
// or given up), alternating between the receivers.
func (s *scenario) post(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	queues := map[string]chan *webhook{}
	var wg sync.WaitGroup
	for _, w := range s.webhooks {
		if queues[w.chat] == nil {
			q := make(chan *webhook, len(s.webhooks))
			queues[w.chat] = q
			wg.Add(1)
			go func() {
				defer wg.Done()
				for w := range q {
					s.deliver(ctx, client, w)
				}
			}()
		}
	}
	lim := rate.NewLimiter(rate.Limit(s.p.rate), 1)
	for i, w := range s.webhooks {
		if lim.Wait(ctx) != nil {
			break
		}
		queues[w.chat] <- w
		s.dispatched.Store(int64(i + 1))
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
}

// retryDelays are the sender's waits before its retries (LiveChat retries a
// webhook 3 times and gives up after about 10s).
var retryDelays = []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}

func (s *scenario) deliver(ctx context.Context, client *http.Client, w *webhook) {
	send := func(receiver int) int {
		receiver %= len(s.receivers)
		url := "http://" + s.receivers[receiver].Addr() + "/webhooks/livechat"
		start := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(w.body))
		if err != nil {
			w.tries = append(w.tries, try{receiver: receiver, at: start, took: time.Since(start)})
			s.postErrors.Add(1)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.tries = append(w.tries, try{receiver: receiver, at: start, took: time.Since(start), status: resp.StatusCode})
		if resp.StatusCode != http.StatusOK {
			s.non200.Add(1)
		}
		return resp.StatusCode
	}
	for attempt := 0; ; attempt++ {
		status := send(w.seq + attempt)
		w.answers = append(w.answers, status)
		if status == http.StatusOK {
			w.accepted = true
			break
		}
		if attempt == len(retryDelays) || ctx.Err() != nil {
			break
		}
		time.Sleep(retryDelays[attempt])
	}
	if w.accepted && w.dup {
		w.dupOK = send(w.seq+1) == http.StatusOK
	}
}

// waitIdle waits until no partition consumer has events pending or
// unacknowledged, twice in a row a second apart.
func (s *scenario) waitIdle() {
	s.t.Helper()
	deadline := time.Now().Add(s.p.drainTimeout)
	lastReport := time.Now()
	every := 15 * time.Second
	if s.p.drainTimeout > 5*time.Minute {
		every = time.Minute
	}
	idleSince := time.Time{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		idle, err := bus.WorkersIdle(ctx, s.js, partitions)
		cancel()
		switch {
		case err == nil && idle && idleSince.IsZero():
			idleSince = time.Now()
		case err == nil && idle && time.Since(idleSince) >= time.Second:
			return
		case !idle || err != nil:
			idleSince = time.Time{}
		}
		if time.Now().After(deadline) {
			// Check what was done anyway: order and repeats are judged on
			// it; the events not handled yet count as missing actions.
			s.unfinished = s.pendingSummary()
			s.t.Errorf("%s: the workers did not finish within %s of the last webhook: %s", s.p.name, s.p.drainTimeout, s.unfinished)
			return
		}
		if time.Since(lastReport) > every {
			s.t.Logf("%s: draining: %s", s.p.name, s.pendingSummary())
			lastReport = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pending is how many events are pending or unacknowledged in all.
func (s *scenario) pending() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	for p := range partitions {
		c, err := s.js.Consumer(ctx, bus.EventsStream, bus.WorkerConsumerName(p))
		if err != nil {
			continue
		}
		if info, err := c.Info(ctx); err == nil {
			n += info.NumPending + uint64(info.NumAckPending)
		}
	}
	return n
}

func (s *scenario) pendingSummary() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pending, ack uint64
	var busy []string
	for p := range partitions {
		c, err := s.js.Consumer(ctx, bus.EventsStream, bus.WorkerConsumerName(p))
		if err != nil {
			return err.Error()
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err.Error()
		}
		pending += info.NumPending
		ack += uint64(info.NumAckPending)
		if info.NumPending > 0 || info.NumAckPending > 0 {
			busy = append(busy, fmt.Sprintf("p%d:%d+%d", p, info.NumPending, info.NumAckPending))
		}
	}
	return fmt.Sprintf("%d events pending, %d unacknowledged (%s)", pending, ack, strings.Join(busy, " "))
}

// dumpLogsOnFailure shows the end of every replica's log when the test
// failed.
func (s *scenario) dumpLogsOnFailure() {
	if !s.t.Failed() {
		return
	}
	for _, p := range s.logs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"chat_id":"GHOST`) {
				continue // the expected dead letters
			}
			lines = append(lines, sc.Text())
			if len(lines) > 60 {
				lines = lines[1:]
			}
		}
		f.Close()
		s.t.Logf("--- last lines of %s:\n%s", filepath.Base(p), strings.Join(lines, "\n"))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	must(err)
	return b
}
