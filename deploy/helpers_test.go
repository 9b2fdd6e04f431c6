// Package deploy_test checks the deployment example in this directory
// against the code: the configuration passes check-config's validation,
// the compose file wires what the configuration expects, every metric the
// alerts and the dashboard use is in a real /metrics scrape, promtool and
// docker compose accept the files, and Caddy, configured as here, carries
// overlays, webhooks and claims to several replicas.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
)

// envExample reads .env.example: NAME=value lines, comments and blanks
// skipped, as docker compose reads an env file.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example:%d: not NAME=value: %q", n, line)
		}
		env[k] = v
	}
	return env
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// loadConfig reads dropwire.yaml with the variables of env the way
// `dropwire check-config` does: parse and validate, the DROPWIRE_*
// overrides, then the files it names.
func loadConfig(t *testing.T, env map[string]string) (*config.Config, error) {
	t.Helper()
	data, err := os.ReadFile("dropwire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("dropwire.yaml", data, lookupIn(env))
	if err == nil {
		err = cfg.ApplyEnv(lookupIn(env))
	}
	if err == nil {
		err = cfg.CheckFiles()
	}
	return cfg, err
}

// syncBuffer collects a replica's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(s.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// replica is one Dropwire process of the example, in this test process.
type replica struct {
	app     *app.App
	url     string // http://127.0.0.1:port
	addr    string // 127.0.0.1:port
	metrics string // base URL of its metrics_listen
	log     *syncBuffer
}

// startReplicas runs n replicas of deploy/dropwire.yaml (with the values
// of .env.example) on loopback, sharing one Redis key prefix as the
// compose replicas share one Redis. edit changes each replica's
// configuration before it starts (addresses that are container names in
// the example become loopback ones).
func startReplicas(t *testing.T, n int, edit func(*config.Config)) []*replica {
	t.Helper()
	prefix := storetest.Prefix(t)
	var out []*replica
	for range n {
		cfg, err := loadConfig(t, envExample(t))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{addr: ln.Addr().String(), log: &syncBuffer{}}
		r.url = "http://" + r.addr
		cfg.PublicURL = r.url
		if edit != nil {
			edit(cfg)
		}
		a, err := app.New(app.Options{Config: cfg, Store: storetest.RedisWithPrefix(t, prefix),
			Logger: zerolog.New(r.log).Level(zerolog.DebugLevel)})
		if err != nil {
			t.Fatal(err)
		}
		r.app = a
		r.metrics = r.url
		if cfg.MetricsListen != "" {
			// As serve does: /metrics on a listener of its own.
			ops := httptest.NewServer(a.Server().OpsHandler())
			t.Cleanup(ops.Close)
			r.metrics = ops.URL
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- a.Serve(ctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		out = append(out, r)
	}
	return out
}

// postEvent sends a signed capture webhook of the example's source through
// base; sign false sends it with a wrong signature.
func postEvent(t *testing.T, c *http.Client, base string, cfg *config.Config, id string, event map[string]any, sign bool) int {
	t.Helper()
	src := cfg.Sources[0]
	body, _ := json.Marshal(event)
	h, err := sdkhooks.SignRequest(src, id, time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	if !sign {
		h.Set("webhook-signature", "v1,"+strings.Repeat("A", 43)+"=")
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/hooks/"+src.ID, bytes.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// trigger opens the example's drop.
func trigger(t *testing.T, c *http.Client, base string, cfg *config.Config, id string) {
	t.Helper()
	ev := map[string]any{"type": "drop.trigger", "drop": cfg.Drops[0].ID, "moment": "m-" + id,
		"occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}
	if code := postEvent(t, c, base, cfg, id, ev, true); code != http.StatusAccepted {
		t.Fatalf("trigger through %s: %d", base, code)
	}
}

// overlayClient is an OBS overlay of the example's creator.
type overlayClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialOverlay(t *testing.T, d *websocket.Dialer, base string, cfg *config.Config) *overlayClient {
	t.Helper()
	cr := cfg.Creators[0]
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/overlay/" + cr.ID + "/ws?key=" + url.QueryEscape(cr.OverlayKeys[0])
	ws, res, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("overlay through %s: %v %v", base, err, res)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &overlayClient{t: t, ws: ws}
}

// until reads states until ok accepts one.
func (c *overlayClient) until(what string, ok func(overlay.State) bool) overlay.State {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("overlay: waiting for %s: %v", what, err)
		}
		var s overlay.State
		if err := json.Unmarshal(b, &s); err != nil {
			c.t.Fatalf("bad frame %q: %v", b, err)
		}
		if s.Type == "state" && ok(s) {
			return s
		}
	}
}

func isOpen(s overlay.State) bool {
	return s.Status == overlay.StatusOpen && s.QR != nil && s.QR.Modules != ""
}

// claimURL reads what an open state's QR encodes, as a phone's camera does.
func claimURL(t *testing.T, s overlay.State) string {
	t.Helper()
	u, err := s.QR.Text()
	if err != nil {
		t.Fatalf("the overlay's QR does not read: %v", err)
	}
	return u
}

// claim claims the code of claimURL through base as a phone does (the
// claim page for the device cookie, then the claim), at node when set.
// It returns the claim id.
func claim(t *testing.T, c *http.Client, base, claimURL, node string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar, Transport: c.Transport}
	u, err := url.Parse(claimURL)
	if err != nil {
		t.Fatal(err)
	}
	res, err := phone.Get(base + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	body, _ := json.Marshal(map[string]string{"code": strings.TrimPrefix(u.Path, "/c/"), "node": node})
	res, err = phone.Post(base+"/v1/claims", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		ClaimID string `json:"claim_id"`
		Code    string `json:"code"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("claim at %q through %s: %d %s", node, base, res.StatusCode, out.Code)
	}
	return out.ClaimID
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// caddyEnv is the environment for a caddy command: its data and
// configuration under the test's temporary directory, not the user's home.
func caddyEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "HOME" && k != "XDG_DATA_HOME" && k != "XDG_CONFIG_HOME" && k != "SITE_ADDRESS" {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "XDG_DATA_HOME="+home+"/data", "XDG_CONFIG_HOME="+home+"/config")
}
