// Package demo runs chatwarden's whole loop against an in-process fake of
// LiveChat: the work of `chatwarden demo`. A newcomer sees webhooks
// received, stored, decided and acted on without any account; with Keep the
// service and the fake stay up as a sandbox for every operational command.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

// Secret is the LiveChat webhook secret the demo's receiver accepts.
const Secret = "demo-secret"

// DefaultChats is how many Unassigned chats a kept demo seeds the fake with
// when Options.Chats is 0.
const DefaultChats = 300

// rulesYAML is the first policy of examples/rules.yaml, acting (not in dry
// run).
const rulesYAML = `rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`

// decideWithin bounds the wait for the workers' decisions about the
// scripted webhooks: generous, for a loaded 2-core CI machine under -race.
const decideWithin = 20 * time.Second

// Options say how the demo runs. The zero value (with Out) runs the scripted
// demo and cleans up.
type Options struct {
	// Out receives the narration. Required.
	Out io.Writer
	// Logger receives the service's own log lines. Default: none.
	Logger *zap.Logger
	// Keep leaves the service and the fake running after the scripted part,
	// seeded with Chats Unassigned chats, writes their configuration file
	// and prints commands to try, until ctx ends (Ctrl-C, SIGTERM).
	Keep bool
	// Chats is the number of Unassigned chats seeded with Keep. Default
	// DefaultChats.
	Chats int
	// Command is how the printed commands call chatwarden. Default
	// "chatwarden".
	Command string
}

// step is one webhook the demo posts.
type step struct {
	what   string
	action string
	chat   string
	secret string
}

// Run runs the demo in a temporary directory that it removes on return. It
// returns nil when the workers decided about the scripted webhooks (and,
// with Keep, when ctx ended after that); an error otherwise.
func Run(ctx context.Context, opts Options) (err error) {
	out := opts.Out
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	dir, err := os.MkdirTemp("", "chatwarden-demo-")
	if err != nil {
		return fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer func() {
		rmErr := os.RemoveAll(dir)
		if opts.Keep {
			if rmErr != nil {
				fmt.Fprintf(out, "could not remove the demo's directory %s: %v\n", dir, rmErr)
			} else {
				fmt.Fprintf(out, "stopped; removed the demo's directory %s\n", dir)
			}
		}
		err = errors.Join(err, rmErr)
	}()

	fake, err := startFake()
	if err != nil {
		return err
	}
	defer fake.stop()
	fake.agent.AddChat(demoChat("CHAT-PINNED", true, true))
	fake.agent.AddChat(demoChat("CHAT-ASSIGNED", false, false))

	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.NATS.DataDir = filepath.Join(dir, "data")
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = fake.url
	cfg.LiveChat.WebhookSecrets = []string{Secret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "demo-account", Token: "demo-token"}
	cfg.RulesFile = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(cfg.RulesFile, []byte(rulesYAML), 0o600); err != nil {
		return fmt.Errorf("writing the demo rules: %w", err)
	}
	cfg.Log.Format = "console"
	if opts.Keep {
		// Reachable by the operational commands of other processes.
		cfg.NATS.Listen = "127.0.0.1:0"
		cfg.LiveChat.OwnerClientID = ownerClientID
		if cfg.Admin.Token, err = newToken(); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "chatwarden demo\n\n")
	fmt.Fprintf(out, "  fake LiveChat API   %s (2 chats: CHAT-PINNED is pinned and unassigned, CHAT-ASSIGNED has an agent)\n", fake.url)
	fmt.Fprintf(out, "  embedded NATS       data in %s\n", cfg.NATS.DataDir)
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := svc.Stop(sctx); serr != nil && opts.Keep {
			err = errors.Join(err, fmt.Errorf("stopping the demo's service: %w", serr))
		}
	}()
	webhookURL := "http://" + svc.Addr() + "/webhooks/livechat"
	fmt.Fprintf(out, "  receiver            POST %s\n\n", webhookURL)

	if err := script(ctx, out, svc, fake.agent, webhookURL); err != nil {
		return err
	}
	if !opts.Keep {
		return nil
	}
	return keep(ctx, opts, sandbox{dir: dir, cfg: cfg, svc: svc, fake: fake, webhookURL: webhookURL})
}

// script posts the scripted webhooks and prints what became of them.
func script(ctx context.Context, out io.Writer, svc *service.Service, fake *livechattest.Server, url string) error {
	steps := []step{
		{"a new chat arrives (no rule acts on it; stored anyway)", "incoming_chat", "CHAT-PINNED", Secret},
		{"the pinned, unassigned chat is deactivated", "chat_deactivated", "CHAT-PINNED", Secret},
		{"LiveChat re-sends the same webhook (a retry)", "chat_deactivated", "CHAT-PINNED", Secret},
		{"the assigned chat is deactivated", "chat_deactivated", "CHAT-ASSIGNED", Secret},
		{"a forged webhook with a wrong secret_key", "chat_deactivated", "CHAT-PINNED", "wrong-secret"},
	}
	fmt.Fprintln(out, "1. Webhooks posted")
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   ACTION\tCHAT\tANSWER\tWHAT")
	for _, st := range steps {
		body := samples.LiveChat(st.action, st.secret, st.chat, "THREAD-"+st.chat)
		status, err := postWebhook(ctx, url, body)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "   %s\t%s\t%d %s\t%s\n", st.action, st.chat, status, http.StatusText(status), st.what)
	}
	tw.Flush()

	// Wait for the workers to decide about both deactivated chats.
	var recs []audit.Record
	deadline := time.Now().Add(decideWithin)
	for {
		var err error
		recs, err = audit.Read(ctx, svc.Bus().JS, audit.Query{})
		if err != nil {
			return err
		}
		if len(recs) >= 2 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	st, err := svc.Bus().JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n2. Stored in JetStream\n   stream %s holds %d events (4 accepted webhooks, one of them a duplicate, collapse to 3)\n",
		bus.EventsStream, st.CachedInfo().State.Msgs)

	fmt.Fprintln(out, "\n3. Decisions (audit records; `chatwarden audit` will show these)")
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   CHAT\tRULE\tOUTCOME\tREASON")
	for _, r := range recs {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", r.ChatID, r.Rule, r.Outcome, r.Reason)
	}
	tw.Flush()

	fmt.Fprintln(out, "\n4. Calls made to the LiveChat API")
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   ACTION\tBODY\tANSWER")
	for _, c := range fake.Calls() {
		fmt.Fprintf(tw, "   %s\t%s\t%d\n", c.Action, strings.TrimSpace(string(c.Body)), c.Status)
	}
	tw.Flush()

	pinned := "still pinned"
	if c, ok := fake.Chat("CHAT-PINNED"); ok && !c.Pinned() {
		pinned = "unpinned"
	}
	fmt.Fprintf(out, "\nResult: CHAT-PINNED is %s; CHAT-ASSIGNED was left alone.\n", pinned)
	if len(recs) < 2 {
		return fmt.Errorf("demo: the workers did not decide about both chats within %s; rerun with --verbose", decideWithin)
	}
	return nil
}

func postWebhook(ctx context.Context, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting a demo webhook to %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// demoChat is an inactive chat; pinned and unassigned as told.
func demoChat(id string, pinned, unassigned bool) livechat.Chat {
	users := []livechat.User{{ID: "customer-" + id, Type: livechat.UserCustomer}}
	if !unassigned {
		users = append(users, livechat.User{ID: "agent@example.com", Type: livechat.UserAgent, Name: "Agent Smith"})
	}
	return livechat.Chat{
		ID:         id,
		Users:      users,
		Properties: livechat.Properties{"routing": {"pinned": pinned, "continuous": true}},
		Access:     livechat.Access{GroupIDs: []int{0}},
		Thread: &livechat.Thread{
			ID:         "THREAD-" + id,
			Active:     false,
			Properties: livechat.Properties{"routing": {"pinned": pinned, "unassigned": unassigned}},
			Access:     livechat.Access{GroupIDs: []int{0}},
			CreatedAt:  time.Now().Add(-72 * time.Hour).UTC(),
		},
	}
}
