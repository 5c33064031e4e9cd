package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd probes an HTTP endpoint: for container health checks in
// images that have no curl or wget.
func healthcheckCmd(e *env) *cobra.Command {
	var (
		url     string
		timeout time.Duration
		cfgPath string
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when an HTTP endpoint answers 200 (for container health checks)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return usageError{fmt.Errorf("--url %q: %w", url, err)}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("GET %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, body)
			}
			_, err = fmt.Fprintf(e.stdout, "ok: %s\n", url)
			return err
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/healthz", "URL to probe")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	e.addConfigFlag(cmd, &cfgPath)
	return cmd
}
