package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadValid(t *testing.T) {
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
	c, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File != "testdata/valid.yaml" {
		t.Errorf("File = %q", c.File)
	}
	if c.AdminToken != testEnv["DROPWIRE_ADMIN_TOKEN"] {
		t.Errorf("admin_token not expanded from the environment")
	}
	cr, ok := c.Creator("ava")
	if !ok || !reflect.DeepEqual(cr.OverlayKeys, []string{"ava-overlay-key-0001"}) {
		t.Errorf("Creator(ava) = %+v, %v", cr, ok)
	}
	s, ok := c.Source("capture-vendor")
	if !ok || s.Scheme != SchemeStandard || !s.WebRTC || s.Tolerance.D() != 5*time.Minute || s.Rate != 50 || s.Burst != 100 {
		t.Errorf("Source(capture-vendor) = %+v, %v", s, ok)
	}
	if s, _ := c.Source("stream-tool"); !reflect.DeepEqual(s.Algorithms, []string{"HS256", "ES256"}) {
		t.Errorf("stream-tool algorithms = %v", s.Algorithms)
	}
	tw, _ := c.Source("twitch")
	if tw.Tolerance.D() != 10*time.Minute || len(tw.Triggers) != 1 || tw.Triggers[0].Match["reward.title"] != "Sticker drop" {
		t.Errorf("twitch source = %+v", tw)
	}
	n, ok := c.Node("corner-books")
	if !ok || n.PickupSLA.D() != 4*time.Hour || n.URL != "https://node.example/dropwire" {
		t.Errorf("Node(corner-books) = %+v, %v", n, ok)
	}
	d, ok := c.Drop("sticker-spring")
	wantDrop := &Drop{
		ID: "sticker-spring", Creator: "ava", Title: "Spring sticker pack",
		Window: Duration(2 * time.Hour), QRRotate: Duration(20 * time.Second), ScanGrace: Duration(40 * time.Second),
		Quorum: 1, QuorumWindow: Duration(10 * time.Second), PerViewer: 1, Identity: IdentityDevice,
		Stock:        []StockLine{{Node: "corner-books", SKU: "sticker-pack", Tier: "standard", Qty: 500}},
		Compensation: Compensation{Kind: CompensationCode, CodesFile: "comp-codes.txt"},
	}
	if !ok || !reflect.DeepEqual(d, wantDrop) {
		t.Errorf("Drop(sticker-spring) = %+v, want %+v", d, wantDrop)
	}
	if got := c.ResolvePath(d.Compensation.CodesFile); got != filepath.Join("testdata", "comp-codes.txt") {
		t.Errorf("ResolvePath = %q", got)
	}
	if _, ok := c.Drop("nope"); ok {
		t.Error("Drop(nope) found")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, base, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, ":8080"},
		{"public_url", c.PublicURL, "http://localhost:8080"},
		{"redis_url", c.RedisURL, ""},
		{"key_prefix", c.KeyPrefix, "dw:"},
		{"log_level", c.LogLevel, "info"},
		{"log_format", c.LogFormat, ""},
		{"max_body", c.MaxBody, int64(65536)},
		{"dedupe_ttl", c.DedupeTTL.D(), 72 * time.Hour},
		{"shutdown_timeout", c.ShutdownTimeout.D(), 10 * time.Second},
		{"tolerance", c.Sources[0].Tolerance.D(), 5 * time.Minute},
		{"rate", c.Sources[0].Rate, 50},
		{"burst", c.Sources[0].Burst, 100},
		{"pickup_sla", c.Nodes[0].PickupSLA.D(), 4 * time.Hour},
		{"window", c.Drops[0].Window.D(), 2 * time.Hour},
		{"qr_rotate", c.Drops[0].QRRotate.D(), 20 * time.Second},
		{"scan_grace", c.Drops[0].ScanGrace.D(), 40 * time.Second},
		{"quorum", c.Drops[0].Quorum, 1},
		{"quorum_window", c.Drops[0].QuorumWindow.D(), 10 * time.Second},
		{"per_viewer", c.Drops[0].PerViewer, 1},
		{"identity", c.Drops[0].Identity, "device"},
		{"compensation", c.Drops[0].Compensation.Kind, "none"},
		{"tier", c.Drops[0].Stock[0].Tier, "standard"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestPublicURLDerived(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":9000", "http://localhost:9000"},
		{"0.0.0.0:9000", "http://localhost:9000"},
		{"[::]:9000", "http://localhost:9000"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"[::1]:9000", "http://[::1]:9000"},
	} {
		c := mustParse(t, "listen: \""+tc.listen+"\"\n", nil)
		if c.PublicURL != tc.want {
			t.Errorf("listen %q: public_url = %q, want %q", tc.listen, c.PublicURL, tc.want)
		}
	}
	c := mustParse(t, "public_url: https://drops.example.com/\n", nil)
	if c.PublicURL != "https://drops.example.com" {
		t.Errorf("trailing slash kept: %q", c.PublicURL)
	}
}

func TestEmptyConfig(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "---\n"} {
		c := mustParse(t, in, nil)
		if c.Listen != DefaultListen {
			t.Errorf("%q: listen = %q", in, c.Listen)
		}
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{
		"KEY":      "ava-overlay-key-0001",
		"TRICKY":   `a "quoted" # value: [x]`,
		"MAX_BODY": "1024",
		"EMPTY":    "",
	}
	in := edit(t, `    overlay_keys: ["ava-overlay-key-0001"]`, `    overlay_keys: ["${KEY}", "${TRICKY}-0123456789", "$HOME-$1-${not valid}-x"]`) +
		"max_body: ${MAX_BODY}\nredis_url: ${EMPTY}\n# admin_token: ${IN_A_COMMENT}\n"
	c := mustParse(t, in, env)
	want := []string{"ava-overlay-key-0001", `a "quoted" # value: [x]-0123456789`, "$HOME-$1-${not valid}-x"}
	if !reflect.DeepEqual(c.Creators[0].OverlayKeys, want) {
		t.Errorf("overlay_keys = %q, want %q", c.Creators[0].OverlayKeys, want)
	}
	if c.MaxBody != 1024 {
		t.Errorf("max_body = %d, want 1024 (a plain scalar is typed after expansion)", c.MaxBody)
	}
	if c.RedisURL != "" {
		t.Errorf("redis_url = %q", c.RedisURL)
	}
}

func TestExpandNoReexpansion(t *testing.T) {
	env := map[string]string{"A": "${B}-0123456789abcdef", "B": "oops"}
	c := mustParse(t, edit(t, `["ava-overlay-key-0001"]`, `["${A}"]`), env)
	if got := c.Creators[0].OverlayKeys[0]; got != "${B}-0123456789abcdef" {
		t.Errorf("overlay key = %q: a variable's value was expanded again", got)
	}
}

func TestUnsetVariables(t *testing.T) {
	in := edit(t, `["ava-overlay-key-0001"]`, `["${NOPE}", "${ALSO_NOPE}-${NOPE}"]`) + "admin_token: |\n  first line\n  ${LATER}\n"
	_, err := Parse("test.yaml", []byte(in), nil)
	checkProblems(t, "test.yaml", problems(t, err), []want{
		{3, "creators[0].overlay_keys[0]", "${NOPE} is not set"},
		{3, "creators[0].overlay_keys[1]", "${ALSO_NOPE} is not set"},
		{3, "creators[0].overlay_keys[1]", "${NOPE} is not set"},
		{18, "admin_token", "${LATER} is not set"},
	})
}

func TestMistakesFile(t *testing.T) {
	_, err := Load("testdata/mistakes.yaml")
	checkProblems(t, "testdata/mistakes.yaml", problems(t, err), []want{
		{8, "creators[1].id", `duplicate id "ava" (first at line 6)`},
		{14, "sources[0].secrets[1]", "whsec_ secret does not decode: illegal base64 data at input byte 2"},
		{15, "sources[0].tolerence", `unknown key; did you mean "tolerance"?`},
		{23, "drops[0].stock[0].node", `unknown node "corner-bookz"`},
		{24, "drops[0].stock[1].qty", "must not be negative"},
	})
	want := "testdata/mistakes.yaml:14: sources[0].secrets[1]: whsec_ secret does not decode: illegal base64 data at input byte 2"
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 5 || lines[1] != want {
		t.Errorf("Error() =\n%s\nwant its second line %q", err, want)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	in := `x-defaults: &drop
  creator: ava
  window: 30m
  stock: [{node: shop, sku: sticker, qty: 1}]
` + base
	in = strings.Replace(in, "  - id: pack\n    creator: ava\n", "  - id: pack\n    <<: *drop\n    window: 1h\n  - id: pack2\n    <<: *drop\n", 1)
	c := mustParse(t, in, nil)
	if len(c.Drops) != 2 || c.Drops[0].Window.D() != time.Hour || c.Drops[1].Window.D() != 30*time.Minute || c.Drops[1].Creator != "ava" {
		t.Errorf("drops = %+v", c.Drops)
	}
}

func TestParseNeverEchoesSecrets(t *testing.T) {
	const secret = "whsec_SUPERSECRETVALUE!!"
	in := edit(t, `"whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="`, `"`+secret+`"`) + "admin_token: short-SECRET\nredis_url: \"ftp://user:SECRETPW@host\"\n"
	_, err := Parse("test.yaml", []byte(in), nil)
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error leaks a secret or is nil: %v", err)
	}
}

func TestValidTestdataIsTheDesignExample(t *testing.T) {
	// Every key of DESIGN.md's example appears in valid.yaml.
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"listen:", "public_url:", "redis_url:", "key_prefix:", "admin_token:", "overlay_keys:",
		"scheme:", "secrets:", "public_keys:", "tolerance:", "webrtc:", "name:", "region:", "url:", "secret:", "pickup_sla:",
		"title:", "window:", "qr_rotate:", "scan_grace:", "quorum:", "quorum_window:", "per_viewer:", "identity:", "stock:", "compensation:"} {
		if !strings.Contains(string(data), key) {
			t.Errorf("valid.yaml lacks %s", key)
		}
	}
}

func TestAliasBomb(t *testing.T) {
	// Each level merges the previous one twice: 2^40 merges if unbounded.
	var b strings.Builder
	b.WriteString("x-0: &a0 {window: 1h}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("drops:\n  - <<: *a40\n    id: d\n")
	_, err := Parse("bomb.yaml", []byte(b.String()), nil)
	checkProblems(t, "bomb.yaml", problems(t, err), []want{{2, "", "document too large"}})
}
