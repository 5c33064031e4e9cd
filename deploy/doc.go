// Package deploy holds the files chatwarden is deployed with and the tests
// that keep them honest: compose.config.yaml (the configuration the
// containers of ../docker-compose.yml mount). The tests load ../docker-compose.yml with
// compose-spec/compose-go and read ../Dockerfile, so a broken service
// definition, a wrong subcommand or a config that no longer parses fails
// `go test` without Docker.
//
// The `observability` profile of the compose file adds Prometheus
// (prometheus/prometheus.yml) and Grafana with its datasource and the
// chatwarden dashboard provisioned (grafana/); the tests check that the
// profile loads, that the dashboard parses and that every metric it queries
// is one package metrics declares.
package deploy
