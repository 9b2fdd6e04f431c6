package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without --url the health check probes the port the configuration
// listens on, with DROPWIRE_LISTEN over the file as serve applies it.
func TestHealthcheckFollowsTheConfiguredPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()

	dir := t.TempDir()
	config := func(listen string) string {
		file := filepath.Join(dir, listen[1:]+".yaml")
		body := "listen: \"" + listen + "\"\ncreators:\n  - id: ava\n    overlay_keys: [\"ava-overlay-key-0001\"]\n"
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"the file's port", []string{"--config", config(":" + port)}, nil, true},
		{"the file's port, file from DROPWIRE_CONFIG", nil, map[string]string{"DROPWIRE_CONFIG": config("0.0.0.0:" + port)}, true},
		{"a file listening on another port", []string{"--config", config(":" + closedPort)}, nil, false},
		{"DROPWIRE_LISTEN over the file", []string{"--config", config(":" + closedPort)}, map[string]string{"DROPWIRE_LISTEN": ":" + port}, true},
		{"DROPWIRE_LISTEN without a file", nil, map[string]string{"DROPWIRE_LISTEN": "127.0.0.1:" + port}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			code := run(context.Background(), env, append([]string{"healthcheck"}, tc.args...))
			if (code == 0) != tc.ok {
				t.Errorf("exit %d (%s), want success %v", code, errb.String(), tc.ok)
			}
		})
	}
}

func TestLocalHostPort(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:80": "127.0.0.1:80", "[::]:8080": "[::1]:8080",
		"10.1.2.3:9000": "10.1.2.3:9000", "localhost:8080": "localhost:8080",
	} {
		if got := localHostPort(in); got != want {
			t.Errorf("localHostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// The image's health check follows the configuration, and no ENV in the
// image overrides a setting of the file without the operator seeing it.
func TestDockerfileLeavesSettingsToTheFile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var env, health []string
	lines := strings.Split(strings.ReplaceAll(string(data), "\\\n", " "), "\n")
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "ENV":
			env = append(env, f[1:]...)
		case len(f) > 0 && f[0] == "HEALTHCHECK":
			health = append(health, line)
		}
	}
	for _, e := range env {
		if name, _, _ := strings.Cut(e, "="); strings.HasPrefix(name, "DROPWIRE_") && name != "DROPWIRE_CONFIG" {
			t.Errorf("the image sets %s, which silently overrides the configuration file", name)
		}
	}
	if len(health) != 1 || strings.Contains(health[0], "--url") || strings.Contains(health[0], ":8080") {
		t.Errorf("HEALTHCHECK %q: want one that probes the configured port (dropwire healthcheck without --url)", health)
	}
}
