package overlay_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// BenchmarkMomentLatency measures signed webhook → overlay frame on Redis,
// through the whole app on two replicas: webhooks go to A, overlays are
// connected to B. Each event opens a new drop (a state change every
// overlay must show). Reported: p50/p99 from the 202 received by the
// sender ("accepted") and from the request sent ("e2e").
func BenchmarkMomentLatency(b *testing.B) {
	for _, tc := range []struct{ overlays, rate int }{{10, 200}, {1000, 50}} {
		b.Run(fmt.Sprintf("overlays=%d/rate=%d", tc.overlays, tc.rate), func(b *testing.B) {
			// The collector as `dropwire serve` sets it (server and
			// overlays share this process).
			defer debug.SetGCPercent(debug.SetGCPercent(200))
			const seconds = 3
			events := tc.rate * seconds
			stA := storetest.Redis(b)
			stB := storetest.RedisWithPrefix(b, stA.Prefix())
			cfg := testConfig(b, "https://drops.example.com", events)
			a := startReplica(b, cfg, stA, "127.0.0.1:0")
			r := startReplica(b, testConfig(b, "https://drops.example.com", events), stB, "127.0.0.1:0")

			type rec struct {
				drop int
				at   time.Time
			}
			recs := make([][]rec, tc.overlays)
			var wg sync.WaitGroup
			for i := range tc.overlays {
				ws := dialOverlay(b, r)
				_, _, _ = ws.ReadMessage() // the first state
				wg.Add(1)
				go func() {
					// A light reader, so the client side costs the shared
					// cores little: one buffer per overlay, no decoding
					// beyond the drop number.
					defer wg.Done()
					var buf bytes.Buffer
					buf.Grow(16 << 10) // a state frame with its QR fits
					for {
						_, r, err := ws.NextReader()
						if err != nil {
							return
						}
						buf.Reset()
						if _, err := buf.ReadFrom(r); err != nil {
							return
						}
						at := time.Now()
						m := buf.Bytes()
						// The first frame of each drop only.
						if j := bytes.Index(m, []byte(`"drop":{"id":"d`)); j >= 0 {
							d, n := 0, 0
							for _, ch := range m[j+15:] {
								if ch < '0' || ch > '9' {
									break
								}
								d, n = d*10+int(ch-'0'), n+1
							}
							if n > 0 && (len(recs[i]) == 0 || recs[i][len(recs[i])-1].drop != d) {
								recs[i] = append(recs[i], rec{d, at})
							}
						}
					}
				}()
			}
			signer, _ := sdkhooks.NewSigner(hookSecret)
			sent := make([]time.Time, events)
			accepted := make([]time.Time, events)
			// One run of fixed length: b.N is not meaningful here.
			// Creators connect their overlays long before a drop: let the
			// replicas settle (the coming QR codes are rendered ahead).
			time.Sleep(time.Second)
			b.ResetTimer()
			{
				tick := time.NewTicker(time.Second / time.Duration(tc.rate))
				for i := range events {
					<-tick.C
					id := fmt.Sprintf("evt-%d-%d", i, time.Now().UnixNano())
					body := []byte(fmt.Sprintf(`{"type":"drop.trigger","drop":"d%d","moment":"%s"}`, i, id))
					req, _ := http.NewRequest("POST", a.url("/v1/hooks/capture"), bytes.NewReader(body))
					req.Header = signer.Headers(id, time.Now(), body)
					sent[i] = time.Now()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					accepted[i] = time.Now()
					if resp.StatusCode != 202 {
						b.Fatalf("webhook %d", resp.StatusCode)
					}
				}
				tick.Stop()
			}
			time.Sleep(500 * time.Millisecond)
			b.StopTimer()
			r.shutdown() // closes the sockets: the readers return
			wg.Wait()
			var fromAccepted, fromSent []time.Duration
			for _, rs := range recs {
				for _, x := range rs {
					if x.drop < events && !sent[x.drop].IsZero() {
						fromAccepted = append(fromAccepted, max(0, x.at.Sub(accepted[x.drop])))
						fromSent = append(fromSent, x.at.Sub(sent[x.drop]))
					}
				}
			}
			want := events * tc.overlays
			b.ReportMetric(float64(len(fromSent))/float64(want)*100, "%received")
			for name, ds := range map[string][]time.Duration{"accepted": fromAccepted, "e2e": fromSent} {
				slices.Sort(ds)
				if len(ds) == 0 {
					continue
				}
				b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
				b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
			}
		})
	}
}

var _ = websocket.TextMessage
