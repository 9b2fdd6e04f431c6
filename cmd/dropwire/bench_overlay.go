package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/sdkhooks"
)

// overlayFrame is the part of an overlay state message the benchmarks read.
type overlayFrame struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Drop   *struct {
		ID string `json:"id"`
	} `json:"drop"`
}

// overlayWatcher holds overlay sockets open and reports each drop it sees
// open, once per socket. One light reader serves every socket (see
// loadgen.Sockets), so a thousand overlays leave the cores to the server.
type overlayWatcher struct {
	socks *loadgen.Sockets
	done  chan struct{}
}

// watchOverlays opens n overlay sockets of creator on base (http URL) and
// returns once each has shown its first state.
func watchOverlays(base, creator, key string, n int, onOpen func(string, time.Time)) (*overlayWatcher, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("the overlay benchmarks connect over plain HTTP, not %s", u.Scheme)
	}
	u.Scheme = "ws"
	u.Path = "/v1/overlay/" + url.PathEscape(creator) + "/ws"
	u.RawQuery = url.Values{"key": {key}}.Encode()
	socks, err := loadgen.DialWebSockets(u.String(), n, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("overlay socket: %w", err)
	}
	w := &overlayWatcher{socks: socks, done: make(chan struct{})}
	var (
		shown   = make([]bool, n) // the first state arrived
		waiting = n
		ready   = make(chan struct{})
		seen    = make([]map[string]bool, n)
	)
	go func() {
		defer close(w.done)
		_ = socks.Read(func(i int, msg []byte, at time.Time) {
			var f overlayFrame
			if decodeFrame(msg, &f) != nil || f.Type != "state" {
				return
			}
			if !shown[i] {
				shown[i] = true
				if waiting--; waiting == 0 {
					close(ready)
				}
			}
			if f.Status == "open" && f.Drop != nil && !seen[i][f.Drop.ID] {
				if seen[i] == nil {
					seen[i] = map[string]bool{}
				}
				seen[i][f.Drop.ID] = true
				if onOpen != nil {
					onOpen(f.Drop.ID, at)
				}
			}
		})
	}()
	select {
	case <-ready:
		return w, nil
	case <-w.done:
		return nil, fmt.Errorf("overlay sockets closed before showing a state")
	case <-time.After(30 * time.Second):
		w.close()
		return nil, fmt.Errorf("overlay sockets showed no state within 30 s")
	}
}

// decodeFrame decodes what the benchmarks read of a state message. The
// QR's modules are a third of a message and of no interest here: when the
// message still decodes with the "qr" member cut off, that is enough (a
// thousand overlays otherwise spend the client's cores scanning them);
// else the whole message is decoded.
func decodeFrame(msg []byte, f *overlayFrame) error {
	if i := bytes.Index(msg, []byte(`,"qr":`)); i > 0 {
		head := append(msg[:i:i], '}')
		if json.Unmarshal(head, f) == nil && f.Type != "" && f.Status != "" {
			return nil
		}
		*f = overlayFrame{}
	}
	return json.Unmarshal(msg, f)
}

func (w *overlayWatcher) close() {
	w.socks.Close()
	<-w.done
}

// serverMemory reads the process's resident and heap bytes from /metrics.
func serverMemory(ctx context.Context, base string) (rss, heap float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			rss, _ = strconv.ParseFloat(value, 64)
		case "go_memstats_heap_inuse_bytes":
			heap, _ = strconv.ParseFloat(value, 64)
		}
	}
	return rss, heap, sc.Err()
}

// benchTarget is what both overlay scenarios need from the configuration.
type benchTarget struct {
	cfg     *config.Config
	src     config.Source
	creator string
	key     string
}

func loadBenchTarget(env *environ, path, sourceID string) (*benchTarget, error) {
	cfg, err := loadConfig(env, path)
	if err != nil {
		return nil, err
	}
	src, ok := cfg.Source(sourceID)
	if !ok {
		return nil, fmt.Errorf("no source %q in %s", sourceID, path)
	}
	c, ok := cfg.Creator(src.Creator)
	if !ok || len(c.OverlayKeys) == 0 {
		return nil, fmt.Errorf("creator %q has no overlay key", src.Creator)
	}
	return &benchTarget{cfg: cfg, src: *src, creator: c.ID, key: c.OverlayKeys[0]}, nil
}

// trigger posts a signed drop.trigger for drop and returns when it was
// accepted.
func (bt *benchTarget) trigger(ctx context.Context, base, drop string) (time.Time, error) {
	id := "bench-" + strings.ToLower(rand.Text())
	body := fmt.Appendf(nil, `{"id":%q,"type":"drop.trigger","drop":%q,"moment":%q}`, id, drop, id)
	h, err := sdkhooks.SignRequest(bt.src, id, time.Now(), body)
	if err != nil {
		return time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL(base, bt.src.ID), bytes.NewReader(body))
	if err != nil {
		return time.Time{}, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return time.Time{}, fmt.Errorf("webhook for %s: %s %s", drop, resp.Status, out)
	}
	return time.Now(), nil
}

// admin calls the admin API.
func adminCall(ctx context.Context, base, token, method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, out)
	}
	return nil
}

type momentResult struct {
	Events         int             `json:"events"`
	Overlays       int             `json:"overlays"`
	Received       float64         `json:"received_fraction"`
	AcceptedToSeen loadgen.Summary `json:"accepted_to_frame"`
	SentToSeen     loadgen.Summary `json:"sent_to_frame"`
}

// runBenchMoment sends signed triggers that each open a fresh drop and
// measures until every connected overlay shows it.
func runBenchMoment(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench moment", "bench moment --config FILE --source ID --admin-token T [--url URL] [--overlay-url URL] [--overlays N] [--rate R] [--events E]\n"+
		"       bench moment --config FILE --creators N [--url URL] [--rate R] [--events E]\n"+
		"       bench moment --write-config FILE --creators N [--public-url URL]")
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration with the source's secret and the creator's overlay key")
	sourceID := fs.String("source", "", "source to sign as (required)")
	token := fs.String("admin-token", env.envDefault("DROPWIRE_ADMIN_TOKEN", ""), "admin token, to create the drops the run opens")
	base := fs.String("url", "http://127.0.0.1:8080", "Dropwire base URL for webhooks and the admin API")
	overlayBase := fs.String("overlay-url", "", "base URL of the replica the overlays connect to (default --url)")
	n := fs.Int("overlays", 10, "overlay sockets")
	rate := fs.Int("rate", 50, "triggers per second")
	events := fs.Int("events", 200, "triggers, each opening a fresh drop")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	creators := fs.Int("creators", 0, "N creators with one overlay and one drop each (a configuration --write-config wrote); triggers spread over them, each drop opened once")
	writeConfig := fs.String("write-config", "", "write the configuration of --creators N creators to this file, and exit")
	publicURL := fs.String("public-url", "https://drops.example.com", "public_url of the configuration --write-config writes")
	serverPID := fs.Int("server-pid", 0, "with --creators: the server's process id, to read its processor time and memory from /proc rather than /metrics")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *writeConfig != "" {
		if *creators <= 0 {
			fs.Usage()
			return errUsage
		}
		return writeConfigFile(*writeConfig, *creators, *publicURL)
	}
	if *creators > 0 {
		if *cfgPath == "" || *rate <= 0 {
			fs.Usage()
			return errUsage
		}
		e := *events
		if !flagSet(fs, "events") {
			e = 0 // one per creator
		}
		return runBenchCreators(ctx, env, *cfgPath, *base, *creators, *rate, e, *serverPID, *asJSON)
	}
	if *cfgPath == "" || *sourceID == "" || *token == "" || *rate <= 0 || *events <= 0 {
		fs.Usage()
		return errUsage
	}
	if *overlayBase == "" {
		*overlayBase = *base
	}
	bt, err := loadBenchTarget(env, *cfgPath, *sourceID)
	if err != nil {
		return err
	}
	var stock StockSpecLine
	for _, d := range bt.cfg.Drops {
		if d.Creator == bt.creator && len(d.Stock) > 0 {
			stock = StockSpecLine{Node: d.Stock[0].Node, SKU: d.Stock[0].SKU, Qty: 1000}
			break
		}
	}
	if stock.Node == "" {
		if len(bt.cfg.Nodes) == 0 {
			return fmt.Errorf("the configuration has no node to stock the bench drops at")
		}
		stock = StockSpecLine{Node: bt.cfg.Nodes[0].ID, SKU: "bench", Qty: 1000}
	}

	run := strings.ToLower(rand.Text()[:8])
	drops := make([]string, *events)
	fmt.Fprintf(env.stderr, "creating %d drops...\n", *events)
	for i := range drops {
		drops[i] = fmt.Sprintf("bench-%s-%d", run, i)
		spec := map[string]any{"id": drops[i], "creator": bt.creator, "title": "Bench " + drops[i], "window": "10m",
			"stock": []StockSpecLine{stock}}
		if err := adminCall(ctx, *base, *token, http.MethodPost, "/v1/admin/drops", spec); err != nil {
			return err
		}
	}
	defer func() {
		for _, d := range drops {
			_ = adminCall(context.Background(), *base, *token, http.MethodPost, "/v1/admin/drops/"+d+"/close", nil)
		}
	}()

	var (
		mu       sync.Mutex
		sent     = map[string]time.Time{}
		accepted = map[string]time.Time{}
		seen     []struct {
			drop string
			at   time.Time
		}
	)
	w, err := watchOverlays(*overlayBase, bt.creator, bt.key, *n, func(drop string, at time.Time) {
		mu.Lock()
		seen = append(seen, struct {
			drop string
			at   time.Time
		}{drop, at})
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer w.close()
	fmt.Fprintf(env.stderr, "bench moment: %d overlays, %d triggers at %d/s\n", *n, *events, *rate)

	var failed atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	for _, d := range drops {
		<-tick.C
		mu.Lock()
		sent[d] = time.Now()
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, err := bt.trigger(ctx, *base, d)
			if err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintln(env.stderr, err)
				}
				return
			}
			mu.Lock()
			accepted[d] = at
			mu.Unlock()
		}()
	}
	tick.Stop()
	wg.Wait()
	time.Sleep(2 * time.Second) // the last frames
	mu.Lock()
	defer mu.Unlock()
	var fromAccepted, fromSent loadgen.Latencies
	for _, s := range seen {
		if t, ok := sent[s.drop]; ok {
			fromSent.Add(s.at.Sub(t))
		}
		if t, ok := accepted[s.drop]; ok {
			fromAccepted.Add(max(s.at.Sub(t), 0))
		}
	}
	res := momentResult{Events: *events, Overlays: *n,
		Received:       float64(fromSent.Len()) / float64(*events**n),
		AcceptedToSeen: fromAccepted.Summarize(), SentToSeen: fromSent.Summarize()}
	return printResult(env, *asJSON, "moment", res, func() {
		fmt.Fprintf(env.stdout, "bench moment: %d overlays, %d triggers at %d/s, %d failed\n", *n, *events, *rate, failed.Load())
		fmt.Fprintf(env.stdout, "  frames     %.1f%% of (events × overlays) received; the rest were conflated into newer states\n", 100*res.Received)
		printSummary(env, "accepted → frame", res.AcceptedToSeen)
		printSummary(env, "sent → frame", res.SentToSeen)
	})
}

// StockSpecLine is one stock line of a drop created through the admin API.
type StockSpecLine struct {
	Node string `json:"node"`
	SKU  string `json:"sku"`
	Qty  int    `json:"qty"`
}

func printSummary(env *environ, title string, l loadgen.Summary) {
	fmt.Fprintf(env.stdout, "  %-17s p50 %v  p90 %v  p99 %v  max %v  (%d)\n", title,
		l.P50.Round(10*time.Microsecond), l.P90.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond), l.Count)
}

type overlaysResult struct {
	Overlays      int             `json:"overlays"`
	RSSPerConn    float64         `json:"rss_bytes_per_overlay"`
	HeapPerConn   float64         `json:"heap_bytes_per_overlay"`
	FrameLatency  loadgen.Summary `json:"accepted_to_frame"`
	FrameReceived int             `json:"frames_received"`
}

// runBenchOverlays holds N idle overlay sockets open, reports the server's
// memory per socket, and, with --drop, the frame latency of one trigger.
func runBenchOverlays(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench overlays", "bench overlays --config FILE --source ID [--url URL] [--overlays N] [--drop D] [--hold D]")
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration with the creator's overlay key (and the source's secret for --drop)")
	sourceID := fs.String("source", "", "source whose creator's overlays to open (required)")
	base := fs.String("url", "http://127.0.0.1:8080", "Dropwire base URL")
	n := fs.Int("overlays", 1000, "idle overlay sockets")
	drop := fs.String("drop", "", "trigger this drop once all sockets are open and measure the frame latency")
	hold := fs.Duration("hold", 5*time.Second, "how long to hold the sockets before measuring memory")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *sourceID == "" || *n <= 0 {
		fs.Usage()
		return errUsage
	}
	bt, err := loadBenchTarget(env, *cfgPath, *sourceID)
	if err != nil {
		return err
	}
	rss0, heap0, err := serverMemory(ctx, *base)
	if err != nil {
		return fmt.Errorf("reading the server's /metrics: %w", err)
	}
	var mu sync.Mutex
	var seen []time.Time
	fmt.Fprintf(env.stderr, "opening %d overlay sockets...\n", *n)
	w, err := watchOverlays(*base, bt.creator, bt.key, *n, func(d string, at time.Time) {
		if d == *drop {
			mu.Lock()
			seen = append(seen, at)
			mu.Unlock()
		}
	})
	if err != nil {
		return err
	}
	defer w.close()
	time.Sleep(*hold)
	rss1, heap1, err := serverMemory(ctx, *base)
	if err != nil {
		return err
	}
	res := overlaysResult{Overlays: *n, RSSPerConn: (rss1 - rss0) / float64(*n), HeapPerConn: (heap1 - heap0) / float64(*n)}
	if *drop != "" {
		at, err := bt.trigger(ctx, *base, *drop)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		var l loadgen.Latencies
		mu.Lock()
		for _, s := range seen {
			l.Add(max(s.Sub(at), 0))
		}
		res.FrameReceived = len(seen)
		mu.Unlock()
		res.FrameLatency = l.Summarize()
	}
	return printResult(env, *asJSON, "overlays", res, func() {
		fmt.Fprintf(env.stdout, "bench overlays: %d idle overlay sockets held %v\n", *n, *hold)
		fmt.Fprintf(env.stdout, "  server memory per overlay: %.1f KB resident, %.1f KB heap\n", res.RSSPerConn/1024, res.HeapPerConn/1024)
		if *drop != "" {
			fmt.Fprintf(env.stdout, "  %d of %d overlays got the frame\n", res.FrameReceived, *n)
			printSummary(env, "accepted → frame", res.FrameLatency)
		}
	})
}
