// Command floor is the measured floor of chatwarden's end-to-end job: the
// least a program can do with the same broker and still keep the webhook
// until the action is confirmed. It is the yardstick for what chatwarden's
// own code costs on top of the broker (issue 22: "show the measured floor:
// what the broker and an empty handler alone cost, in the same run").
//
// One process, as `chatwarden serve` is: an embedded nats-server (file
// storage in a temporary directory, in-process connection, a limits stream
// with chatwarden's default 10-minute duplicate window), an echo server
// whose POST handler decodes the LiveChat envelope for the chat and thread
// ids and publishes the raw body synchronously with a message id (answering
// 200 only after the PubAck, as chatwarden's receiver does), and one durable
// pull consumer feeding -workers goroutines. With -handler call each
// message's handler decodes the ids again and POSTs a tag_thread request to
// -api (what the benchmark's one rule does, without the rule); with
// -handler empty it does nothing. Then the message is acknowledged, with
// the broker's confirmation when -ack double (chatwarden's workers confirm
// every ack) or without it when -ack single.
//
// With -audit, each handled message also stores a record of the decision
// (the rule, the chat, the outcome: about 300 bytes of JSON) in a second
// stream, on a subject per chat and with a message id, and waits for it to
// be stored before the ack: the least chatwarden's contract asks for every
// action ("every action leaves an audit record", stored before the event is
// acknowledged), so -handler call -audit is the floor of that contract.
//
// Nothing else: no signature check, no per-chat order, no retries, dead
// letters, metrics or logs (and no audit record without -audit). So the
// figures are a floor, not a competitor: see bench/vsfloor.py, which runs it
// beside chatwarden and the peer pipeline in one run.
//
//	go run ./bench/floor -addr 127.0.0.1:18080 -api http://127.0.0.1:18090
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// envelope is what both halves read of a LiveChat webhook.
type envelope struct {
	Payload struct {
		Chat struct {
			ID     string `json:"id"`
			Thread struct {
				ID string `json:"id"`
			} `json:"thread"`
		} `json:"chat"`
	} `json:"payload"`
}

type options struct {
	addr, api, handler, ack string
	workers                 int
	audit                   bool
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:18080", "webhook listen address (loopback only); POST /webhooks/livechat")
	flag.StringVar(&o.api, "api", "http://127.0.0.1:18090", "base URL of the API stand-in (-handler call)")
	flag.StringVar(&o.handler, "handler", "call", "call: POST a tag_thread per event; empty: do nothing")
	flag.StringVar(&o.ack, "ack", "double", "double: acknowledge with the broker's confirmation (as chatwarden); single: without")
	flag.IntVar(&o.workers, "workers", 32, "handler goroutines (chatwarden's workers.concurrency default)")
	flag.BoolVar(&o.audit, "audit", false, "store an audit record per handled event (own stream, message id) before its ack")
	flag.Parse()
	if o.handler != "call" && o.handler != "empty" || o.ack != "double" && o.ack != "single" || o.workers < 1 {
		fmt.Fprintln(os.Stderr, "floor: -handler call|empty, -ack double|single, -workers >= 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatalf("floor: %v", err)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "cw-floor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, DontListen: true, NoSigs: true})
	if err != nil {
		return fmt.Errorf("nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		return errors.New("nats server not ready in 30s")
	}
	defer srv.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		return fmt.Errorf("nats connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "EVENTS", Subjects: []string{"ev.>"}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "AUDIT", Subjects: []string{"audit.>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("create audit stream: %w", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxAckPending: 1024,
	})
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}

	var handled, last atomic.Int64
	jobs := make(chan jetstream.Msg, o.workers)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers, IdleConnTimeout: time.Minute}}
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				if handle(ctx, o, client, js, m) {
					handled.Add(1)
					last.Store(time.Now().UnixNano())
				}
			}
		}()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { jobs <- m }, jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/livechat", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil || env.Payload.Chat.ID == "" {
			return c.NoContent(http.StatusBadRequest)
		}
		pctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		id := env.Payload.Chat.ID + ":" + env.Payload.Chat.Thread.ID
		if _, err := js.Publish(pctx, "ev.livechat.incoming_chat", body, jetstream.WithMsgID(id)); err != nil {
			return c.NoContent(http.StatusServiceUnavailable)
		}
		return c.NoContent(http.StatusOK)
	})
	e.GET("/readyz", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.GET("/count", func(c echo.Context) error { // as the API stand-in's: "handled last-unix-ns"
		return c.String(http.StatusOK, fmt.Sprintf("%d %d\n", handled.Load(), last.Load()))
	})
	e.GET("/audited", func(c echo.Context) error { // audit records stored
		st, err := js.Stream(c.Request().Context(), "AUDIT")
		if err != nil {
			return err
		}
		info, err := st.Info(c.Request().Context())
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprintf("%d\n", info.State.Msgs))
	})
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	e.Listener = ln
	go func() { _ = e.Start("") }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.Shutdown(sctx)
	cc.Stop()
	close(jobs)
	wg.Wait()
	return nil
}

// handle runs the empty handler or the one API call, then acknowledges, and
// reports whether the message was handled and acknowledged; a failed call
// leaves the message to be redelivered after the ack wait.
func handle(ctx context.Context, o options, client *http.Client, js jetstream.JetStream, m jetstream.Msg) bool {
	var env envelope
	if o.handler == "call" || o.audit {
		if err := json.Unmarshal(m.Data(), &env); err != nil {
			_ = m.Term()
			return false
		}
	}
	if o.handler == "call" {
		body, _ := json.Marshal(map[string]string{"chat_id": env.Payload.Chat.ID, "thread_id": env.Payload.Chat.Thread.ID, "tag": "bench"})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.api+"/v3.6/agent/action/tag_thread", bytes.NewReader(body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return false
		}
	}
	if o.audit && !record(ctx, js, m, env) {
		return false
	}
	if o.ack == "double" {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return m.DoubleAck(actx) == nil
	}
	return m.Ack() == nil
}

// record stores the audit record of m's decision and waits for it to be
// stored; false leaves m unacknowledged, to be redelivered.
func record(ctx context.Context, js jetstream.JetStream, m jetstream.Msg, env envelope) bool {
	meta, err := m.Metadata()
	if err != nil {
		return false
	}
	rec, _ := json.Marshal(map[string]string{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "event_id": fmt.Sprintf("%d", meta.Sequence.Stream),
		"platform": "livechat", "action": "incoming_chat", "chat_id": env.Payload.Chat.ID, "thread_id": env.Payload.Chat.Thread.ID,
		"rule": "bench-tag", "operation": "livechat.tag_thread", "params": `{"tag":"bench"}`, "outcome": "acted",
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = js.Publish(pctx, "audit.livechat."+env.Payload.Chat.ID, rec,
		jetstream.WithMsgID(fmt.Sprintf("%d|bench-tag|livechat.tag_thread|acted", meta.Sequence.Stream)))
	return err == nil
}
