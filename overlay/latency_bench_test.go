package overlay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

// latencyLoads are the loads of the targets: 10 overlays at 200
// state changes/s, 1,000 at 50/s.
var latencyLoads = []struct{ overlays, rate int }{{10, 200}, {1000, 50}}

const latencySeconds = 3

// BenchmarkMomentLatency measures signed webhook → overlay frame on Redis,
// through the whole app on two replicas: webhooks go to A, overlays are
// connected to B. Each event opens a new drop (a state change every
// overlay must show). Reported: p50/p99 from the 202 received by the
// sender ("accepted") and from the request sent ("e2e").
func BenchmarkMomentLatency(b *testing.B) {
	for _, tc := range latencyLoads {
		b.Run(fmt.Sprintf("overlays=%d/rate=%d", tc.overlays, tc.rate), func(b *testing.B) {
			momentRound(b, tc.overlays, tc.rate).report(b)
		})
	}
}

// momentRound is one run of BenchmarkMomentLatency's measure.
func momentRound(b *testing.B, overlays, rate int) latencyResult {
	// The collector as `dropwire serve` sets it (server and overlays
	// share this process).
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	events := rate * latencySeconds
	stA := storetest.Redis(b)
	stB := storetest.RedisWithPrefix(b, stA.Prefix())
	a := startReplica(b, testConfig(b, "https://drops.example.com", events), stA, "127.0.0.1:0")
	r := startReplica(b, testConfig(b, "https://drops.example.com", events), stB, "127.0.0.1:0")
	defer a.shutdown()
	signer, _ := sdkhooks.NewSigner(hookSecret)
	return runLatency(b, "ws://"+r.addr+"/v1/overlay/ava/ws?key="+overlayKey, overlays, rate, r.shutdown, func(i int) {
		id := fmt.Sprintf("evt-%d-%d", i, time.Now().UnixNano())
		body := []byte(fmt.Sprintf(`{"type":"drop.trigger","drop":"d%d","moment":"%s"}`, i, id))
		req, _ := http.NewRequest("POST", a.url("/v1/hooks/capture"), bytes.NewReader(body))
		req.Header = signer.Headers(id, time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			b.Fatalf("webhook %d", resp.StatusCode)
		}
	})
}

// BenchmarkMomentVsRelay measures Dropwire (BenchmarkMomentLatency), the
// bare direct-write relay (BenchmarkBareDirectPublishLatency) and the same
// relay triggered by Dropwire's ingest call (relayIngestRound) in turns
// within the same run, so the sides of each ratio share the machine's
// moment: OVERLAY_BENCH_ROUNDS rounds (default 3) of each, the first side
// rotating. Reported: each side's median over the rounds of its p50, p99
// and CPU per trigger (gross, and net of the rate the process had with no
// trigger just before), and the ratios of the medians; every round is
// logged. OVERLAY_BENCH_PROFILE=FILE writes a CPU profile of each timed
// part (the last one run is kept).
func BenchmarkMomentVsRelay(b *testing.B) {
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("OVERLAY_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for _, tc := range latencyLoads {
		b.Run(fmt.Sprintf("overlays=%d/rate=%d", tc.overlays, tc.rate), func(b *testing.B) {
			var hub, relay, ingest []latencyResult
			for i := range rounds {
				sides := []func(){
					func() { hub = append(hub, momentRound(b, tc.overlays, tc.rate)) },
					func() { relay = append(relay, relayRound(b, tc.overlays, tc.rate, true)) },
					func() { ingest = append(ingest, relayIngestRound(b, tc.overlays, tc.rate)) },
				}
				// Each side goes first, second and third in turn.
				for j := range sides {
					sides[(i+j)%len(sides)]()
				}
				h, r, g := hub[len(hub)-1], relay[len(relay)-1], ingest[len(ingest)-1]
				b.Logf("round %d: dropwire p50 %.2f p99 %.2f ms cpu %.0f (net %.0f, idle %.0f ms/s) µs/trigger (%.1f%% up to date); "+
					"relay p50 %.2f p99 %.2f ms cpu %.0f (net %.0f, idle %.0f ms/s); relay+ingest p50 %.2f p99 %.2f ms cpu %.0f (net %.0f, idle %.0f ms/s); "+
					"p99 ratio %.2f (to relay+ingest %.2f), cpu ratio %.2f (net %.2f; to relay+ingest %.2f)",
					i+1, h.p50, h.p99, h.cpu, h.netCPU, h.idle/1000, h.upToDate, r.p50, r.p99, r.cpu, r.netCPU, r.idle/1000,
					g.p50, g.p99, g.cpu, g.netCPU, g.idle/1000, h.p99/r.p99, h.p99/g.p99, h.cpu/r.cpu, h.netCPU/r.netCPU, h.cpu/g.cpu)
			}
			med := func(rs []latencyResult, f func(latencyResult) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			p50 := func(r latencyResult) float64 { return r.p50 }
			p99 := func(r latencyResult) float64 { return r.p99 }
			cpu := func(r latencyResult) float64 { return r.cpu }
			net := func(r latencyResult) float64 { return r.netCPU }
			b.ReportMetric(med(hub, p50), "dropwire-p50-ms")
			b.ReportMetric(med(hub, p99), "dropwire-p99-ms")
			b.ReportMetric(med(hub, cpu), "dropwire-cpu-µs/trigger")
			b.ReportMetric(med(hub, net), "dropwire-net-cpu-µs/trigger")
			b.ReportMetric(med(relay, p50), "relay-p50-ms")
			b.ReportMetric(med(relay, p99), "relay-p99-ms")
			b.ReportMetric(med(relay, cpu), "relay-cpu-µs/trigger")
			b.ReportMetric(med(ingest, p99), "relay+ingest-p99-ms")
			b.ReportMetric(med(ingest, cpu), "relay+ingest-cpu-µs/trigger")
			b.ReportMetric(med(hub, p99)/med(relay, p99), "p99-ratio")
			b.ReportMetric(med(hub, cpu)/med(relay, cpu), "cpu-ratio")
			b.ReportMetric(med(hub, net)/med(relay, net), "net-cpu-ratio")
			b.ReportMetric(med(hub, p99)/med(ingest, p99), "p99-ratio-to-relay+ingest")
			b.ReportMetric(med(hub, cpu)/med(ingest, cpu), "cpu-ratio-to-relay+ingest")
		})
	}
}

// BenchmarkBarePublishLatency is the yardstick for BenchmarkMomentLatency
// on the same machine at the same moment: the usual Go fan-out server
// (gorilla/websocket, a writer goroutine per connection, frames prepared
// once) relaying a Redis PUBLISH of a state frame of the same size to the
// same readers, with no verification, no drop state and no QR.
// "accepted" is when PUBLISH returned.
func BenchmarkBarePublishLatency(b *testing.B) { benchBarePublish(b, false) }

// BenchmarkBareDirectPublishLatency is the floor of a fan-out on this
// machine: the same bare relay, but the goroutine that receives the
// PUBLISH writes the frame, built once, to every socket itself, as
// Dropwire's hub does, with nothing else on the path.
func BenchmarkBareDirectPublishLatency(b *testing.B) { benchBarePublish(b, true) }

func benchBarePublish(b *testing.B, direct bool) {
	for _, tc := range latencyLoads {
		b.Run(fmt.Sprintf("overlays=%d/rate=%d", tc.overlays, tc.rate), func(b *testing.B) {
			relayRound(b, tc.overlays, tc.rate, direct).report(b)
		})
	}
}

// relayFrame is the bare relays' frame for event i: the shape and size of
// the open frame Dropwire sends for drop d<i> (protocol v2, the QR of a
// claim URL on https://drops.example.com as modules).
func relayFrame(i int, size int, modules string) []byte {
	now := time.Now().UnixMilli()
	return fmt.Appendf(nil, `{"v":2,"type":"state","seq":%d,"server_time":%d,"status":"open",`+
		`"drop":{"id":"d%d","title":"Bench drop","opened_at":%d},"closes_at":%d,"stock":{"left":500,"total":500},`+
		`"qr":{"size":%d,"modules":%q,"rotates_at":%d}}`, now, now, i, now, now+3600_000, size, modules, now+60_000)
}

// relayRound is one run of a bare relay (see BenchmarkBarePublishLatency).
func relayRound(b *testing.B, overlays, rate int, direct bool) latencyResult {
	return relayRoundOf(b, overlays, rate, direct, false)
}

// relayIngestRound is one run of the direct-write relay whose trigger is
// Dropwire's own Redis call: each event goes through verifier.Ingest (the
// ingest script a webhook runs: dedupe, moment, opening, announcement),
// called in process, and the relay writes a frame built from each opening
// it hears. What Dropwire does beyond it is the webhook (HTTP and its
// verification), the hub (state, QR, claim code) and the server's other
// loops.
func relayIngestRound(b *testing.B, overlays, rate int) latencyResult {
	return relayRoundOf(b, overlays, rate, true, true)
}

func relayRoundOf(b *testing.B, overlays, rate int, direct, ingest bool) latencyResult {
	size, modules, _ := overlay.QRModules("https://drops.example.com/c/ABCDEFGHIJ")
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	pub := storetest.Redis(b)
	sub := storetest.RedisWithPrefix(b, pub.Prefix())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	channel := "bare"
	var v *verifier.Verifier
	if ingest {
		channel = verifier.StateChannel
		var err error
		v, err = verifier.New(verifier.Config{Store: pub, Drops: verifier.NewCatalog(testConfig(b, "https://drops.example.com", rate*latencySeconds).Drops)})
		if err != nil {
			b.Fatal(err)
		}
	}
	s, err := sub.Subscribe(ctx, channel)
	if err != nil {
		b.Fatal(err)
	}
	// Each connection has a queue for its writer goroutine, or
	// (direct) is written by the fan-out itself.
	type bareConn struct {
		q  chan *websocket.PreparedMessage
		nc net.Conn
	}
	var mu sync.Mutex
	conns := map[*bareConn]struct{}{}
	go func() {
		for m := range s.C() {
			if ingest {
				a := verifier.ParseAnnouncement(string(m.Payload))
				i, err := strconv.Atoi(strings.TrimPrefix(a.Drop, "d"))
				if a.Kind != verifier.AnnouncedOpen || err != nil {
					continue
				}
				m.Payload = relayFrame(i, size, modules)
			}
			if direct {
				f := wsTextFrame(m.Payload)
				mu.Lock()
				for c := range conns {
					_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
					_, _ = c.nc.Write(f)
				}
				mu.Unlock()
				continue
			}
			pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, m.Payload)
			mu.Lock()
			for c := range conns {
				select {
				case c.q <- pm:
				default: // a slow client misses it
				}
			}
			mu.Unlock()
		}
	}()
	up := websocket.Upgrader{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"state","status":"idle"}`))
		c := &bareConn{q: make(chan *websocket.PreparedMessage, 16), nc: ws.NetConn()}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		go func() {
			defer ws.Close()
			for pm := range c.q {
				if ws.WritePreparedMessage(pm) != nil {
					return
				}
			}
		}()
		go func() {
			for {
				if _, _, err := ws.NextReader(); err != nil {
					mu.Lock()
					if _, ok := conns[c]; ok {
						delete(conns, c)
						close(c.q)
					}
					mu.Unlock()
					return
				}
			}
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		_ = srv.Close()
		mu.Lock()
		for c := range conns {
			delete(conns, c)
			close(c.q)
		}
		mu.Unlock()
	}
	res := runLatency(b, "ws://"+ln.Addr().String()+"/", overlays, rate, stop, func(i int) {
		if ingest {
			id := fmt.Sprintf("evt-%d-%d", i, time.Now().UnixNano())
			r, err := v.Ingest(context.Background(), verifier.Source{ID: "capture", Creator: "ava"},
				verifier.Event{ID: id, Type: verifier.TypeDropTrigger, Drop: fmt.Sprintf("d%d", i), Moment: id})
			if err != nil || r.Status != verifier.StatusAccepted {
				b.Fatalf("ingest: %v %v", r.Status, err)
			}
			return
		}
		if err := pub.Publish(context.Background(), "bare", relayFrame(i, size, modules)); err != nil {
			b.Fatal(err)
		}
	})
	// The readers closed their sockets; the server's goroutines end with
	// them.
	return res
}

// numberAfter reads the decimal number that follows the first prefix in
// m, without decoding the message.
func numberAfter(m []byte, prefix string) (int, bool) {
	j := bytes.Index(m, []byte(prefix))
	if j < 0 {
		return 0, false
	}
	n, k := 0, 0
	for _, ch := range m[j+len(prefix):] {
		if ch < '0' || ch > '9' {
			break
		}
		n, k = n*10+int(ch-'0'), k+1
	}
	return n, k > 0
}

// wsTextFrame is payload as one unmasked WebSocket text frame (RFC 6455).
func wsTextFrame(payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = []byte{0x81, byte(n)}
	case n < 1<<16:
		f = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		f = []byte{0x81, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(f, payload...)
}

// latencyResult is what runLatency measured: milliseconds, percentages,
// and microseconds of processor time per event.
type latencyResult struct {
	p50, p99, e2eP50, e2eP99 float64 // up to date, from accepted / from sent
	spreadP50, spreadP90     float64
	upToDate, received       float64
	cpu                      float64 // the process less the readers' thread, per event
	idle                     float64 // the same with no event, per second, just before
	netCPU                   float64 // cpu less the idle rate over the same time
}

func (r latencyResult) report(b *testing.B) {
	b.ReportMetric(r.upToDate, "%uptodate")
	b.ReportMetric(r.received, "%received")
	b.ReportMetric(r.spreadP50, "spread-p50-ms")
	b.ReportMetric(r.spreadP90, "spread-p90-ms")
	b.ReportMetric(r.p50, "accepted-p50-ms")
	b.ReportMetric(r.p99, "accepted-p99-ms")
	b.ReportMetric(r.e2eP50, "e2e-p50-ms")
	b.ReportMetric(r.e2eP99, "e2e-p99-ms")
	b.ReportMetric(r.cpu, "cpu-µs/event")
	b.ReportMetric(r.netCPU, "net-cpu-µs/event")
	b.ReportMetric(r.idle/1000, "idle-cpu-ms/s")
}

// settle waits, for 15 s at most, until the process uses less than a
// fifth of a processor over half a second: servers just started are done
// with their start-up work.
func settle() {
	for range 30 {
		c0, _ := loadgen.ProcessCPU()
		time.Sleep(500 * time.Millisecond)
		c1, _ := loadgen.ProcessCPU()
		if c1-c0 < 100*time.Millisecond {
			return
		}
	}
}

// runLatency connects n overlays to url, calls send(i) for each event i at
// rate/s for latencySeconds, and measures when each overlay first showed
// drop "d<i>" or a later one, from the return of send ("accepted") and from
// its call ("e2e"). stop ends the server side, so the readers return.
//
// The processor time per event is the process's (servers, the event
// sender, the collector) less the readers' thread, from the first event
// to half a second after the last.
func runLatency(b *testing.B, url string, n, rate int, stop func(), send func(i int)) latencyResult {
	events := rate * latencySeconds
	type rec struct {
		drop int
		at   time.Time
	}
	recs := make([][]rec, n)
	// A light client, so the readers cost the shared cores little: one
	// thread reads every socket (see loadgen.Sockets), and decodes nothing
	// of a message but the drop number.
	socks, err := loadgen.DialWebSockets(url, n, 10*time.Second)
	if err != nil {
		b.Fatalf("dial %s: %v", url, err)
	}
	b.Cleanup(socks.Close)
	for i := range recs {
		recs[i] = make([]rec, 0, events)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := socks.Read(func(i int, m []byte, at time.Time) {
			// The first frame of each drop only.
			d, ok := numberAfter(m, `"drop":{"id":"d`)
			if ok && (len(recs[i]) == 0 || recs[i][len(recs[i])-1].drop != d) {
				recs[i] = append(recs[i], rec{d, at})
			}
		})
		if err != nil {
			b.Error(err)
		}
	}()
	sent := make([]time.Time, events)
	accepted := make([]time.Time, events)
	// One run of fixed length: b.N is not meaningful here. Creators
	// connect their overlays long before a drop: let the server settle.
	// Its start-up work (the forwarder's first sweep reads every drop
	// configured) is not a trigger's: wait for it to end, then take the
	// process's rate with no trigger over a second.
	settle()
	idle0, _ := loadgen.ProcessCPU()
	idleReader0, _ := socks.ReaderCPU()
	time.Sleep(time.Second)
	b.ResetTimer()
	cpu0, _ := loadgen.ProcessCPU()
	reader0, _ := socks.ReaderCPU()
	idleRate := float64((cpu0-idle0)-(reader0-idleReader0)) / float64(time.Microsecond) // µs per second
	if f := os.Getenv("OVERLAY_BENCH_PROFILE"); f != "" {
		// The timed part only, for `go tool pprof`.
		pf, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.StartCPUProfile(pf)
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := range events {
		<-tick.C
		sent[i] = time.Now()
		send(i)
		accepted[i] = time.Now()
	}
	tick.Stop()
	time.Sleep(500 * time.Millisecond)
	cpu1, _ := loadgen.ProcessCPU()
	reader1, _ := socks.ReaderCPU()
	window := time.Since(start).Seconds()
	b.StopTimer()
	stop() // closes the sockets: the reader returns
	wg.Wait()
	// An overlay is up to date for event i from its first frame showing
	// drop d<i> or a later one: a state that arrives while an older one is
	// still going out replaces it (conflation), and the overlay that gets
	// it skips the older drop. "received" counts the frames of each drop
	// itself.
	var fromAccepted, fromSent []time.Duration
	received := 0
	// The spread of an event is from its first overlay being up to date to
	// its last: the cost of the fan-out itself, which bounds the p99 from
	// below however fast the path to the first frame is.
	first := make([]time.Time, events)
	last := make([]time.Time, events)
	for _, rs := range recs {
		j := 0
		for i := range events {
			for j < len(rs) && rs[j].drop < i {
				j++
			}
			if j == len(rs) {
				break
			}
			at := rs[j].at
			if rs[j].drop == i {
				received++
			}
			fromAccepted = append(fromAccepted, max(0, at.Sub(accepted[i])))
			fromSent = append(fromSent, at.Sub(sent[i]))
			if first[i].IsZero() || at.Before(first[i]) {
				first[i] = at
			}
			if at.After(last[i]) {
				last[i] = at
			}
		}
	}
	var spread []time.Duration
	for i := range first {
		if !first[i].IsZero() {
			spread = append(spread, last[i].Sub(first[i]))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res := latencyResult{
		upToDate: float64(len(fromSent)) / float64(events*n) * 100,
		received: float64(received) / float64(events*n) * 100,
		cpu:      float64((cpu1-cpu0)-(reader1-reader0)) / float64(time.Microsecond) / float64(events),
		idle:     idleRate,
	}
	res.netCPU = res.cpu - idleRate*window/float64(events)
	if len(spread) > 0 {
		slices.Sort(spread)
		res.spreadP50, res.spreadP90 = ms(spread[len(spread)/2]), ms(spread[len(spread)*9/10])
	}
	if len(fromAccepted) > 0 {
		slices.Sort(fromAccepted)
		slices.Sort(fromSent)
		res.p50, res.p99 = ms(fromAccepted[len(fromAccepted)/2]), ms(fromAccepted[len(fromAccepted)*99/100])
		res.e2eP50, res.e2eP99 = ms(fromSent[len(fromSent)/2]), ms(fromSent[len(fromSent)*99/100])
	}
	return res
}

// BenchmarkClaimRushLatency measures how far overlays fall behind in a
// claim rush: 1,000 overlays on Redis watch an open drop while every unit
// of it is claimed as fast as the store takes the announcements (one per
// claim, as the claim script sends them). Reported: from the last
// announcement to each overlay showing the drop sold out, p50/p99, and the
// frames each overlay received during the rush.
func BenchmarkClaimRushLatency(b *testing.B) {
	const overlays, units = 1000, 500
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	st := storetest.Redis(b)
	r := startReplica(b, testConfig(b, "https://drops.example.com", 1), st, "127.0.0.1:0")
	socks, err := loadgen.DialWebSockets("ws://"+r.addr+"/v1/overlay/ava/ws?key="+overlayKey, overlays, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(socks.Close)
	var (
		mu       sync.Mutex
		open     int // overlays showing the drop open
		rushing  bool
		frames   = make([]int, overlays)
		soldOut  = make([]time.Time, overlays)
		allOpen  = make(chan struct{})
		allSold  = make(chan struct{})
		nSoldOut int
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen := make([]bool, overlays)
		_ = socks.Read(func(i int, m []byte, at time.Time) {
			n, ok := numberAfter(m, `"stock":{"left":`)
			if !ok || !bytes.Contains(m, []byte(`"drop":{"id":"d0"`)) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !seen[i] {
				seen[i] = true
				if open++; open == overlays {
					close(allOpen)
				}
			}
			if !rushing {
				return
			}
			frames[i]++
			if n == 0 && soldOut[i].IsZero() {
				soldOut[i] = at
				if nSoldOut++; nSoldOut == overlays {
					close(allSold)
				}
			}
		})
	}()
	time.Sleep(time.Second) // the overlays are up long before the drop
	trigger(b, r, "d0", "rush")
	select {
	case <-allOpen:
	case <-time.After(10 * time.Second):
		b.Fatal("the drop did not open on every overlay")
	}
	mu.Lock()
	rushing = true
	mu.Unlock()
	b.ResetTimer()
	ctx := context.Background()
	// The claims are in the store, as the claim script leaves them, and
	// their announcements go out one per claim. Each is newer than
	// anything the opening set, and leaves one unit less.
	if err := st.HSet(ctx, store.DropKey("d0", "stock"), map[string]string{"corner:pack": "0"}); err != nil {
		b.Fatal(err)
	}
	for k := 1; k <= units; k++ {
		msg := fmt.Sprintf("d0 %d %d", 1<<40+k, units-k)
		if err := st.Publish(ctx, verifier.StateChannel, []byte(msg)); err != nil {
			b.Fatal(err)
		}
	}
	done := time.Now()
	select {
	case <-allSold:
	case <-time.After(30 * time.Second):
		mu.Lock()
		b.Errorf("after 30 s, %d of %d overlays show the drop sold out", nSoldOut, overlays)
		mu.Unlock()
	}
	b.StopTimer()
	r.shutdown()
	wg.Wait()
	var lag []time.Duration
	total := 0
	for i, at := range soldOut {
		total += frames[i]
		if !at.IsZero() {
			lag = append(lag, max(0, at.Sub(done)))
		}
	}
	b.ReportMetric(float64(total)/overlays, "frames/overlay")
	if len(lag) > 0 {
		slices.Sort(lag)
		b.ReportMetric(float64(lag[len(lag)/2].Microseconds())/1000, "behind-p50-ms")
		b.ReportMetric(float64(lag[len(lag)*99/100].Microseconds())/1000, "behind-p99-ms")
	}
}
