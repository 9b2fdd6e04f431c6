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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *source == "" || (*drop == "" && *rate > 0) || *peers <= 0 || *setupConc <= 0 {
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
	b := &rtcBench{env: env, endpoint: endpoint, token: tok, base: *base, loopback: *loopback}
	return b.run(ctx, *peers, *setupConc, *rate, *duration, *hold, *drop)
}

type rtcBench struct {
	env      *environ
	endpoint string
	base     string
	token    string
	loopback bool

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
		b.send(ctx, open, rate, duration, drop)
		b.mu.Lock()
		fmt.Fprintf(w, "events: %d acked %v\n", len(b.latency), b.status)
		printDurations(w, "event → ack", b.latency)
		b.mu.Unlock()
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
	}
	return nil
}

// send spreads events over the peers round-robin at rate for duration;
// one reader per peer matches acks to send times.
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
				a, err := p.c.NextAck(rctx)
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
					b.latency = append(b.latency, time.Since(at))
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
	interval := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.Now().Add(duration)
	var sent int
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := peers[i%len(peers)]
		id := fmt.Sprintf("bench-%s-%d", run, i)
		msg := fmt.Sprintf(`{"id":%q,"type":"drop.trigger","drop":%q}`, id, drop)
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
