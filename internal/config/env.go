package config

import "strings"

// envOverride is one DROPWIRE_* variable and the setting it overrides.
type envOverride struct {
	name, path string
	field      func(*Config) *string
}

var envOverrides = []envOverride{
	{"DROPWIRE_LISTEN", "listen", func(c *Config) *string { return &c.Listen }},
	{"DROPWIRE_PUBLIC_URL", "public_url", func(c *Config) *string { return &c.PublicURL }},
	{"DROPWIRE_REDIS_URL", "redis_url", func(c *Config) *string { return &c.RedisURL }},
	{"DROPWIRE_KEY_PREFIX", "key_prefix", func(c *Config) *string { return &c.KeyPrefix }},
	{"DROPWIRE_ADMIN_TOKEN", "admin_token", func(c *Config) *string { return &c.AdminToken }},
	{"DROPWIRE_LOG_LEVEL", "log_level", func(c *Config) *string { return &c.LogLevel }},
	{"DROPWIRE_LOG_FORMAT", "log_format", func(c *Config) *string { return &c.LogFormat }},
	{"DROPWIRE_METRICS_LISTEN", "metrics_listen", func(c *Config) *string { return &c.MetricsListen }},
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
// DROPWIRE_ADMIN_TOKEN, DROPWIRE_LOG_LEVEL and DROPWIRE_LOG_FORMAT, read
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
	for _, o := range envOverrides {
		v, ok := env(o.name)
		if !ok || v == "" {
			continue
		}
		*o.field(c) = v
		c.SetOrigin(o.path, "$"+o.name)
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
	k := &checker{c: c}
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
