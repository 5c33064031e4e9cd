package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/event"
)

// profileEnv tells a child where to write its profiles (path without suffix).
const profileEnv = "CWLOAD_PROFILE"

// traceEnv, set, tells a child to write an execution trace too.
const traceEnv = "CWLOAD_TRACE"

// maxInflightEnv, set, is the http.max_inflight of a chatwarden child.
const maxInflightEnv = "CWLOAD_MAX_INFLIGHT"

// perIPCapsEnv, set, is both http.max_conns_per_ip and
// http.max_inflight_per_ip of a chatwarden child.
const perIPCapsEnv = "CWLOAD_PER_IP_CAPS"

// maxMemoryEnv, set, is the http.max_memory_bytes of a chatwarden child.
const maxMemoryEnv = "CWLOAD_MAX_MEMORY"

// partitionsEnv, set, is the nats.partitions of a chatwarden child.
const partitionsEnv = "CWLOAD_PARTITIONS"

// dupWindowEnv, set, is the nats.duplicate_window of a chatwarden child.
const dupWindowEnv = "CWLOAD_DUPLICATE_WINDOW"

// startProfile starts a CPU profile to path.cpu, and with withTrace an
// execution trace to path.trace; the returned function stops them. A heap
// profile is written to path.heap every 2s meanwhile, and when it stops if
// none was yet.
func startProfile(path string, withTrace bool) (func(), error) {
	f, err := os.Create(path + ".cpu")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var tf *os.File
	if withTrace {
		if tf, err = os.Create(path + ".trace"); err != nil {
			pprof.StopCPUProfile()
			f.Close()
			return nil, err
		}
		if err := trace.Start(tf); err != nil {
			pprof.StopCPUProfile()
			f.Close()
			tf.Close()
			return nil, err
		}
	}
	// The heap profile is rewritten every 2s, so the last one shows the
	// heap under load rather than after the shutdown.
	writeHeap := func() {
		if h, err := os.Create(path + ".heap"); err == nil {
			_ = pprof.WriteHeapProfile(h)
			h.Close()
		}
	}
	done, exited := make(chan struct{}), make(chan bool)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		wrote := false
		for {
			select {
			case <-done:
				exited <- wrote
				return
			case <-t.C:
				writeHeap()
				wrote = true
			}
		}
	}()
	return func() {
		close(done)
		if wrote := <-exited; !wrote {
			writeHeap() // a run shorter than 2s still gets one
		}
		pprof.StopCPUProfile()
		f.Close()
		if tf != nil {
			trace.Stop()
			tf.Close()
		}
	}, nil
}

// serveTarget runs in the child: it serves target on a free loopback port,
// prints "LISTEN <addr>", and runs until SIGTERM.
func serveTarget(ctx context.Context, target string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "chatwarden-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	role := "serve"
	if target == "chatwarden-receive" {
		target, role = "chatwarden", "receive"
	}
	switch target {
	case "chatwarden":
		ln.Close() // serve listens itself
		cfgPath := filepath.Join(dir, "chatwarden.yaml")
		// Workers run too (serve), with no rules: they consume and acknowledge
		// every event, so the figures include the cost of the whole process.
		rulesPath := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(rulesPath, []byte("rules: []\n"), 0o600); err != nil {
			return err
		}
		httpCfg := fmt.Sprintf("addr: %q", addr)
		if v := os.Getenv(maxInflightEnv); v != "" {
			httpCfg += ", max_inflight: " + v
		}
		if v := os.Getenv(maxMemoryEnv); v != "" {
			httpCfg += ", max_memory_bytes: " + v
		}
		if v := os.Getenv(perIPCapsEnv); v != "" {
			httpCfg += ", max_conns_per_ip: " + v + ", max_inflight_per_ip: " + v
		}
		natsCfg := fmt.Sprintf("listen: \"off\", data_dir: %q", filepath.Join(dir, "data"))
		if v := os.Getenv(partitionsEnv); v != "" {
			natsCfg += ", partitions: " + v
		}
		if v := os.Getenv(dupWindowEnv); v != "" {
			natsCfg += ", duplicate_window: " + v
		}
		cfg := fmt.Sprintf("http: {%s}\nadmin: {addr: \"off\"}\nnats: {%s}\nlivechat: {webhook_secrets: [%q]}\nrules_file: %q\nlog: {level: error}\n",
			httpCfg, natsCfg, secret, rulesPath)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() {
			errc <- cli.Run(ctx, []string{role, "--config", cfgPath}, func(string) string { return "" }, io.Discard, io.Discard)
		}()
		if err := waitReady("http://"+addr+"/readyz", errc); err != nil {
			return err
		}
		fmt.Fprintf(out, "LISTEN %s\n", addr)
		return <-errc
	case "reference":
		b, err := bus.Open(ctx, config.NATS{DataDir: dir, Listen: "off"})
		if err != nil {
			return err
		}
		defer b.Close(context.Background())
		if err := bus.ProvisionStreams(ctx, b.JS, bus.StreamSettings{Partitions: 1, DuplicateWindow: 10 * time.Minute, Retention: time.Hour}); err != nil {
			return err
		}
		var n atomic.Int64
		return serveEcho(ctx, ln, out, func(c echo.Context, data []byte) error {
			msg := &nats.Msg{Subject: event.SubjectPrefix + ".livechat.incoming_chat.0", Data: data, Header: nats.Header{}}
			msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("ref-%d", n.Add(1)))
			if _, err := b.JS.PublishMsg(c.Request().Context(), msg); err != nil {
				return c.NoContent(http.StatusServiceUnavailable)
			}
			return c.NoContent(http.StatusOK)
		})
	case "noop":
		return serveEcho(ctx, ln, out, func(c echo.Context, _ []byte) error { return c.NoContent(http.StatusOK) })
	}
	return fmt.Errorf("unknown target %q", target)
}

func serveEcho(ctx context.Context, ln net.Listener, out io.Writer, h func(echo.Context, []byte) error) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/livechat", func(c echo.Context) error {
		data, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		return h(c, data)
	})
	srv := &http.Server{Handler: e}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Fprintf(out, "LISTEN %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitReady polls url until it answers 200, chatwarden stops (its error comes
// on exited) or 30s pass.
func waitReady(url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("chatwarden stopped before it was ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("chatwarden did not become ready in 30s")
}
