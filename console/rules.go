package console

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatwarden/chatwarden/audit"
	"github.com/chatwarden/chatwarden/bus"
)

// Rule is a rule in force with how often it decided what.
type Rule struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	On          []string `json:"on"`
	If          string   `json:"if,omitempty"`
	Enrich      string   `json:"enrich,omitempty"`
	After       string   `json:"after,omitempty"`
	Then        []string `json:"then"`
	Line        int      `json:"line,omitempty"`
	// DryRun is whether the rule only records what it would do: its own
	// dry_run, or every rule's (RuleSet.DryRunAll).
	DryRun bool `json:"dry_run"`
	// RuleDryRun is the rule's own dry_run key.
	RuleDryRun bool `json:"rule_dry_run"`
	// Hits counts the rule's decisions in the window by outcome (acted,
	// skipped, scheduled, dry_run, failed); Total is their sum.
	Hits    map[string]int `json:"hits"`
	Total   int            `json:"total"`
	LastHit *time.Time     `json:"last_hit,omitempty"`
}

// RuleSet is the answer of Rules.
type RuleSet struct {
	Source    string `json:"source"` // the rule file, or the built-in examples
	DryRunAll bool   `json:"dry_run_all"`
	Rules     []Rule `json:"rules"`
	// Since is the start of the window decisions are counted in; Scanned
	// the audit records read, Truncated whether the read stopped early.
	Since     time.Time `json:"since"`
	Scanned   int       `json:"scanned"`
	Truncated bool      `json:"truncated"`
	// Other counts decisions of rules no longer in force, by rule.
	Other map[string]int `json:"other_rules,omitempty"`
}

// Rules returns the rules in force with their decisions since since (zero:
// the last DefaultRulesWindow), counted from the audit trail, so the counts
// cover every worker process and survive restarts.
func (c *Console) Rules(ctx context.Context, since time.Time) (*RuleSet, error) {
	if c.rules == nil {
		return nil, fmt.Errorf("%w: this process was started without a rule source", ErrNoRules)
	}
	set, dryRunAll, err := c.rules()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRules, err)
	}
	if since.IsZero() {
		since = c.now().Add(-DefaultRulesWindow)
	}
	out := &RuleSet{Source: set.Source, DryRunAll: dryRunAll, Since: since.UTC(), Rules: []Rule{}}
	index := map[string]int{}
	for _, inf := range set.Rules() {
		r := Rule{Name: inf.Name, Description: inf.Description, On: inf.On, If: inf.If, Enrich: inf.Enrich,
			Then: inf.Then, Line: inf.Line, DryRun: inf.DryRun || dryRunAll, RuleDryRun: inf.DryRun, Hits: map[string]int{}}
		if inf.After > 0 {
			r.After = inf.After.String()
		}
		if r.On == nil {
			r.On = []string{}
		}
		if r.Then == nil {
			r.Then = []string{}
		}
		index[r.Name] = len(out.Rules)
		out.Rules = append(out.Rules, r)
	}
	res, err := newest(ctx, c.js, scan{stream: bus.AuditStream, since: since, max: c.maxScan},
		func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
			var rec audit.Record
			if json.Unmarshal(m.Data(), &rec) != nil {
				return nil
			}
			i, ok := index[rec.Rule]
			if !ok {
				if out.Other == nil {
					out.Other = map[string]int{}
				}
				out.Other[rec.Rule]++
				return nil
			}
			r := &out.Rules[i]
			r.Hits[rec.Outcome]++
			r.Total++
			if t := rec.Time; r.LastHit == nil || t.After(*r.LastHit) {
				r.LastHit = &t
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out.Scanned, out.Truncated = res.Scanned, res.Truncated
	return out, nil
}
