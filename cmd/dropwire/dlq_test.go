package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// dlqServer runs the demo configuration on Redis with its node unreachable
// and a short retry horizon, so every claim is dead-lettered at once.
func dlqServer(t *testing.T) (*app.App, *httptest.Server, *config.Config) {
	t.Helper()
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	n := &cfg.Nodes[0]
	n.URL = closedURL(t) + "/hook"
	n.RetryBase, n.RetryMax = config.Duration(10*time.Millisecond), config.Duration(50*time.Millisecond)
	n.RetryHorizon, n.BreakerFailures = config.Duration(150*time.Millisecond), 1000
	cfg.ForwardTick, cfg.SLATick = config.Duration(20*time.Millisecond), config.Duration(20*time.Millisecond)
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: storetest.Redis(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Server().Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = a.Shutdown(context.Background())
	})
	return a, srv, cfg
}

// adminDo calls the admin API with a JSON or text body.
func adminDo(t *testing.T, srv *httptest.Server, token, method, path, contentType, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// claimOf writes a claim of drop and its outbox entry as verifier.Claims
// does, and returns its id.
func claimOf(t *testing.T, st store.Store, drop string) string {
	t.Helper()
	var b [10]byte
	_, _ = rand.Read(b[:])
	id := drop + "." + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
	ctx := context.Background()
	ms := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := st.HSet(ctx, store.DropKey(drop, "claim", id), map[string]string{"id": id, "drop": drop, "state": "claimed",
		"node": config.DemoNode, "sku": config.DemoSKU, "tier": "standard", "pickup_code": "P" + ms[len(ms)-7:],
		"pickup_by": ms, "created_at": ms}); err != nil {
		t.Fatal(err)
	}
	// As a claim does: its drop joins the backlog the forwarders go over.
	if err := verifier.NewBacklog(st, nil).Touch(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OutboxAdd(ctx, store.DropKey(drop, "outbox"), map[string]string{"type": "claim.created",
		"claim": id, "event": id + ".created", "node": config.DemoNode, "drop": drop}); err != nil {
		t.Fatal(err)
	}
	return id
}

// `dropwire dlq` against a running server: it lists the dead letters of
// drops created through the admin API (the file's drops only were seen
// before), replays one, and leaves a settled claim with a line and the
// documented exit status.
func TestDLQCommandAgainstServer(t *testing.T) {
	a, srv, cfg := dlqServer(t)
	tok := cfg.AdminToken
	st := a.Store()
	ctx := context.Background()
	for _, d := range []struct{ id, comp string }{{"promo", "none"}, {"coded", "code"}} {
		spec := fmt.Sprintf(`{"id":%q,"creator":"demo","stock":[{"node":"demo-locker","sku":"sticker-pack","qty":5}],"compensation":{"kind":%q}}`, d.id, d.comp)
		if code := adminDo(t, srv, tok, "POST", "/v1/admin/drops", "application/json", spec); code != 201 {
			t.Fatalf("create %s: %d", d.id, code)
		}
	}
	if code := adminDo(t, srv, tok, "PUT", "/v1/admin/drops/coded/compensation-codes", "text/plain", "COMP-1\n"); code != 200 {
		t.Fatalf("upload: %d", code)
	}
	live := claimOf(t, st, "promo")  // forward_failed: replayable
	done := claimOf(t, st, "coded")  // compensated: settled
	other := claimOf(t, st, "promo") // replayed by --all
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	state := func(drop, id string) string {
		s, _ := st.HGet(ctx, store.DropKey(drop, "claim", id), "state")
		return s
	}
	waitFor("three dead letters", func() bool {
		return state("promo", live) == "forward_failed" && state("promo", other) == "forward_failed" &&
			state("coded", done) == "compensated"
	})

	cmd := func(env map[string]string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		e := &environ{stdout: &out, stderr: &errb, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
		code := run(ctx, e, append([]string{"dlq"}, args...))
		return out.String(), errb.String(), code
	}
	flags := []string{"--url", srv.URL, "--admin-token", tok}

	out, errOut, code := cmd(nil, append([]string{"list"}, flags...)...)
	if code != 0 {
		t.Fatalf("list: %d %q", code, errOut)
	}
	for _, w := range []string{"ID", "DROP", "NODE", "REASON", "ATTEMPTS", "LAST ERROR", "DEAD SINCE",
		live + ".created", done + ".created", other + ".created", "promo", "coded", "horizon", "connection refused"} {
		if !strings.Contains(out, w) {
			t.Errorf("list lacks %q:\n%s", w, out)
		}
	}
	// The token from the environment; JSON as the API returns it.
	out, errOut, code = cmd(map[string]string{"DROPWIRE_ADMIN_TOKEN": tok}, "list", "--url", srv.URL, "--json")
	var dls []map[string]any
	if err := json.Unmarshal([]byte(out), &dls); code != 0 || err != nil || len(dls) != 3 {
		t.Fatalf("list --json: %d %v %q %q", code, err, out, errOut)
	}

	// A settled claim alone: a line, nothing sent, exit 1.
	out, _, code = cmd(nil, append([]string{"replay", done + ".created"}, flags...)...)
	if code != 1 || !strings.Contains(out, "left "+done+".created: claim "+done+" is compensated") {
		t.Fatalf("replay of a settled claim: %d %q", code, out)
	}
	// With one that can be replayed: both lines, exit 0.
	out, errOut, code = cmd(nil, "replay", live+".created", "--url", srv.URL, done+".created", "--admin-token", tok)
	if code != 0 || !strings.Contains(out, "replayed "+live+".created") || !strings.Contains(out, "left "+done+".created") {
		t.Fatalf("replay: %d %q %q", code, out, errOut)
	}
	if hist, _ := st.HGetAll(ctx, store.DropKey("promo", "claim", live)); hist["state"] != "forwarded" && hist["state"] != "forward_failed" {
		t.Fatalf("replayed claim %v", hist)
	}
	out, errOut, code = cmd(nil, append([]string{"replay", "--all"}, flags...)...)
	if code != 0 || !strings.Contains(out, "left "+done+".created: its claim has settled") ||
		!strings.Contains(out, "replayed ") || strings.Contains(out, "replayed 0") {
		t.Fatalf("replay --all: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := cmd(nil, append([]string{"replay", "promo.aaaaaaaaaaaaaaaa.created"}, flags...)...); code != 1 ||
		!strings.Contains(errOut, "no dead letter promo.aaaaaaaaaaaaaaaa.created") {
		t.Fatalf("replay unknown: %d %q", code, errOut)
	}

	// The URL and the token from a configuration file.
	file := filepath.Join(t.TempDir(), "dropwire.yaml")
	yaml := fmt.Sprintf("public_url: %q\nadmin_token: %q\ncreators:\n  - id: ava\n    overlay_keys: [\"ava-overlay-key-0001\"]\n", srv.URL, tok)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cmd(nil, "list", "--config", file); code != 0 || !strings.Contains(out, done+".created") {
		t.Fatalf("list --config: %d %q %q", code, out, errOut)
	}
}

// The mistakes an operator makes get a message that says what to fix,
// never the token.
func TestDLQCommandErrors(t *testing.T) {
	_, srv, _ := dlqServer(t)
	cmd := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		e := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
		code := run(context.Background(), e, append([]string{"dlq"}, args...))
		return out.String(), errb.String(), code
	}
	const wrong = "wrong-token-0123456789"
	out, errOut, code := cmd("list", "--url", srv.URL, "--admin-token", wrong)
	if code != 1 || !strings.Contains(errOut, "refused the admin token") || strings.Contains(out+errOut, wrong) {
		t.Fatalf("wrong token: %d %q %q", code, out, errOut)
	}
	down := closedURL(t)
	if _, errOut, code := cmd("list", "--url", down, "--admin-token", wrong); code != 1 ||
		!strings.Contains(errOut, "cannot reach the server at "+down+": connection refused") {
		t.Fatalf("server down: %d %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--url", srv.URL}, "dlq needs the admin token"},
		{[]string{"replay", "--url", srv.URL, "--admin-token", wrong}, "replay needs dead letter ids or --all"},
		{[]string{"replay", "x.created", "--all", "--admin-token", wrong}, "replay needs dead letter ids or --all"},
		{[]string{"list", "x", "--admin-token", wrong}, "list takes no id"},
		{[]string{"frob", "--admin-token", wrong}, "unknown dlq command"},
		{[]string{"list", "--redis-url", "redis://127.0.0.1:6379"}, "dlq no longer reads Redis"},
		{[]string{"list", "--url", "127.0.0.1:8080", "--admin-token", wrong}, "is not an http(s) URL"},
	} {
		if _, errOut, code := cmd(tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: %d %q, want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, errOut, code := cmd("--help"); code != 0 || !strings.Contains(errOut, "Exit status") {
		t.Fatalf("--help: %d %q", code, errOut)
	}
}
