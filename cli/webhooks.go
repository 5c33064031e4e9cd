package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/internal/webhooks"
	"github.com/chatwarden/chatwarden/livechat"
	"github.com/chatwarden/chatwarden/service"
)

// webhookPath is where chatwarden receives LiveChat webhooks.
const webhookPath = "/webhooks/livechat"

func webhooksCmd(e *env) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Register, list and remove chatwarden's LiveChat webhooks; check the license webhook state",
		Long: `Manage the LiveChat webhooks that point at chatwarden, through the Configuration API v3.6.

Webhooks belong to an app (a Client ID, --owner-client-id or livechat.owner_client_id, else
livechat.oauth.client_id) and fire on every license that installed it, once license webhooks
are enabled there. The commands act with the top-level LiveChat credentials: a personal access
token with webhooks.configuration:rw (and webhooks.state:rw for state --enable/--disable), a
bearer token, or livechat.oauth.refresh_token (renewed through the shared token bucket, so this
works while serve runs). Changes take up to two minutes to reach LiveChat's servers.`,
		Example: `  chatwarden webhooks register --url https://chatwarden.example.com
  chatwarden webhooks list
  chatwarden webhooks unregister --url https://old.example.com/webhooks/livechat
  chatwarden webhooks state`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown webhooks subcommand %q; want register, list, unregister or state", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{errors.New("a webhooks subcommand is required: register, list, unregister or state")}
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.AddCommand(newCmdWebhooksRegister(e, nil), webhooksListCmd(e), webhooksUnregisterCmd(e), webhooksStateCmd(e))
	return cmd
}

// webhookURL checks --url and completes a bare host with /webhooks/livechat.
func webhookURL(raw string) (string, error) {
	if raw == "" {
		return "", usageError{errors.New("--url is required: the public https URL LiveChat should call, e.g. https://chatwarden.example.com")}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", usageError{fmt.Errorf("--url must be an absolute https URL, got %q", raw)}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", usageError{fmt.Errorf("--url must use https: LiveChat sends the webhook secret in every body")}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = webhookPath
	}
	s := u.String()
	if len(s) > livechat.MaxWebhookURL {
		return "", usageError{fmt.Errorf("--url is longer than LiveChat's %d characters", livechat.MaxWebhookURL)}
	}
	return s, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// WebhooksRegisterOptions are the flags of `chatwarden webhooks register`.
type WebhooksRegisterOptions struct {
	Ctx                               context.Context
	ConfigPath, URL, Owner, RulesPath string
	Actions                           []string
	DryRun, Prune                     bool
	target                            string // URL checked and completed
}

// newCmdWebhooksRegister builds `chatwarden webhooks register`; runF, when
// set, runs instead of webhooksRegisterRun (tests check the options).
func newCmdWebhooksRegister(e *env, runF func(*WebhooksRegisterOptions) error) *cobra.Command {
	opts := &WebhooksRegisterOptions{}
	cmd := &cobra.Command{
		Use:   "register --url URL",
		Short: "Register one webhook per LiveChat action the rules listen to, pointing at --url",
		Long: `Register, through the Configuration API v3.6, one license webhook per LiveChat action the
loaded rules listen to (their "on", e.g. livechat.chat_deactivated) and per --action, calling
--url (a bare host gets /webhooks/livechat) with the first of livechat.webhook_secrets as its
secret. Actions whose rules read properties (enrich: properties, or chat.properties in "if")
are registered with additional_data [chat_properties], so their webhooks carry the chat's
properties and no get_chat is needed.

It lists the app's webhooks first and keeps an identical registration (same action, URL,
additional data and filters) instead of adding another: running it again changes nothing.
Secrets cannot be compared (LiveChat never returns them): after changing the secret, register
at another URL (e.g. ...?s=2), then unregister the old one with --url. Registrations calling
--url that the rules no longer need are reported; --prune removes them. Finally it checks that
license webhooks are enabled and exits 1 when they are not.`,
		Example: `  chatwarden webhooks register --url https://chatwarden.example.com --dry-run
  chatwarden webhooks register --url https://chatwarden.example.com --action incoming_event
  chatwarden webhooks register --url https://chatwarden.example.com --rules rules.yaml --prune`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := webhookURL(opts.URL)
			if err != nil {
				return err
			}
			for _, a := range opts.Actions {
				if !livechat.WebhookActions[a] {
					return usageError{fmt.Errorf("--action %q is not a LiveChat webhook action (e.g. chat_deactivated, incoming_chat)", a)}
				}
			}
			opts.Ctx, opts.target = cmd.Context(), target
			if runF != nil {
				return runF(opts)
			}
			return e.webhooksRegisterRun(opts)
		},
	}
	e.addConfigFlag(cmd, &opts.ConfigPath)
	cmd.Flags().StringVar(&opts.URL, "url", "", "public https URL of chatwarden's LiveChat webhook endpoint (a bare host gets "+webhookPath+")")
	cmd.Flags().StringArrayVar(&opts.Actions, "action", nil, "also register this LiveChat action (repeatable)")
	cmd.Flags().StringVar(&opts.Owner, "owner-client-id", "", "Client ID owning the webhooks (default livechat.owner_client_id, else livechat.oauth.client_id)")
	cmd.Flags().StringVar(&opts.RulesPath, "rules", "", "rule file whose actions to register (default: rules_file)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be registered and removed; change nothing")
	cmd.Flags().BoolVar(&opts.Prune, "prune", false, "unregister webhooks pointing at --url that the rules no longer need")
	return cmd
}

// webhooksRegisterRun works out the webhooks the rules need, registers them
// with webhooks.Register and prints what it did.
func (e *env) webhooksRegisterRun(o *WebhooksRegisterOptions) error {
	ctx := o.Ctx
	app, err := e.openLiveChatApp(ctx, o.ConfigPath)
	if err != nil {
		return err
	}
	defer app.close()
	ownerID, err := app.owner(o.Owner, true)
	if err != nil {
		return err
	}
	if len(app.cfg.LiveChat.WebhookSecrets) == 0 {
		return errors.New("livechat.webhook_secrets is empty: set the secret LiveChat should send (chatwarden rejects webhooks without it)")
	}
	secret := app.cfg.LiveChat.WebhookSecrets[0]
	if o.RulesPath != "" {
		app.cfg.RulesFile = o.RulesPath
	}
	set, builtIn, err := service.LoadRules(app.cfg, nil)
	if err != nil {
		return err
	}
	if builtIn {
		fmt.Fprintf(e.stderr, "chatwarden: no rules_file configured: using the actions of the built-in example rules (%s)\n", set.Source)
	}
	need, wildcards := webhooks.Needed(set, o.Actions)
	for _, r := range wildcards {
		fmt.Fprintf(e.stderr, "chatwarden: rule %s listens to livechat.*: name the actions it needs with --action\n", r)
	}
	if len(need) == 0 {
		return usageError{errors.New("no LiveChat action to register: the rules listen to none; name some with --action")}
	}
	client, err := app.configClient()
	if err != nil {
		return err
	}
	existing, err := client.ListWebhooks(ctx, ownerID)
	if err != nil {
		return webhookAPIError(err)
	}
	steps, err := webhooks.Register(ctx, client, webhooks.Registration{Owner: ownerID, URL: o.target, Secret: secret,
		Need: need, Existing: existing, DryRun: o.DryRun, Prune: o.Prune})
	if perr := printRegistration(e.stdout, steps); err == nil {
		err = perr
	}
	if err != nil {
		return webhookAPIError(err)
	}
	if o.DryRun {
		fmt.Fprintln(e.stdout, "dry run: nothing changed")
	}
	return checkLicenseState(ctx, e, client, ownerID)
}

// registerResults are how `webhooks register` shows each outcome.
var registerResults = map[webhooks.Outcome]string{
	webhooks.Kept:            "kept (already registered)",
	webhooks.WouldRegister:   "would register",
	webhooks.Registered:      "registered",
	webhooks.NotNeeded:       "not needed by the rules (--prune removes it)",
	webhooks.WouldUnregister: "would unregister",
	webhooks.Unregistered:    "unregistered",
}

// printRegistration prints the steps of webhooks.Register as a table.
func printRegistration(out io.Writer, steps []webhooks.Step) error {
	w := newTable(out)
	fmt.Fprintln(w, "ACTION\tADDITIONAL_DATA\tID\tRESULT")
	for _, st := range steps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", st.Action, orDash(strings.Join(st.AdditionalData, ",")), orDash(st.ID), registerResults[st.Outcome])
	}
	return w.Flush()
}

// checkLicenseState prints the license webhook state and fails when the
// webhooks are disabled, saying what to do.
func checkLicenseState(ctx context.Context, e *env, client *livechat.Client, owner string) error {
	enabled, err := client.LicenseWebhooksState(ctx, owner)
	if err != nil {
		return fmt.Errorf("reading the license webhook state: %w", webhookAPIError(err))
	}
	who := "the token's app"
	if owner != "" {
		who = "client " + owner
	}
	if enabled {
		_, err := fmt.Fprintf(e.stdout, "license webhooks of %s: enabled\n", who)
		return err
	}
	fmt.Fprintf(e.stdout, "license webhooks of %s: disabled\n", who)
	return fmt.Errorf("license webhooks are disabled: LiveChat sends none of the registered webhooks. " +
		"Enable them with `chatwarden webhooks state --enable` (a token with webhooks.state:rw; they stay disabled even after reinstalling the app), " +
		"and make sure the app is installed on the license")
}

// webhookAPIError adds what to do to the usual Configuration API errors.
func webhookAPIError(err error) error {
	switch {
	case errors.Is(err, livechat.ErrAuthorization), errors.Is(err, livechat.ErrMissingAccess):
		return fmt.Errorf("%w (the token needs the scope webhooks.configuration:rw, and webhooks.state:rw to enable or disable; the app must belong to your organization)", err)
	case errors.Is(err, livechat.ErrAuthentication):
		return fmt.Errorf("%w (check livechat.pat, livechat.token or livechat.oauth)", err)
	case errors.Is(err, livechat.ErrLimitReached):
		return fmt.Errorf("%w (LiveChat allows %d webhooks per action and Client ID: `chatwarden webhooks list`, then unregister old ones)", err, livechat.MaxWebhooksPerAction)
	}
	return err
}

func webhooksListCmd(e *env) *cobra.Command {
	var (
		cfgPath, owner string
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the app's LiveChat webhooks and the license webhook state",
		Example: "  chatwarden webhooks list\n  chatwarden webhooks list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			app, ownerID, client, err := e.openWebhooksClient(ctx, cfgPath, owner, true)
			if err != nil {
				return err
			}
			defer app.close()
			hooks, err := client.ListWebhooks(ctx, ownerID)
			if err != nil {
				return webhookAPIError(err)
			}
			if asJSON {
				enabled, err := client.LicenseWebhooksState(ctx, ownerID)
				if err != nil {
					return webhookAPIError(err)
				}
				if hooks == nil {
					hooks = []livechat.Webhook{}
				}
				return writeJSON(e.stdout, map[string]any{"owner_client_id": ownerID, "webhooks": hooks,
					"count": len(hooks), "license_webhooks_enabled": enabled})
			}
			if len(hooks) == 0 {
				fmt.Fprintf(e.stdout, "No webhooks registered for client %s.\n", ownerID)
			} else {
				w := newTable(e.stdout)
				fmt.Fprintln(w, "ID\tACTION\tTYPE\tADDITIONAL_DATA\tURL\tDESCRIPTION")
				for _, h := range hooks {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Action, h.Type, orDash(strings.Join(h.AdditionalData, ",")),
						h.URL, orDash(h.Description))
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			return checkLicenseState(ctx, e, client, ownerID)
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&owner, "owner-client-id", "", "Client ID owning the webhooks (default livechat.owner_client_id, else livechat.oauth.client_id)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func webhooksUnregisterCmd(e *env) *cobra.Command {
	var (
		cfgPath, owner, rawURL string
		all, dryRun            bool
	)
	cmd := &cobra.Command{
		Use:   "unregister ID... | --url URL | --all",
		Short: "Unregister webhooks by id, all those calling a URL, or all of the app's",
		Example: `  chatwarden webhooks unregister 8f2b...
  chatwarden webhooks unregister --url https://old.example.com/webhooks/livechat
  chatwarden webhooks unregister --all --dry-run`,
		Args: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, set := range []bool{len(args) > 0, rawURL != "", all} {
				if set {
					n++
				}
			}
			if n != 1 {
				return usageError{errors.New("give webhook ids, --url or --all (one of them); see chatwarden webhooks list")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			app, ownerID, client, err := e.openWebhooksClient(ctx, cfgPath, owner, true)
			if err != nil {
				return err
			}
			defer app.close()
			hooks, err := client.ListWebhooks(ctx, ownerID)
			if err != nil {
				return webhookAPIError(err)
			}
			target := rawURL
			if target != "" {
				if target, err = webhookURL(rawURL); err != nil {
					return err
				}
			}
			pick, err := webhooks.Select(hooks, args, target, all)
			if errors.Is(err, webhooks.ErrNoWebhook) {
				return fmt.Errorf("%w of client %s; see `chatwarden webhooks list`", err, ownerID)
			}
			if err != nil {
				return err
			}
			if len(pick) == 0 {
				_, err := fmt.Fprintln(e.stdout, "No webhooks match; nothing to unregister.")
				return err
			}
			w := newTable(e.stdout)
			fmt.Fprintln(w, "ID\tACTION\tURL\tRESULT")
			for _, h := range pick {
				result := "unregistered"
				if dryRun {
					result = "would unregister"
				} else if err := client.UnregisterWebhook(ctx, h.ID, ownerID); err != nil {
					_ = w.Flush()
					return fmt.Errorf("unregistering webhook %s: %w", h.ID, webhookAPIError(err))
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", h.ID, h.Action, h.URL, result)
			}
			return w.Flush()
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&owner, "owner-client-id", "", "Client ID owning the webhooks (default livechat.owner_client_id, else livechat.oauth.client_id)")
	cmd.Flags().StringVar(&rawURL, "url", "", "unregister every webhook calling this URL")
	cmd.Flags().BoolVar(&all, "all", false, "unregister every webhook of the app")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be unregistered; change nothing")
	return cmd
}

func webhooksStateCmd(e *env) *cobra.Command {
	var (
		cfgPath, owner  string
		enable, disable bool
	)
	cmd := &cobra.Command{
		Use:   "state [--enable|--disable]",
		Short: "Show whether license webhooks are enabled (exit 1 when disabled); enable or disable them",
		Long: `Print whether the license's webhooks of the app are enabled. Exit status 0 when enabled, 1 when
disabled (LiveChat then sends none of them), so health checks and scripts can use it.
--enable and --disable change the state first (a token with webhooks.state:rw); webhooks that
were disabled stay disabled, even after reinstalling the app, until enabled again. With a
personal access token owner_client_id is required; with a bearer token the token's app is used
when none is given.`,
		Example: "  chatwarden webhooks state\n  chatwarden webhooks state --enable",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if enable && disable {
				return usageError{errors.New("--enable and --disable exclude each other")}
			}
			ctx := cmd.Context()
			app, ownerID, client, err := e.openWebhooksClient(ctx, cfgPath, owner, false)
			if err != nil {
				return err
			}
			defer app.close()
			switch {
			case enable:
				if err := client.EnableLicenseWebhooks(ctx, ownerID); err != nil {
					return webhookAPIError(err)
				}
			case disable:
				if err := client.DisableLicenseWebhooks(ctx, ownerID); err != nil {
					return webhookAPIError(err)
				}
				enabled, err := client.LicenseWebhooksState(ctx, ownerID)
				if err != nil {
					return webhookAPIError(err)
				}
				_, err = fmt.Fprintf(e.stdout, "license webhooks: %s\n", map[bool]string{true: "enabled", false: "disabled"}[enabled])
				return err
			}
			return checkLicenseState(ctx, e, client, ownerID)
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&owner, "owner-client-id", "", "Client ID owning the webhooks (default livechat.owner_client_id, else livechat.oauth.client_id)")
	cmd.Flags().BoolVar(&enable, "enable", false, "enable license webhooks first")
	cmd.Flags().BoolVar(&disable, "disable", false, "disable license webhooks (exit 0: it is what was asked)")
	return cmd
}
