package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/dlq"
	"github.com/chatwarden/chatwarden/livechat/livechattest"
	"github.com/chatwarden/chatwarden/samples"
	"github.com/chatwarden/chatwarden/service"
)

// ownerClientID is the Client ID a kept demo's webhooks belong to.
const ownerClientID = "demo-app"

// ConfigFile is the name of the configuration file a kept demo writes in
// its directory.
const ConfigFile = "chatwarden.yaml"

// Chat ids of a kept demo: SeededChat(1) is the chat whose unpin the fake
// refuses once (a dead letter to try `dlq` on), SeededChat(2) the one the
// printed curl deactivates.
const (
	deadLetterChat = 1
	curlChat       = 2
)

// SeededChat is the id of the i-th (from 1) Unassigned chat a kept demo
// seeds the fake with.
func SeededChat(i int) string { return fmt.Sprintf("DEMO-%04d", i) }

// CommandPrefix starts every command line a kept demo prints; the comment
// line above each says what it shows.
const CommandPrefix = "  $ "

// fakeAPI is the fake LiveChat: the Agent Chat API and the Configuration
// API's webhooks on one base URL, as api.livechatinc.com serves both.
type fakeAPI struct {
	agent *livechattest.Server
	conf  *livechattest.Configuration
	url   string
	srv   *http.Server
}

func startFake() (*fakeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the fake LiveChat API: %w", err)
	}
	f := &fakeAPI{agent: livechattest.New(), conf: livechattest.NewConfiguration(), url: "http://" + ln.Addr().String()}
	f.srv = &http.Server{Handler: f.conf.Handler(f.agent), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }() // ends with Close in stop
	return f, nil
}

func (f *fakeAPI) stop() { _ = f.srv.Close() }

// sandbox is what a kept demo leaves running.
type sandbox struct {
	dir        string
	cfg        *config.Config
	svc        *service.Service
	fake       *fakeAPI
	webhookURL string
}

// keep seeds the fake, leaves one dead letter, writes the configuration
// file, prints what to try and waits for ctx to end.
func keep(ctx context.Context, opts Options, sb sandbox) error {
	out := opts.Out
	n := opts.Chats
	if n <= 0 {
		n = DefaultChats
	}
	// Unassigned for three days and more (older than sweep.older_than's
	// default 48h), two hours apart.
	now := time.Now()
	for i := 1; i <= n; i++ {
		sb.fake.agent.AddChat(livechattest.UnassignedChat(SeededChat(i), now.Add(-72*time.Hour-time.Duration(n-i)*2*time.Hour)))
	}

	// One dead letter, so that `dlq list`, `show` and `retry` have
	// something to show: the fake refuses the next unpin once.
	sb.fake.agent.FailNext("update_chat_properties", 1,
		livechattest.Validation("the demo refused this call once, to make a dead letter; `chatwarden dlq retry --all` sends it again"))
	dead := SeededChat(deadLetterChat)
	if _, err := postWebhook(ctx, sb.webhookURL, samples.LiveChat("chat_deactivated", Secret, dead, "T"+dead)); err != nil {
		return err
	}
	if err := waitDeadLetter(ctx, sb.svc); err != nil {
		return err
	}

	path := filepath.Join(sb.dir, ConfigFile)
	natsListen := strings.TrimPrefix(sb.svc.Bus().ClientURL(), "nats://")
	if err := os.WriteFile(path, configYAML(sb.cfg, sb.svc, natsListen), 0o600); err != nil {
		return fmt.Errorf("writing the demo's configuration file: %w", err)
	}
	printSandbox(out, opts, sb, path, n, natsListen)

	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping the service and the fake LiveChat API...")
	return nil
}

// waitDeadLetter waits until the dead-letter stream holds a message.
func waitDeadLetter(ctx context.Context, svc *service.Service) error {
	st, err := dlq.New(svc.Bus().JS)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(decideWithin)
	for {
		n, err := st.Pending(ctx)
		if err == nil && n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the refused unpin of %s was not dead-lettered within %s (last error: %v); rerun with --verbose",
				SeededChat(deadLetterChat), decideWithin, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// configYAML is the configuration of the running demo, with the addresses
// it actually listens on.
func configYAML(cfg *config.Config, svc *service.Service, natsListen string) []byte {
	q := strconv.Quote
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Written by "chatwarden demo --keep": the configuration of the service it runs,
# with the fake LiveChat API as api_url. Give it to any command with --config
# (or export CHATWARDEN_CONFIG=this file). It is removed when the demo stops.
http:
  addr: %s            # webhooks and probes
admin:
  addr: %s            # console (/ui/), admin API, metrics
  token: %s
nats:
  listen: %s          # the embedded broker; the commands connect here
  data_dir: %s
livechat:
  api_url: %s         # the fake LiveChat API (Agent Chat and Configuration API)
  webhook_secrets: [%s]
  pat: {account_id: %s, token: %s}
  owner_client_id: %s
rules_file: %s
log: {level: info, format: console}
`, q(svc.Addr()), q(svc.AdminAddr()), q(cfg.Admin.Token), q(natsListen), q(cfg.NATS.DataDir),
		q(cfg.LiveChat.APIURL), q(Secret), q(cfg.LiveChat.PAT.AccountID), q(cfg.LiveChat.PAT.Token),
		q(cfg.LiveChat.OwnerClientID), q(cfg.RulesFile))
	return b.Bytes()
}

// printSandbox prints where everything runs and the commands to try.
func printSandbox(out io.Writer, opts Options, sb sandbox, path string, chats int, natsListen string) {
	cw := opts.Command
	if cw == "" {
		cw = "chatwarden"
	}
	withCfg := " --config " + shellQuote(path)
	adminURL := "http://" + sb.svc.AdminAddr()
	curl := SeededChat(curlChat)
	body := compactJSON(samples.LiveChat("chat_deactivated", Secret, curl, "T"+curl))

	fmt.Fprintf(out, "\n5. Still running (--keep): a sandbox for every command. Ctrl-C (or SIGTERM) stops it and removes %s.\n\n", sb.dir)
	fmt.Fprintf(out, "  configuration       %s\n", path)
	fmt.Fprintf(out, "  fake LiveChat API   %s (also %d Unassigned chats, %s to %s)\n", sb.fake.url, chats, SeededChat(1), SeededChat(chats))
	fmt.Fprintf(out, "  receiver            POST %s (webhook secret %q)\n", sb.webhookURL, Secret)
	fmt.Fprintf(out, "  console             %s/ui/ (it asks for the admin token: %s)\n", adminURL, sb.cfg.Admin.Token)
	fmt.Fprintf(out, "  embedded NATS       nats://%s (credentials in %s)\n\n", natsListen, sb.cfg.NATS.DataDir)
	if cw == "chatwarden" {
		fmt.Fprintln(out, "  (from a clone without chatwarden installed: go build -o chatwarden ./cmd/chatwarden and run ./chatwarden)")
	}

	cmds := []struct{ why, cmd string }{
		{"the Unassigned backlog the fake holds; changes nothing", cw + " sweep livechat-unassigned --dry-run" + withCfg},
		{"hand 20 of them to the workers, which unpin them, and wait for the decisions", cw + " sweep livechat-unassigned --limit 20" + withCfg},
		{"post a webhook as LiveChat would: " + curl + " was deactivated; the rule unpins it",
			"curl -sS -i -X POST -H 'Content-Type: application/json' --data-binary " + shellQuote(body) + " " + sb.webhookURL},
		{"why was " + curl + " unpinned?", cw + " audit --chat " + curl + withCfg},
		{"every decision so far", cw + " audit" + withCfg},
		{"the dead letter: the fake refused the unpin of " + SeededChat(deadLetterChat) + " once", cw + " dlq list" + withCfg},
		{"send it to the workers again (the fake accepts it now)", cw + " dlq retry --all" + withCfg},
		{"register the webhooks the rules need with the fake LiveChat, then list them",
			cw + " webhooks register --url http://" + sb.svc.Addr() + withCfg},
		{"", cw + " webhooks list" + withCfg},
		{"check the rule file (edit it: serve reloads it)", cw + " rules check " + shellQuote(sb.cfg.RulesFile)},
		{"what the current rules would do with the last hour's events", cw + " replay --since 1h --dry-run" + withCfg},
		{"the effective configuration, secrets redacted", cw + " config print" + withCfg},
		{"the admin API behind the token", "curl -sS -H 'Authorization: Bearer " + sb.cfg.Admin.Token + "' " + adminURL + "/admin/dlq"},
	}
	for _, c := range cmds {
		if c.why != "" {
			fmt.Fprintf(out, "  # %s\n", c.why)
		}
		fmt.Fprintf(out, "%s%s\n", CommandPrefix, c.cmd)
	}
}

// newToken is a random admin token.
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making an admin token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b) // the samples are valid JSON; keep them as they are otherwise
	}
	return buf.String()
}
