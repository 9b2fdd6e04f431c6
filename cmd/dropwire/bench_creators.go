package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
)

// The many-creators form of `dropwire bench moment` (--creators N): N
// creators, each with one overlay and one drop, triggers spread over them
// at a rate. It measures what a replica pays per creator: the frame
// latency of one overlay among many, the server's processor time per
// trigger, and its memory per overlay.

// benchCreatorID and friends name what --write-config writes.
func benchCreatorID(i int) string { return "bc" + strconv.Itoa(i) }
func benchSourceID(i int) string  { return "bc" + strconv.Itoa(i) + "-src" }
func benchDropID(i int) string    { return "bc" + strconv.Itoa(i) + "-drop" }

// writeCreatorsConfig writes a configuration of n creators, each with an
// overlay key, a webhook source and one drop, all stocked at one node.
func writeCreatorsConfig(w io.Writer, n int, publicURL string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %d creators, each with one overlay key, one source and one drop: `dropwire bench moment --creators %d`.\n", n, n)
	// A fresh key prefix: on Redis, each configuration written starts
	// from no state (every drop opens once).
	fmt.Fprintf(bw, "public_url: %q\nkey_prefix: \"bench-%s:\"\n", publicURL, strings.ToLower(rand.Text()[:8]))
	bw.WriteString("nodes:\n  - {id: bench-node, name: \"Bench node\", url: \"http://127.0.0.1:9/hook\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}\n")
	bw.WriteString("creators:\n")
	for i := range n {
		fmt.Fprintf(bw, "  - {id: %s, overlay_keys: [\"%s-overlay-key-0123456789\"]}\n", benchCreatorID(i), benchCreatorID(i))
	}
	bw.WriteString("sources:\n")
	for i := range n {
		fmt.Fprintf(bw, "  - {id: %s, creator: %s, scheme: standard, secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]}\n", benchSourceID(i), benchCreatorID(i))
	}
	bw.WriteString("drops:\n")
	for i := range n {
		fmt.Fprintf(bw, "  - {id: %s, creator: %s, title: \"Spring sticker pack\", window: 10m, stock: [{node: bench-node, sku: sticker, qty: 1000}]}\n",
			benchDropID(i), benchCreatorID(i))
	}
	return bw.Flush()
}

// creatorsResult is the report of `bench moment --creators`.
type creatorsResult struct {
	Creators       int             `json:"creators"`
	Events         int             `json:"events"`
	Rate           int             `json:"rate"`
	Received       float64         `json:"received_fraction"`
	AcceptedToSeen loadgen.Summary `json:"accepted_to_frame"`
	CPUPerTrigger  float64         `json:"server_cpu_seconds_per_trigger"`
	CPUIdle        float64         `json:"server_cpu_seconds_per_second_idle"`
	CPUNetTrigger  float64         `json:"server_cpu_seconds_per_trigger_net_of_idle"`
	RSSPerOverlay  float64         `json:"rss_bytes_per_overlay"`
	HeapPerOverlay float64         `json:"heap_bytes_per_overlay"`
}

// runBenchCreators runs `bench moment --creators n` against base with the
// configuration at cfgPath (written by --write-config).
//
// The server's processor time and resident memory come from
// /proc/<serverPID> when serverPID is set (a server on this machine),
// else from its /metrics, whose scrape then counts in the processor time.
func runBenchCreators(ctx context.Context, env *environ, cfgPath, base string, n, rate, events, serverPID int, asJSON bool) error {
	cfg, err := loadConfig(env, cfgPath)
	if err != nil {
		return err
	}
	type target struct {
		drop string
		src  config.Source
		ws   string
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("the overlay benchmarks connect over plain HTTP, not %q", base)
	}
	targets := make([]target, n)
	for i := range targets {
		src, ok := cfg.Source(benchSourceID(i))
		c, ok2 := cfg.Creator(benchCreatorID(i))
		if !ok || !ok2 || len(c.OverlayKeys) == 0 {
			return fmt.Errorf("%s has no creator %s with a source and an overlay key: write it with --write-config --creators %d", cfgPath, benchCreatorID(i), n)
		}
		targets[i] = target{drop: benchDropID(i), src: *src,
			ws: "ws://" + u.Host + "/v1/overlay/" + url.PathEscape(c.ID) + "/ws?" + url.Values{"key": {c.OverlayKeys[0]}}.Encode()}
	}
	if events <= 0 || events > n {
		events = n // each drop opens once
	}

	// memory reads the server's resident and heap bytes.
	memory := func() (rss, heap float64, err error) {
		rss, heap, err = serverMemory(ctx, base)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the server's /metrics: %w", err)
		}
		if serverPID > 0 {
			_, rss, err = procUsage(serverPID)
		}
		return rss, heap, err
	}
	// cpu reads the server's processor seconds: from /proc, without
	// making the server work, or else by a scrape of /metrics.
	cpu := func() (float64, error) {
		if serverPID > 0 {
			c, _, err := procUsage(serverPID)
			return c, err
		}
		return serverCPU(ctx, base)
	}
	rss0, heap0, err := memory()
	if err != nil {
		return err
	}
	urls := make([]string, n)
	for i, t := range targets {
		urls[i] = t.ws
	}
	fmt.Fprintf(env.stderr, "opening %d overlays, one per creator...\n", n)
	socks, err := loadgen.DialWebSocketURLs(urls, 10*time.Second)
	if err != nil {
		return fmt.Errorf("overlay socket: %w", err)
	}
	var (
		mu      sync.Mutex
		firsts  = make([]bool, n) // the first state arrived
		waiting = n
		ready   = make(chan struct{})
		seenAt  = make([]time.Time, n) // creator i's drop first shown open
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		_ = socks.Read(func(i int, msg []byte, at time.Time) {
			var f overlayFrame
			if decodeFrame(msg, &f) != nil || f.Type != "state" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !firsts[i] {
				firsts[i] = true
				if waiting--; waiting == 0 {
					close(ready)
				}
			}
			if f.Status == "open" && f.Drop != nil && f.Drop.ID == targets[i].drop && seenAt[i].IsZero() {
				seenAt[i] = at
			}
		})
	}()
	defer func() { socks.Close(); <-done }()
	select {
	case <-ready:
	case <-done:
		return fmt.Errorf("overlay sockets closed before showing a state")
	case <-time.After(60 * time.Second):
		return fmt.Errorf("overlay sockets showed no state within 60 s")
	}
	time.Sleep(2 * time.Second) // past the connect work
	rss1, heap1, err := memory()
	if err != nil {
		return err
	}
	// The server's work with nobody triggering (pings, resyncs, code
	// rotations of open drops), to tell it from the triggers' work.
	idle0, err := cpu()
	if err != nil {
		return err
	}
	const idleFor = 5 * time.Second
	time.Sleep(idleFor)
	cpu0, err := cpu()
	if err != nil {
		return err
	}
	idlePerSecond := (cpu0 - idle0) / idleFor.Seconds()

	fmt.Fprintf(env.stderr, "bench moment: %d creators, %d triggers at %d/s\n", n, events, rate)
	bt := &benchTarget{cfg: cfg}
	accepted := make([]time.Time, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	for k := range events {
		<-tick.C
		i := k * n / events // spread over the creators
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := *bt
			b.src = targets[i].src
			at, err := b.trigger(ctx, base, targets[i].drop)
			if err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintln(env.stderr, err)
				}
				return
			}
			mu.Lock()
			accepted[i] = at
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	time.Sleep(2 * time.Second) // the last frames
	cpu1, err := cpu()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	mu.Lock()
	var l loadgen.Latencies
	got := 0
	for i := range accepted {
		if accepted[i].IsZero() || seenAt[i].IsZero() {
			continue
		}
		got++
		l.Add(max(seenAt[i].Sub(accepted[i]), 0))
	}
	mu.Unlock()
	res := creatorsResult{Creators: n, Events: events, Rate: rate,
		Received:       float64(got) / float64(events),
		AcceptedToSeen: l.Summarize(),
		CPUPerTrigger:  (cpu1 - cpu0) / float64(events),
		CPUIdle:        idlePerSecond,
		CPUNetTrigger:  (cpu1 - cpu0 - idlePerSecond*time.Since(start).Seconds()) / float64(events),
		RSSPerOverlay:  (rss1 - rss0) / float64(n), HeapPerOverlay: (heap1 - heap0) / float64(n)}
	return printResult(env, asJSON, "moment", res, func() {
		fmt.Fprintf(env.stdout, "bench moment: %d creators with one overlay and one drop each, %d triggers at %d/s over %v, %d failed\n",
			n, events, rate, elapsed.Round(time.Second), failed.Load())
		fmt.Fprintf(env.stdout, "  frames     %.1f%% of the triggers reached their creator's overlay\n", 100*res.Received)
		printSummary(env, "accepted → frame", res.AcceptedToSeen)
		fmt.Fprintf(env.stdout, "  server CPU %.0f µs per trigger (everything the server did while they ran, over their count); idle %.0f ms/s before; %.0f µs per trigger net of that\n",
			res.CPUPerTrigger*1e6, res.CPUIdle*1e3, res.CPUNetTrigger*1e6)
		fmt.Fprintf(env.stdout, "  server memory per overlay: %.1f KB resident, %.1f KB heap\n", res.RSSPerOverlay/1024, res.HeapPerOverlay/1024)
	})
}

// serverCPU reads the process's processor seconds from /metrics.
func serverCPU(ctx context.Context, base string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no process_cpu_seconds_total in %s/metrics", base)
}

// writeConfigFile writes the configuration of --write-config to path.
func writeConfigFile(path string, n int, publicURL string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeCreatorsConfig(f, n, publicURL); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// procUsage reads a local process's processor seconds and resident bytes
// from /proc (Linux).
func procUsage(pid int) (cpu, rss float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command may hold spaces: the fields follow its closing ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 22 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64) // fields 14 and 15 of stat(5)
	stime, _ := strconv.ParseFloat(f[12], 64)
	pages, _ := strconv.ParseFloat(f[21], 64) // field 24: rss
	const ticks = 100                         // USER_HZ on Linux
	return (utime + stime) / ticks, pages * float64(os.Getpagesize()), nil
}
