package config

import (
	"strconv"
	"strings"
)

// envOverride is one DROPWIRE_* variable and the setting it overrides.
type envOverride struct {
	name, path string
	field      func(*Config) *string
	number     func(*Config) *int // a whole-number setting, instead of field
}

var envOverrides = []envOverride{
	{name: "DROPWIRE_LISTEN", path: "listen", field: func(c *Config) *string { return &c.Listen }},
	{name: "DROPWIRE_PUBLIC_URL", path: "public_url", field: func(c *Config) *string { return &c.PublicURL }},
	{name: "DROPWIRE_REDIS_URL", path: "redis_url", field: func(c *Config) *string { return &c.RedisURL }},
	{name: "DROPWIRE_KEY_PREFIX", path: "key_prefix", field: func(c *Config) *string { return &c.KeyPrefix }},
	{name: "DROPWIRE_ADMIN_TOKEN", path: "admin_token", field: func(c *Config) *string { return &c.AdminToken }},
	{name: "DROPWIRE_LOG_LEVEL", path: "log_level", field: func(c *Config) *string { return &c.LogLevel }},
	{name: "DROPWIRE_LOG_FORMAT", path: "log_format", field: func(c *Config) *string { return &c.LogFormat }},
	{name: "DROPWIRE_METRICS_LISTEN", path: "metrics_listen", field: func(c *Config) *string { return &c.MetricsListen }},
	{name: "DROPWIRE_REDIS_WAIT_REPLICAS", path: "redis_wait_replicas", number: func(c *Config) *int { return &c.RedisWaitReplicas }},
}

// EnvVars lists the DROPWIRE_* variables ApplyEnv reads, for help texts.
func EnvVars() []string {
	names := make([]string, len(envOverrides))
	for i, o := range envOverrides {
		names[i] = o.name
	}
	return names
}

// ApplyEnv overrides process settings from DROPWIRE_LISTEN,
// DROPWIRE_PUBLIC_URL, DROPWIRE_REDIS_URL, DROPWIRE_KEY_PREFIX,
// DROPWIRE_ADMIN_TOKEN, DROPWIRE_LOG_LEVEL, DROPWIRE_LOG_FORMAT,
// DROPWIRE_METRICS_LISTEN and DROPWIRE_REDIS_WAIT_REPLICAS, read
// through env (os.LookupEnv in production). A variable that is unset or
// empty changes nothing. The environment overrides the file; the command
// applies its flags afterwards, so flags win.
//
// A public_url that was derived from listen follows an overridden listen.
// ApplyEnv then checks the process settings and returns an *Error whose
// problems name the variable, e.g. "$DROPWIRE_PUBLIC_URL: public_url: must
// be an absolute http(s) URL".
func (c *Config) ApplyEnv(env func(string) (string, bool)) error {
	if env == nil {
		return nil
	}
	var listen, publicURL bool
	k := &checker{c: c}
	for _, o := range envOverrides {
		v, ok := env(o.name)
		if !ok || v == "" {
			continue
		}
		c.SetOrigin(o.path, "$"+o.name)
		if o.number != nil {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				k.add(o.path, "must be a whole number, not %q", clip(v))
				continue
			}
			*o.number(c) = n
			continue
		}
		*o.field(c) = v
		if o.path == "redis_url" {
			c.SetRedisURL(v, "$"+o.name) // it names the Redis: a redis_cluster of the file goes
		}
		listen = listen || o.path == "listen"
		publicURL = publicURL || o.path == "public_url"
	}
	switch {
	case publicURL:
		c.derivedPublicURL = false
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	case listen && c.derivedPublicURL:
		c.PublicURL = publicURLFor(c.Listen)
		c.SetOrigin("public_url", "$DROPWIRE_LISTEN")
	}
	k.process()
	if len(k.problems) > 0 {
		sortProblems(k.problems)
		return &Error{Problems: k.problems}
	}
	return nil
}

// SetOrigin records that the setting at path (e.g. "listen") now comes from
// origin (e.g. "$DROPWIRE_LISTEN" or "--listen"), so that Validate reports a
// problem with it there instead of at a line of the file. The command calls
// it for each flag it applies.
func (c *Config) SetOrigin(path, origin string) {
	if c.pos == nil {
		c.pos = make(map[string]position)
	}
	c.pos[path] = position{file: origin, set: true}
}

// SetListen sets the listen address, moving a public_url that was derived
// from the old one along; for the command's --listen flag.
func (c *Config) SetListen(listen, origin string) {
	c.Listen = listen
	c.SetOrigin("listen", origin)
	if c.derivedPublicURL {
		c.PublicURL = publicURLFor(listen)
		c.SetOrigin("public_url", origin)
	}
}

// SetPublicURL sets the public base URL; for the command's --public-url
// flag. A later SetListen no longer moves it.
func (c *Config) SetPublicURL(u, origin string) {
	c.PublicURL = strings.TrimRight(u, "/")
	c.derivedPublicURL = false
	c.SetOrigin("public_url", origin)
}
