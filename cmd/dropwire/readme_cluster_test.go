package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The README's Redis Cluster examples are settings an operator can paste:
// each, added to a valid file, passes check-config.
func TestReadmeClusterExamplesPassCheckConfig(t *testing.T) {
	examples := readmeYAML(t, "### Running on Redis Cluster")
	if len(examples) != 2 {
		t.Fatalf("%d YAML examples in the section, want the URL and the seed list", len(examples))
	}
	dir := t.TempDir()
	ca, err := os.ReadFile(storetest.NewTLSFiles(t).CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "redis-ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	const rest = `creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
nodes:
  - id: shop
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
drops:
  - id: spring
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
`
	for i, ex := range examples {
		file := filepath.Join(dir, "dropwire.yaml")
		if err := os.WriteFile(file, []byte(ex+rest), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(k string) (string, bool) {
			return "redis-password-0123", k == "REDIS_PASSWORD"
		}}
		if code := run(context.Background(), env, []string{"check-config", file}); code != 0 || !strings.Contains(out.String(), "ok") {
			t.Errorf("example %d:\n%s\ncheck-config: exit %d\n%s", i+1, ex, code, errb.String())
		}
	}
}
