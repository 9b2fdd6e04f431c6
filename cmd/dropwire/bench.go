package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/sdkhooks"
)

// benchScenarios are the load scenarios of `dropwire bench`.
func benchScenarios() map[string]command {
	return map[string]command{
		"ingest":         {"ingest", "signed webhooks at a rate or concurrency: throughput, latency, status mix", runBenchIngest},
		"claims":         {"claims", "a burst of distinct viewers claiming one drop: claims/s, result mix, latency, oversell check", runBenchClaims},
		"moment":         {"moment", "signed triggers, each opening a fresh drop, timed until every connected overlay shows it", runBenchMoment},
		"overlays":       {"overlays", "idle overlay sockets held open: server memory per overlay, frame latency of one trigger", runBenchOverlays},
		"rtc":            {"rtc", "data-channel peers: setup time, event → ack latency, server goroutines/memory per peer", runBenchRTC},
		"page":           {"page", "a crowd opening a claim page (and its assets): req/s, latency, CPU, against a reference server", runBenchPage},
		"page-reference": {"page-reference", "the reference server of bench page (captured responses on stdin)", runBenchPageReference},
	}
}

func runBench(ctx context.Context, env *environ, args []string) error {
	scenarios := benchScenarios()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(env.stderr, "Usage: dropwire bench <scenario> [flags]\n\nLoad-tests a running Dropwire from this machine. Scenarios:")
		for _, n := range names {
			fmt.Fprintf(env.stderr, "  %-15s %s\n", n, scenarios[n].summary)
		}
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sc, ok := scenarios[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "dropwire bench: unknown scenario %q\n", args[0])
		return errUsage
	}
	return sc.run(ctx, env, args[1:])
}

// printResult writes r as JSON or as the human report.
func printResult(env *environ, asJSON bool, title string, r any, human func()) error {
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	human()
	return nil
}

func runBenchIngest(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench ingest", "bench ingest --config FILE --source ID [--url URL] [--rate N | --concurrency C] [--duration D]")
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration with the source's secret")
	sourceID := fs.String("source", "", "source to sign as (required)")
	base := fs.String("url", "http://127.0.0.1:8080", "Dropwire base URL (loopback or your own servers only)")
	drop := fs.String("drop", "", "drop to trigger (default: the creator's first drop)")
	rate := fs.Int("rate", 0, "requests per second (open loop); 0: closed loop at --concurrency")
	conc := fs.Int("concurrency", 32, "connections")
	dur := fs.Duration("duration", 10*time.Second, "length of the run")
	maxReq := fs.Int("requests", 0, "stop after this many requests (0: by duration)")
	moments := fs.Int("moments", 1000, "distinct moments the events are spread over")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	save := fs.String("save", "", "write the signed requests to this file for scripts/wrk-replay.lua instead of sending them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *sourceID == "" {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return err
	}
	src, ok := cfg.Source(*sourceID)
	if !ok {
		return fmt.Errorf("no source %q in %s", *sourceID, *cfgPath)
	}
	if *drop == "" {
		for _, d := range cfg.Drops {
			if d.Creator == src.Creator {
				*drop = d.ID
				break
			}
		}
	}
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not an absolute URL", *base)
	}

	// Sign every request before the clock starts, so the generator spends
	// its CPU on sending only.
	n := *maxReq
	if n == 0 {
		if *rate > 0 {
			n = *rate*int(dur.Seconds()+1) + *conc
		} else {
			n = 400_000
		}
	}
	run := strings.ToLower(rand.Text()[:8])
	path := "/v1/hooks/" + src.ID
	fmt.Fprintf(env.stderr, "signing %d requests...\n", n)
	reqs := make([]loadgen.Request, n)
	now := time.Now()
	for i := range reqs {
		id := fmt.Sprintf("bench-%s-%d", run, i)
		body := fmt.Appendf(nil, `{"id":%q,"type":"drop.trigger","drop":%q,"moment":"bench-%s-m%d"}`, id, *drop, run, i%max(*moments, 1))
		h, err := sdkhooks.SignRequest(*src, id, now, body)
		if err != nil {
			return err
		}
		reqs[i] = loadgen.BuildRequest("POST", u.Host, path, h, body)
	}
	if *save != "" {
		return saveRequests(*save, reqs)
	}
	mode := fmt.Sprintf("closed loop, %d connections", *conc)
	if *rate > 0 {
		mode = fmt.Sprintf("%d/s open loop, %d connections", *rate, *conc)
	}
	fmt.Fprintf(env.stderr, "bench ingest: %s for %v against %s\n", mode, *dur, u.Host)
	res, err := loadgen.Run(ctx, loadgen.Config{
		Addr: u.Host, Request: func(i int) loadgen.Request { return reqs[i] },
		Rate: *rate, Concurrency: *conc, Duration: *dur, Max: n, Progress: env.stderr,
	})
	if err != nil {
		return err
	}
	return printResult(env, *asJSON, "ingest", res, func() { res.Print(env.stdout, "bench ingest: "+mode) })
}

// saveRequests writes reqs for an external load generator: each raw request
// preceded by a line holding its length in bytes, the format
// scripts/wrk-replay.lua reads.
func saveRequests(path string, reqs []loadgen.Request) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range reqs {
		fmt.Fprintf(w, "%d\n", len(r))
		w.Write(r)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
