package service

// The platforms the service receives from and acts on: each registers
// itself with package platform (its rule actions, today) when imported.
// This is the one place that lists them; see docs/platforms.md.
import _ "github.com/chatwarden/chatwarden/platform/all"
