package cli

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

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

const demoSecret = "demo-secret"

// demoRules is the first policy of examples/rules.yaml, acting (not in dry run).
const demoRules = `rules:
  - name: unpin-abandoned-unassigned
    on: [livechat.chat_deactivated]
    enrich: chat
    if: chat.pinned && chat.unassigned
    then:
      - livechat.unpin: {}
`

// demoCmd runs the whole loop against an in-process fake of LiveChat: a
// newcomer sees webhooks received, stored, decided and acted on, without any
// account.
func demoCmd(e *env) *cobra.Command {
	var (
		cfgPath string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop against a built-in fake LiveChat and print what happened",
		Long: "demo starts chatwarden with an embedded NATS server in a temporary directory and a fake\n" +
			"LiveChat API in the same process, posts a few sample webhooks, and prints what was\n" +
			"received, stored, decided and called. It needs no account and changes nothing outside\n" +
			"its temporary directory.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level := zap.WarnLevel
			if verbose {
				level = zap.InfoLevel
			}
			logger, err := e.newLogger(config.Log{Level: level.String(), Format: "console"})
			if err != nil {
				return err
			}
			return runDemo(cmd.Context(), e.stdout, logger)
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print the service's own log lines")
	return cmd
}

// demoStep is one webhook the demo posts.
type demoStep struct {
	what   string
	action string
	chat   string
	secret string
}

func runDemo(ctx context.Context, out io.Writer, logger *zap.Logger) error {
	dir, err := os.MkdirTemp("", "chatwarden-demo-")
	if err != nil {
		return fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	fake := livechattest.New()
	apiURL, stopFake := fake.Start()
	defer stopFake()
	fake.AddChat(demoChat("CHAT-PINNED", true, true))
	fake.AddChat(demoChat("CHAT-ASSIGNED", false, false))

	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.NATS.DataDir = dir
	cfg.NATS.Listen = "off"
	cfg.LiveChat.APIURL = apiURL
	cfg.LiveChat.WebhookSecrets = []string{demoSecret}
	cfg.LiveChat.PAT = config.PAT{AccountID: "demo-account", Token: "demo-token"}
	cfg.RulesFile = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(cfg.RulesFile, []byte(demoRules), 0o600); err != nil {
		return fmt.Errorf("writing the demo rules: %w", err)
	}
	cfg.Log.Format = "console"

	fmt.Fprintf(out, "chatwarden demo\n\n")
	fmt.Fprintf(out, "  fake LiveChat API   %s (2 chats: CHAT-PINNED is pinned and unassigned, CHAT-ASSIGNED has an agent)\n", apiURL)
	fmt.Fprintf(out, "  embedded NATS       data in %s\n", dir)
	svc, err := service.Start(ctx, cfg, service.Roles{Receive: true, Work: true}, service.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(sctx)
	}()
	url := "http://" + svc.Addr() + "/webhooks/livechat"
	fmt.Fprintf(out, "  receiver            POST %s\n\n", url)

	steps := []demoStep{
		{"a new chat arrives (no rule acts on it; stored anyway)", "incoming_chat", "CHAT-PINNED", demoSecret},
		{"the pinned, unassigned chat is deactivated", "chat_deactivated", "CHAT-PINNED", demoSecret},
		{"LiveChat re-sends the same webhook (a retry)", "chat_deactivated", "CHAT-PINNED", demoSecret},
		{"the assigned chat is deactivated", "chat_deactivated", "CHAT-ASSIGNED", demoSecret},
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
	deadline := time.Now().Add(20 * time.Second)
	for {
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
		return errors.New("demo: the workers did not decide about both chats within 20s; rerun with --verbose")
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
		return 0, fmt.Errorf("posting a demo webhook: %w", err)
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
