// Package examples holds the example rule file (rules.yaml), which the
// binary embeds: `chatwarden serve` runs it in dry run when the
// configuration names no rules_file. examples/custom-rule shows a binary
// with its own Go rule handler.
package examples

import _ "embed"

// Rules is the content of examples/rules.yaml.
//
//go:embed rules.yaml
var Rules []byte

// RulesSource names the embedded file in logs and listings.
const RulesSource = "built-in examples/rules.yaml"
