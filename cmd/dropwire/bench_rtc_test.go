package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
)

const rtcBenchConfig = `listen: "127.0.0.1:0"
rtc_loopback: true
creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
sources:
  - id: cap
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    webrtc: true
    rate: 10000
  - id: hooks
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
nodes:
  - id: shop
    secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
drops:
  - id: pack
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
`

func rtcCmdEnv(t *testing.T) (*environ, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	return &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}, &out, &errb
}

func rtcWriteConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dropwire.yaml")
	if err := os.WriteFile(p, []byte(rtcBenchConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunToken(t *testing.T) {
	path := rtcWriteConfig(t)
	env, out, errb := rtcCmdEnv(t)
	if err := runToken(context.Background(), env, []string{"--config", path, "--source", "cap", "--ttl", "10m"}); err != nil {
		t.Fatalf("%v: %s", err, errb)
	}
	if tok := strings.TrimSpace(out.String()); strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %q", tok)
	}
	env, _, _ = rtcCmdEnv(t)
	if err := runToken(context.Background(), env, []string{"--config", path, "--source", "hooks"}); err == nil || !strings.Contains(err.Error(), "webrtc: false") {
		t.Fatalf("webhook-only source: %v", err)
	}
	env, _, _ = rtcCmdEnv(t)
	if err := runToken(context.Background(), env, []string{"--config", path}); err != errUsage {
		t.Fatalf("no source: %v", err)
	}
}

// The bench opens peers against a real in-process server, sends events and
// reports setup and ack latency.
func TestRunBenchRTC(t *testing.T) {
	path := rtcWriteConfig(t)
	env, out, errb := rtcCmdEnv(t)
	cfg, err := loadConfig(env, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Server().Handler())
	t.Cleanup(func() { ts.Close(); _ = a.Shutdown(context.Background()) })

	err = runBenchRTC(context.Background(), env, []string{"--config", path, "--url", ts.URL, "--source", "cap", "--drop", "pack",
		"--peers", "3", "--rate", "200", "--duration", "300ms"})
	if err != nil {
		t.Fatalf("%v: %s", err, errb)
	}
	for _, want := range []string{"peers: 3 of 3 open", "peer setup: n=3", "event → ack: n=", "server per peer:", "accepted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	t.Log(out.String())

	// The same events as webhooks too, in alternating rounds.
	env, out, errb = rtcCmdEnv(t)
	err = runBenchRTC(context.Background(), env, []string{"--config", path, "--url", ts.URL, "--source", "cap", "--drop", "pack",
		"--peers", "2", "--rate", "200", "--duration", "200ms", "--webhook", "--rounds", "2"})
	if err != nil {
		t.Fatalf("%v: %s", err, errb)
	}
	for _, want := range []string{"round 1: event → ack: n=40", "round 1: webhook → response: n=40", "round 2: webhook → response: n=40",
		"round 2: event → ack: n=40", "events: 80 acked map[accepted:80]", "webhooks: 80 answered map[202:80]", "p99 data channel / webhook: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
