package deploy_test

import (
	"os/exec"
	"strings"
	"testing"
)

// tool returns the path of name, or skips t saying how to get it.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not on PATH (%s; ./scripts/test installs it)", name, install)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// promtool accepts the alert rules, the Prometheus configuration (which
// loads them), the dashboard's queries, and the rules' unit tests pass.
func TestPromtool(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	run(t, promtool, "check", "rules", "prometheus/alerts.yml")
	run(t, promtool, "check", "config", "prometheus/prometheus.yml")
	run(t, promtool, "check", "rules", dashboardRules(t))
	run(t, promtool, "test", "rules", "prometheus/alerts_test.yml")
}

// Caddy reads the Caddyfile with SITE_ADDRESS unset (compose passes ":80"
// then), for a local trial and for a host name (adapting it to Caddy's
// JSON configuration does not dial the upstreams).
func TestCaddyfileAdapts(t *testing.T) {
	caddy := tool(t, "caddy", "apt-get install caddy")
	for _, site := range []string{"unset", ":80", "drops.example.com"} {
		cmd := exec.Command(caddy, "adapt", "--config", "caddy/Caddyfile", "--adapter", "caddyfile")
		cmd.Env = caddyEnv(t)
		if site != "unset" {
			cmd.Env = append(cmd.Env, "SITE_ADDRESS="+site)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("caddy adapt with SITE_ADDRESS=%q: %v\n%s", site, err, out)
		}
		if strings.Contains(string(out), `"level":"warn"`) {
			t.Errorf("caddy adapt with SITE_ADDRESS=%q warns:\n%s", site, out)
		}
	}
}

// docker compose reads the compose file with the example's variables.
// It needs no Docker daemon for this.
func TestDockerComposeConfig(t *testing.T) {
	docker := tool(t, "docker", "Docker's CLI")
	if out, err := exec.Command(docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker has no compose plugin: %s", strings.TrimSpace(string(out)))
	}
	out := run(t, docker, "compose", "-f", "compose.yaml", "--env-file", ".env.example", "config")
	for _, want := range []string{"dropwire-1", "dropwire-2", "dropwire-3", "appendonly", "172.30.0.0/24"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker compose config lacks %q:\n%s", want, out)
		}
	}
}
