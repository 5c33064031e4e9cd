package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/dlq"
)

func auditCmd(e *env) *cobra.Command {
	var (
		cfgPath, chat, rule, platform, since string
		asJSON                               bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show what rules decided and did (\"why was chat X unpinned?\")",
		Long: "audit prints the audit records: one per rule decision (acted, skipped, scheduled, dry_run,\n" +
			"failed), with the rule, the event, the action, its parameters and the reason. It works\n" +
			"while the service runs (through nats.listen or nats.url) and when it does not.",
		Example: "  chatwarden audit --chat PJ0MRSHTDG\n  chatwarden audit --rule unpin-abandoned-unassigned --since 24h --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := audit.Query{Platform: platform, ChatID: chat, Rule: rule}
			if since != "" {
				t, err := dlq.ParseSince(since, time.Now())
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				q.Since = t
			}
			cfg, err := e.loadConfig(cfgPath)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			b, _, closeBus, err := e.openOperatorBus(ctx, cfg)
			if err != nil {
				return err
			}
			defer closeBus()
			recs, err := audit.Read(ctx, b.JS, q)
			if err != nil {
				return err
			}
			if asJSON {
				if recs == nil {
					recs = []audit.Record{}
				}
				return writeJSON(e.stdout, recs)
			}
			if len(recs) == 0 {
				_, err := fmt.Fprintln(e.stdout, "no audit records match")
				return err
			}
			w := newTable(e.stdout)
			fmt.Fprintln(w, "TIME\tCHAT\tEVENT\tRULE\tACTION\tOUTCOME\tREASON")
			for _, r := range recs {
				why := r.Reason
				if r.Error != "" {
					why = r.Error
				}
				if r.Attempt > 0 && r.Outcome == audit.Failed {
					why = fmt.Sprintf("attempt %d: %s", r.Attempt, why)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), orDash(r.ChatID),
					r.Action, r.Rule, orDash(r.Operation), r.Outcome, oneLineText(why))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, quantity(len(recs), "record", "records"))
			return err
		},
	}
	e.addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&chat, "chat", "", "only this chat")
	cmd.Flags().StringVar(&rule, "rule", "", "only this rule")
	cmd.Flags().StringVar(&platform, "platform", "", "only this platform (livechat, helpcrunch, rocketchat)")
	cmd.Flags().StringVar(&since, "since", "", "only records since a duration ago (24h, 7d) or a time (RFC 3339)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
