// Package config loads chatwarden's configuration file.
//
// The file is YAML; chatwarden.example.yaml at the repository root lists
// every key with its default. Load reads it in four steps (see Parse):
//
//   - Environment references in values are expanded through the getenv
//     function the caller passes (never os.Getenv): ${NAME} is the
//     variable's value, "" when unset; ${NAME:-default} falls back to
//     default when NAME is unset or empty; ${NAME:?message} makes an unset or
//     empty NAME an error; $$ is a literal $. Keys and comments are not
//     expanded, and an expanded value is never read as YAML again, so
//     secrets may contain any character. Inside { } or [ ] quote a value
//     holding ${...}: YAML ends unquoted values there at the braces.
//   - Decoding is strict: an unknown key, a key given twice or a value of the
//     wrong type is an error naming the key and its line. Durations are
//     strings with units: "30s", "10m", "168h" (there is no "d").
//   - Zero values take their defaults: a key left out, "", 0 and an empty
//     ${VAR} all mean "the default" (so nats.listen is turned off with
//     "off", not ""). Empty entries of livechat.webhook_secrets are dropped.
//   - The result is validated; every problem is reported, each naming its key.
//
// Each section owns its defaults and checks, in its own file: its Default*
// constants, Provision (sets the zero settings to those defaults, the one
// place they are applied) and Validate (every problem, each naming its full
// key). Config.Provision and Config.Validate run the sections' in order,
// then the checks across sections. Components built without options (the
// circuit breaker, the consumer runner, the bus, the HTTP handlers) take
// their defaults from these constants, so a default is written once.
//
// Relative paths (rules_file, nats.data_dir, nats.creds_file, nats.tls.*)
// are relative to the process's working directory, not to the config file.
//
// Secrets never appear in errors; print or log a Config only through
// Redacted.
package config
