package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// runHealthcheck probes a running Dropwire; container images without a
// shell use it as their HEALTHCHECK. Without --url it probes the address
// the configuration listens on (the file's listen, DROPWIRE_LISTEN over
// it), so the health check follows the configured port.
func runHealthcheck(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "healthcheck", "healthcheck [--url URL | --config FILE]")
	url := fs.String("url", "", "URL to probe (default: /healthz on the configuration's listen address, else http://127.0.0.1:8080/healthz)")
	file := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file whose listen address to probe (env DROPWIRE_CONFIG)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *url == "" {
		listen := env.envDefault("DROPWIRE_LISTEN", ":8080")
		if *file != "" {
			cfg, err := loadConfig(env, *file)
			if err != nil {
				return err
			}
			listen = cfg.Listen
		}
		*url = "http://" + localHostPort(listen) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}

// localHostPort turns a listen address into one this machine can dial:
// ":8080" and "0.0.0.0:8080" are 127.0.0.1:8080, "[::]:8080" is [::1]:8080.
func localHostPort(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() == nil:
		host = "::1"
	case ip != nil && ip.IsUnspecified():
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
