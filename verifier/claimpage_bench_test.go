package verifier_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"runtime/debug"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/images"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/web"
)

// rushImage is a reward picture for the claim page rush: a 480×300 PNG
// of a few tens of kilobytes, as a picture made for phones is.
func rushImage(b *testing.B) []byte {
	b.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 480, 300))
	for y := range 300 {
		for x := range 480 {
			v := uint8((x*7 + y*3 + (x*y)%23) % 256)
			img.Set(x, y, color.NRGBA{R: v, G: uint8(x / 2), B: uint8(y), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// The claim page under a rush, as a crowd of phones opens the code on
// screen for the first time, against a reference measured in the same
// run: a plain net/http server answering the same requests with the same
// bytes (headers included, the device cookie too) from memory, and doing
// nothing else. Two mixes, each with 64 connections: the page alone
// (every request a new device, so a cookie is issued each), and a first
// visit (the page, its stylesheet, its script and the drop's picture,
// one of each in turn). The two servers take turns, eight slices of
// 2,500 requests each (loadgen.Interleave), so that the load other work
// puts on the machine weighs on both alike. The collector runs at
// GOGC 200, as in dropwire serve. Reports requests/s, p50 and p99 of
// both, and Dropwire's throughput as a share of the reference's.
func BenchmarkClaimPageRush(b *testing.B) {
	const n = 20000
	defer debug.SetGCPercent(debug.SetGCPercent(200)) // as dropwire serve runs
	ctx := context.Background()
	st := storetest.Redis(b)
	pic, err := images.Put(ctx, st, rushImage(b), "image/png")
	if err != nil {
		b.Fatal(err)
	}
	addr, code := benchServer(b, st, 100, func(c *config.Config) { c.Drops[0].Image = pic })

	targets := []string{"/c/" + code, web.AssetURL("claim.css"), web.AssetURL("claim.js"), pic}
	reqs := func(host string) []loadgen.Request {
		out := make([]loadgen.Request, len(targets))
		for i, t := range targets {
			out[i] = loadgen.BuildRequest("GET", host, t, nil, nil)
		}
		return out
	}
	captured, err := loadgen.Capture(addr, reqs(addr), 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range captured {
		if c.Status != http.StatusOK {
			b.Fatalf("GET %s: %d", c.Target, c.Status)
		}
	}
	if captured[0].Header.Get("Set-Cookie") == "" {
		b.Fatal("the claim page set no device cookie")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ref := &http.Server{Handler: loadgen.Replay(captured), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ref.Serve(ln) }()
	b.Cleanup(func() { _ = ref.Close() })
	refAddr := ln.Addr().String()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var bytesVisit int
	for _, c := range captured {
		bytesVisit += len(c.Body)
	}
	b.ResetTimer()
	for range b.N {
		for _, mix := range []struct {
			name string
			n    int
		}{{"page", 1}, {"visit", len(targets)}} {
			sides := []loadgen.Side{
				{Name: "reference", Addr: refAddr, Requests: reqs(refAddr)[:mix.n]},
				{Name: "dropwire", Addr: addr, Requests: reqs(addr)[:mix.n]},
			}
			res, err := loadgen.Interleave(ctx, loadgen.Config{Concurrency: 64}, sides, 8, n/8, nil)
			if err != nil {
				b.Fatal(err)
			}
			rf, dw := res[0], res[1]
			for _, r := range res {
				if r.Status[http.StatusOK] != n {
					b.Fatalf("%s: %v %v", mix.name, r.Status, r.Errors)
				}
			}
			b.ReportMetric(dw.Throughput, mix.name+"-req/s")
			b.ReportMetric(rf.Throughput, mix.name+"-ref-req/s")
			b.ReportMetric(dw.Throughput/rf.Throughput, mix.name+"-ratio")
			b.ReportMetric(ms(dw.Latency.P50), mix.name+"-p50-ms")
			b.ReportMetric(ms(dw.Latency.P99), mix.name+"-p99-ms")
			b.ReportMetric(ms(rf.Latency.P50), mix.name+"-ref-p50-ms")
			b.ReportMetric(ms(rf.Latency.P99), mix.name+"-ref-p99-ms")
		}
	}
	b.StopTimer()
	b.Logf("first visit: %d bytes of bodies (page %d, css %d, js %d, picture %d)", bytesVisit,
		len(captured[0].Body), len(captured[1].Body), len(captured[2].Body), len(captured[3].Body))
}

// discardWriter is a ResponseWriter that keeps nothing but its header.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// The CPU and allocations of one first visit's claim page through the
// whole handler (middleware, code, kept state and stock, device cookie,
// kept page), without the network, against the reference handler
// replaying the same response. The difference is what the page costs
// beyond writing its bytes.
func BenchmarkClaimPageHandler(b *testing.B) {
	st := storetest.Redis(b)
	a, addr, code := benchApp(b, st, 100)
	captured, err := loadgen.Capture(addr, []loadgen.Request{loadgen.BuildRequest("GET", addr, "/c/"+code, nil, nil)}, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"dropwire", a.Server().Handler()}, {"reference", loadgen.Replay(captured)}} {
		b.Run(tc.name, func(b *testing.B) {
			r, _ := http.NewRequest("GET", "/c/"+code, nil)
			r.RequestURI, r.RemoteAddr = "/c/"+code, "127.0.0.1:40000"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tc.h.ServeHTTP(w, r)
			}
		})
	}
}
