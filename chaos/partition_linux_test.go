package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/bus"
)

// TestPartition: chatwarden as two receivers and two workers against a
// 3-node NATS cluster, every one of them a process in its own network
// namespace (see netLab), while webhooks come at a steady rate. Three
// partitions, one after the other, each healed before the next:
//
//  1. the busiest worker is cut off from the broker (not from the API)
//     while it holds partitions and has calls in flight; its API calls fail
//     (hanging first) while it is cut off, as an overloaded replica's do,
//     so its events retry in place and outlive their ack wait, and the
//     other worker takes its partitions over; then it is joined again;
//  2. a receiver is cut off from the broker: it must answer webhooks 503 at
//     once (within a second) and fail /readyz, and pass it again once
//     joined;
//  3. the NATS node leading the events stream is cut off from the other
//     two (and from every client), then joined again.
//
// Then the checks of the chaos test (verify): every webhook answered 200
// applied, per-chat order kept, no two calls about a chat at once, no
// repeated send_event; and each partition's timeline and counts printed.
//
// It needs root and iproute2 (CI runs it as root with CI=true, where it must
// run); elsewhere it skips, saying why. About two minutes on two cores,
// a good part of it starting seven -race processes and forming the cluster.
func TestPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("partition test: not in -short mode")
	}
	lab := newNetLab(t)
	p := plan{
		name:     "partition",
		webhooks: 2400, chats: 200, ghostEvery: 50,
		rate:      40,
		dupShare:  0.02,
		receivers: 2, workers: 2, procWorkers: true,
		// Short, so that the cut-off worker's events are given up and its
		// partitions taken over within a cut of some 20s.
		ackWait: 6 * time.Second, failoverAfter: 8 * time.Second,
		drainTimeout: 3 * time.Minute,
	}
	s := newPartitionScenario(t, lab, p)
	s.runWith(s.partitions)
	s.reportPartitions()
	r := s.verify()
	assert.Positive(t, r.redeliveries, "the cut-off worker's events were given up by the broker and delivered again")
	for _, rec := range s.parts {
		for _, f := range rec.failures {
			t.Errorf("%s: %s", rec.name, f)
		}
	}
}

// partScenario is a scenario whose every process is a host of a netLab.
type partScenario struct {
	*scenario
	lab         *netLab
	nodes       []*labHost // the NATS nodes', named n1.. as the servers are
	recvHosts   []*labHost
	workerHosts []*labHost
	parts       []*partitionRecord
}

// partitionRecord is one partition: when, whom, and what was seen.
type partitionRecord struct {
	name          string
	host          string
	cutAt, healAt time.Time
	notes         []string // timeline within the partition
	failures      []string // requirements not met (the test fails)
	workerPrefix  string   // a worker's label prefix ("w1-"), for a worker cut
	workerLog     string   // and its log
	receiver      int      // the receiver's index, for a receiver cut (-1: none)
}

func (rec *partitionRecord) note(s *scenario, format string, args ...any) {
	rec.notes = append(rec.notes, s.since(time.Now())+" "+fmt.Sprintf(format, args...))
}

// Ports inside every host's namespace: each has its own.
const (
	labNATSPort  = 4222
	labRoutePort = 6222
	labHTTPPort  = 8080
)

func newPartitionScenario(t *testing.T, lab *netLab, p plan) *partScenario {
	t.Helper()
	s := &partScenario{scenario: baseScenario(t, p), lab: lab}
	var urls []string
	for i := range 3 {
		h := lab.addHost(fmt.Sprintf("n%d", i+1), 11+i, "broker")
		s.nodes = append(s.nodes, h)
		urls = append(urls, fmt.Sprintf("nats://%s:%d", h.ips["broker"], labNATSPort))
	}
	s.natsURLs = strings.Join(urls, ",")
	for i := range p.receivers {
		s.recvHosts = append(s.recvHosts, lab.addHost(fmt.Sprintf("r%d", i+1), 21+i, "broker", "api"))
	}
	for i := range p.workers {
		s.workerHosts = append(s.workerHosts, lab.addHost(fmt.Sprintf("w%d", i+1), 31+i, "broker", "api"))
	}
	for _, h := range s.nodes {
		s.startNATSNode(h)
	}
	s.startAPI(lab.gateway("api") + ":0")
	s.connect()
	s.waitReplicated()

	for i, h := range s.recvHosts {
		name := fmt.Sprintf("receiver-%d", i+1)
		addr := fmt.Sprintf("%s:%d", h.ips["api"], labHTTPPort)
		w := newProcWorker(t, 0, name, func(int) string {
			return s.writeConfig(name, fmt.Sprintf("0.0.0.0:%d", labHTTPPort), name)
		}, s.logPath(name), "http://"+addr)
		w.wrap, w.role = h.wrap(), "receive"
		w.Launch()
		s.receivers = append(s.receivers, procReceiver{w, addr})
	}
	for i, h := range s.workerHosts {
		name := fmt.Sprintf("worker-%d", i+1)
		w := newProcWorker(t, i+1, name, func(start int) string {
			return s.writeConfig(name, fmt.Sprintf("0.0.0.0:%d", labHTTPPort), replicaLabel(i+1, start))
		}, s.logPath(name), fmt.Sprintf("http://%s:%d", h.ips["api"], labHTTPPort))
		w.wrap = h.wrap()
		w.Launch()
		s.workers = append(s.workers, w)
	}
	for _, r := range s.receivers {
		r.(procReceiver).AwaitUp()
	}
	for _, w := range s.workers {
		w.AwaitUp()
	}
	s.waitConsumers()
	return s
}

// procReceiver is a receiver replica as a process (`chatwarden receive`).
type procReceiver struct {
	*procWorker
	addr string
}

func (r procReceiver) Addr() string { return r.addr }

// startNATSNode runs a NATS node as a process in host h's namespace (see
// runNATSNode), stopped with SIGTERM at the end of the test.
func (s *partScenario) startNATSNode(h *labHost) {
	t := s.t
	t.Helper()
	var routes []string
	for _, peer := range s.nodes {
		if peer != h {
			routes = append(routes, fmt.Sprintf("nats://%s:%d", peer.ips["broker"], labRoutePort))
		}
	}
	spec, err := json.Marshal(natsNodeSpec{Name: h.name, Cluster: "chaos-partition", Host: h.ips["broker"], Port: labNATSPort,
		RoutePort: labRoutePort, Routes: routes, Dir: filepath.Join(s.dir, "nats-"+h.name)})
	require.NoError(t, err)
	logf, err := os.Create(s.logPath("nats-" + h.name))
	require.NoError(t, err)
	cmd := h.command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), natsNodeEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	require.NoError(t, cmd.Start(), "starting NATS node %s", h.name)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
}

// waitReplicated waits until the cluster places a stream on all three
// nodes (every node is up, and a peer of the JetStream meta group), so the
// replicas' provisioning does not have to wait for it.
func (s *partScenario) waitReplicated() {
	s.t.Helper()
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CHAOS_READY", Subjects: []string{"chaos.ready"}, Replicas: 3})
		assert.NoError(c, err, "a stream with 3 replicas")
	}, 2*time.Minute, 250*time.Millisecond, "the NATS cluster forms") // -race processes on 2 busy cores start slowly
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.js.DeleteStream(ctx, "CHAOS_READY")
}

// partitions runs the three partitions, one after the other, while the
// webhooks are posted.
func (s *partScenario) partitions(posted <-chan struct{}) {
	p := s.p
	settle := func(d time.Duration) { // traffic flows normally between partitions
		select {
		case <-time.After(d):
		case <-posted:
		}
	}
	settle(5 * time.Second)
	s.cutWorker(p.failoverAfter + p.ackWait + 4*time.Second)
	settle(5 * time.Second)
	s.cutReceiver(10 * time.Second)
	settle(5 * time.Second)
	s.cutNATSNode(10 * time.Second)
	<-posted
}

// cutWorker cuts the worker that made the most API calls in the last
// seconds off from the broker for d. While cut off its API calls hang 800ms
// and fail (a busy replica's calls time out), so its events retry in place,
// holding their chats, past their ack wait.
func (s *partScenario) cutWorker(d time.Duration) {
	busy := s.flaky.RecentCalls(3 * time.Second)
	victim := 0
	for i, w := range s.workers {
		if busy[w.Label()] > busy[s.workers[victim].Label()] {
			victim = i
		}
	}
	w, h := s.workers[victim], s.workerHosts[victim]
	rec := &partitionRecord{name: "worker cut off from the broker", host: h.name, workerPrefix: fmt.Sprintf("w%d-", victim+1), receiver: -1}
	if pw, ok := w.(*procWorker); ok {
		rec.workerLog = pw.logPath
	}
	s.parts = append(s.parts, rec)
	s.flaky.FailReplica(rec.workerPrefix, 800*time.Millisecond)
	s.lab.cut(h, "broker")
	rec.cutAt = time.Now()
	s.note("cut %s (%s) off the broker (%d API calls in the last 3s)", w.Label(), h.name, busy[w.Label()])
	rec.note(s.scenario, "cut off; its API calls fail from now on")
	time.Sleep(d)
	s.lab.heal(h, "broker")
	s.flaky.Restore(rec.workerPrefix)
	rec.healAt = time.Now()
	s.note("joined %s again", w.Label())
	rec.note(s.scenario, "joined again; its API calls succeed again")
}

// cutReceiver cuts the first receiver off from the broker for d, and checks
// that it answers webhooks 503 within a second and fails /readyz meanwhile,
// and is ready again once joined.
func (s *partScenario) cutReceiver(d time.Duration) {
	h := s.recvHosts[0]
	base := "http://" + s.receivers[0].Addr()
	rec := &partitionRecord{name: "receiver cut off from the broker", host: h.name, receiver: 0}
	s.parts = append(s.parts, rec)
	s.lab.cut(h, "broker")
	rec.cutAt = time.Now()
	s.note("cut receiver-1 (%s) off the broker", h.name)
	rec.note(s.scenario, "cut off")
	client := &http.Client{Timeout: 10 * time.Second}
	readyz := func() int {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// It may take the receiver a moment to notice (a publish that times
	// out, a missed ping); from then on it must answer at once.
	const notice = 15 * time.Second
	code := waitFor(notice, func() (int, bool) { c := readyz(); return c, c == http.StatusServiceUnavailable })
	if code == http.StatusServiceUnavailable {
		rec.note(s.scenario, "/readyz 503 (%s after the cut)", time.Since(rec.cutAt).Round(100*time.Millisecond))
	} else {
		rec.failures = append(rec.failures, fmt.Sprintf("/readyz answered %d, not 503, %s after the receiver was cut off from the broker", code, notice))
		rec.note(s.scenario, "/readyz still %d", code)
	}
	// A webhook (one already stored: a duplicate, harmless if accepted).
	start := time.Now()
	resp, err := client.Post(base+"/webhooks/livechat", "application/json", bytes.NewReader(s.webhooks[0].body))
	took := time.Since(start)
	switch {
	case err != nil:
		rec.failures = append(rec.failures, fmt.Sprintf("a webhook got no answer while cut off: %v", err))
	default:
		resp.Body.Close()
		rec.note(s.scenario, "a webhook answered %d in %s", resp.StatusCode, took.Round(time.Millisecond))
		if resp.StatusCode != http.StatusServiceUnavailable || took > time.Second {
			rec.failures = append(rec.failures, fmt.Sprintf("a webhook answered %d in %s while cut off; want 503 within 1s", resp.StatusCode, took.Round(time.Millisecond)))
		}
	}
	if rest := d - time.Since(rec.cutAt); rest > 0 {
		time.Sleep(rest)
	}
	s.lab.heal(h, "broker")
	rec.healAt = time.Now()
	s.note("joined receiver-1 again")
	rec.note(s.scenario, "joined again")
	if code := waitFor(time.Minute, func() (int, bool) { c := readyz(); return c, c == http.StatusOK }); code == http.StatusOK {
		rec.note(s.scenario, "/readyz 200 again")
	} else {
		rec.failures = append(rec.failures, fmt.Sprintf("/readyz answered %d a minute after the receiver was joined again", code))
	}
}

// cutNATSNode cuts the node leading the events stream off from the other
// two (and every client) for d, then waits until the stream's replicas are
// all current again.
func (s *partScenario) cutNATSNode(d time.Duration) {
	leader := s.streamLeader()
	i := slices.IndexFunc(s.nodes, func(h *labHost) bool { return h.name == leader })
	role := "the events stream's leader"
	if i < 0 {
		i, role = 0, "no stream leader known: the first"
	}
	h := s.nodes[i]
	rec := &partitionRecord{name: "NATS node cut off from the other two", host: h.name, receiver: -1}
	s.parts = append(s.parts, rec)
	s.lab.cut(h, "broker")
	rec.cutAt = time.Now()
	s.note("cut NATS node %s (%s) off", h.name, role)
	rec.note(s.scenario, "cut off (%s)", role)
	for time.Since(rec.cutAt) < d {
		if l := s.streamLeader(); l != "" && l != h.name {
			rec.note(s.scenario, "events stream leader now %s", l)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if rest := d - time.Since(rec.cutAt); rest > 0 {
		time.Sleep(rest)
	}
	s.lab.heal(h, "broker")
	rec.healAt = time.Now()
	s.note("joined NATS node %s again", h.name)
	rec.note(s.scenario, "joined again")
	if current := waitFor(time.Minute, func() (bool, bool) { c := s.streamCurrent(); return c, c }); current {
		rec.note(s.scenario, "every replica of the events stream current again")
	} else {
		rec.failures = append(rec.failures, "the events stream's replicas were not all current a minute after the node was joined again")
	}
}

// waitFor polls check every 100ms until it reports done or d has passed,
// and returns its last value.
func waitFor[T any](d time.Duration, check func() (T, bool)) T {
	deadline := time.Now().Add(d)
	for {
		v, done := check()
		if done || time.Now().After(deadline) {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *partScenario) streamInfo() *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

func (s *partScenario) streamLeader() string {
	if info := s.streamInfo(); info != nil && info.Cluster != nil {
		return info.Cluster.Leader
	}
	return ""
}

func (s *partScenario) streamCurrent() bool {
	info := s.streamInfo()
	if info == nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		return false
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// givenUp reads a worker's log for the chats it left to their redelivery
// because it may have lost them to another replica (consumer.Runner's
// warning): how many times, and how many events in all.
func givenUp(logPath string) (times, events int) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0, 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var rec struct {
			Msg    string `json:"msg"`
			Events int    `json:"events"`
		}
		if json.Unmarshal(line, &rec) == nil && strings.HasPrefix(rec.Msg, "this worker may have lost") {
			times++
			events += rec.Events
		}
	}
	return times, events
}

// reportPartitions adds each partition's timeline and counts to the
// report: the webhooks answered while it lasted, and the API calls the
// replicas performed (a cut-off worker's after its events' ack wait ran out
// would be ones another replica may have made too).
func (s *partScenario) reportPartitions() {
	calls := s.fake.Calls()
	for n, rec := range s.parts {
		in := func(at time.Time) bool { return !at.Before(rec.cutAt) && at.Before(rec.healAt) }
		var ok, refused, noAnswer, toIt, toIt503 int
		var slowest time.Duration
		for _, w := range s.webhooks {
			for _, tr := range w.tries {
				if !in(tr.at) {
					continue
				}
				switch tr.status {
				case http.StatusOK:
					ok++
				case 0:
					noAnswer++
				default:
					refused++
				}
				if tr.receiver == rec.receiver {
					toIt++
					if tr.status == http.StatusServiceUnavailable {
						toIt503++
					}
					slowest = max(slowest, tr.took)
				}
			}
		}
		var byVictim, byVictimLate, byOthers int
		for _, c := range calls {
			if c.Status != http.StatusOK || !in(c.Time) {
				continue
			}
			if rec.workerPrefix != "" && strings.HasPrefix(replicaOf(c.Header), rec.workerPrefix) {
				byVictim++
				if c.Time.Sub(rec.cutAt) > s.p.ackWait {
					byVictimLate++
				}
			} else {
				byOthers++
			}
		}
		lines := []string{fmt.Sprintf("partition %d, %s (%s): %s to %s (%s)", n+1, rec.name, rec.host, s.since(rec.cutAt), s.since(rec.healAt),
			rec.healAt.Sub(rec.cutAt).Round(100*time.Millisecond))}
		lines = append(lines, fmt.Sprintf("  webhooks sent meanwhile: answered 200 %d, refused %d, no answer %d", ok, refused, noAnswer))
		if rec.receiver >= 0 {
			lines = append(lines, fmt.Sprintf("  to the cut-off receiver: %d, answered 503 %d, slowest answer %s", toIt, toIt503, slowest.Round(time.Millisecond)))
		}
		if rec.workerPrefix != "" {
			lines = append(lines, fmt.Sprintf("  API calls performed meanwhile: by the cut-off worker %d (after its events' ack wait ran out: %d), by the others %d", byVictim, byVictimLate, byOthers))
			times, events := givenUp(rec.workerLog)
			lines = append(lines, fmt.Sprintf("  the cut-off worker left %d events of %d chats to their redelivery rather than act on them once they may have been another replica's", events, times))
		} else {
			lines = append(lines, fmt.Sprintf("  API calls performed meanwhile: %d", byOthers))
		}
		lines = append(lines, "  timeline: "+strings.Join(rec.notes, "; "))
		for _, f := range rec.failures {
			lines = append(lines, "  FAILED: "+f)
		}
		s.faultReport = append(s.faultReport, lines...)
	}
}
