package admin

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
)

// countingStore counts the calls made to a real store, by method.
type countingStore struct {
	store.Store
	mu  sync.Mutex
	ops map[string]int
}

func counting(st store.Store) *countingStore {
	return &countingStore{Store: st, ops: make(map[string]int)}
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
}

// since returns the calls made after before (a snapshot).
func (c *countingStore) since(before map[string]int) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int)
	for op, n := range c.ops {
		if d := n - before[op]; d != 0 {
			out[op] = d
		}
	}
	return out
}

func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

func (c *countingStore) Ping(ctx context.Context) error { c.count("Ping"); return c.Store.Ping(ctx) }
func (c *countingStore) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	c.count("SetNX")
	return c.Store.SetNX(ctx, key, value, ttl)
}
func (c *countingStore) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	c.count("Set")
	return c.Store.Set(ctx, key, value, ttl)
}
func (c *countingStore) Get(ctx context.Context, key string) (string, error) {
	c.count("Get")
	return c.Store.Get(ctx, key)
}
func (c *countingStore) Del(ctx context.Context, keys ...string) error {
	c.count("Del")
	return c.Store.Del(ctx, keys...)
}
func (c *countingStore) TTL(ctx context.Context, key string) (time.Duration, error) {
	c.count("TTL")
	return c.Store.TTL(ctx, key)
}
func (c *countingStore) IncrBy(ctx context.Context, key string, n int64) (int64, error) {
	c.count("IncrBy")
	return c.Store.IncrBy(ctx, key, n)
}
func (c *countingStore) HSet(ctx context.Context, key string, fields map[string]string) error {
	c.count("HSet")
	return c.Store.HSet(ctx, key, fields)
}
func (c *countingStore) HGet(ctx context.Context, key, field string) (string, error) {
	c.count("HGet")
	return c.Store.HGet(ctx, key, field)
}
func (c *countingStore) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	c.count("HGetAll")
	return c.Store.HGetAll(ctx, key)
}
func (c *countingStore) HIncrBy(ctx context.Context, key, field string, n int64) (int64, error) {
	c.count("HIncrBy")
	return c.Store.HIncrBy(ctx, key, field, n)
}
func (c *countingStore) ScanPrefix(ctx context.Context, prefix string, fn func([]string) error) error {
	c.count("ScanPrefix")
	return c.Store.ScanPrefix(ctx, prefix, fn)
}
func (c *countingStore) Run(ctx context.Context, s *store.Script, keys []string, args ...any) (any, error) {
	c.count("Run:" + s.Name)
	return c.Store.Run(ctx, s, keys, args...)
}
func (c *countingStore) Publish(ctx context.Context, channel string, msg []byte) error {
	c.count("Publish")
	return c.Store.Publish(ctx, channel, msg)
}
func (c *countingStore) Subscribe(ctx context.Context, channels ...string) (store.Subscription, error) {
	c.count("Subscribe")
	return c.Store.Subscribe(ctx, channels...)
}
func (c *countingStore) Allow(ctx context.Context, key string, l store.Limit) (store.Decision, error) {
	c.count("Allow")
	return c.Store.Allow(ctx, key, l)
}
func (c *countingStore) OutboxAdd(ctx context.Context, stream string, fields map[string]string) (string, error) {
	c.count("OutboxAdd")
	return c.Store.OutboxAdd(ctx, stream, fields)
}
func (c *countingStore) OutboxRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]store.Entry, error) {
	c.count("OutboxRead")
	return c.Store.OutboxRead(ctx, stream, group, consumer, count, block)
}
func (c *countingStore) OutboxAck(ctx context.Context, stream, group string, ids ...string) error {
	c.count("OutboxAck")
	return c.Store.OutboxAck(ctx, stream, group, ids...)
}
func (c *countingStore) OutboxClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]store.Entry, error) {
	c.count("OutboxClaim")
	return c.Store.OutboxClaim(ctx, stream, group, consumer, minIdle, count)
}
func (c *countingStore) OutboxPending(ctx context.Context, stream, group string) (store.Pending, error) {
	c.count("OutboxPending")
	return c.Store.OutboxPending(ctx, stream, group)
}
func (c *countingStore) OutboxLen(ctx context.Context, stream string) (int64, error) {
	c.count("OutboxLen")
	return c.Store.OutboxLen(ctx, stream)
}

// overlayRoutes serves the overlay page and WebSocket of a hub whose keys
// come from kr, as the app wires them.
func overlayRoutes(t testing.TB, st store.Store, kr *KeyRing) http.Handler {
	t.Helper()
	cat := verifier.NewCatalog(nil)
	v, err := verifier.New(verifier.Config{Store: st, Drops: cat, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := overlay.NewCodes(overlay.CodesConfig{Store: st, Drops: cat, States: v})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := overlay.NewHub(overlay.HubConfig{Store: st, Drops: cat, States: v, Codes: codes,
		PublicURL: "http://drops.test", Keys: kr.Keys, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle("GET /overlay/{creator}", hub.PageHandler([]byte("<p>overlay</p>")))
	mux.Handle("GET /v1/overlay/{creator}/ws", hub.WSHandler())
	return mux
}

func oracleConfig() *config.Config {
	return &config.Config{PublicURL: "http://drops.test",
		Creators: []config.Creator{{ID: "ava", OverlayKeys: []string{"ava-key-1", "ava-key-2"}}}}
}

// overlayRequests are the two doors an overlay key opens.
var overlayRequests = []struct {
	name string
	path func(creator, key string) string
	ws   bool
}{
	{"page", func(c, k string) string { return "/overlay/" + c + "?key=" + k }, false},
	{"websocket", func(c, k string) string { return "/v1/overlay/" + c + "/ws?key=" + k }, true},
}

func overlayRequest(path string, ws bool) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if ws {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	return r
}

// TestWrongKeyKnownOrUnknownCreator: a wrong key costs the same store work
// and gets the same answer whether the creator exists or not, on the page
// and on the WebSocket, with the store up (before and after a rotation)
// and down.
func TestWrongKeyKnownOrUnknownCreator(t *testing.T) {
	prefix := storetest.Prefix(t)
	storetest.RedisWithPrefix(t, prefix) // deletes the keys at the end
	proxy := storetest.NewProxy(t)
	st := counting(proxy.Redis(t, prefix))
	kr := NewKeyRing(KeyRingConfig{Store: st, Config: oracleConfig()})
	h := overlayRoutes(t, st, kr)

	type answer struct {
		status int
		header http.Header
		body   string
		ops    map[string]int
	}
	ask := func(path string, ws bool) answer {
		t.Helper()
		before := st.snapshot()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, overlayRequest(path, ws))
		ops := st.since(before)
		delete(ops, "Subscribe") // the hub's own loop, resubscribing while the store is down
		return answer{rec.Code, rec.Header(), rec.Body.String(), ops}
	}
	compare := func(t *testing.T, known, unknown answer) {
		t.Helper()
		if known.status != http.StatusUnauthorized || unknown.status != known.status {
			t.Errorf("status: known creator %d, unknown %d; want 401 for both", known.status, unknown.status)
		}
		if !maps.EqualFunc(known.header, unknown.header, slices.Equal) {
			t.Errorf("headers differ:\nknown   %v\nunknown %v", known.header, unknown.header)
		}
		if known.body != unknown.body {
			t.Errorf("bodies differ:\nknown   %q\nunknown %q", known.body, unknown.body)
		}
		if known.ops["Get"] == 0 {
			t.Errorf("the known creator's keys were not read: %v", known.ops)
		}
		if !maps.Equal(known.ops, unknown.ops) {
			t.Errorf("store work differs: known creator %v, unknown %v", known.ops, unknown.ops)
		}
	}
	// Nothing else runs on the store once the hub has subscribed.
	for deadline := time.Now().Add(5 * time.Second); st.snapshot()["Subscribe"] == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub never subscribed")
		}
	}
	run := func(t *testing.T) {
		for _, rq := range overlayRequests {
			t.Run(rq.name, func(t *testing.T) {
				compare(t, ask(rq.path("ava", "wrong"), rq.ws), ask(rq.path("nobody", "wrong"), rq.ws))
				// The right key still opens the page (the WebSocket needs a
				// real connection to upgrade; its key check is the same).
				if !rq.ws {
					if a := ask(rq.path("ava", "ava-key-2"), false); a.status != http.StatusOK {
						t.Errorf("right key: %d", a.status)
					}
				}
			})
		}
	}
	t.Run("configured keys", run)
	if _, err := kr.Rotate(t.Context(), "ava"); err != nil {
		t.Fatal(err)
	}
	t.Run("rotated keys", run)
	t.Run("store down", func(t *testing.T) {
		proxy.Hold()
		proxy.Sever()
		defer proxy.Release()
		for _, rq := range overlayRequests {
			t.Run(rq.name, func(t *testing.T) {
				// The cached keys of ava answer; the unknown creator is
				// refused after the same failed read.
				compare(t, ask(rq.path("ava", "wrong"), rq.ws), ask(rq.path("nobody", "wrong"), rq.ws))
			})
		}
	})
}

// BenchmarkOverlayKeyWrong measures the refusal of a wrong overlay key for
// a creator that exists and for one that does not, on Redis: the two
// should cost the same.
func BenchmarkOverlayKeyWrong(b *testing.B) {
	st := storetest.Redis(b)
	kr := NewKeyRing(KeyRingConfig{Store: st, Config: oracleConfig()})
	h := overlayRoutes(b, st, kr)
	for _, c := range []struct{ name, creator string }{{"known", "ava"}, {"unknown", "nobody"}} {
		b.Run(c.name, func(b *testing.B) {
			path := "/overlay/" + c.creator + "?key=wrong"
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, overlayRequest(path, false))
				if rec.Code != http.StatusUnauthorized {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
