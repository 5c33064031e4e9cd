package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Reasons the bus cannot store events now (StoreState.Reason). The receiver
// answers 503 with Retry-After under the same names (the reason label of
// chatwarden_webhooks_rejected_total).
const (
	// ReasonStorageFull: the broker refuses to store: its disk is full,
	// JetStream's storage limit is reached, or JetStream is disabled.
	ReasonStorageFull = "storage_full"
	// ReasonBrokerUnavailable: the connection to the broker is down
	// (nats.go is reconnecting) or closed for good.
	ReasonBrokerUnavailable = "broker_unavailable"
)

// Timings of the store's watch. Variables so that tests can shorten them.
var (
	// storeCheckEvery is how often the embedded server's store is checked
	// for write errors, a disabled JetStream and free space, and a fault
	// for whether it can heal.
	storeCheckEvery = 500 * time.Millisecond
	// storeProbeEvery is how often, while storing is refused for a limit
	// the broker reported, one publish is let through to find out whether
	// it stores again (the others are refused at once meanwhile).
	storeProbeEvery = time.Second
	// storeReminderEvery is how often a fault that lasts is logged again.
	storeReminderEvery = time.Minute
	// restartBackoff is the first wait between two restarts of the
	// embedded JetStream that did not heal it; it doubles up to
	// maxRestartBackoff.
	restartBackoff    = 2 * time.Second
	maxRestartBackoff = 30 * time.Second
)

// healRoom is the free space the data directory's filesystem needs, and a
// test write of healProbeBytes must succeed, before the embedded store is
// restarted after a write error: less would fail again at once.
const (
	healRoom       = 1 << 20
	healProbeBytes = 64 << 10
)

// StoreState says whether events can be stored now, and why not.
type StoreState struct {
	// Reason is "" while events can be stored, else ReasonStorageFull or
	// ReasonBrokerUnavailable.
	Reason string `json:"reason,omitempty"`
	// Cause is the broker's or the system's own words.
	Cause string `json:"cause,omitempty"`
	// Since is when the fault began (zero while storing works).
	Since time.Time `json:"since,omitzero"`
	// The embedded server's store (zero with an external server): what its
	// JetStream may store (max_file_store in force), what it stores, and
	// the free space on nats.data_dir's filesystem (-1: unknown).
	StoreMaxBytes  int64 `json:"store_max_bytes,omitempty"`
	StoreUsedBytes int64 `json:"store_used_bytes,omitempty"`
	DiskFreeBytes  int64 `json:"disk_free_bytes,omitempty"`
}

// faultKind says how a storage fault heals.
type faultKind int

const (
	// faultLimit: the broker answered that it lacks room (a limit, a full
	// store). Heals when a probe publish is stored again.
	faultLimit faultKind = iota + 1
	// faultWrite: the embedded store failed a write (the disk filled up)
	// and keeps failing, or its JetStream is disabled. Heals when the disk
	// has room again and the embedded server is restarted.
	faultWrite
)

// storeGuard is the bus's view of whether the broker can store.
type storeGuard struct {
	mu      sync.Mutex
	cause   error // nil while storing works
	kind    faultKind
	since   time.Time
	faulted chan struct{} // closed when a fault begins; a new one once it ends
	probing bool
	probeAt time.Time
	// remindAt is when the fault was last logged; waiting is what healing
	// waits for (logged with the reminder).
	remindAt time.Time
	waiting  error
	// Restarts of the embedded JetStream during this fault.
	restartAt   time.Time
	restartWait time.Duration

	// disconnectedAt is when the connection went down (zero while up).
	disconnectedAt time.Time

	// Samples of the embedded store (see sampleDisk).
	maxBytes, usedBytes, freeBytes int64
	lowDisk, nearCap               bool

	kick    chan struct{} // asks the watch to check now
	stop    chan struct{}
	done    chan struct{}
	started bool // watchStore runs (set before it starts)
}

func newStoreGuard() storeGuard {
	return storeGuard{faulted: make(chan struct{}), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), freeBytes: -1}
}

// errLocked is what Publish and Ready return while storing is refused.
func (g *storeGuard) errLocked() error {
	return fmt.Errorf("%w: %v", ErrStorageFull, g.cause)
}

// StoreState reports whether events can be stored now and, with the
// embedded server, how full its store is.
func (b *Bus) StoreState() StoreState {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	st := StoreState{StoreMaxBytes: g.maxBytes, StoreUsedBytes: g.usedBytes, DiskFreeBytes: g.freeBytes}
	if !b.embedded {
		st.DiskFreeBytes = 0
	}
	switch s := b.Conn.Status(); {
	case s != nats.CONNECTED:
		st.Reason, st.Cause, st.Since = ReasonBrokerUnavailable, "NATS connection is "+s.String(), g.disconnectedAt
		if err := b.Alive(context.Background()); err != nil {
			st.Cause = err.Error()
		}
	case g.cause != nil:
		st.Reason, st.Cause, st.Since = ReasonStorageFull, g.cause.Error(), g.since
	}
	return st
}

// storageError tells whether err, from publishing, says the broker cannot
// store for lack of room, and which kind of fault that is.
func (b *Bus) storageError(err error) (faultKind, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false
	}
	switch apiErr.ErrorCode {
	case 10023, // insufficient resources (the server's store limit, max_file_store)
		10047, // insufficient storage resources available
		10002: // resource limits exceeded for account
		return faultLimit, true
	case jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount:
		if b.embedded {
			return faultWrite, true // only a restart turns it on again
		}
		return faultLimit, true
	}
	return 0, false
}

// setFault records that the broker cannot store, logging it when it begins.
// Publishes waiting for their acknowledgement give up at once.
func (b *Bus) setFault(kind faultKind, cause error) {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cause != nil {
		if kind == faultWrite && g.kind != faultWrite { // a write error needs the stronger cure
			g.kind, g.cause = kind, cause
		}
		return
	}
	now := time.Now()
	g.cause, g.kind, g.since, g.remindAt, g.waiting = cause, kind, now, now, nil
	g.restartAt, g.restartWait = time.Time{}, restartBackoff
	close(g.faulted)
	b.logger.Warn("the broker cannot store events: webhooks are answered 503 with Retry-After at once, and /readyz fails, until it can again",
		zap.String("reason", ReasonStorageFull), zap.Error(cause))
}

// clearFault records that storing works again.
func (b *Bus) clearFault(how string) {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cause == nil {
		return
	}
	b.logger.Info("the broker stores events again", zap.String("reason", ReasonStorageFull), zap.String("how", how),
		zap.Duration("after", time.Since(g.since).Round(time.Millisecond)), zap.NamedError("was", g.cause))
	g.cause, g.kind, g.probing, g.waiting = nil, 0, false, nil
	g.faulted = make(chan struct{})
}

// admit decides whether a publish may go to the broker: always while
// storing works; during a fault of the broker's limits, one publish per
// storeProbeEvery as a probe; else it is refused with ErrStorageFull.
// faulted is closed when a fault begins (nil for a probe).
func (b *Bus) admit() (probe bool, faulted <-chan struct{}, err error) {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cause == nil {
		return false, g.faulted, nil
	}
	if g.kind == faultLimit && !g.probing && time.Since(g.probeAt) >= storeProbeEvery {
		g.probing, g.probeAt = true, time.Now()
		return true, nil, nil
	}
	return false, nil, g.errLocked()
}

// probed ends a probe publish: stored (the fault is over) or not.
func (b *Bus) probed(stored bool) {
	b.store.mu.Lock()
	b.store.probing = false
	b.store.mu.Unlock()
	if stored {
		b.clearFault("a webhook was stored again")
	}
}

// storeErr is the fault while storing is refused, else nil.
func (b *Bus) storeErr() error {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cause == nil {
		return nil
	}
	return g.errLocked()
}

// kickWatch asks the watch to check the store now (after a publish went
// unanswered: an embedded store that failed a write does not answer).
func (b *Bus) kickWatch() {
	select {
	case b.store.kick <- struct{}{}:
	default:
	}
}

// watchStore checks the store every storeCheckEvery until stopStore: with
// the embedded server, it notices write errors and a disabled JetStream,
// samples the disk, and heals; for every bus it reminds of a lasting fault.
func (b *Bus) watchStore() {
	defer close(b.store.done)
	t := time.NewTicker(storeCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-b.store.stop:
			return
		case <-t.C:
		case <-b.store.kick:
		}
		b.checkStore()
	}
}

// startStore starts watchStore.
func (b *Bus) startStore() {
	b.store.started = true
	go b.watchStore()
}

// stopStore stops watchStore and waits for it, if it was started.
func (b *Bus) stopStore() {
	if !b.store.started {
		return
	}
	select {
	case <-b.store.stop:
		return
	default:
		close(b.store.stop)
	}
	<-b.store.done
}

func (b *Bus) checkStore() {
	if b.embedded {
		b.sampleDisk()
		if err := b.embeddedBroken(); err != nil {
			b.setFault(faultWrite, err)
		}
		b.heal()
	}
	b.remind()
}

// remind logs a fault or disconnection again every storeReminderEvery.
func (b *Bus) remind() {
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.cause != nil && now.Sub(g.remindAt) >= storeReminderEvery {
		g.remindAt = now
		fields := []zap.Field{zap.String("reason", ReasonStorageFull), zap.Duration("for", now.Sub(g.since).Round(time.Second)), zap.Error(g.cause)}
		if g.waiting != nil {
			fields = append(fields, zap.NamedError("waiting_for", g.waiting))
		}
		b.logger.Warn("the broker still cannot store events; webhooks are answered 503", fields...)
	}
	if !g.disconnectedAt.IsZero() && now.Sub(g.disconnectedAt) >= storeReminderEvery && now.Sub(g.remindAt) >= storeReminderEvery {
		g.remindAt = now
		b.logger.Warn("still disconnected from NATS; webhooks are answered 503", zap.String("reason", ReasonBrokerUnavailable),
			zap.Duration("for", now.Sub(g.disconnectedAt).Round(time.Second)), zap.String("status", b.Conn.Status().String()))
	}
}

// sampleDisk records the embedded store's cap, use and free disk space,
// and warns when the free space falls below nats.min_free_disk_bytes (a
// note when it is back above).
func (b *Bus) sampleDisk() {
	var maxBytes, used int64
	srv := b.server()
	if c := srv.JetStreamConfig(); c != nil {
		maxBytes = c.MaxStore
	}
	if info, err := srv.Jsz(&server.JSzOptions{}); err == nil {
		used = int64(info.Store) //nolint:gosec // bytes stored fit in int64
	}
	free, err := diskFree(b.dataDir)
	if err != nil {
		free = -1
	}
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	if maxBytes > 0 {
		g.maxBytes = maxBytes
	}
	g.usedBytes, g.freeBytes = used, free
	b.noteNearCapLocked()
	if free < 0 || b.minFree <= 0 {
		return
	}
	switch low := free < b.minFree; {
	case low && !g.lowDisk:
		b.logger.Warn("little free disk space left for the broker's store (nats.data_dir)", zap.String("data_dir", b.dataDir),
			zap.Int64("free_bytes", free), zap.Int64("min_free_disk_bytes", b.minFree))
	case !low && g.lowDisk:
		b.logger.Info("the broker's disk (nats.data_dir) has room again", zap.String("data_dir", b.dataDir),
			zap.Int64("free_bytes", free), zap.Int64("min_free_disk_bytes", b.minFree))
	}
	g.lowDisk = free < b.minFree
}

// nearCapShare is the share of JetStream's cap (max_file_store) above which
// the store is reported nearly full.
const nearCapShare = 0.9

// noteNearCapLocked warns once when the store holds more than nearCapShare
// of its cap (and notes when it is back below): at the cap, webhooks are
// refused until retention frees room.
func (b *Bus) noteNearCapLocked() {
	g := &b.store
	if g.maxBytes <= 0 {
		return
	}
	near := float64(g.usedBytes) > nearCapShare*float64(g.maxBytes)
	switch {
	case near && !g.nearCap:
		b.logger.Warn("the broker's store is nearly full: at its cap webhooks are answered 503 (storage_full) until retention "+
			"(nats.retention) frees room; raise nats.max_file_store_bytes or free disk space", zap.String("data_dir", b.dataDir),
			zap.Int64("store_used_bytes", g.usedBytes), zap.Int64("store_max_bytes", g.maxBytes))
	case !near && g.nearCap:
		b.logger.Info("the broker's store has room again", zap.Int64("store_used_bytes", g.usedBytes), zap.Int64("store_max_bytes", g.maxBytes))
	}
	g.nearCap = near
}

// logStore says, at start, how much the embedded server's store may use
// and how much room its disk has, and warns when the disk has less free
// space than nats.min_free_disk_bytes or than JetStream's cap.
func (b *Bus) logStore() {
	b.sampleDisk() // warns when below nats.min_free_disk_bytes
	st := b.StoreState()
	capFrom := "nats.max_file_store_bytes"
	if b.natsCfg.MaxFileStoreBytes <= 0 {
		capFrom = "JetStream's default: 75% of the free disk space at start"
	}
	fields := []zap.Field{zap.String("data_dir", b.dataDir), zap.Int64("store_max_bytes", st.StoreMaxBytes),
		zap.String("store_max", humanBytes(st.StoreMaxBytes)), zap.String("store_max_from", capFrom),
		zap.Int64("store_used_bytes", st.StoreUsedBytes), zap.Int64("disk_free_bytes", st.DiskFreeBytes),
		zap.String("disk_free", humanBytes(st.DiskFreeBytes)), zap.Int64("min_free_disk_bytes", b.minFree)}
	b.logger.Info("embedded NATS store: JetStream may store up to store_max on nats.data_dir", fields...)
	if st.DiskFreeBytes >= 0 && st.StoreMaxBytes-st.StoreUsedBytes > st.DiskFreeBytes {
		b.logger.Warn("JetStream's cap (nats.max_file_store_bytes) is larger than the free space on nats.data_dir's disk: "+
			"the disk will fill before the cap is reached (webhooks are then answered 503 until there is room again)", fields...)
	}
}

// humanBytes writes n in binary units, for people reading the log.
func humanBytes(n int64) string {
	if n < 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
