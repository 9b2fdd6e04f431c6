package overlay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The packing round-trips against go-qrcode's own bitmap, for symbols of
// every size a claim URL can take (version 7 and up carry version
// information, 2 and up alignment patterns, some on the timing rows), and
// the modules it leaves out are the ones go-qrcode drew.
func TestPackModulesRoundTrip(t *testing.T) {
	for _, n := range []int{10, 38, 60, 120, 200, 400} {
		content := "https://drops.example.com/c/" + strings.Repeat("ABCDEFGHIJ", 4)[:min(n, 40)] + strings.Repeat("x", max(0, n-40))
		bm, version, err := qrBitmap(content)
		if err != nil {
			t.Fatal(err)
		}
		size, modules, err := QRModules(content)
		if err != nil || size != len(bm) || size != 17+4*version {
			t.Fatalf("QRModules(%d bytes) = %d, %v; bitmap %d, version %d", len(content), size, err, len(bm), version)
		}
		fixed := 0
		for r := range size {
			for c := range size {
				if f, _ := fixedModule(size, r, c); f {
					fixed++
				}
			}
		}
		raw, _ := base64.StdEncoding.DecodeString(modules)
		if want := (size*size - fixed + 7) / 8; len(raw) != want {
			t.Fatalf("version %d: %d bytes packed, want %d", version, len(raw), want)
		}
		got, err := UnpackModules(size, modules)
		if err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		for r := range size {
			for c := range size {
				if got[r][c] != bm[r][c] {
					t.Fatalf("version %d: module (%d,%d) = %v, go-qrcode drew %v", version, r, c, got[r][c], bm[r][c])
				}
			}
		}
		q := QR{Size: size, Modules: modules}
		if text, err := q.Text(); err != nil || text != content {
			t.Fatalf("version %d decodes to %q, %v", version, text, err)
		}
	}
}

// The first bits of a symbol are where the packing says: row 0 past the
// top-left finder, MSB first.
func TestPackModulesOrder(t *testing.T) {
	n := 21
	bm := make([][]bool, n)
	for r := range bm {
		bm[r] = make([]bool, n)
		for c := range bm[r] {
			_, bm[r][c] = fixedModule(n, r, c)
		}
	}
	bm[0][8] = true  // the first module sent
	bm[0][10] = true // the third
	raw, _ := base64.StdEncoding.DecodeString(PackModules(bm))
	// Row 0 sends columns 8..12 (5 modules), rows 0-5 the same, row 6
	// none, rows 7 and 8... : 21·21 − 3·64 − 2·5 = 239 modules.
	if len(raw) != (239+7)/8 || raw[0] != 0b1010_0000 {
		t.Fatalf("packed %d bytes, first %08b", len(raw), raw[0])
	}
}

func TestUnpackModulesRejectsMismatches(t *testing.T) {
	size, modules, _ := QRModules("https://drops.example.com/c/ABCDEFGHIJ")
	raw, _ := base64.StdEncoding.DecodeString(modules)
	for name, tc := range map[string]struct {
		size    int
		modules string
	}{
		"short":      {size, base64.StdEncoding.EncodeToString(raw[:len(raw)-1])},
		"long":       {size, base64.StdEncoding.EncodeToString(append(raw, 0))},
		"other size": {size + 4, modules},
		"not a size": {size + 1, modules},
		"not base64": {size, "!" + modules[1:]},
	} {
		if _, err := UnpackModules(tc.size, tc.modules); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// openState is an open state as the hub builds it, with a real title and
// a claim URL on a realistic public_url.
func openState(now time.Time, size int, modules string) State {
	closes, rotates := Time{now.Add(10 * time.Minute)}, Time{now.Add(20 * time.Second)}
	return State{V: ProtocolVersion, Type: "state", Seq: now.UnixMilli(), ServerTime: Time{now}, Status: StatusOpen,
		Drop:     &DropInfo{ID: "sticker-spring", Title: "Spring sticker pack", OpenedAt: Time{now}},
		ClosesAt: &closes, Stock: &Stock{Left: 500, Total: 500},
		QR: &QR{Size: size, Modules: modules, RotatesAt: rotates}}
}

// realisticDrop is the drop of the frame-size checks: a real title, the
// default rotation.
func realisticDrop() config.Drop {
	d := testDrop("sticker-spring")
	d.Title = "Spring sticker pack"
	d.Stock = []config.StockLine{{Node: "n1", SKU: "s", Qty: 500}}
	return d
}

// An open frame, as the hub sends it for a drop with a real title on
// https://drops.example.com, is at most 400 bytes, header included.
func TestOpenFrameSize(t *testing.T) {
	e := newEnv(t, storetest.Memory(t), nil, realisticDrop())
	c := e.dial(t)
	c.next()
	e.trigger(t, "sticker-spring", "e1")
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var s State
		if json.Unmarshal(b, &s) != nil || s.Status != StatusOpen {
			continue
		}
		if s.QR == nil {
			t.Fatalf("open frame without QR: %s", b)
		}
		if n := len(textFrame(b)); n > 400 {
			t.Fatalf("open frame is %d bytes: %s", n, b)
		}
		if !strings.HasPrefix(qrText(t, s.QR), "https://drops.example.com/c/") {
			t.Fatalf("QR says %q", qrText(t, s.QR))
		}
		return
	}
}

// countingStates counts the drop states the hub reads.
type countingStates struct {
	StateReader
	reads *atomic.Int64
}

func (c countingStates) State(ctx context.Context, drop string) (verifier.DropState, error) {
	c.reads.Add(1)
	return c.StateReader.State(ctx, drop)
}

// With many drops configured and one open, connecting overlays, the
// periodic resync and code rotations read the states of the live drops
// only, and encode the QR codes of the open drop only (each code shown,
// and the next one ahead): the cost follows what is live, not what is
// configured.
func TestHubWorksOnLiveDropsOnly(t *testing.T) {
	leakCheck(t)
	const configured = 1000
	drops := []config.Drop{testDrop("open")}
	for i := range configured {
		drops = append(drops, testDrop(fmt.Sprintf("idle-%d", i)))
	}
	drops[0].QRRotate = config.Duration(time.Second)
	var reads atomic.Int64
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) {
		c.Resync = 200 * time.Millisecond
		c.States = countingStates{StateReader: c.States, reads: &reads}
	}, drops...)
	// Some drops ran and closed a moment ago: they show "closed" for the
	// linger, but never a QR.
	for i := range 5 {
		id := fmt.Sprintf("idle-%d", i)
		e.trigger(t, id, "old-"+id)
		e.close(t, id, "old-close-"+id)
	}
	e.trigger(t, "open", "e1")
	// The hub surveyed every drop once, when it subscribed.
	waitSurveyed(t, e.hub, len(drops))
	if n := e.hub.qrEncodes.Load(); n != 0 {
		t.Fatalf("%d QR codes encoded with no overlay connected", n)
	}
	readsBefore := reads.Load()
	clients := make([]*client, 10)
	var s State
	shown := map[string]bool{} // the codes shown, as client 0 saw them
	for i := range clients {
		clients[i] = e.dial(t)
		if s = clients[i].next(); s.Status != StatusOpen || s.Drop.ID != "open" {
			t.Fatalf("client %d: %+v", i, s)
		}
		if i == 0 {
			shown[s.QR.Modules] = true
		}
	}
	// Three rotations, and resyncs meanwhile (every 200 ms).
	c := clients[len(clients)-1]
	for range 3 {
		prev := *s.QR
		s = c.until(func(n State) bool { return n.QR != nil && *n.QR != prev })
		if s.Drop.ID != "open" {
			t.Fatalf("shows %+v", s)
		}
	}
	clients[0].until(func(n State) bool {
		if n.QR != nil {
			shown[n.QR.Modules] = true
		}
		return n.QR != nil && *n.QR == *s.QR
	})
	// Each code shown was encoded once, and the next one may be already.
	if got := e.hub.qrEncodes.Load(); got < int64(len(shown)) || got > int64(len(shown)+1) {
		t.Fatalf("%d QR codes encoded for %d shown and the next (%d drops configured)", got, len(shown), len(drops))
	}
	// About 15 resyncs and 4 rotations read 6 live drops each at most;
	// reading every configured drop once would be 1,001 reads.
	if got := reads.Load() - readsBefore; got > 200 {
		t.Fatalf("%d drop states read while %d drops are live of %d configured", got, 6, len(drops))
	}
}

// A drop whose opening is announced before this replica's catalog has it
// (created a moment ago on another replica) is shown once the catalog
// has it, at the next resync: the live index looks it up again.
func TestHubShowsDropAnnouncedBeforeCatalogHadIt(t *testing.T) {
	leakCheck(t)
	hubCat := verifier.NewCatalog([]config.Drop{testDrop("other")})
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) {
		c.Resync = 100 * time.Millisecond
		c.Drops = hubCat
	}, testDrop("other"), testDrop("fresh"))
	c := e.dial(t)
	if s := c.next(); s.Status != StatusIdle {
		t.Fatalf("first state %+v", s)
	}
	e.trigger(t, "fresh", "e1")
	time.Sleep(300 * time.Millisecond) // announced, and resynced, while unknown here
	d, _ := e.cat.Drop(context.Background(), "fresh")
	hubCat.Put(*d)
	if s := c.until(func(s State) bool { return s.Status != StatusIdle }); s.Status != StatusOpen || s.Drop.ID != "fresh" || s.QR == nil {
		t.Fatalf("after the catalog learnt the drop: %+v", s)
	}
}

// The frames the hub sends, idle, open and sold out, are what the OpenAPI
// document says (components/schemas/OverlayState).
func TestFramesMatchOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../admin/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("https://dropwire.invalid/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://dropwire.invalid/openapi.json#/components/schemas/OverlayState")
	if err != nil {
		t.Fatal(err)
	}
	for status, s := range frameStates(t) {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.encode()))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s frame %s: %v", status, s.encode(), err)
		}
	}
}

// An opening reaches the overlays without a read of the store: the
// announcement carries the drop's whole state, though the drop, idle until
// then, was not in the creator's view.
func TestHubOpensWithoutReading(t *testing.T) {
	leakCheck(t)
	var reads atomic.Int64
	e := newEnv(t, storetest.Memory(t), func(c *HubConfig) {
		c.Resync = time.Hour
		c.States = countingStates{StateReader: c.States, reads: &reads}
	}, testDrop("spring"), testDrop("summer"))
	waitSurveyed(t, e.hub, 2)
	c := e.dial(t)
	c.next()
	before := reads.Load()
	e.trigger(t, "spring", "e1")
	if s := c.until(func(s State) bool { return s.Status == StatusOpen }); s.Drop.ID != "spring" || s.Stock.Left != 42 {
		t.Fatalf("open state %+v", s)
	}
	if got := reads.Load() - before; got != 0 {
		t.Fatalf("%d drop states read between the opening and its frame", got)
	}
}

// waitSurveyed waits until h has surveyed n drops (it does when it
// subscribes, in the background).
func waitSurveyed(t testing.TB, h *Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		h.live.mu.Lock()
		k := len(h.live.surveyed)
		h.live.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("surveyed %d of %d drops", k, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
