// Command chatwarden keeps live-chat inboxes clean by policy. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatwarden/chatwarden/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}
