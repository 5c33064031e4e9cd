package cli

import (
	"bytes"
	"context"

	"github.com/spf13/cobra"
)

// parseOptions runs the command newCmd builds with args and a stub in
// place of its run function: got is the options struct the flags filled
// (nil when the command refused its arguments), err what the command
// returned (ExitCode gives the status).
func parseOptions[O any](newCmd func(*env, func(*O) error) *cobra.Command, args ...string) (got *O, err error) {
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	cmd := newCmd(e, func(o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	return got, cmd.ExecuteContext(context.Background())
}
