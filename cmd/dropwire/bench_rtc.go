package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/sdkhooks"
)

// runBenchRTC opens N data-channel peers against a running server with
// tokens it mints from the configuration, sends events at a total rate for
// a duration, and prints the peer setup time, the event → ack latency and,
// from the server's /metrics, its goroutines and memory per peer.
func runBenchRTC(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench rtc", "bench rtc --config FILE --source ID --drop ID [--url URL] [flags]")
	path := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file the server runs with (env DROPWIRE_CONFIG)")
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL")
	source := fs.String("source", "", "source id (webrtc: true)")
	drop := fs.String("drop", "", "drop the events trigger (it opens on the first one)")
	peers := fs.Int("peers", 10, "concurrent peers")
	rate := fs.Float64("rate", 1000, "events per second, over all peers (0: no events)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send events")
	setupConc := fs.Int("setup-concurrency", 8, "peers being set up at once")
	loopback := fs.Bool("loopback", true, "gather loopback candidates only (server on this machine)")
	hold := fs.Duration("hold", 0, "keep the peers open this long after sending, before closing")
	webhook := fs.Bool("webhook", false, "compare: send the same events as signed webhooks too, at the same rate, rounds alternating")
	rounds := fs.Int("rounds", 1, "rounds of --duration each (with --webhook: each path once a round, the order alternating)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *source == "" || (*drop == "" && *rate > 0) || *peers <= 0 || *setupConc <= 0 || *rounds <= 0 {
		fmt.Fprintln(env.stderr, "bench rtc needs --config, --source, --drop and --peers > 0")
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, *path)
	if err != nil {
		return err
	}
	tok, err := mintFor(cfg, *source, *duration+*hold+time.Hour)
	if err != nil {
		return err
	}
	endpoint, err := url.JoinPath(*base, "/v1/rtc/", *source)
	if err != nil {
		return err
	}
	b := &rtcBench{env: env, endpoint: endpoint, token: tok, base: *base, loopback: *loopback, rounds: *rounds}
	if *webhook {
		src, _ := cfg.Source(*source)
		b.webhookSource = src
	}
	return b.run(ctx, *peers, *setupConc, *rate, *duration, *hold, *drop)
}

type rtcBench struct {
	env      *environ
	endpoint string
	base     string
	token    string
	loopback bool
	rounds   int
	// webhookSource, when set, signs the webhooks the data channel is
	// compared with.
	webhookSource *config.Source

	mu      sync.Mutex
	latency []time.Duration
	status  map[string]int
}

// benchPeer is one client and the send times of its unacked events, in
// order (the channel is ordered, so acks come back in the same order).
type benchPeer struct {
	c     *sdkhooks.RTCClient
	sent  chan time.Time
	index int
}

func (b *rtcBench) run(ctx context.Context, n, conc int, rate float64, duration, hold time.Duration, drop string) error {
	before, _ := scrapeMetrics(ctx, b.base)
	api := sdkhooks.NewRTCClientAPI(b.loopback)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: conc,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer hc.CloseIdleConnections()

	// Set up the peers, conc at a time.
	peers := make([]*benchPeer, n)
	setup := make([]time.Duration, n)
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := sdkhooks.DialRTC(sctx, sdkhooks.RTCClientConfig{URL: b.endpoint, Token: b.token, API: api, HTTPClient: hc})
			setup[i], errs[i] = time.Since(t0), err
			if err == nil {
				peers[i] = &benchPeer{c: c, sent: make(chan time.Time, 4096), index: i}
			}
		}()
	}
	wg.Wait()
	setupAll := time.Since(start)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var cw sync.WaitGroup
		for _, p := range peers {
			if p != nil {
				cw.Add(1)
				go func() { defer cw.Done(); _ = p.c.Close(cctx) }()
			}
		}
		cw.Wait()
	}()
	open := peers[:0:0]
	for i, p := range peers {
		if p != nil {
			open = append(open, p)
		} else if i < 3 || errors.Is(errs[i], context.Canceled) {
			fmt.Fprintf(b.env.stderr, "peer %d: %v\n", i, errs[i])
		}
	}
	w := b.env.stdout
	fmt.Fprintf(w, "peers: %d of %d open in %v (%.1f/s)\n", len(open), n, setupAll.Round(time.Millisecond), float64(len(open))/setupAll.Seconds())
	printDurations(w, "peer setup", setup)
	if len(open) == 0 {
		return fmt.Errorf("no peer opened: %v", errors.Join(errs[:min(3, len(errs))]...))
	}
	// The server's cost of the open peers, before any event.
	if after, err := scrapeMetrics(ctx, b.base); err == nil && before != nil {
		per := func(k string) float64 { return (after[k] - before[k]) / float64(len(open)) }
		fmt.Fprintf(w, "server per peer: %.1f goroutines, %.0f KiB heap in use, %.0f KiB RSS\n",
			per("go_goroutines"), per("go_memstats_heap_inuse_bytes")/1024, per("process_resident_memory_bytes")/1024)
	}

	if rate > 0 {
		b.status = map[string]int{}
		var rtc, hooks []time.Duration
		hookStatus := map[int]int{}
		for round := range b.rounds {
			paths := []string{"rtc", "webhook"}
			if round%2 == 1 {
				paths = []string{"webhook", "rtc"}
			}
			for _, path := range paths {
				switch {
				case path == "rtc":
					b.mu.Lock()
					b.latency = nil
					b.mu.Unlock()
					b.send(ctx, open, rate, duration, drop)
					b.mu.Lock()
					rtc = append(rtc, b.latency...)
					if b.rounds > 1 {
						printDurations(w, fmt.Sprintf("round %d: event → ack", round+1), b.latency)
					}
					b.mu.Unlock()
				case b.webhookSource != nil:
					res, err := b.sendWebhooks(ctx, rate, duration, drop)
					if err != nil {
						return err
					}
					for k, v := range res.Status {
						hookStatus[k] += v
					}
					lat := res.Latencies().Values()
					hooks = append(hooks, lat...)
					printDurations(w, fmt.Sprintf("round %d: webhook → response", round+1), lat)
				}
			}
		}
		b.mu.Lock()
		fmt.Fprintf(w, "events: %d acked %v\n", len(rtc), b.status)
		b.mu.Unlock()
		printDurations(w, "event → ack", rtc)
		if b.webhookSource != nil {
			fmt.Fprintf(w, "webhooks: %d answered %v\n", len(hooks), hookStatus)
			printDurations(w, "webhook → response", hooks)
			if r, h := quantileOf(rtc, .99), quantileOf(hooks, .99); h > 0 {
				fmt.Fprintf(w, "p99 data channel / webhook: %.2f (p50 %.2f)\n", float64(r)/float64(h),
					float64(quantileOf(rtc, .5))/float64(quantileOf(hooks, .5)))
			}
		}
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
	}
	return nil
}

// sendWebhooks posts the same events as signed webhooks, at rate for
// duration, with the open-loop load generator.
func (b *rtcBench) sendWebhooks(ctx context.Context, rate float64, duration time.Duration, drop string) (loadgen.Result, error) {
	u, err := url.Parse(b.base)
	if err != nil {
		return loadgen.Result{}, err
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	n := max(int(rate*duration.Seconds()), 1)
	reqs := make([]loadgen.Request, n)
	now := time.Now()
	for i := range reqs {
		id := fmt.Sprintf("bench-hook-%s-%d", run, i)
		body := fmt.Appendf(nil, `{"id":%q,"type":"drop.trigger","drop":%q,"moment":"bench-%s-m%d"}`, id, drop, run, i%1000)
		h, err := sdkhooks.SignRequest(*b.webhookSource, id, now, body)
		if err != nil {
			return loadgen.Result{}, err
		}
		reqs[i] = loadgen.BuildRequest("POST", u.Host, "/v1/hooks/"+b.webhookSource.ID, h, body)
	}
	return loadgen.Run(ctx, loadgen.Config{Addr: u.Host, Rate: int(rate), Concurrency: 16, Max: n, Duration: duration + 5*time.Second,
		Request: func(i int) loadgen.Request { return reqs[i] }})
}

func quantileOf(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	v := slices.Clone(ds)
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

// send spreads events over the peers round-robin at rate for duration;
// one reader per peer matches acks to send times (an ack is timed when it
// arrives on the channel).
func (b *rtcBench) send(ctx context.Context, peers []*benchPeer, rate float64, duration time.Duration, drop string) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var readers sync.WaitGroup
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	for _, p := range peers {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				a, arrived, err := p.c.NextAckAt(rctx)
				if err != nil {
					return
				}
				var at time.Time
				select {
				case at = <-p.sent:
				default:
				}
				b.mu.Lock()
				if !at.IsZero() {
					b.latency = append(b.latency, arrived.Sub(at))
				}
				key := a.Status
				if a.Reason != "" {
					key += "/" + a.Reason
				}
				b.status[key]++
				b.mu.Unlock()
			}
		}()
	}
	// Paced as the webhook load generator paces: the i-th event is due at
	// start + i/rate, and goes as soon as it is due (late ones at once).
	interval := time.Duration(float64(time.Second) / rate)
	total := int(rate * duration.Seconds())
	start := time.Now()
	var sent int
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		p := peers[i%len(peers)]
		id := fmt.Sprintf("bench-%s-%d", run, i)
		msg := fmt.Sprintf(`{"id":%q,"type":"drop.trigger","drop":%q,"moment":"bench-%s-m%d"}`, id, drop, run, i%1000)
		select {
		case p.sent <- time.Now():
		default:
			continue // too many unacked on this peer: skip rather than block the clock
		}
		if err := p.c.Send([]byte(msg)); err != nil {
			fmt.Fprintf(b.env.stderr, "send on peer %d: %v\n", p.index, err)
			return
		}
		sent++
	}
	// Wait for the last acks.
	wait := time.Now().Add(5 * time.Second)
	for time.Now().Before(wait) {
		b.mu.Lock()
		n := len(b.latency)
		b.mu.Unlock()
		if n >= sent {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopReaders()
	readers.Wait()
}

func printDurations(w io.Writer, name string, ds []time.Duration) {
	var v []time.Duration
	for _, d := range ds {
		if d > 0 {
			v = append(v, d)
		}
	}
	if len(v) == 0 {
		return
	}
	slices.Sort(v)
	q := func(p float64) time.Duration { return v[min(len(v)-1, int(p*float64(len(v))))] }
	fmt.Fprintf(w, "%s: n=%d p50=%v p90=%v p99=%v max=%v\n", name, len(v), q(.5), q(.9), q(.99), v[len(v)-1])
	// A coarse histogram, log2 buckets from 100µs.
	var buckets [16]int
	for _, d := range v {
		i := 0
		for lim := 100 * time.Microsecond; d > lim && i < len(buckets)-1; lim *= 2 {
			i++
		}
		buckets[i]++
	}
	lim := 100 * time.Microsecond
	for i, c := range buckets {
		if c > 0 {
			label := "≤ " + lim.String()
			if i == len(buckets)-1 {
				label = "> " + (lim / 2).String()
			}
			fmt.Fprintf(w, "  %-12s %6d %s\n", label, c, strings.Repeat("#", max(1, c*40/len(v))))
		}
		lim *= 2
	}
}

// scrapeMetrics reads the untyped numbers of the server's /metrics.
func scrapeMetrics(ctx context.Context, base string) (map[string]float64, error) {
	u, err := url.JoinPath(base, "/metrics")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out, sc.Err()
}
