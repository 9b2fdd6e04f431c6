package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
)

// Requests in flight when Redis stops answering get their 503
// store_unavailable promptly. The client's 3 s timeout is the functional
// bar, not a speed measurement: with go-redis's defaults (a 5 s read
// timeout, retried on other frozen connections) these requests took 5 to
// 20 s, longer than any client or balancer waits.
func TestRequestsFailFastWhenRedisDies(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill func(p *storetest.Proxy)
		// mayRecover: new connections still reach Redis, so a retry on
		// one may succeed.
		mayRecover bool
	}{
		// The host vanished: open connections go silent, new ones fail.
		{"frozen and unreachable", func(p *storetest.Proxy) { p.Hold(); p.Freeze() }, false},
		// Redis died: connections are closed, new ones refused.
		{"closed and refused", func(p *storetest.Proxy) { p.Hold(); p.Sever() }, false},
		// Only the open connections went silent (a stuck middlebox).
		{"frozen connections only", func(p *storetest.Proxy) { p.Freeze() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := storetest.NewProxy(t)
			prefix := storetest.Redis(t).Prefix() // deletes the keys at the end
			a, base := servedAppOpts(t, func(c *config.Config) {
				c.RedisURL = p.URL()
				c.KeyPrefix = prefix
				c.ClaimRateIP = -1
			})
			src := a.Config().Sources[0]
			client := &http.Client{Timeout: 3 * time.Second}
			var seq atomic.Int64
			hook := func() (*http.Request, error) {
				id := fmt.Sprintf("evt-%d", seq.Add(1))
				ev, _ := json.Marshal(map[string]any{"type": "drop.trigger", "drop": config.DemoDrop, "moment": id, "occurred_at": time.Now().UTC().Format(time.RFC3339)})
				h, err := sdkhooks.SignRequest(src, id, time.Now(), ev)
				if err != nil {
					return nil, err
				}
				req, err := http.NewRequest("POST", base+"/v1/hooks/"+src.ID, strings.NewReader(string(ev)))
				if err == nil {
					req.Header = h
				}
				return req, err
			}
			claim := func() (*http.Request, error) {
				req, err := http.NewRequest("POST", base+"/v1/claims", strings.NewReader(`{"code":"no-such-code"}`))
				if err == nil {
					req.Header.Set("Content-Type", "application/json")
				}
				return req, err
			}

			var (
				mu       sync.Mutex
				problems []string
				down     atomic.Bool
				answered atomic.Int64 // after Redis went away
				fivexx   atomic.Int64
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 8 {
				build := hook
				if i%2 == 1 {
					build = claim
				}
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						req, err := build()
						if err != nil {
							t.Error(err)
							return
						}
						wasDown := down.Load()
						res, err := client.Do(req)
						if err != nil {
							mu.Lock()
							problems = append(problems, fmt.Sprintf("%s %s (Redis down: %v): %v", req.Method, req.URL.Path, wasDown, err))
							mu.Unlock()
							continue
						}
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if !down.Load() {
							continue
						}
						answered.Add(1)
						if res.StatusCode >= 500 {
							fivexx.Add(1)
							if res.StatusCode != 503 || !strings.Contains(string(b), `"code":"store_unavailable"`) {
								mu.Lock()
								problems = append(problems, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, b))
								mu.Unlock()
							}
						}
					}
				})
			}
			time.Sleep(300 * time.Millisecond) // requests flowing, pool warm
			tc.kill(p)
			down.Store(true)
			time.Sleep(2 * time.Second)
			close(stop)
			wg.Wait()

			for _, pr := range problems {
				t.Error(pr)
			}
			if answered.Load() == 0 {
				t.Fatal("no request was answered after Redis went away")
			}
			if !tc.mayRecover && fivexx.Load() == 0 {
				t.Fatal("Redis is gone, yet no request answered 503")
			}
			t.Logf("%d answered after Redis went away, %d with 503", answered.Load(), fivexx.Load())
		})
	}
}
