// Command custom-rule is chatwarden with one extra rule handler, built into
// its own binary: the way teams add policies YAML cannot express.
//
//	go build -o chatwarden-custom ./examples/custom-rule
//	./chatwarden-custom serve --config chatwarden.yaml
//
// and in the rule file:
//
//	rules:
//	  - name: vip-first
//	    on: [livechat.incoming_chat]
//	    handler: vip-first
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatwarden/chatwarden/cli"
	"github.com/chatwarden/chatwarden/rules"
)

func init() {
	rules.MustRegister("vip-first", VIPFirst{Domains: []string{"bigcustomer.com", "example.com"}, Group: 1})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}
