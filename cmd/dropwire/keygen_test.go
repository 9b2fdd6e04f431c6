package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// keygen runs `dropwire keygen kind` in-process and returns its lines.
func keygen(t *testing.T, kind string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), env, []string{"keygen", kind}); code != 0 {
		t.Fatalf("keygen %s: exit %d: %s", kind, code, errb.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// Keys made by keygen are what the configuration and the signing paths
// take: check-config accepts a file made of them, a webhook signed with the
// whsec secret verifies, and a v1a signature made with the whsk_ half
// verifies against the whpk_ public key in the configuration.
func TestKeygenKeysAreAccepted(t *testing.T) {
	whsec := keygen(t, "whsec")
	if len(whsec) != 1 || !strings.HasPrefix(whsec[0], "whsec_") {
		t.Fatalf("keygen whsec = %q", whsec)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec[0], "whsec_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("whsec secret holds %d bytes (%v), want 32", len(raw), err)
	}
	pair := keygen(t, "whpk")
	if len(pair) != 2 || !strings.HasPrefix(pair[0], "signing_key: whsk_") || !strings.HasPrefix(pair[1], "public_key: whpk_") {
		t.Fatalf("keygen whpk = %q", pair)
	}
	signing, public := strings.TrimPrefix(pair[0], "signing_key: "), strings.TrimPrefix(pair[1], "public_key: ")
	tokens := map[string]string{}
	for _, kind := range []string{"overlay", "console", "admin"} {
		lines := keygen(t, kind)
		if len(lines) != 1 || len(lines[0]) < 16 || strings.ContainsAny(lines[0], "/+=&?# ") {
			t.Fatalf("keygen %s = %q: want one URL-safe key of at least 16 characters", kind, lines)
		}
		tokens[kind] = lines[0]
	}
	if again := keygen(t, "overlay")[0]; again == tokens["overlay"] {
		t.Fatalf("two overlay keys are the same: %q", again)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "dropwire.yaml")
	yaml := `admin_token: ` + tokens["admin"] + `
creators:
  - id: ava
    overlay_keys: ["` + tokens["overlay"] + `"]
sources:
  - id: capture
    scheme: standard
    secrets: ["` + whsec[0] + `"]
    public_keys: ["` + public + `"]
    creator: ava
nodes:
  - id: shop
    console_keys: ["` + tokens["console"] + `"]
drops:
  - id: spring
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), env, []string{"check-config", file}); code != 0 {
		t.Fatalf("check-config of keygen's keys: exit %d\n%s", code, errb.String())
	}

	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sdkhooks.NewStandard(cfg.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"drop.trigger","data":{}}`)
	now := time.Now()
	h, err := sdkhooks.SignRequest(cfg.Sources[0], "msg_keygen_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(h, body, now); err != nil {
		t.Errorf("a webhook signed with the whsec secret: %v", err)
	}

	priv, err := stdwebhooks.DecodeSigningKey(signing)
	if err != nil {
		t.Fatal(err)
	}
	v1a := http.Header{}
	v1a.Set(stdwebhooks.HeaderID, "msg_keygen_2")
	v1a.Set(stdwebhooks.HeaderTimestamp, h.Get(stdwebhooks.HeaderTimestamp))
	v1a.Set(stdwebhooks.HeaderSignature, stdwebhooks.SignEd25519(priv, "msg_keygen_2", now, body))
	if _, err := v.Verify(v1a, body, now); err != nil {
		t.Errorf("a v1a signature made with the signing key: %v", err)
	}
	// The same signature over another body must not verify, or the check
	// above proves nothing.
	if _, err := v.Verify(v1a, []byte(`{"type":"drop.trigger","data":{"x":1}}`), now); err == nil {
		t.Error("a v1a signature verified over a body it was not made for")
	}
}

func TestKeygenRefusesUnknownKinds(t *testing.T) {
	for _, args := range [][]string{{"keygen"}, {"keygen", "rsa"}, {"keygen", "whsec", "whpk"}} {
		var out, errb bytes.Buffer
		env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
		if code := run(context.Background(), env, args); code != 2 || out.Len() != 0 || !strings.Contains(errb.String(), "whsec") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q: want 2, nothing printed, the kinds listed", args, code, out.String(), errb.String())
		}
	}
}
