package verifier_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
)

// benchServer serves the app over st with drop "spring" open and qty
// units at each of its two nodes; it returns the address and the code.
// Each tweak changes the configuration before the app starts.
func benchServer(b *testing.B, st store.Store, qty int, tweaks ...func(*config.Config)) (string, string) {
	b.Helper()
	_, addr, code := benchApp(b, st, qty, tweaks...)
	return addr, code
}

// benchApp is benchServer, returning the app too.
func benchApp(b *testing.B, st store.Store, qty int, tweaks ...func(*config.Config)) (*app.App, string, string) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg := benchConfig(b, "http://"+ln.Addr().String(), qty)
	for _, t := range tweaks {
		t(cfg)
	}
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	b.Cleanup(func() { stop(); <-done })
	v := a.Verifier()
	if _, err := v.Ingest(context.Background(), verifier.Source{ID: "capture", Creator: "ava"},
		verifier.Event{ID: "open", Type: verifier.TypeDropTrigger, Drop: "spring", Channel: verifier.ChannelWebhook}); err != nil {
		b.Fatal(err)
	}
	cat := verifier.NewCatalog(cfg.Drops)
	codes, _ := overlay.NewCodes(overlay.CodesConfig{Store: st, Drops: cat, States: v})
	d, _ := cat.Drop(context.Background(), "spring")
	// Issued, as the overlay puts it on screen.
	code, _, err := codes.Issue(context.Background(), d, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return a, ln.Addr().String(), code
}

func benchConfig(b *testing.B, base string, qty int) *config.Config {
	b.Helper()
	cfg := &config.Config{
		Listen: "127.0.0.1:0", PublicURL: base, LogLevel: "disabled",
		Creators: []config.Creator{{ID: "ava", OverlayKeys: []string{overlayKey}}},
		Sources:  []config.Source{{ID: "capture", Creator: "ava", Scheme: config.SchemeStandard, Secrets: []string{hookSecret}}},
		Nodes: []config.Node{
			{ID: "a", Secret: hookSecret}, {ID: "b", Secret: hookSecret},
		},
		Drops: []config.Drop{{ID: "spring", Creator: "ava", Title: "Bench", Window: config.Duration(time.Hour),
			QRRotate: config.Duration(time.Hour), ScanGrace: config.Duration(time.Hour),
			Stock: []config.StockLine{{Node: "a", SKU: "x", Qty: qty}, {Node: "b", SKU: "x", Qty: qty}}}},
		ClaimRateIP: -1, ClaimRateDevice: -1,
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// claimRequests returns n claims, each from its own device: the device
// cookie of a claim page opened for it first, as a phone does.
func claimRequests(b *testing.B, addr, code, run string, n int) []loadgen.Request {
	b.Helper()
	page := loadgen.BuildRequest("GET", addr, "/c/"+code, nil, nil)
	cookies := make([]string, n)
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 32, Max: n,
		Request:    func(int) loadgen.Request { return page },
		OnResponse: func(i int, resp []byte) { cookies[i] = loadgen.SetCookie(resp, verifier.DeviceCookie) }})
	if err != nil || res.Status[http.StatusOK] != n {
		b.Fatalf("claim pages: %v %v %v", res.Status, res.Errors, err)
	}
	body := fmt.Appendf(nil, `{"code":%q}`, code)
	reqs := make([]loadgen.Request, n)
	for i := range reqs {
		h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {fmt.Sprintf("%s-%d", run, i)}, "Cookie": {cookies[i]}}
		reqs[i] = loadgen.BuildRequest("POST", addr, "/v1/claims", h, body)
	}
	return reqs
}

// Successful claims through HTTP with Redis: every attempt a new viewer
// (a device of its own, from its claim page, opened before the timer
// starts) with stock for all, 32 connections. Reports claims/s and
// the p99 latency.
func BenchmarkClaimHTTPRedis(b *testing.B) {
	addr, code := benchServer(b, storetest.Redis(b), b.N)
	reqs := claimRequests(b, addr, code, "b", b.N)
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 32, Max: b.N,
		Request: func(i int) loadgen.Request { return reqs[i] }})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Status[http.StatusCreated] != b.N {
		b.Fatalf("%d of %d created: %v %v", res.Status[http.StatusCreated], b.N, res.Status, res.Errors)
	}
	b.ReportMetric(res.Throughput, "claims/s")
	b.ReportMetric(float64(res.Latency.P99.Microseconds())/1000, "p99-ms")
}

// A burst of 20,000 attempts from distinct viewers against 1,000 units, as
// after the QR appears on stream: most end sold out (the in-process fast
// path). Each viewer's claim page is opened before the timer starts: the
// page's own cost is BenchmarkClaimPageRedis. Reports attempts/s and the p99 latency over the burst.
func BenchmarkClaimBurstRedis(b *testing.B) {
	for range b.N {
		b.StopTimer()
		st := storetest.Redis(b)
		addr, code := benchServer(b, st, 500)
		reqs := claimRequests(b, addr, code, "burst", 20000)
		b.StartTimer()
		res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 64, Max: len(reqs),
			Request: func(i int) loadgen.Request { return reqs[i] }})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Status[http.StatusCreated] != 1000 || res.Status[http.StatusCreated]+res.Status[http.StatusGone] != 20000 {
			b.Fatalf("status mix %v %v", res.Status, res.Errors)
		}
		b.ReportMetric(res.Throughput, "attempts/s")
		b.ReportMetric(float64(res.Latency.P99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(res.Latency.P50.Microseconds())/1000, "p50-ms")
	}
}

// The claim page on Redis: GET /c/{code} as a crowd of first-time
// viewers opens it (each gets its device cookie), as returning devices
// open it (their cookie is read and their claim looked up), and, on the
// same server in the same run, GET /healthz as the yardstick of what the
// HTTP stack alone does on this machine. Reports requests/s of each and
// the page's share of the yardstick.
func BenchmarkClaimPageRedis(b *testing.B) {
	const n = 20000
	addr, code := benchServer(b, storetest.Redis(b), 100)
	res, err := http.Get("http://" + addr + "/c/" + code)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	var cookie string
	for _, c := range res.Cookies() {
		if c.Name == verifier.DeviceCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if res.StatusCode != 200 || cookie == "" {
		b.Fatalf("claim page: %d, cookie %q", res.StatusCode, cookie)
	}
	run := func(path string, h http.Header) loadgen.Result {
		b.Helper()
		req := loadgen.BuildRequest("GET", addr, path, h, nil)
		r, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 32, Max: n,
			Request: func(int) loadgen.Request { return req }})
		if err != nil {
			b.Fatal(err)
		}
		if r.Status[http.StatusOK] != n {
			b.Fatalf("GET %s: %v %v", path, r.Status, r.Errors)
		}
		return r
	}
	b.ResetTimer()
	for range b.N {
		health := run("/healthz", nil)
		fresh := run("/c/"+code, nil)
		back := run("/c/"+code, http.Header{"Cookie": {cookie}})
		b.ReportMetric(health.Throughput, "healthz-req/s")
		b.ReportMetric(fresh.Throughput, "page-req/s")
		b.ReportMetric(back.Throughput, "page-returning-req/s")
		b.ReportMetric(fresh.Throughput/health.Throughput, "page/healthz")
		b.ReportMetric(float64(fresh.Latency.P99.Microseconds())/1000, "page-p99-ms")
	}
}

// The claim page's live status, which every open page polls.
func BenchmarkCodeStatusRedis(b *testing.B) {
	addr, code := benchServer(b, storetest.Redis(b), 100)
	req := loadgen.BuildRequest("GET", addr, "/v1/codes/"+code, nil, nil)
	b.ResetTimer()
	r, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: 32, Max: max(b.N, 1000),
		Request: func(int) loadgen.Request { return req }})
	b.StopTimer()
	if err != nil || r.Status[http.StatusOK] != max(b.N, 1000) {
		b.Fatalf("%v %v %v", err, r.Status, r.Errors)
	}
	b.ReportMetric(r.Throughput, "req/s")
	b.ReportMetric(float64(r.Latency.P99.Microseconds())/1000, "p99-ms")
}
