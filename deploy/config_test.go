package deploy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dropwire/dropwire/internal/config"
)

// The example configuration, with the variables of .env.example, passes
// the validation `dropwire check-config` runs; without them it fails,
// naming each variable, so a forgotten one cannot go unnoticed.
func TestConfigPassesCheckConfig(t *testing.T) {
	cfg, err := loadConfig(t, envExample(t))
	if err != nil {
		t.Fatalf("dropwire.yaml with .env.example:\n%v", err)
	}
	if cfg.RedisURL == "" || len(cfg.TrustedProxies) == 0 || cfg.AdminToken == "" {
		t.Fatalf("the example must run on Redis, behind trusted proxies, with an admin token: %+v", cfg)
	}
	_, err = loadConfig(t, nil)
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("without the variables: %v", err)
	}
	for _, name := range referencedVars(t, "dropwire.yaml") {
		if !strings.Contains(err.Error(), "${"+name+"} is not set") {
			t.Errorf("without the variables, check-config does not name ${%s}:\n%v", name, err)
		}
	}
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}`)

// referencedVars lists the ${NAME} references of a file, outside comments.
func referencedVars(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	for _, m := range varRefs(t, path) {
		names = append(names, m[1])
	}
	return names
}

// varRefs returns each ${NAME…} reference of a file outside comments: the
// match, the name and the modifier (":-default", ":?message" or "").
func varRefs(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out = append(out, varRef.FindAllStringSubmatch(line, -1)...)
	}
	return out
}

// Every variable the compose file and the configuration use is in
// .env.example, and each one dropwire.yaml reads reaches the replicas.
func TestEnvExampleCoversEveryVariable(t *testing.T) {
	env := envExample(t)
	for _, m := range varRefs(t, "compose.yaml") {
		if _, ok := env[m[1]]; !ok && !strings.HasPrefix(m[2], ":-") {
			t.Errorf("compose.yaml uses %s, which .env.example does not set", m[0])
		}
	}
	c := readCompose(t)
	for _, svc := range c.replicas() {
		for _, name := range referencedVars(t, "dropwire.yaml") {
			v, ok := c.Services[svc].Environment[name]
			if !ok || !strings.Contains(v, "${"+name) {
				t.Errorf("dropwire.yaml reads ${%s}, which service %s is not given (environment: %v)", name, svc, c.Services[svc].Environment)
			}
		}
	}
	for name := range env {
		if !slices.Contains(referencedVars(t, "compose.yaml"), name) {
			t.Errorf(".env.example sets %s, which compose.yaml never uses", name)
		}
	}
}

// compose is the part of compose.yaml these tests read.
type compose struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Networks    []string          `yaml:"networks"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T) *compose {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return &c
}

// replicas returns the names of the services built from the Dockerfile.
func (c *compose) replicas() []string {
	var out []string
	for name, s := range c.Services {
		if s.Build != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// mounts returns a service's bind mounts, container path → host path
// (relative to this directory).
func (c *compose) mounts(svc string) map[string]string {
	out := map[string]string{}
	for _, v := range c.Services[svc].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], ".") {
			out[parts[1]] = parts[0]
		}
	}
	return out
}

// The compose file runs what the configuration describes: three replicas
// built from the repository's Dockerfile, reading dropwire.yaml and the
// codes file it names, on a Redis that logs every write; the proxy
// network is the one dropwire.yaml trusts, and only Caddy and the
// replicas are on it; Caddy's upstreams are exactly the replicas' listen
// addresses, and Prometheus scrapes exactly their metrics_listen ones.
func TestComposeWiring(t *testing.T) {
	c := readCompose(t)
	cfg, err := loadConfig(t, envExample(t))
	if err != nil {
		t.Fatal(err)
	}
	replicas := c.replicas()
	if len(replicas) != 3 {
		t.Fatalf("replicas %v, want three", replicas)
	}
	_, port, _ := strings.Cut(cfg.Listen, ":")
	_, metricsPort, _ := strings.Cut(cfg.MetricsListen, ":")
	if metricsPort == "" {
		t.Fatalf("metrics_listen %q: the example keeps /metrics off the public listener", cfg.MetricsListen)
	}
	var upstreams, targets []string
	for _, name := range replicas {
		s := c.Services[name]
		if s.Build.Context != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: build %+v, want the repository's Dockerfile", name, *s.Build)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		i := slices.Index(s.Command, "--config")
		if i < 0 || i+1 >= len(s.Command) {
			t.Fatalf("%s: command %v names no --config", name, s.Command)
		}
		confPath := s.Command[i+1]
		m := c.mounts(name)
		if m[confPath] != "./dropwire.yaml" {
			t.Errorf("%s: %s is %q, want ./dropwire.yaml", name, confPath, m[confPath])
		}
		for _, d := range cfg.Drops {
			if f := d.Compensation.CodesFile; f != "" {
				in := filepath.Join(filepath.Dir(confPath), f)
				if m[in] != "./"+f {
					t.Errorf("%s: drop %s reads %s, which is %q, want ./%s", name, d.ID, in, m[in], f)
				}
			}
		}
		upstreams = append(upstreams, name+":"+port)
		targets = append(targets, name+":"+metricsPort)
	}
	if !strings.HasPrefix(cfg.RedisURL, "redis://redis:6379/") {
		t.Errorf("redis_url %q is not the redis service", cfg.RedisURL)
	}

	redis := c.Services["redis"]
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") {
		t.Errorf("redis command %q: want --appendonly yes --appendfsync everysec", cmd)
	}
	if !slices.ContainsFunc(redis.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") && !strings.HasPrefix(v, ".") }) {
		t.Errorf("redis volumes %v: the append-only file needs a named volume on /data", redis.Volumes)
	}

	// The proxy network: its subnet is trusted_proxies, and nothing but
	// Caddy and the replicas joins it.
	proxy := c.Networks["proxy"].IPAM.Config
	if len(proxy) != 1 || !slices.Equal(cfg.TrustedProxies, []string{proxy[0].Subnet}) {
		t.Errorf("trusted_proxies %v, proxy network %+v: they must be the same", cfg.TrustedProxies, proxy)
	}
	var onProxy []string
	for name, s := range c.Services {
		if slices.Contains(s.Networks, "proxy") {
			onProxy = append(onProxy, name)
		}
	}
	slices.Sort(onProxy)
	if want := append([]string{"caddy"}, replicas...); !slices.Equal(onProxy, want) {
		t.Errorf("on the proxy network: %v, want %v", onProxy, want)
	}
	if nets := c.Services["caddy"].Networks; !slices.Equal(nets, []string{"proxy"}) {
		t.Errorf("caddy networks %v: on another network its requests would come from an untrusted address", nets)
	}

	if got := caddyUpstreams(t); !slices.Equal(got, upstreams) {
		t.Errorf("Caddyfile upstreams %v, want the replicas' listen addresses %v", got, upstreams)
	}
	if got := prometheusTargets(t); !slices.Equal(got, targets) {
		t.Errorf("prometheus targets %v, want the replicas' metrics_listen addresses %v", got, targets)
	}

	// Every file a service mounts is here, and every named volume is declared.
	for name, s := range c.Services {
		for in, host := range c.mounts(name) {
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s mounts %s on %s: %v", name, host, in, err)
			}
		}
		for _, v := range s.Volumes {
			if src, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(src, ".") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s uses volume %s, which is not declared", name, src)
				}
			}
		}
	}
}

// caddyUpstreams returns the upstreams of the Caddyfile's reverse_proxy.
func caddyUpstreams(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == "reverse_proxy" {
			return slices.DeleteFunc(f[1:], func(s string) bool { return s == "{" })
		}
	}
	t.Fatal("Caddyfile has no reverse_proxy line")
	return nil
}

func prometheusTargets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sc := range p.ScrapeConfigs {
		if sc.JobName != "dropwire" || sc.MetricsPath != "/metrics" {
			t.Errorf("scrape config %q of %q: want job dropwire on /metrics (the alerts select job=\"dropwire\")", sc.JobName, sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			out = append(out, s.Targets...)
		}
	}
	slices.Sort(out)
	return out
}

// Grafana finds the dashboard where compose mounts it, and every panel
// queries the provisioned Prometheus data source.
func TestGrafanaProvisioning(t *testing.T) {
	c := readCompose(t)
	m := c.mounts("grafana")
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		}
	}
	readYAML(t, filepath.Join(m["/etc/grafana/provisioning"], "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("data sources %+v: want the prometheus service", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	var prov struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(m["/etc/grafana/provisioning"], "dashboards", "dropwire.yml"), &prov)
	if len(prov.Providers) != 1 || m[prov.Providers[0].Options.Path] != "./grafana/dashboards" {
		t.Fatalf("dashboard providers %+v, mounts %v: the provider must read the mounted ./grafana/dashboards", prov.Providers, m)
	}
	d := readDashboard(t)
	ids := map[int]string{}
	queries := 0
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != uid || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries; want %q and at least one", p.Title, p.Datasource.UID, len(p.Targets), uid)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource.UID != uid || q.Expr == "" {
				t.Errorf("panel %q query %s: data source %q, expr %q", p.Title, q.RefID, q.Datasource.UID, q.Expr)
			}
		}
	}
	if queries < 15 {
		t.Errorf("the dashboard has %d queries", queries)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type dashboard struct {
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) *dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/dashboards/dropwire.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dropwire.json: %v", err)
	}
	return &d
}
