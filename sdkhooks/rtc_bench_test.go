package sdkhooks

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// newRTCBenchServer serves an RTC over Redis whose handler goroutines (and
// so every goroutine the server side of a peer starts) carry the pprof
// label side=server, so goroutines can be counted per side.
func newRTCBenchServer(b *testing.B, mod func(*RTCConfig)) (*RTC, string) {
	b.Helper()
	st := storetest.Redis(b)
	spring := config.Drop{ID: "spring", Creator: "ava", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}}
	spring.ApplyDefaults()
	v, err := verifier.New(verifier.Config{Store: st, Drops: verifier.NewCatalog([]config.Drop{spring})})
	if err != nil {
		b.Fatal(err)
	}
	cfg := RTCConfig{Sources: rtcSources(), Ingester: v, Logger: zerolog.Nop(), Loopback: true}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewRTC(cfg)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux.Handle)
	labelled := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("side", "server"), func(context.Context) { mux.ServeHTTP(w, r) })
	})
	ts := httptest.NewServer(labelled)
	b.Cleanup(func() { ts.Close(); _ = s.Close(context.Background()) })
	return s, ts.URL
}

func benchDial(b *testing.B, url string) *RTCClient {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := MintToken(rtcSources()[0], time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	cfg := RTCClientConfig{URL: url + "/v1/rtc/cap", Token: tok, Loopback: true}
	c, err := DialRTC(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func quantile(v []time.Duration, q float64) time.Duration {
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// BenchmarkRTCAck: event → ack latency on one channel at 1,000 messages/s
// against Redis (run with -benchtime=5000x for 5 s of traffic).
func BenchmarkRTCAck(b *testing.B) {
	// The collector as `dropwire serve` sets it (GOGC 200); the client
	// shares this process.
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	_, url := newRTCBenchServer(b, nil)
	c := benchDial(b, url)
	defer func() { _ = c.Close(context.Background()) }()

	sent := make(chan time.Time, 1<<16)
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Millisecond+30*time.Second)
		defer cancel()
		for range b.N {
			a, err := c.NextAck(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			if a.Status == StatusRejected {
				b.Errorf("rejected: %+v", a)
			}
			lat = append(lat, time.Since(<-sent))
		}
	}()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		sent <- time.Now()
		if err := c.Send(fmt.Appendf(nil, `{"id":"b-%s-%d","type":"drop.trigger","drop":"spring"}`, run, i)); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(quantile(lat, .5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(quantile(lat, .99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// serverGoroutines counts the goroutines labelled side=server.
func serverGoroutines() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	n := 0
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(rec, `# labels: {"side":"server"}`) {
			continue
		}
		count, _, _ := strings.Cut(rec, " ")
		k, _ := strconv.Atoi(strings.TrimSpace(count))
		n += k
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkRTCPeers opens 500 concurrent peers on one instance (b.N
// rounds) and reports the setup time per peer, and per peer the server's
// goroutines (by pprof label) and the heap of both sides together (the
// clients live in this process too; see dropwire bench rtc for the
// server's share alone).
func BenchmarkRTCPeers(b *testing.B) {
	const peers = 500
	for range b.N {
		b.StopTimer()
		s, url := newRTCBenchServer(b, func(c *RTCConfig) { c.MaxPeers, c.MaxPeersPerSource = peers, peers })
		tok, _ := MintToken(rtcSources()[0], time.Hour, time.Now())
		api := NewRTCClientAPI(true)
		hc := &http.Client{Timeout: 30 * time.Second}
		g0, h0, s0 := runtime.NumGoroutine(), heapInUse(), serverGoroutines()
		clients := make([]*RTCClient, peers)
		setup := make([]time.Duration, peers)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range peers {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				t0 := time.Now()
				c, err := DialRTC(ctx, RTCClientConfig{URL: url + "/v1/rtc/cap", Token: tok, API: api, HTTPClient: hc})
				if err != nil {
					b.Error(err)
					return
				}
				setup[i], clients[i] = time.Since(t0), c
			}()
		}
		wg.Wait()
		total := time.Since(start)
		b.StopTimer()
		if s.Peers() != peers {
			b.Fatalf("%d peers open", s.Peers())
		}
		g1, h1, s1 := runtime.NumGoroutine(), heapInUse(), serverGoroutines()
		slices.Sort(setup)
		b.ReportMetric(float64(total.Microseconds())/peers, "setup-µs/peer")
		b.ReportMetric(float64(quantile(setup, .5).Microseconds()), "setup-p50-µs")
		b.ReportMetric(float64(quantile(setup, .99).Microseconds()), "setup-p99-µs")
		b.ReportMetric(float64(s1-s0)/peers, "server-goroutines/peer")
		b.ReportMetric(float64(g1-g0)/peers, "all-goroutines/peer")
		b.ReportMetric(float64(h1-h0)/peers/1024, "both-sides-heap-KiB/peer")
		var cw sync.WaitGroup
		for _, c := range clients {
			if c != nil {
				cw.Add(1)
				go func() { defer cw.Done(); _ = c.Close(context.Background()) }()
			}
		}
		cw.Wait()
		hc.CloseIdleConnections()
	}
}

// BenchmarkRTCAckBreakdown splits event → ack on ten peers at 1,000
// events/s (b.N rounds of 3,000 events, Redis) into its three legs, by
// the server's own timestamps (same process, same clock): the event from
// the client's Send to the server's handler (client SCTP/DTLS/ICE, the
// server's ICE, DTLS, SCTP and data-channel readers), the server's work
// (decode, the ingest script, the ack's encoding and its hand-off to
// SCTP), and the ack back to the client's handler. in-unqueued is the
// first leg less any wait for the peer's previous message, which the
// server handles first; server-ingest and server-ack split the server's
// work at the ingest's return (decode and the ingest script; the ack's
// encoding and its hand-off to SCTP).
func BenchmarkRTCAckBreakdown(b *testing.B) {
	const n, rate, npeers = 3000, 1000, 10
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	s, url := newRTCBenchServer(b, nil)
	var mu sync.Mutex
	server := map[string][3]time.Time{}
	s.acked = func(a Ack, in, ingested, out time.Time) {
		mu.Lock()
		server[a.Ack] = [3]time.Time{in, ingested, out}
		mu.Unlock()
	}
	peers := make([]*RTCClient, npeers)
	for i := range peers {
		peers[i] = benchDial(b, url)
	}
	defer func() {
		for _, c := range peers {
			_ = c.Close(context.Background())
		}
	}()
	var legIn, legFree, legServer, legIngest, legSend, legOut, total []time.Duration
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	b.ResetTimer()
	for round := range b.N {
		sentAt := make([]time.Time, n)
		var wg sync.WaitGroup
		arrived := make([][]time.Time, npeers)
		ids := make([][]string, npeers)
		for p, c := range peers {
			k := n / npeers
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				for range k {
					a, at, err := c.NextAckAt(ctx)
					if err != nil || a.Status == StatusRejected {
						b.Errorf("%+v %v", a, err)
						return
					}
					arrived[p] = append(arrived[p], at)
					ids[p] = append(ids[p], a.Ack)
				}
			}()
		}
		interval := time.Second / rate
		start := time.Now()
		for i := range n {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait)
			}
			sentAt[i] = time.Now()
			msg := fmt.Appendf(nil, `{"id":"b-%s-%d-%d","type":"drop.trigger","drop":"spring","moment":"m-%d"}`, run, round, i, i%1000)
			if err := peers[i%npeers].Send(msg); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		mu.Lock()
		for p := range peers {
			var prevOut time.Time
			for j, id := range ids[p] {
				var r, i int
				if _, err := fmt.Sscanf(id[strings.LastIndexByte(id[:strings.LastIndexByte(id, '-')], '-')+1:], "%d-%d", &r, &i); err != nil || r != round {
					b.Fatalf("ack %q", id)
				}
				st, ok := server[id]
				if !ok {
					b.Fatalf("no server times for %s", id)
				}
				legIn = append(legIn, st[0].Sub(sentAt[i]))
				// Less the wait for the peer's previous message, which
				// the server handles first (the channel is ordered).
				from := sentAt[i]
				if prevOut.After(from) {
					from = prevOut
				}
				legFree = append(legFree, st[0].Sub(from))
				prevOut = st[2]
				legServer = append(legServer, st[2].Sub(st[0]))
				legIngest = append(legIngest, st[1].Sub(st[0]))
				legSend = append(legSend, st[2].Sub(st[1]))
				legOut = append(legOut, arrived[p][j].Sub(st[2]))
				total = append(total, arrived[p][j].Sub(sentAt[i]))
			}
		}
		clear(server)
		mu.Unlock()
	}
	b.StopTimer()
	for _, leg := range []struct {
		name string
		v    []time.Duration
	}{{"in", legIn}, {"in-unqueued", legFree}, {"server", legServer}, {"server-ingest", legIngest}, {"server-ack", legSend},
		{"out", legOut}, {"total", total}} {
		slices.Sort(leg.v)
		b.ReportMetric(float64(quantile(leg.v, .5).Microseconds()), leg.name+"-p50-µs")
		b.ReportMetric(float64(quantile(leg.v, .99).Microseconds()), leg.name+"-p99-µs")
	}
}
