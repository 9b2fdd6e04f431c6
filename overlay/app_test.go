package overlay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

const (
	hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	overlayKey = "ava-overlay-key-0123456789"
)

// testConfig is a whole configuration: creator ava, a webhook source, two
// drops; publicURL is the base of claim URLs.
func testConfig(t testing.TB, publicURL string, extraDrops int) *config.Config {
	t.Helper()
	drop := func(id, title string) config.Drop {
		return config.Drop{ID: id, Creator: "ava", Title: title,
			Window: config.Duration(time.Hour), QRRotate: config.Duration(time.Minute), ScanGrace: config.Duration(time.Minute),
			Stock: []config.StockLine{{Node: "corner", SKU: "pack", Qty: 500}}}
	}
	cfg := &config.Config{
		Listen:    "127.0.0.1:0",
		PublicURL: publicURL,
		Creators:  []config.Creator{{ID: "ava", OverlayKeys: []string{"ava-older-key-0123456789", overlayKey}}},
		Sources:   []config.Source{{ID: "capture", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{hookSecret}}},
		Nodes:     []config.Node{{ID: "corner", Name: "Corner", URL: "http://127.0.0.1:9/hook", Secret: hookSecret}},
		Drops:     []config.Drop{drop("spring", "Spring stickers"), drop("summer", "Summer stickers")},
	}
	for i := range extraDrops {
		cfg.Drops = append(cfg.Drops, drop(fmt.Sprintf("d%d", i), "Bench drop"))
	}
	cfg.ApplyDefaults()
	cfg.Sources[0].Rate = 0 // benchmarks send hundreds of events a second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// replica is one Dropwire process serving on a loopback listener.
type replica struct {
	app  *app.App
	addr string
	done chan error
	stop context.CancelFunc
}

// startReplica serves an App on addr ("127.0.0.1:0" for any port) over st.
func startReplica(t testing.TB, cfg *config.Config, st store.Store, addr string) *replica {
	t.Helper()
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the port of a replica just stopped may take a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{app: a, addr: ln.Addr().String(), done: make(chan error, 1), stop: cancel}
	go func() { r.done <- a.Serve(ctx, ln) }()
	t.Cleanup(r.shutdown)
	return r
}

func (r *replica) shutdown() {
	r.stop()
	<-r.done
	r.done <- nil // later calls return at once
}

func (r *replica) url(p string) string { return "http://" + r.addr + p }

// trigger posts a signed drop.trigger webhook and checks it was accepted.
func trigger(t testing.TB, r *replica, drop, id string) {
	t.Helper()
	s, err := sdkhooks.NewSigner(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"type":"drop.trigger","drop":%q,"moment":"m-%s"}`, drop, id))
	req, _ := http.NewRequest("POST", r.url("/v1/hooks/capture"), bytes.NewReader(body))
	req.Header = s.Headers(id, time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"opened"`) {
		t.Fatalf("webhook: %d %s", resp.StatusCode, b)
	}
}

// codeOf computes the current claim code of drop as any replica does.
func codeOf(t testing.TB, cfg *config.Config, st store.Store, drop string, at time.Time) string {
	t.Helper()
	cat := verifier.NewCatalog(cfg.Drops)
	v, _ := verifier.New(verifier.Config{Store: st, Drops: cat})
	codes, err := overlay.NewCodes(overlay.CodesConfig{Store: st, Drops: cat, States: v})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := cat.Drop(context.Background(), drop)
	c, _, err := codes.Current(context.Background(), d, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertShowsCode checks that a decoded QR is the claim URL of drop with
// the code current at some moment between since and now. Codes rotate on
// the wall clock (every minute here), so a boundary may fall between the
// page drawing the QR and this check; the span is far shorter than a
// rotation, so it holds at most two codes.
func assertShowsCode(t *testing.T, got string, cfg *config.Config, st store.Store, drop string, since time.Time) {
	t.Helper()
	base := cfg.PublicURL + "/c/"
	then, now := base+codeOf(t, cfg, st, drop, since), base+codeOf(t, cfg, st, drop, time.Now())
	if got != then && got != now {
		t.Fatalf("QR says %q, want %q (or %q, current at %s)", got, now, then, since.Format(time.TimeOnly))
	}
}

func dialOverlay(t testing.TB, r *replica) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+r.addr+"/v1/overlay/ava/ws?key="+overlayKey, nil)
	if err != nil {
		t.Fatalf("dial %s: %v %v", r.addr, err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func readState(t testing.TB, ws *websocket.Conn, ok func(overlay.State) bool) overlay.State {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var s overlay.State
		if err := ws.ReadJSON(&s); err != nil {
			t.Fatalf("read: %v", err)
		}
		if s.Type == "state" && ok(s) {
			return s
		}
	}
}

// Two replicas on one Redis, and on a Redis Cluster: a drop opened through
// A reaches the overlay connected to B, and both show the same code.
func TestTwoReplicas(t *testing.T) {
	storetest.EachRedis(t, testTwoReplicas)
}

func testTwoReplicas(t *testing.T, b storetest.Backend) {
	prefix := storetest.Prefix(t)
	stA, stB := b.Open(t, prefix), b.Open(t, prefix)
	cfg := testConfig(t, "https://drops.example.com", 0)
	a := startReplica(t, cfg, stA, "127.0.0.1:0")
	rb := startReplica(t, testConfig(t, "https://drops.example.com", 0), stB, "127.0.0.1:0")
	wsA, wsB := dialOverlay(t, a), dialOverlay(t, rb)
	for _, ws := range []*websocket.Conn{wsA, wsB} {
		if s := readState(t, ws, func(overlay.State) bool { return true }); s.Status != overlay.StatusIdle {
			t.Fatalf("first state %+v", s)
		}
	}
	triggered := time.Now()
	trigger(t, a, "spring", "evt-1")
	open := func(s overlay.State) bool { return s.Status == overlay.StatusOpen }
	sB := readState(t, wsB, open)
	sA := readState(t, wsA, open)
	if sA.QR == nil || sB.QR == nil || sB.Drop.ID != "spring" {
		t.Fatalf("B shows %+v, A shows %+v", sB.QR, sA.QR)
	}
	urlA, urlB := qrText(t, sA.QR), qrText(t, sB.QR)
	assertShowsCode(t, urlA, cfg, stA, "spring", triggered)
	assertShowsCode(t, urlB, cfg, stA, "spring", triggered)
	// Both show the same code unless a rotation fell between them (then
	// the two checks above allow one each side); the same code is the
	// same matrix, module for module.
	if urlB == urlA && (sB.QR.Size != sA.QR.Size || sB.QR.Modules != sA.QR.Modules) {
		t.Fatalf("same URL, different QR: B %+v, A %+v", sB.QR, sA.QR)
	}
	if *sB.Stock != (overlay.Stock{Left: 500, Total: 500}) {
		t.Fatalf("stock %+v", sB.Stock)
	}
	// The first open frame is recorded once, for the capture → overlay
	// latency: no earlier than the opening, no later than now.
	at, err := stA.Get(context.Background(), overlay.FrameKey("spring", "m-evt-1"))
	if err != nil {
		t.Fatalf("first frame not recorded: %v", err)
	}
	ms, _ := strconv.ParseInt(at, 10, 64)
	if opened := sA.Drop.OpenedAt.UnixMilli(); ms < opened || ms > time.Now().UnixMilli() {
		t.Fatalf("first frame at %d, drop opened at %d", ms, opened)
	}
}

// reservePort returns a loopback address that was free a moment ago.
func reservePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// qrText reads the claim URL a state's QR encodes, from its modules, as
// a scanner would.
func qrText(t testing.TB, q *overlay.QR) string {
	t.Helper()
	if q == nil {
		t.Fatal("no QR")
	}
	s, err := q.Text()
	if err != nil {
		t.Fatalf("the QR does not decode: %v (%+v)", err, q)
	}
	return s
}
