package sdkhooks_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// rtcCompare is one run of events against one path: latencies from send
// to ack (or response) and the statuses.
type rtcCompare struct {
	lat    loadgen.Latencies
	status map[string]int
}

// sendRTC sends n events at rate over the peers in turn (each event to
// the next peer), and waits for their acks.
func sendRTC(b *testing.B, peers []*sdkhooks.RTCClient, run string, n, rate int) rtcCompare {
	b.Helper()
	out := rtcCompare{status: map[string]int{}}
	var mu sync.Mutex
	sent := make([]chan time.Time, len(peers))
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n/rate+30)*time.Second)
	defer cancel()
	for i, c := range peers {
		sent[i] = make(chan time.Time, n)
		k := n / len(peers)
		if i < n%len(peers) {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k {
				// When the ack arrived on the channel, as the load
				// generator times a response when its read returns.
				a, at, err := c.NextAckAt(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				// The channel is ordered: acks come in the order sent.
				d := at.Sub(<-sent[i])
				mu.Lock()
				out.lat.Add(d)
				out.status[a.Status+a.Reason]++
				mu.Unlock()
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		p := i % len(peers)
		sent[p] <- time.Now()
		msg := fmt.Appendf(nil, `{"id":"rtc-%s-%d","type":"drop.trigger","drop":"spring","moment":"m-%d"}`, run, i, i%1000)
		if err := peers[p].Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	return out
}

// sendHooks posts n signed webhooks at rate with the open-loop load
// generator (measured from when each was due when no connection was free).
func sendHooks(b *testing.B, addr, run string, n, rate int) rtcCompare {
	b.Helper()
	signer, _ := sdkhooks.NewSigner(secretA)
	reqs := make([]loadgen.Request, n)
	now := time.Now()
	for i := range reqs {
		id := fmt.Sprintf("hook-%s-%d", run, i)
		body := fmt.Appendf(nil, `{"type":"drop.trigger","drop":"spring","moment":"m-%d"}`, i%1000)
		reqs[i] = loadgen.BuildRequest("POST", addr, "/v1/hooks/cap", signer.Headers(id, now, body), body)
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Rate: rate, Concurrency: 16, Max: n,
		Request: func(i int) loadgen.Request { return reqs[i] }})
	if err != nil {
		b.Fatal(err)
	}
	out := rtcCompare{status: map[string]int{}}
	for k, v := range res.Status {
		out.status[strconv.Itoa(k)] += v
	}
	out.lat = *res.Latencies()
	return out
}

// Event → ack over the data channel against webhook → response, at the
// same rate (1,000 events/s), on the same server (the whole app on
// Redis, GOGC 200 as dropwire serve runs) in the same run: ten peers take
// the events in turn; the webhooks go out from the open-loop load
// generator over 16 connections. A third path is the data channel's
// floor: the same clients against pion peers that answer each message at
// once with a fixed ack (echoServer), with nothing of Dropwire on the way.
// Each b.N round sends 3,000 events down each path, in twelve slices of
// 250, the order of the paths turning every slice. Reports p50 and p99
// of each over all rounds, and the p99 of the data channel and of its
// floor as shares of the webhooks'.
//
// With 40 peers each carries a quarter of the events: the server handles
// a peer's messages one after the other (the channel is ordered), so a
// slow ingest holds up that peer's next messages, and the fewer a peer
// carries the less it does.
func BenchmarkRTCAckVsWebhook(b *testing.B) {
	for _, npeers := range []int{10, 40} {
		b.Run(fmt.Sprintf("peers=%d", npeers), func(b *testing.B) { benchRTCAckVsWebhook(b, npeers) })
	}
}

func benchRTCAckVsWebhook(b *testing.B, npeers int) {
	const n, rate = 3000, 1000
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	cfg := hooksConfig()
	cfg.RTCLoopback = true
	cfg.Sources[0].WebRTC = true
	cfg.Sources[0].Rate, cfg.Sources[0].Burst = 1_000_000, 1_000_000
	cfg.RTCMaxPeersPerSource = npeers
	ts, a := newHooksServerConfig(b, storetest.Redis(b), cfg)
	addr := strings.TrimPrefix(ts.URL, "http://")

	tok, err := sdkhooks.MintToken(cfg.Sources[0], time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	peers := dialPeers(b, ts.URL+"/v1/rtc/cap", tok, npeers)
	echo := &echoServer{api: sdkhooks.NewRTCClientAPI(true)}
	es := httptest.NewServer(echo)
	b.Cleanup(func() { es.Close(); echo.close() })
	echoPeers := dialPeers(b, es.URL+"/echo", tok, npeers)
	// Warm every path (connections, the drop's first opening).
	sendRTC(b, peers, "warm", 200, rate)
	sendRTC(b, echoPeers, "warm", 200, rate)
	sendHooks(b, addr, "warm", 200, rate)

	var rtc, floor, hooks loadgen.Latencies
	var server ackBuckets // the server's own share: message in → ack sent
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	b.ResetTimer()
	// Each round in slices of a quarter second per path, the order turning
	// every slice: a stall of the machine falls on the paths alike.
	const slices = 12
	orders := [][]string{{"rtc", "echo", "hooks"}, {"hooks", "rtc", "echo"}, {"echo", "hooks", "rtc"}}
	for round := range b.N {
		for slice := range slices {
			for _, p := range orders[(round*slices+slice)%len(orders)] {
				tag := fmt.Sprintf("%s-%d-%d", run, round, slice)
				switch p {
				case "echo":
					r := sendRTC(b, echoPeers, tag, n/slices, rate)
					if r.status["accepted"] != n/slices {
						b.Fatalf("echo acks: %v", r.status)
					}
					floor.Merge(&r.lat)
				case "rtc":
					before := gatherAck(b, a)
					r := sendRTC(b, peers, tag, n/slices, rate)
					server.add(gatherAck(b, a), before)
					if r.status["accepted"] != n/slices {
						b.Fatalf("data channel acks: %v", r.status)
					}
					rtc.Merge(&r.lat)
				default:
					r := sendHooks(b, addr, tag, n/slices, rate)
					if r.status["202"] != n/slices {
						b.Fatalf("webhook responses: %v", r.status)
					}
					hooks.Merge(&r.lat)
				}
			}
		}
	}
	b.StopTimer()
	rs, fs, hs := rtc.Summarize(), floor.Summarize(), hooks.Summarize()
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) }
	b.ReportMetric(us(rs.P50), "rtc-p50-µs")
	b.ReportMetric(us(rs.P99), "rtc-p99-µs")
	b.ReportMetric(us(fs.P50), "echo-p50-µs")
	b.ReportMetric(us(fs.P99), "echo-p99-µs")
	b.ReportMetric(float64(fs.P99)/float64(hs.P99), "p99-echo/hook")
	b.ReportMetric(us(hs.P50), "hook-p50-µs")
	b.ReportMetric(us(hs.P99), "hook-p99-µs")
	b.ReportMetric(float64(rs.P99)/float64(hs.P99), "p99-rtc/hook")
	b.ReportMetric(server.quantile(.5)*1e6, "server-p50-µs≤")
	b.ReportMetric(server.quantile(.99)*1e6, "server-p99-µs≤")
}

// ackBuckets is the server's histogram of message in → ack sent
// (dropwire_rtc_ack_seconds), as counts per upper bound.
type ackBuckets struct {
	bounds []float64
	counts []uint64 // cumulative
}

func gatherAck(b *testing.B, a *app.App) ackBuckets {
	b.Helper()
	mfs, err := a.Server().Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dropwire_rtc_ack_seconds" {
			continue
		}
		var out ackBuckets
		for _, bk := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			out.bounds = append(out.bounds, bk.GetUpperBound())
			out.counts = append(out.counts, bk.GetCumulativeCount())
		}
		return out
	}
	b.Fatal("no dropwire_rtc_ack_seconds")
	return ackBuckets{}
}

// add adds the counts of after less those of before.
func (h *ackBuckets) add(after, before ackBuckets) {
	if h.bounds == nil {
		h.bounds, h.counts = after.bounds, make([]uint64, len(after.counts))
	}
	for i := range after.counts {
		h.counts[i] += after.counts[i] - before.counts[i]
	}
}

// quantile is the upper bound of the bucket holding quantile q (seconds).
func (h *ackBuckets) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	total := float64(h.counts[len(h.counts)-1])
	for i, c := range h.counts {
		if float64(c) >= q*total {
			return h.bounds[i]
		}
	}
	return h.bounds[len(h.bounds)-1]
}

// echoServer is the floor of the data channel: a WHIP-shaped endpoint
// whose peers answer every message at once, from pion's reader, with a
// fixed ack: the same transport as Dropwire's (pion, DTLS, SCTP, loopback
// ICE), with no verification, no store and nothing to encode.
type echoServer struct {
	api *webrtc.API
	mu  sync.Mutex
	pcs []*webrtc.PeerConnection
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	offer, _ := io.ReadAll(r.Body)
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.mu.Lock()
	e.pcs = append(e.pcs, pc)
	e.mu.Unlock()
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(webrtc.DataChannelMessage) { _ = dc.SendText(`{"ack":"echo","status":"accepted"}`) })
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	w.Header().Set("Location", r.URL.Path+"/echo")
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

func (e *echoServer) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pc := range e.pcs {
		_ = pc.GracefulClose()
	}
}

// dialPeers opens n data channels to url.
func dialPeers(b *testing.B, url, tok string, n int) []*sdkhooks.RTCClient {
	b.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	peers := make([]*sdkhooks.RTCClient, n)
	for i := range peers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var err error
		peers[i], err = sdkhooks.DialRTC(ctx, sdkhooks.RTCClientConfig{URL: url, Token: tok, Loopback: true, HTTPClient: hc})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, c := range peers {
			_ = c.Close(context.Background())
		}
	})
	return peers
}
