package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// The README's configuration example is a file an operator can start
// from: with its variables set and its codes file beside it, check-config
// accepts it.
func TestReadmeConfigExamplePassesCheckConfig(t *testing.T) {
	examples := readmeYAML(t, "## Configuration reference")
	if len(examples) == 0 {
		t.Fatal("the Configuration reference has no YAML example")
	}
	example := examples[0]

	dir := t.TempDir()
	file := filepath.Join(dir, "dropwire.yaml")
	if err := os.WriteFile(file, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comp-codes.txt"), []byte("SORRY-0001\nSORRY-0002\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, public := stdwebhooks.NewKeyPair()
	vars := map[string]string{
		"REDIS_URL":               "redis://127.0.0.1:6379/0",
		"DROPWIRE_ADMIN_TOKEN":    "admin-token-0123456789",
		"AVA_OVERLAY_KEY":         "ava-overlay-key-0123456789",
		"CAPTURE_SECRET":          stdwebhooks.NewSecret(),
		"CAPTURE_PUBLIC_KEY":      public,
		"STREAM_TOOL_SECRET":      "stream-tool-hs256-secret-0123456789",
		"TWITCH_SECRET":           "twitch-secret-0123456789",
		"CORNER_BOOKS_SECRET":     stdwebhooks.NewSecret(),
		"POPUP_CONSOLE_KEY":       "popup-console-key-0123456789",
		"AVA_COMPENSATION_SECRET": stdwebhooks.NewSecret(),
	}
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	if code := run(context.Background(), env, []string{"check-config", file}); code != 0 {
		t.Fatalf("check-config of the README's example: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "ok: 1 creator, 3 sources, 2 nodes, 2 drops, 2 tiers, 1 campaign\n") {
		t.Errorf("check-config said %q", out.String())
	}
}
