package overlay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

const testKey = "key-ava-1"

var testSource = verifier.Source{ID: "cap", Creator: "ava"}

func testDrop(id string) config.Drop {
	return config.Drop{
		ID: id, Creator: "ava", Title: "Drop " + id,
		Window:    config.Duration(time.Hour),
		QRRotate:  config.Duration(20 * time.Second),
		ScanGrace: config.Duration(40 * time.Second),
		Quorum:    1, QuorumWindow: config.Duration(10 * time.Second),
		Stock: []config.StockLine{{Node: "n1", SKU: "s", Qty: 30}, {Node: "n2", SKU: "s", Qty: 12}},
	}
}

// env is a hub on a store, served by an httptest server on loopback.
type env struct {
	st    store.Store
	cat   *verifier.Catalog
	v     *verifier.Verifier
	codes *Codes
	hub   *Hub
	reg   *prometheus.Registry
	srv   *httptest.Server
}

func newEnv(t testing.TB, st store.Store, tune func(*HubConfig), drops ...config.Drop) *env {
	t.Helper()
	e := &env{st: st, cat: verifier.NewCatalog(drops), reg: prometheus.NewRegistry()}
	var err error
	e.v, err = verifier.New(verifier.Config{Store: st, Drops: e.cat, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	e.codes, err = NewCodes(CodesConfig{Store: st, Drops: e.cat, States: e.v})
	if err != nil {
		t.Fatal(err)
	}
	cfg := HubConfig{
		Store: st, Drops: e.cat, States: e.v, Codes: e.codes,
		PublicURL: "https://drops.example.com",
		Keys: func(id string) ([]string, bool) {
			if id == "ava" {
				return []string{"old-key", testKey}, true
			}
			return nil, false
		},
		Logger:     zerolog.Nop(),
		Registerer: e.reg,
	}
	if tune != nil {
		tune(&cfg)
	}
	e.hub, err = NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/overlay/{creator}/ws", e.hub.WSHandler())
	mux.Handle("GET /overlay/{creator}", e.hub.PageHandler([]byte("<p>overlay</p>")))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		}
		e.srv.Close()
	})
	return e
}

func (e *env) wsURL(creator, key string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/overlay/" + creator + "/ws?key=" + key
}

// client is a test overlay.
type client struct {
	t  testing.TB
	ws *websocket.Conn
}

func (e *env) dial(t testing.TB) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("ava", testKey), nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws}
}

// next returns the next state message, skipping pings.
func (c *client) next() State {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var s State
		if err := json.Unmarshal(b, &s); err != nil {
			c.t.Fatalf("bad frame %q: %v", b, err)
		}
		if s.Type == "state" {
			return s
		}
	}
}

// until reads states until ok accepts one.
func (c *client) until(ok func(State) bool) State {
	c.t.Helper()
	for {
		if s := c.next(); ok(s) {
			return s
		}
	}
}

func (e *env) trigger(t testing.TB, drop, id string) {
	t.Helper()
	res, err := e.v.Ingest(context.Background(), testSource, verifier.Event{
		Source: testSource.ID, Channel: verifier.ChannelWebhook, ID: id,
		Type: verifier.TypeDropTrigger, Drop: drop, Moment: "m-" + id,
	})
	if err != nil || res.Moment == nil || res.Moment.State != verifier.MomentOpened {
		t.Fatalf("trigger %s: %+v %v", drop, res.Moment, err)
	}
}

func (e *env) close(t testing.TB, drop, id string) {
	t.Helper()
	if _, err := e.v.Ingest(context.Background(), testSource, verifier.Event{
		Source: testSource.ID, Channel: verifier.ChannelWebhook, ID: id,
		Type: verifier.TypeDropClose, Drop: drop,
	}); err != nil {
		t.Fatal(err)
	}
}

// qrText reads the claim URL a state's QR encodes, from its modules, as
// a scanner would.
func qrText(t testing.TB, q *QR) string {
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
