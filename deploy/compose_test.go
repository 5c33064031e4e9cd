package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatwarden/chatwarden/config"
)

const (
	composeFile     = "../docker-compose.yml"
	containerConfig = "/etc/chatwarden/config.yaml"
)

// hostEnv is the environment docker compose would interpolate with: fixed,
// never the test process's.
var hostEnv = map[string]string{
	"LIVECHAT_WEBHOOK_SECRET": "webhook-secret",
	"LIVECHAT_ACCOUNT_ID":     "account@example.com",
	"LIVECHAT_PAT":            "dal:pat-token",
	"CHATWARDEN_ADMIN_TOKEN":  "0123456789abcdef0123",
}

func loadProject(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(list),
		cli.WithName("chatwarden"),
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(t.Context())
	require.NoError(t, err)
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	require.NoError(t, err, "service %s", name)
	return s
}

func TestComposeServices(t *testing.T) {
	p := loadProject(t, hostEnv)
	assert.ElementsMatch(t, []string{"nats", "receiver", "worker"}, p.ServiceNames())

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"receiver publishes 8080, and its admin listener on loopback only", func(t *testing.T) {
			ports := service(t, p, "receiver").Ports
			require.Len(t, ports, 2)
			assert.EqualValues(t, 8080, ports[0].Target)
			assert.Equal(t, "8080", ports[0].Published)
			assert.EqualValues(t, 9090, ports[1].Target, "admin.addr of deploy/compose.config.yaml")
			assert.Equal(t, "127.0.0.1", ports[1].HostIP, "the admin listener is never published beyond the host")
		}},
		{"worker and nats publish nothing", func(t *testing.T) {
			assert.Empty(t, service(t, p, "worker").Ports)
			assert.Empty(t, service(t, p, "nats").Ports)
		}},
		{"nats keeps JetStream in a named volume", func(t *testing.T) {
			nats := service(t, p, "nats")
			assert.True(t, strings.HasPrefix(nats.Image, "nats:2."), nats.Image)
			assert.Equal(t, types.ShellCommand{"-js", "-sd", "/data", "-m", "8222"}, nats.Command)
			i := slices.IndexFunc(nats.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/data" })
			require.GreaterOrEqual(t, i, 0, "a volume on /data")
			v := nats.Volumes[i]
			assert.Equal(t, types.VolumeTypeVolume, v.Type)
			assert.Contains(t, p.Volumes, v.Source, "a named, top-level volume")
		}},
		{"nats health checks JetStream", func(t *testing.T) {
			hc := service(t, p, "nats").HealthCheck
			require.NotNil(t, hc)
			assert.Contains(t, strings.Join(hc.Test, " "), "http://localhost:8222/healthz?js-enabled-only=true")
		}},
		{"receiver command", func(t *testing.T) {
			assert.Equal(t, types.ShellCommand{"receive", "--config", containerConfig}, service(t, p, "receiver").Command)
		}},
		{"worker command", func(t *testing.T) {
			assert.Equal(t, types.ShellCommand{"work", "--config", containerConfig}, service(t, p, "worker").Command)
		}},
		{"receiver is ready only with the broker", func(t *testing.T) {
			hc := service(t, p, "receiver").HealthCheck
			require.NotNil(t, hc)
			assert.Equal(t, types.HealthCheckTest{"CMD", "/chatwarden", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"}, hc.Test)
		}},
		{"worker health check", func(t *testing.T) {
			hc := service(t, p, "worker").HealthCheck
			require.NotNil(t, hc)
			assert.Equal(t, types.HealthCheckTest{"CMD", "/chatwarden", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"}, hc.Test)
		}},
		{"worker restarts", func(t *testing.T) {
			assert.Equal(t, types.RestartPolicyUnlessStopped, service(t, p, "worker").Restart)
		}},
		{"chatwarden services build this repository", func(t *testing.T) {
			for _, name := range []string{"receiver", "worker"} {
				b := service(t, p, name).Build
				require.NotNil(t, b, name)
				abs, err := filepath.Abs("..")
				require.NoError(t, err)
				assert.Equal(t, abs, b.Context, name)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}

	for _, name := range p.ServiceNames() {
		t.Run(name+" has a health check", func(t *testing.T) {
			hc := service(t, p, name).HealthCheck
			require.NotNil(t, hc)
			assert.False(t, hc.Disable)
			assert.NotEmpty(t, hc.Test)
		})
	}
	for _, name := range []string{"receiver", "worker"} {
		t.Run(name+" waits for a healthy nats", func(t *testing.T) {
			dep, ok := service(t, p, name).DependsOn["nats"]
			require.True(t, ok)
			assert.Equal(t, types.ServiceConditionHealthy, dep.Condition)
		})
	}
}

// The config file mounted into the containers must parse with what compose
// passes into each container, and carry each role what it needs.
func TestComposeConfig(t *testing.T) {
	p := loadProject(t, hostEnv)
	for _, name := range []string{"receiver", "worker"} {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == containerConfig })
			require.GreaterOrEqual(t, i, 0, "%s mounts %s", name, containerConfig)
			mount := s.Volumes[i]
			assert.Equal(t, types.VolumeTypeBind, mount.Type)
			assert.True(t, mount.ReadOnly)

			data, err := os.ReadFile(mount.Source)
			require.NoError(t, err, "the mounted config file exists")
			cfg, err := config.Parse(data, containerEnv(s))
			require.NoError(t, err)
			assert.Equal(t, "nats://nats:4222", cfg.NATS.URL, "the containers use the nats service, never an embedded broker")

			assert.Equal(t, ":9090", cfg.Admin.Addr)
			assert.Equal(t, "0123456789abcdef0123", cfg.Admin.Token, "both roles get the admin token")
			assert.True(t, cfg.Admin.MetricsPublic, "Prometheus scrapes on the compose network")
			switch name {
			case "receiver":
				assert.Equal(t, []string{"webhook-secret"}, cfg.LiveChat.WebhookSecrets)
				assert.False(t, cfg.LiveChat.HasCredentials(), "the receiver gets no API credentials")
				assert.Empty(t, cfg.WarningsFor(config.RoleReceiver))
			case "worker":
				assert.Empty(t, cfg.LiveChat.WebhookSecrets, "the worker gets no webhook secrets")
				assert.Equal(t, config.PAT{AccountID: "account@example.com", Token: "dal:pat-token"}, cfg.LiveChat.PAT)
				assert.Empty(t, cfg.WarningsFor(config.RoleWorker))
			}
		})
	}
}

// Every bind-mounted file is in the repository.
func TestComposeBindSourcesExist(t *testing.T) {
	p := loadProject(t, hostEnv)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			t.Run(s.Name+" "+v.Target, func(t *testing.T) {
				_, err := os.Stat(v.Source)
				assert.NoError(t, err)
				assert.True(t, v.ReadOnly, "configuration is mounted read-only")
			})
		}
	}
}

// With nothing set on the host but the admin token the file still loads
// (secrets are empty, the services start and log what is missing), and
// nats.url still names the compose broker. Without the admin token it does
// not: the admin listener is on the compose network, and says what to set.
func TestComposeEmptyHostEnvironment(t *testing.T) {
	data, err := os.ReadFile("compose.config.yaml")
	require.NoError(t, err)
	p := loadProject(t, map[string]string{"CHATWARDEN_ADMIN_TOKEN": "0123456789abcdef0123"})
	for _, name := range []string{"receiver", "worker"} {
		cfg, err := config.Parse(data, containerEnv(service(t, p, name)))
		require.NoError(t, err, name)
		assert.Equal(t, "nats://nats:4222", cfg.NATS.URL)
		assert.NotEmpty(t, cfg.Warnings(), "missing secrets are reported")
	}

	p = loadProject(t, map[string]string{})
	for _, name := range []string{"receiver", "worker"} {
		_, err := config.Parse(data, containerEnv(service(t, p, name)))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, config.ErrEnv)
		assert.Contains(t, err.Error(), "admin.token")
		assert.Contains(t, err.Error(), "CHATWARDEN_ADMIN_TOKEN")
	}
}

func TestComposeConfigRequiresNATSURL(t *testing.T) {
	data, err := os.ReadFile("compose.config.yaml")
	require.NoError(t, err)
	_, err = config.Parse(data, func(string) string { return "" })
	require.Error(t, err)
	assert.ErrorIs(t, err, config.ErrEnv)
	assert.Contains(t, err.Error(), "nats.url")
	assert.Contains(t, err.Error(), "NATS_URL")
}

// containerEnv is what chatwarden's getenv sees inside the service's
// container.
func containerEnv(s types.ServiceConfig) func(string) string {
	return func(k string) string {
		if v, ok := s.Environment[k]; ok && v != nil {
			return *v
		}
		return ""
	}
}
