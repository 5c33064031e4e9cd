package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// embeddedBroken reports why the embedded server cannot store: JetStream
// disabled (the server turns it off after some write errors) or a stream
// whose store failed a write. A file store keeps returning its first write
// error (say, "no space left on device") until it is opened again, and the
// server does not answer the publishes it fails, so only this check sees it.
func (b *Bus) embeddedBroken() error {
	srv := b.server()
	if !srv.Running() {
		return errors.New("the embedded NATS server is not running")
	}
	if !srv.JetStreamEnabled() {
		return errors.New("JetStream is disabled on the embedded NATS server")
	}
	h := srv.Healthz(&server.HealthzOptions{Details: true})
	for _, e := range h.Errors {
		// The server reports a stream's write error only in this text;
		// HealthzError has no field for it.
		if e.Type == server.HealthzErrorStream && strings.Contains(e.Error, "write error") {
			return errors.New(e.Error)
		}
	}
	return nil
}

// heal ends a fault of the embedded store when it can: once the disk has
// room, the embedded server is restarted (after a write error or when its
// JetStream is disabled, and when JetStream's own cap, computed from the
// free space at start, would now be larger), which opens every stream
// again from disk. A fault of a fixed limit heals through probe publishes
// instead. (nats-server's EnableJetStream after ShutdownJetStream would
// keep the process's server, but leaves the first JetStream's API
// subscription and workers behind, racing with the new ones.)
func (b *Bus) heal() {
	g := &b.store
	g.mu.Lock()
	kind, faulted, at, wait := g.kind, g.cause != nil, g.restartAt, g.restartWait
	g.mu.Unlock()
	if !faulted {
		return
	}
	room := b.roomToStore()
	g.mu.Lock()
	g.waiting = room
	g.mu.Unlock()
	if room != nil || time.Now().Before(at.Add(wait)) {
		return
	}
	if kind == faultLimit && !b.capCanGrow() {
		return
	}
	err := b.restartServer()
	g.mu.Lock()
	g.restartAt = time.Now()
	if err != nil {
		g.restartWait = min(2*g.restartWait, maxRestartBackoff)
		g.waiting = err
	}
	g.mu.Unlock()
	if err != nil {
		b.logger.Warn("restarting the embedded NATS server did not help yet; trying again", zap.Error(err), zap.Duration("in", wait))
		return
	}
	b.clearFault("the embedded NATS server restarted once the disk had room")
}

// roomToStore tells whether nats.data_dir's filesystem can take writes
// again: at least healRoom free and a test file written and synced.
func (b *Bus) roomToStore() error {
	if free, err := diskFree(b.dataDir); err == nil && free < healRoom {
		return fmt.Errorf("free space on nats.data_dir %s: %d bytes, need %d", b.dataDir, free, healRoom)
	}
	return probeWrite(b.dataDir, healProbeBytes)
}

// probeWrite writes n bytes to a new file in dir, syncs and removes it.
func probeWrite(dir string, n int) error {
	f, err := os.CreateTemp(dir, ".chatwarden-probe-*")
	if err != nil {
		return fmt.Errorf("writing a test file in %s: %w", dir, err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(make([]byte, n))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing a test file in %s: %w", dir, err)
	}
	return nil
}

// capCanGrow tells whether restarting JetStream would raise its store cap
// above what it stores: only when nats.max_file_store_bytes is unset
// (JetStream then sizes the cap from the free space at start).
func (b *Bus) capCanGrow() bool {
	if b.natsCfg.MaxFileStoreBytes > 0 {
		return false
	}
	free, err := diskFree(b.dataDir)
	if err != nil {
		return false
	}
	g := &b.store
	g.mu.Lock()
	defer g.mu.Unlock()
	grown := free/4*3 + g.usedBytes/4*3 // as JetStream computes it at start
	return grown > g.maxBytes && grown > g.usedBytes+healRoom
}

// restartServer stops the embedded server and starts a new one on the
// same data directory, address and credentials: every stream, consumer and
// bucket is opened again from disk, as after a restart of the process, and
// what was stored stays. The connection reconnects to it by itself (in
// process too, see inProcess), as after any broker restart; it returns once
// the connection is back and the events stream answers.
func (b *Bus) restartServer() error {
	old := b.server()
	b.logger.Warn("restarting the embedded NATS server to recover its store", zap.String("data_dir", b.dataDir))
	cfg := b.natsCfg
	if a := old.Addr(); a != nil {
		cfg.Listen = a.String() // the same port, also when nats.listen chose one at random
	}
	old.Shutdown()
	old.WaitForShutdown()
	srv, err := startEmbedded(cfg, b.creds, b.logger)
	if err != nil {
		return err
	}
	b.srv.Store(srv)
	if err := b.lock.record(lockListen(srv)); err != nil {
		b.logger.Warn("recording the embedded server's address in the lock file", zap.Error(err))
	}
	if err := b.embeddedBroken(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second) // nats.go reconnects within 1-2s
	defer cancel()
	for b.Conn.Status() != nats.CONNECTED {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reconnecting to the restarted embedded server: %w (NATS connection is %s)", ctx.Err(), b.Conn.Status())
		case <-b.store.stop:
			return errors.New("closing")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := b.JS.Stream(ctx, EventsStream); err != nil {
		return fmt.Errorf("stream %s after restarting the embedded server: %w", EventsStream, err)
	}
	b.readyMu.Lock()
	b.readyAt = time.Time{}
	b.readyMu.Unlock()
	b.sampleDisk()
	b.logger.Info("embedded NATS server restarted", zap.String("data_dir", b.dataDir),
		zap.Int64("store_max_bytes", b.StoreState().StoreMaxBytes))
	return nil
}
