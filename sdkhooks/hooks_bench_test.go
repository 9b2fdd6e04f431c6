package sdkhooks_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// BenchmarkHooksHandler measures one verified, deduped webhook through the
// whole handler (middleware, signature, envelope, ingest script) on each
// store, without the network.
func BenchmarkHooksHandler(b *testing.B) {
	for _, kind := range []string{"memory", "redis"} {
		b.Run(kind, func(b *testing.B) {
			var st store.Store
			if kind == "redis" {
				st = storetest.Redis(b)
			} else {
				st = storetest.Memory(b)
			}
			benchHandler(b, st)
		})
	}
}

func benchHandler(b *testing.B, st store.Store) {
	cfg := hooksConfig()
	cfg.Sources[0].Rate, cfg.Sources[0].Burst = 1_000_000, 1_000_000
	_, a := newHooksServerConfig(b, st, cfg)
	h := a.Server().Handler()
	signer, _ := sdkhooks.NewSigner(secretA)
	// Pre-sign outside the timer.
	n := b.N + 64
	reqs := make([]*http.Request, n)
	now := time.Now()
	for i := range reqs {
		id := fmt.Sprintf("bench-%d", i)
		body := fmt.Sprintf(`{"type":"drop.trigger","drop":"spring","moment":"m-%d"}`, i%1000)
		r := httptest.NewRequest("POST", "/v1/hooks/cap", strings.NewReader(body))
		for k, v := range signer.Headers(id, now, []byte(body)) {
			r.Header[k] = v
		}
		reqs[i] = r
	}
	var next atomic.Int64
	b.ReportAllocs()
	// Many requests in flight, as on a busy server: the store round trips
	// overlap instead of queueing behind one another.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := reqs[next.Add(1)-1]
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
