package config

import (
	"strings"
	"testing"
)

func TestApplyEnv(t *testing.T) {
	c := mustParse(t, "listen: \":9000\"\nlog_level: debug\n"+base, nil)
	err := c.ApplyEnv(envOf(map[string]string{
		"DROPWIRE_PUBLIC_URL":  "https://drops.example.com/",
		"DROPWIRE_REDIS_URL":   "redis://redis:6379/1",
		"DROPWIRE_KEY_PREFIX":  "test:",
		"DROPWIRE_ADMIN_TOKEN": "env-admin-token-0123",
		"DROPWIRE_LOG_LEVEL":   "warn",
		"DROPWIRE_LOG_FORMAT":  "json",
		"DROPWIRE_LISTEN":      "", // empty: ignored
	}))
	if err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	got := []string{c.Listen, c.PublicURL, c.RedisURL, c.KeyPrefix, c.AdminToken, c.LogLevel, c.LogFormat}
	want := []string{":9000", "https://drops.example.com", "redis://redis:6379/1", "test:", "env-admin-token-0123", "warn", "json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after ApplyEnv: %q, want %q", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestApplyEnvListenMovesDerivedPublicURL(t *testing.T) {
	c := mustParse(t, base, nil)
	if err := c.ApplyEnv(envOf(map[string]string{"DROPWIRE_LISTEN": "127.0.0.1:9999"})); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9999" || c.PublicURL != "http://127.0.0.1:9999" {
		t.Errorf("listen %q, public_url %q", c.Listen, c.PublicURL)
	}

	c = mustParse(t, "public_url: https://drops.example.com\n"+base, nil)
	if err := c.ApplyEnv(envOf(map[string]string{"DROPWIRE_LISTEN": ":9999"})); err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://drops.example.com" {
		t.Errorf("explicit public_url moved: %q", c.PublicURL)
	}
}

func TestApplyEnvProblems(t *testing.T) {
	c := mustParse(t, base, nil)
	err := c.ApplyEnv(envOf(map[string]string{
		"DROPWIRE_PUBLIC_URL":  "drops.example.com",
		"DROPWIRE_ADMIN_TOKEN": "short-SECRET",
		"DROPWIRE_LOG_LEVEL":   "chatty",
	}))
	ps := problems(t, err)
	want := []Problem{
		{File: "$DROPWIRE_ADMIN_TOKEN", Path: "admin_token", Msg: "is too short: use at least 16 characters"},
		{File: "$DROPWIRE_LOG_LEVEL", Path: "log_level", Msg: `unknown level "chatty": use one of trace, debug, info, warn, error, fatal, panic, disabled`},
		{File: "$DROPWIRE_PUBLIC_URL", Path: "public_url", Msg: "must be an absolute http(s) URL"},
	}
	if len(ps) != len(want) {
		t.Fatalf("problems:\n%v", err)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("problem %d = %+v, want %+v", i, ps[i], want[i])
		}
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error leaks the admin token: %v", err)
	}
}

func TestSetOriginLocatesFlagProblems(t *testing.T) {
	c := mustParse(t, "listen: \":9000\"\n"+base, nil)
	c.SetListen("nope", "--listen")
	ps := problems(t, c.Validate())
	if len(ps) != 1 || ps[0].String() != "--listen: listen: must be host:port, e.g. \":8080\" or \"127.0.0.1:8080\"" {
		t.Errorf("problems = %v", ps)
	}
	c.SetListen(":7000", "--listen")
	c.SetPublicURL("https://x.example/", "--public-url")
	c.SetListen(":7001", "--listen")
	if c.PublicURL != "https://x.example" {
		t.Errorf("public_url = %q", c.PublicURL)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestEnvVars(t *testing.T) {
	if got := len(EnvVars()); got != 9 {
		t.Errorf("EnvVars() has %d names", got)
	}
}

// DROPWIRE_REDIS_WAIT_REPLICAS sets a number: read as one, refused (naming
// the variable) when it is not one or out of range.
func TestApplyEnvWaitReplicas(t *testing.T) {
	c := mustParse(t, "redis_url: redis://127.0.0.1:6379/0\n"+base, nil)
	if err := c.ApplyEnv(envOf(map[string]string{"DROPWIRE_REDIS_WAIT_REPLICAS": "2"})); err != nil {
		t.Fatal(err)
	}
	if c.RedisWaitReplicas != 2 || c.RedisWaitTimeout.D() != DefaultRedisWaitTimeout {
		t.Errorf("redis_wait_replicas %d, redis_wait_timeout %s", c.RedisWaitReplicas, c.RedisWaitTimeout.D())
	}
	for v, msg := range map[string]string{
		"two": `must be a whole number, not "two"`,
		"99":  "must be between 0 (no wait) and 16",
	} {
		c := mustParse(t, "redis_url: redis://127.0.0.1:6379/0\n"+base, nil)
		ps := problems(t, c.ApplyEnv(envOf(map[string]string{"DROPWIRE_REDIS_WAIT_REPLICAS": v})))
		want := Problem{File: "$DROPWIRE_REDIS_WAIT_REPLICAS", Path: "redis_wait_replicas", Msg: msg}
		if len(ps) != 1 || ps[0] != want {
			t.Errorf("%s: problems %v, want %+v", v, ps, want)
		}
	}
}
