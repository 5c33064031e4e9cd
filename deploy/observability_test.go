package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/chatwarden/chatwarden/config"
	"github.com/chatwarden/chatwarden/metrics"
)

const (
	dashboardFile   = "grafana/dashboards/chatwarden.json"
	prometheusFile  = "prometheus/prometheus.yml"
	datasourceFile  = "grafana/provisioning/datasources/prometheus.yaml"
	dashProviderDir = "grafana/provisioning/dashboards"
)

func loadWithProfiles(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	var env []string
	for k, v := range hostEnv {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(".."), cli.WithEnv(env), cli.WithName("chatwarden"), cli.WithProfiles(profiles))
	require.NoError(t, err)
	p, err := opts.LoadProject(t.Context())
	require.NoError(t, err)
	return p
}

// mountOf returns the bind mount of s whose target is target.
func mountOf(t *testing.T, s types.ServiceConfig, target string) types.ServiceVolumeConfig {
	t.Helper()
	i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == target })
	require.GreaterOrEqual(t, i, 0, "%s mounts %s", s.Name, target)
	return s.Volumes[i]
}

func TestObservabilityProfile(t *testing.T) {
	without := loadWithProfiles(t)
	assert.ElementsMatch(t, []string{"nats", "receiver", "worker"}, without.ServiceNames(), "nothing extra runs without the profile")

	p := loadWithProfiles(t, "observability")
	assert.ElementsMatch(t, []string{"nats", "receiver", "worker", "prometheus", "grafana"}, p.ServiceNames())

	prom := service(t, p, "prometheus")
	graf := service(t, p, "grafana")
	for _, s := range []types.ServiceConfig{prom, graf} {
		t.Run(s.Name, func(t *testing.T) {
			assert.Equal(t, []string{"observability"}, s.Profiles)
			require.NotNil(t, s.HealthCheck)
			assert.NotEmpty(t, s.HealthCheck.Test)
			require.Len(t, s.Ports, 1)
			assert.Equal(t, "127.0.0.1", s.Ports[0].HostIP, "published on loopback only")
			for _, v := range s.Volumes {
				switch v.Type {
				case types.VolumeTypeBind:
					_, err := os.Stat(v.Source)
					assert.NoError(t, err, "bind source %s is in the repository", v.Source)
					assert.True(t, v.ReadOnly, "%s is mounted read-only", v.Target)
				case types.VolumeTypeVolume:
					assert.Contains(t, p.Volumes, v.Source, "a named, top-level volume")
				}
			}
		})
	}

	assert.Equal(t, "9090", prom.Ports[0].Published)
	cfg := mountOf(t, prom, "/etc/prometheus/prometheus.yml")
	abs, err := filepath.Abs(prometheusFile)
	require.NoError(t, err)
	assert.Equal(t, abs, cfg.Source)
	assert.Contains(t, []string(prom.Command), "--config.file=/etc/prometheus/prometheus.yml")

	assert.Equal(t, "3000", graf.Ports[0].Published)
	assert.Equal(t, types.ServiceConditionHealthy, graf.DependsOn["prometheus"].Condition)
	prov := mountOf(t, graf, "/etc/grafana/provisioning")
	abs, err = filepath.Abs("grafana/provisioning")
	require.NoError(t, err)
	assert.Equal(t, abs, prov.Source)
	dash := mountOf(t, graf, dashboardsTarget(t))
	abs, err = filepath.Abs(filepath.Dir(dashboardFile))
	require.NoError(t, err)
	assert.Equal(t, abs, dash.Source, "the dashboard provider reads the mounted dashboards")
	home := graf.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	require.NotNil(t, home)
	assert.Equal(t, dashboardsTarget(t)+"/"+filepath.Base(dashboardFile), *home)
	for _, k := range []string{"GF_SECURITY_ADMIN_PASSWORD", "GF_USERS_ALLOW_SIGN_UP"} {
		assert.Contains(t, graf.Environment, k)
	}
}

// dashboardsTarget is where the dashboard provider looks for dashboards.
func dashboardsTarget(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dashProviderDir, "chatwarden.yaml"))
	require.NoError(t, err)
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal(data, &prov))
	require.Equal(t, 1, prov.APIVersion)
	require.Len(t, prov.Providers, 1)
	assert.Equal(t, "file", prov.Providers[0].Type)
	require.NotEmpty(t, prov.Providers[0].Options.Path)
	return prov.Providers[0].Options.Path
}

func TestPrometheusScrapesEveryChatwardenProcess(t *testing.T) {
	data, err := os.ReadFile(prometheusFile)
	require.NoError(t, err)
	type scrapeConfig struct {
		JobName     string `yaml:"job_name"`
		MetricsPath string `yaml:"metrics_path"`
		DNSSD       []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	}
	var cfg struct {
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	i := slices.IndexFunc(cfg.ScrapeConfigs, func(s scrapeConfig) bool { return s.JobName == "chatwarden" })
	require.GreaterOrEqual(t, i, 0, "a chatwarden job")
	job := cfg.ScrapeConfigs[i]
	assert.Equal(t, "/metrics", job.MetricsPath)
	require.Len(t, job.DNSSD, 1)
	assert.ElementsMatch(t, []string{"receiver", "worker"}, job.DNSSD[0].Names)
	assert.Equal(t, 9090, job.DNSSD[0].Port, "admin.addr of deploy/compose.config.yaml")

	// Both names are compose services running chatwarden with that file,
	// whose admin listener serves /metrics on that port without a token.
	data, err = os.ReadFile("compose.config.yaml")
	require.NoError(t, err)
	p := loadWithProfiles(t, "observability")
	for _, name := range job.DNSSD[0].Names {
		s := service(t, p, name)
		require.NotNil(t, s.HealthCheck)
		assert.Contains(t, strings.Join(s.HealthCheck.Test, " "), "127.0.0.1:8080", name)
		cfg, err := config.Parse(data, containerEnv(s))
		require.NoError(t, err, name)
		assert.Equal(t, fmt.Sprintf(":%d", job.DNSSD[0].Port), cfg.Admin.Addr, name)
		assert.True(t, cfg.Admin.MetricsPublic, name)
	}
}

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func readDashboard(t *testing.T) (dashboard, []panel) {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(data, &d), "the dashboard is JSON")
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return d, all
}

func TestDashboardIsWellFormed(t *testing.T) {
	d, panels := readDashboard(t)
	assert.Equal(t, "chatwarden", d.UID)
	require.NotEmpty(t, panels)
	require.Len(t, d.Templating.List, 1)
	assert.Equal(t, "datasource", d.Templating.List[0].Type)
	assert.Equal(t, "prometheus", d.Templating.List[0].Query)

	ids := map[int]bool{}
	for _, p := range panels {
		assert.False(t, ids[p.ID], "panel id %d is unique", p.ID)
		ids[p.ID] = true
		assert.NotEmpty(t, p.Title, "panel %d has a title", p.ID)
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "%s fits the grid", p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotNil(t, p.Datasource, p.Title)
		assert.Equal(t, "prometheus", p.Datasource.Type, p.Title)
		assert.Equal(t, "${"+d.Templating.List[0].Name+"}", p.Datasource.UID, p.Title)
		require.NotEmpty(t, p.Targets, "%s queries something", p.Title)
		for _, tg := range p.Targets {
			assert.NotEmpty(t, tg.Expr, "%s %s", p.Title, tg.RefID)
			assert.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), "%s: balanced parentheses in %s", p.Title, tg.Expr)
		}
	}

	// What the dashboard is for, by panel title.
	titles := make([]string, 0, len(panels))
	for _, p := range panels {
		titles = append(titles, strings.ToLower(p.Title))
	}
	for _, want := range []string{"webhooks in by platform and action", "webhooks rejected by reason", "publish latency",
		"consumer lag per partition", "ack pending per partition", "actions by outcome", "retries", "dead letters",
		"api latency by platform", "api 429s by platform"} {
		assert.True(t, slices.ContainsFunc(titles, func(s string) bool { return strings.HasPrefix(s, want) }), "a panel %q", want)
	}

	// The provisioned datasource is the one the variable selects by default.
	data, err := os.ReadFile(datasourceFile)
	require.NoError(t, err)
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
			IsDefault      bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(data, &ds))
	require.Len(t, ds.Datasources, 1)
	assert.Equal(t, "prometheus", ds.Datasources[0].Type)
	assert.True(t, ds.Datasources[0].IsDefault)
	assert.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL, "the compose service")
}

// metricRef finds the chatwarden metrics a PromQL expression names.
var metricRef = regexp.MustCompile(`\bchatwarden_[a-zA-Z0-9_]+\b`)

func TestDashboardQueriesOnlyExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	_, panels := readDashboard(t)
	queried := map[string]bool{}
	for _, p := range panels {
		for _, tg := range p.Targets {
			for _, name := range metricRef.FindAllString(tg.Expr, -1) {
				queried[name] = true
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] == "histogram" {
						base = b
						assert.Equal(t, "_bucket", suffix, "%s: histograms are read as quantiles", p.Title)
					}
				}
				kind, ok := exported[base]
				if !assert.True(t, ok, "%s queries %s, which chatwarden does not export", p.Title, name) {
					continue
				}
				if strings.Contains(tg.Expr, "rate("+name) || strings.Contains(tg.Expr, "increase("+name) {
					assert.Contains(t, []string{"counter", "histogram"}, kind, "%s: rate() of %s, a %s", p.Title, name, kind)
				}
			}
		}
	}
	// Every chatwarden metric is on the dashboard, so a new one is not
	// forgotten.
	var missing []string
	for name, kind := range exported {
		probe := name
		if kind == "histogram" {
			probe += "_bucket"
		}
		if !queried[probe] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "metrics on no panel")
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics are the chatwarden metrics package metrics declares, by
// name, with their kind (counter, gauge, histogram).
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	m := metrics.New()
	out := map[string]string{}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		c, ok := f.Interface().(prometheus.Collector)
		if !ok || f.IsNil() {
			continue
		}
		kind := "gauge"
		switch f.Interface().(type) {
		case *prometheus.CounterVec, prometheus.Counter:
			kind = "counter"
		case *prometheus.HistogramVec, prometheus.Histogram:
			kind = "histogram"
		case *prometheus.Registry:
			continue
		}
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			match := fqName.FindStringSubmatch(d.String())
			require.Len(t, match, 2, d.String())
			if strings.HasPrefix(match[1], "chatwarden_") {
				out[match[1]] = kind
			}
		}
	}
	require.NotEmpty(t, out)
	require.Contains(t, out, "chatwarden_webhooks_received_total")
	return out
}
