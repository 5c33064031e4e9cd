package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/livechat/oauth"
	//lint:ignore SA1019 deliberate: `chats list --api v2` is the legacy REST API v2 client, asked for by name; its deprecation is documented to users
	livechatv2 "github.com/chatwarden/chatwarden/livechat/v2"
	"github.com/chatwarden/chatwarden/service"
)

func chatsCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "chats",
		Short: "List LiveChat chats for reports (the legacy REST API v2)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown chats subcommand %q; want list", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{errors.New("a chats subcommand is required: list")}
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.AddCommand(chatsListCmd(e))
	return cmd
}

// chatsFlags are the filters of GET /chats as flags.
type chatsFlags struct {
	f                        livechatv2.ChatsFilter
	hasGoal, hasSale, queued bool
	tagged, comment          bool
}

func (c *chatsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&c.f.DateFrom, "date-from", "", "chats from this date, YYYY-MM-DD (default: the beginning of time)")
	fl.StringVar(&c.f.DateTo, "date-to", "", "chats up to this date, YYYY-MM-DD (default: today)")
	fl.StringVar(&c.f.Timezone, "timezone", "", "time zone of the dates, e.g. Europe/Warsaw")
	fl.StringVar(&c.f.Type, "type", "", "chat or missed_chat")
	fl.StringVar(&c.f.VisitorID, "visitor-id", "", "chats of this visitor")
	fl.StringVar(&c.f.Query, "query", "", "chats containing this text")
	fl.StringVar(&c.f.Agent, "agent", "", "chats of this agent (login, i.e. email)")
	fl.StringVar(&c.f.Group, "group", "", "chats of this group id")
	fl.StringVar(&c.f.Goal, "goal", "", "chats that reached this goal id")
	fl.BoolVar(&c.hasGoal, "has-goal", false, "chats that reached any goal (--has-goal=false: none)")
	fl.StringVar(&c.f.Sale, "sale", "", "chats with this sale id")
	fl.BoolVar(&c.hasSale, "has-sale", false, "chats with any sale (--has-sale=false: none)")
	fl.StringVar(&c.f.Rate, "rate", "", "rated, not_rated, rated_good or rated_bad")
	fl.BoolVar(&c.queued, "queued", false, "chats that were queued (--queued=false: not queued)")
	fl.BoolVar(&c.f.IncludePending, "include-pending", false, "also chats still going on (by default only ended ones)")
	fl.StringArrayVar(&c.f.Tags, "tag", nil, "chats with this tag (repeatable: all of them)")
	fl.BoolVar(&c.tagged, "tagged", false, "chats with any tag (--tagged=false: untagged)")
	fl.BoolVar(&c.comment, "comment", false, "chats with a rating comment (--comment=false: without)")
	fl.StringVar(&c.f.City, "city", "", "chats of visitors from this city")
	fl.StringVar(&c.f.Region, "region", "", "chats of visitors from this region")
	fl.StringVar(&c.f.Country, "country", "", "chats of visitors from this country")
}

// filter resolves the tri-state flags: sent only when given.
func (c *chatsFlags) filter(cmd *cobra.Command) livechatv2.ChatsFilter {
	f := c.f
	tri := func(name string, v bool) *bool {
		if !cmd.Flags().Changed(name) {
			return nil
		}
		return &v
	}
	f.HasGoal, f.HasSale, f.Queued = tri("has-goal", c.hasGoal), tri("has-sale", c.hasSale), tri("queued", c.queued)
	f.Tagged, f.Comment = tri("tagged", c.tagged), tri("comment", c.comment)
	return f
}

func chatsListCmd(e *env) *cobra.Command {
	var (
		cfgPath, api, format, email string
		first, maxPages, limit      int
		flags                       chatsFlags
	)
	cmd := &cobra.Command{
		Use:   "list --api v2 [filters]",
		Short: "List archived chats through the deprecated LiveChat REST API v2 (CSV or JSON)",
		Long: `List chats with LiveChat's legacy REST API v2 (GET /chats): ended chats, newest first, 25 a page
from page 1, with every filter the API has. Output is CSV (one row per chat) or JSON (an array
of the chats exactly as the API returned them). A summary goes to stderr.

API v2 is DEPRECATED: LiveChat marked it deprecated in March 2023 and may switch it off at any
time. It is here for accounts and reports that still rely on it; new work should use the Agent
Chat Web API v3.6. Only the latest 25,000 chats (1,000 pages) are reachable: narrow the dates
to go further back.

Credentials: livechat.pat as HTTP Basic (the user name is --email when given, else the
account id), livechat.token as a bearer token, or livechat.oauth.refresh_token. The retired
login:api_key scheme is not supported. Retryable failures (429, 5xx) are retried a few times
per page, honouring Retry-After.`,
		Example: `  chatwarden chats list --api v2 --date-from 2026-01-01 --date-to 2026-01-31 > january.csv
  chatwarden chats list --api v2 --tag refund --rate rated_bad --format json
  chatwarden chats list --api v2 --email john@example.com --agent jane@example.com --limit 100`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch api {
			case "v2":
			case "":
				return usageError{errors.New("--api is required: only v2 (the legacy REST API) is supported")}
			default:
				return usageError{fmt.Errorf("--api %q: only v2 is supported (Agent Chat API listing is `chatwarden sweep`)", api)}
			}
			if format != "csv" && format != "json" {
				return usageError{fmt.Errorf("--format must be csv or json, got %q", format)}
			}
			if first < 1 || first > livechatv2.MaxPages || maxPages < 0 || limit < 0 {
				return usageError{fmt.Errorf("--page must be 1..%d; --pages and --limit must not be negative", livechatv2.MaxPages)}
			}
			filter := flags.filter(cmd)
			if err := filter.Validate(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			app, err := e.openLiveChatApp(ctx, cfgPath)
			if err != nil {
				return err
			}
			defer app.close()
			client, err := app.v2Client(email)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stderr, "chatwarden: the LiveChat REST API v2 is deprecated and may stop answering at any time")
			out := newChatWriter(e.stdout, format)
			n, total, pages, err := listV2(ctx, client, filter, first, maxPages, limit, out.write)
			if cerr := out.close(); err == nil {
				err = cerr
			}
			fmt.Fprintf(e.stderr, "chatwarden: listed %d of %s (%s of %d)\n", n, quantity(total, "chat", "chats"), quantity(pages, "page", "pages"), livechatv2.PageSize)
			if total > livechatv2.PageSize*livechatv2.MaxPages {
				fmt.Fprintf(e.stderr, "chatwarden: only the latest %d chats are reachable through API v2: narrow --date-from/--date-to for older ones\n",
					livechatv2.PageSize*livechatv2.MaxPages)
			}
			if err != nil && errors.Is(err, livechat.ErrAuthentication) && app.cred.PAT.Token != "" && email == "" {
				return fmt.Errorf("%w (API v2 may want the account's email as the user name of a personal access token: try --email)", err)
			}
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&api, "api", "", "the API to list with: v2 (required; the legacy REST API)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	cmd.Flags().StringVar(&email, "email", "", "email of the personal access token's account (Basic user name; default: livechat.pat.account_id)")
	cmd.Flags().IntVar(&first, "page", 1, "first page (pages are numbered from 1)")
	cmd.Flags().IntVar(&maxPages, "pages", 0, "at most this many pages (0: all)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many chats (0: all)")
	flags.register(cmd)
	return cmd
}

// v2Client is an API v2 client with the app's credentials.
func (a *liveChatApp) v2Client(email string) (*livechatv2.Client, error) {
	hc := &http.Client{Timeout: livechatv2.DefaultTimeout}
	var auth livechatv2.Auth
	switch c := a.cred; {
	case c.PAT.Token != "":
		user := c.PAT.AccountID
		if email != "" {
			user = email
		}
		auth = livechatv2.Basic(user, c.PAT.Token)
	case email != "":
		return nil, usageError{errors.New("--email goes with a personal access token (livechat.pat)")}
	case c.Token != "":
		auth = livechatv2.Bearer(c.Token)
	default:
		src, err := service.NewOAuthSource(a.cfg.LiveChat, c.RefreshToken, "", a.store, hc, a.logger)
		if err != nil {
			return nil, err
		}
		hc = oauth.Client(src, hc)
		auth = livechatv2.Bearer("oauth") // replaced by the transport
	}
	return livechatv2.New(auth, livechatv2.WithBaseURL(a.cfg.LiveChat.APIURL), livechatv2.WithHTTPClient(hc),
		livechatv2.WithLogger(a.logger), livechatv2.WithUserAgent("chatwarden"))
}

// pageAttempts is how many times a page is asked for on retryable failures.
const pageAttempts = 4

// listV2 pages through the chats from page first and hands each to emit.
func listV2(ctx context.Context, c *livechatv2.Client, f livechatv2.ChatsFilter, first, maxPages, limit int,
	emit func(livechatv2.Chat) error) (n, total, pages int, err error) {
	seen := map[string]bool{}
	for page, fetched := first, 0; maxPages == 0 || fetched < maxPages; page++ {
		p, err := pageWithRetries(ctx, c, f, page)
		if err != nil {
			return n, total, pages, err
		}
		fetched++
		total, pages = p.Total, p.Pages
		for _, ch := range p.Chats {
			if ch.ID != "" && seen[ch.ID] {
				continue // the archive shifted while paging
			}
			seen[ch.ID] = true
			if err := emit(ch); err != nil {
				return n, total, pages, err
			}
			n++
			if limit > 0 && n >= limit {
				return n, total, pages, nil
			}
		}
		if len(p.Chats) == 0 || page >= min(p.Pages, livechatv2.MaxPages) {
			break
		}
	}
	return n, total, pages, nil
}

func pageWithRetries(ctx context.Context, c *livechatv2.Client, f livechatv2.ChatsFilter, page int) (*livechatv2.ChatsPage, error) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		p, err := c.ChatsPage(ctx, f, page)
		if err == nil || attempt == pageAttempts || !livechat.IsRetryable(err) {
			return p, err
		}
		d := wait
		if hint, ok := livechat.RetryAfter(err); ok {
			d = min(hint, 30*time.Second)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// chatWriter writes chats as CSV rows or as a JSON array, streaming.
type chatWriter struct {
	format string
	w      io.Writer
	csv    *csv.Writer
	n      int
}

func newChatWriter(w io.Writer, format string) *chatWriter {
	cw := &chatWriter{format: format, w: w}
	if format == "csv" {
		cw.csv = csv.NewWriter(w)
	}
	return cw
}

var csvHeader = []string{"id", "type", "started_at", "ended_at", "duration_seconds", "visitor_id", "visitor_name",
	"agents", "group", "rate", "tags", "goals", "messages"}

func (cw *chatWriter) write(c livechatv2.Chat) error {
	defer func() { cw.n++ }()
	if cw.format == "json" {
		sep := ",\n  "
		if cw.n == 0 {
			sep = "[\n  "
		}
		raw := c.Raw
		if len(raw) == 0 {
			var err error
			if raw, err = json.Marshal(c); err != nil {
				return err
			}
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return err
		}
		_, err := io.WriteString(cw.w, sep+compact.String())
		return err
	}
	if cw.n == 0 {
		if err := cw.csv.Write(csvHeader); err != nil {
			return err
		}
	}
	agents := make([]string, 0, len(c.Agents))
	for _, a := range c.Agents {
		agents = append(agents, a.Email)
	}
	groups := make([]string, 0, len(c.Group))
	for _, g := range c.Group {
		groups = append(groups, strconv.FormatInt(g, 10))
	}
	goals := make([]string, 0, len(c.Goals))
	for _, g := range c.Goals {
		goals = append(goals, g.Name)
	}
	return cw.csv.Write([]string{c.ID, c.Type, timeOrEmpty(c.StartedAt()), timeOrEmpty(c.EndedAt()),
		strconv.FormatInt(c.Duration, 10), c.VisitorID, c.VisitorName, strings.Join(agents, ";"), strings.Join(groups, ";"),
		c.Rate, strings.Join(c.Tags, ";"), strings.Join(goals, ";"), strconv.Itoa(len(c.Messages))})
}

func (cw *chatWriter) close() error {
	if cw.format == "json" {
		end := "\n]\n"
		if cw.n == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(cw.w, end)
		return err
	}
	if cw.n == 0 {
		_ = cw.csv.Write(csvHeader)
	}
	cw.csv.Flush()
	return cw.csv.Error()
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}
