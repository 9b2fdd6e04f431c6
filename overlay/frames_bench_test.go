package overlay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// v1Frame is s as protocol v1 sent it: times as RFC 3339 strings, the QR
// as its claim URL and an SVG of it. It is the "before" of
// BenchmarkFrameBytes (the hub of protocol v1 sent exactly this; checked
// against it when v2 replaced it).
func v1Frame(tb testing.TB, s State) []byte {
	tb.Helper()
	iso := func(t Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
	type qr struct {
		URL       string `json:"url"`
		SVG       string `json:"svg"`
		RotatesAt string `json:"rotates_at"`
	}
	type drop struct {
		ID       string `json:"id"`
		Title    string `json:"title"`
		OpenedAt string `json:"opened_at"`
	}
	v := struct {
		V          int     `json:"v"`
		Type       string  `json:"type"`
		Seq        int64   `json:"seq"`
		ServerTime string  `json:"server_time"`
		Status     string  `json:"status"`
		Drop       *drop   `json:"drop"`
		ClosesAt   *string `json:"closes_at"`
		Stock      *Stock  `json:"stock"`
		QR         *qr     `json:"qr"`
	}{V: 1, Type: s.Type, Seq: s.Seq, ServerTime: iso(s.ServerTime), Status: s.Status, Stock: s.Stock}
	if s.Drop != nil {
		v.Drop = &drop{s.Drop.ID, s.Drop.Title, iso(s.Drop.OpenedAt)}
	}
	if s.ClosesAt != nil {
		c := iso(*s.ClosesAt)
		v.ClosesAt = &c
	}
	if s.QR != nil {
		url := qrText(tb, s.QR)
		svg, _, err := QRSVG(url)
		if err != nil {
			tb.Fatal(err)
		}
		v.QR = &qr{url, svg, iso(s.QR.RotatesAt)}
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v)
	return textFrame(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// frameStates drives a hub through idle, open and sold out for a drop
// with a real title on https://drops.example.com, and returns the states
// its overlay received.
func frameStates(b testing.TB) map[string]State {
	st := storetest.Memory(b)
	e := newEnv(b, st, nil, realisticDrop())
	c := e.dial(b)
	out := map[string]State{StatusIdle: c.next()}
	e.trigger(b, "sticker-spring", "e1")
	out[StatusOpen] = c.until(func(s State) bool { return s.Status == StatusOpen })
	ctx := context.Background()
	if err := st.HSet(ctx, store.DropKey("sticker-spring", "stock"), map[string]string{"n1:s": "0"}); err != nil {
		b.Fatal(err)
	}
	if err := st.Publish(ctx, verifier.StateChannel, []byte("sticker-spring 99 0")); err != nil {
		b.Fatal(err)
	}
	out[StatusSoldOut] = c.until(func(s State) bool { return s.Status == StatusSoldOut })
	return out
}

// BenchmarkFrameBytes reports the size of a state frame on the wire
// (WebSocket header included) as the hub sends it in protocol v2
// ("bytes/frame") and as protocol v1 sent the same state
// ("v1-bytes/frame"), for each status; the loop encodes and frames the
// state once, as a publish does.
func BenchmarkFrameBytes(b *testing.B) {
	states := frameStates(b)
	for _, status := range []string{StatusIdle, StatusOpen, StatusSoldOut} {
		s := states[status]
		b.Run("status="+status, func(b *testing.B) {
			var f frame
			for range b.N {
				f = textFrame(s.encode())
			}
			b.ReportMetric(float64(len(f)), "bytes/frame")
			b.ReportMetric(float64(len(v1Frame(b, s))), "v1-bytes/frame")
		})
	}
}

// BenchmarkConfiguredDrops: one creator with 10, 1,000 or 10,000 drops
// configured, one of them open, on Redis. Reported, in processor time of
// this process (less the overlays' reader threads): connecting 10
// overlays, per overlay, from the first dial to 200 ms after the last
// (the first reads the creator's drops; what the hub does in the
// background after a connect is counted too): "connect-cpu-µs"; a claim
// announcement whose frame reaches the 10 overlays: "cpu-µs/trigger"; the
// periodic resync (100 of them back to back): "resync-cpu-µs".
// OVERLAY_BENCH_DROPS overrides the list of counts ("10,1000").
func BenchmarkConfiguredDrops(b *testing.B) {
	counts := []int{10, 1000, 10000}
	if env := os.Getenv("OVERLAY_BENCH_DROPS"); env != "" {
		counts = nil
		for f := range bytes.SplitSeq([]byte(env), []byte(",")) {
			n, err := strconv.Atoi(string(f))
			if err != nil {
				b.Fatal(err)
			}
			counts = append(counts, n)
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("drops=%d", n), func(b *testing.B) {
			benchConfiguredDrops(b, n)
		})
	}
}

func benchConfiguredDrops(b *testing.B, n int) {
	const overlays = 10
	drops := make([]config.Drop, n)
	for i := range drops {
		drops[i] = testDrop(fmt.Sprintf("d%d", i))
		drops[i].Window = config.Duration(time.Hour)
	}
	st := storetest.Redis(b)
	e := newEnv(b, st, nil, drops...)
	e.trigger(b, "d0", "open")
	// The hub surveyed every drop when it subscribed (at start): wait for
	// it, as a creator connects long after a replica started.
	waitSurveyed(b, e.hub, n)
	cpu := func() time.Duration {
		d, _ := loadgen.ProcessCPU()
		return d
	}
	// Connect the overlays one by one; the first reads the creator's live
	// drops, the others get the state the hub has.
	url := e.wsURL("ava", testKey)
	socks := make([]*loadgen.Sockets, overlays)
	runtime.GC()
	c0 := cpu()
	for i := range socks {
		s, err := loadgen.DialWebSockets(url, 1, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		for e.hub.Connected("ava") != i+1 {
			time.Sleep(time.Millisecond)
		}
		socks[i] = s
		b.Cleanup(s.Close)
	}
	time.Sleep(200 * time.Millisecond)
	connect := cpu() - c0
	// A reader per socket: the frames are read (and counted) as they
	// come, so the fan-out never waits on a full socket.
	frames := make(chan struct{}, 1<<16)
	for _, s := range socks {
		go func() {
			_ = s.Read(func(int, []byte, time.Time) { frames <- struct{}{} })
		}()
	}
	// The connect frames.
	for range overlays {
		<-frames
	}
	readers := func() time.Duration {
		var t time.Duration
		for _, s := range socks {
			d, _ := s.ReaderCPU()
			t += d
		}
		return t
	}
	time.Sleep(100 * time.Millisecond)
	b.ResetTimer()
	a0 := heapAllocs()
	c0, r0 := cpu(), readers()
	ctx := context.Background()
	for i := range b.N {
		msg := fmt.Sprintf("d0 %d %d", 1<<40+i, 10_000-i%10_000)
		if err := st.Publish(ctx, verifier.StateChannel, []byte(msg)); err != nil {
			b.Fatal(err)
		}
		for range overlays {
			<-frames
		}
	}
	perTrigger := (cpu() - c0) - (readers() - r0)
	a1 := heapAllocs()
	b.StopTimer()
	runtime.GC()
	c1, r1 := cpu(), readers()
	const resyncs = 100
	for range resyncs {
		e.hub.resyncAll()
	}
	resync := (cpu() - c1) - (readers() - r1)
	b.ReportMetric(float64(connect.Microseconds())/overlays, "connect-cpu-µs")
	b.ReportMetric(float64(perTrigger.Microseconds())/float64(b.N), "cpu-µs/trigger")
	// What the process allocated per trigger: the same count in every
	// run, whatever the machine's load, so it shows what the processor
	// time cannot steadily here (see BENCHMARKS.md).
	b.ReportMetric(float64(a1.objects-a0.objects)/float64(b.N), "allocs/trigger")
	b.ReportMetric(float64(a1.bytes-a0.bytes)/float64(b.N), "B/trigger")
	b.ReportMetric(float64(resync.Microseconds())/resyncs, "resync-cpu-µs")
}

type allocCount struct{ objects, bytes uint64 }

// heapAllocs reads the process's cumulative heap allocations.
func heapAllocs() allocCount {
	ms := []rtmetrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(ms)
	return allocCount{objects: ms[0].Value.Uint64(), bytes: ms[1].Value.Uint64()}
}
