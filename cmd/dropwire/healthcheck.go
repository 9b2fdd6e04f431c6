package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// runHealthcheck probes a running Dropwire; container images without a
// shell use it as their HEALTHCHECK.
func runHealthcheck(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "healthcheck", "healthcheck [--url URL]")
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "URL to probe")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
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
