package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// configCmd builds `config`, whose one subcommand, print, shows the
// configuration a command would run with.
func configCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return usageError{fmt.Errorf("a subcommand is required; see %s --help", cmd.CommandPath())}
		},
	}
	var cfgPath string
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (file, environment, defaults) as YAML, secrets redacted",
		Long: "Print the configuration that serve, receive and work would run with: the file (--config or\n" +
			"$CHATWARDEN_CONFIG, if any) with its ${...} references expanded, the CHATWARDEN_<SECTION>_<KEY>\n" +
			"variables over it, and the defaults for everything left out, validated. Every secret that is set\n" +
			"reads \"REDACTED\" (also credentials in URLs); unset ones stay \"\". An invalid configuration\n" +
			"exits 1 with every problem, naming the key and its line or variable.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := e.loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var out strings.Builder
			enc := yaml.NewEncoder(&out)
			enc.SetIndent(2)
			if err := enc.Encode(cfg.Redacted()); err != nil {
				return fmt.Errorf("printing the configuration: %w", err)
			}
			if err := enc.Close(); err != nil {
				return fmt.Errorf("printing the configuration: %w", err)
			}
			source := "file: none (defaults)"
			if cfgPath != "" {
				source = "file: " + cfgPath
			}
			vars := "environment: none"
			if v := cfg.EnvOverrides(); len(v) > 0 {
				vars = "environment: " + strings.Join(v, ", ")
			}
			_, err = fmt.Fprintf(e.stdout, "# chatwarden effective configuration, secrets redacted\n# %s\n# %s\n%s", source, vars, out.String())
			return err
		},
	}
	e.addConfigFlag(print, &cfgPath)
	cmd.AddCommand(print)
	return cmd
}
