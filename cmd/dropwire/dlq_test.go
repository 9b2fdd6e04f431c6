package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/fulfillment"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func TestDLQCommand(t *testing.T) {
	prefix := storetest.Prefix(t)
	st := storetest.RedisWithPrefix(t, prefix)
	cfg := filepath.Join(t.TempDir(), "dw.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`redis_url: %q
key_prefix: %q
creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
nodes:
  - id: shop
    url: "http://127.0.0.1:9/hook"
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
drops:
  - id: spring
    creator: ava
    stock:
      - {node: shop, sku: sticker, qty: 10}
`, storetest.URL(), prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	claim := "spring.aaaaaaaaaaaaaaaa"
	dl := fulfillment.DeadLetter{ID: claim + ".created", Drop: "spring", Node: "shop", Type: "claim.created", Claim: claim,
		Reason: "horizon", Last: "HTTP 500", Attempts: 7, At: time.Now().UTC(),
		Fields: map[string]string{"type": "claim.created", "claim": claim, "event": claim + ".created", "node": "shop", "drop": "spring"}}
	b, _ := json.Marshal(dl)
	ctx := context.Background()
	if err := st.HSet(ctx, store.DropKey("spring", "dlq"), map[string]string{dl.ID: string(b)}); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
		// As run maps errors (the command is called directly: main.go's
		// table is not this file's).
		code := 0
		var ee *exitError
		switch err := runDLQ(ctx, env, args); {
		case err == nil:
		case errors.Is(err, errUsage):
			code = 2
		case errors.As(err, &ee):
			code = ee.code
			fmt.Fprintln(&errb, "dropwire dlq:", ee.err)
		default:
			code = 1
			fmt.Fprintln(&errb, "dropwire dlq:", err)
		}
		return out.String(), errb.String(), code
	}
	if out, errOut, code := cmd("list", "--config", cfg); code != 0 || !strings.Contains(out, dl.ID) || !strings.Contains(out, "horizon") {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := cmd("replay", "--config", cfg); code != 2 || !strings.Contains(errOut, "needs a dead letter id") {
		t.Fatalf("replay without id: %d %q", code, errOut)
	}
	if _, errOut, code := cmd("replay", "spring.bbbbbbbbbbbbbbbb.created", "--config", cfg); code != 1 || !strings.Contains(errOut, "no dead letter") {
		t.Fatalf("replay unknown: %d %q", code, errOut)
	}
	if out, errOut, code := cmd("replay", dl.ID, "--config", cfg); code != 0 || !strings.Contains(out, "replayed "+dl.ID) {
		t.Fatalf("replay: %d %q %q", code, out, errOut)
	}
	if n, err := st.OutboxLen(ctx, store.DropKey("spring", "outbox")); err != nil || n != 1 {
		t.Fatalf("outbox after replay: %d %v", n, err)
	}
	if out, _, code := cmd("list", "--config", cfg, "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after replay: %d %q", code, out)
	}
	if out, _, code := cmd("replay", "--all", "--config", cfg); code != 0 || out != "replayed 0\n" {
		t.Fatalf("replay --all: %d %q", code, out)
	}
	if _, errOut, code := cmd("frob", "--config", cfg); code != 2 || !strings.Contains(errOut, "unknown dlq command") {
		t.Fatalf("unknown sub: %d %q", code, errOut)
	}
}
