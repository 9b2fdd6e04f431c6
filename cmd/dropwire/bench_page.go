package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/loadgen"
)

// runBenchPage is `dropwire bench page`: a crowd of phones opening a claim
// page for the first time (each gets a device cookie), measured against a
// reference in the same run: a plain net/http server, in a process of
// its own, answering the same requests with the same bytes (headers and
// cookie included) from memory. The two take turns in slices (see
// loadgen.Interleave); each round measures the page alone and a first
// visit (the page, its stylesheet, its script and the drop's picture).
func runBenchPage(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench page", "bench page (--code CODE | --config FILE --drop ID) [--url URL] [flags]")
	base := fs.String("url", "http://127.0.0.1:8080", "Dropwire base URL (loopback or your own servers only)")
	code := fs.String("code", "", "claim code to open (default: the one on the drop's overlay)")
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration with the drop and its creator's overlay key (without --code)")
	dropID := fs.String("drop", "", "drop whose overlay code is opened (without --code)")
	noTrigger := fs.Bool("no-trigger", false, "do not open the drop first (without --code)")
	conc := fs.Int("concurrency", 64, "connections")
	n := fs.Int("requests", 20000, "requests per server, mix and round")
	rounds := fs.Int("rounds", 3, "rounds (each measures every mix on both servers)")
	nslices := fs.Int("slices", 8, "turns each server takes per mix and round")
	mixes := fs.String("mix", "page,visit", "mixes: page (the page alone), visit (page, stylesheet, script, picture in turn)")
	noRef := fs.Bool("no-reference", false, "measure Dropwire alone")
	metrics := fs.String("metrics", "", "Dropwire's /metrics base URL, for its CPU time (default: --url)")
	refProfile := fs.String("reference-cpuprofile", "", "write a CPU profile of the reference server to this file")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *conc <= 0 || *n <= 0 || *rounds <= 0 || *nslices <= 0 || *n < *nslices || (*code == "" && (*cfgPath == "" || *dropID == "")) {
		fs.Usage()
		return errUsage
	}
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return fmt.Errorf("--url %q is not an absolute http URL", *base)
	}
	if *metrics == "" {
		*metrics = *base
	}
	if *code == "" {
		if *code, err = overlayCode(ctx, env, *cfgPath, *dropID, *base, !*noTrigger); err != nil {
			return err
		}
	}

	// What a phone fetches: the page, then what it names.
	page := "/c/" + url.PathEscape(*code)
	first, err := loadgen.Capture(u.Host, []loadgen.Request{loadgen.BuildRequest("GET", u.Host, page, nil, nil)}, 0)
	if err != nil {
		return err
	}
	if first[0].Status != http.StatusOK {
		return fmt.Errorf("GET %s: %d (is the drop open, the code current?)", page, first[0].Status)
	}
	targets := append([]string{page}, pageAssets(first[0].Body)...)
	reqs := func(host string) []loadgen.Request {
		out := make([]loadgen.Request, len(targets))
		for i, t := range targets {
			out[i] = loadgen.BuildRequest("GET", host, t, nil, nil)
		}
		return out
	}
	captured, err := loadgen.Capture(u.Host, reqs(u.Host), 0)
	if err != nil {
		return err
	}
	for _, c := range captured {
		if c.Status != http.StatusOK {
			return fmt.Errorf("GET %s: %d", c.Target, c.Status)
		}
	}

	sides := []loadgen.Side{{Name: "dropwire", Addr: u.Host, Requests: reqs(u.Host)}}
	cpu := []func() (time.Duration, bool){func() (time.Duration, bool) { return metricsCPU(ctx, *metrics) }}
	if !*noRef {
		ref, err := startReference(ctx, captured, *refProfile)
		if err != nil {
			return err
		}
		defer ref.stop()
		sides = append([]loadgen.Side{{Name: "reference", Addr: ref.addr, Requests: reqs(ref.addr)}}, sides...)
		cpu = append([]func() (time.Duration, bool){ref.cpu}, cpu...)
	}

	type sideResult struct {
		Name       string         `json:"name"`
		Result     loadgen.Result `json:"result"`
		CPUPerReq  time.Duration  `json:"cpu_per_request_ns,omitempty"`
		CPUMeasure bool           `json:"cpu_measured"`
	}
	type mixResult struct {
		Round int          `json:"round"`
		Mix   string       `json:"mix"`
		Sides []sideResult `json:"sides"`
		Ratio float64      `json:"ratio,omitempty"` // Dropwire's throughput / the reference's
	}
	out := struct {
		Code        string      `json:"code"`
		Targets     []string    `json:"targets"`
		Bytes       []int       `json:"body_bytes"`
		Concurrency int         `json:"concurrency"`
		LoadBefore  string      `json:"load_before"`
		LoadAfter   string      `json:"load_after"`
		Runs        []mixResult `json:"runs"`
	}{Code: *code, Targets: targets, Concurrency: *conc, LoadBefore: loadAvg()}
	for _, c := range captured {
		out.Bytes = append(out.Bytes, len(c.Body))
	}
	fmt.Fprintf(env.stderr, "bench page: %s at %s, %d connections, %d requests per server and mix, %d rounds of %d slices; load %s\n",
		page, u.Host, *conc, *n, *rounds, *nslices, out.LoadBefore)
	for round := 1; round <= *rounds; round++ {
		for _, mix := range strings.Split(*mixes, ",") {
			k := 1
			switch mix {
			case "page":
			case "visit":
				k = len(targets)
			default:
				return fmt.Errorf("--mix: unknown mix %q", mix)
			}
			mixSides := make([]loadgen.Side, len(sides))
			for i, s := range sides {
				s.Requests = s.Requests[:k]
				mixSides[i] = s
			}
			used := make([]time.Duration, len(sides))
			measured := make([]bool, len(sides))
			for i := range measured {
				measured[i] = true
			}
			res, err := loadgen.Interleave(ctx, loadgen.Config{Concurrency: *conc}, mixSides, *nslices, *n / *nslices,
				func(side int) func(loadgen.Result) {
					before, ok := cpu[side]()
					return func(loadgen.Result) {
						after, ok2 := cpu[side]()
						used[side] += after - before
						measured[side] = measured[side] && ok && ok2
					}
				})
			if err != nil {
				return err
			}
			mr := mixResult{Round: round, Mix: mix}
			for i, r := range res {
				sr := sideResult{Name: sides[i].Name, Result: r, CPUMeasure: measured[i]}
				if measured[i] && r.Sent > 0 {
					sr.CPUPerReq = used[i] / time.Duration(r.Sent)
				}
				mr.Sides = append(mr.Sides, sr)
			}
			if len(res) == 2 && res[0].Throughput > 0 {
				mr.Ratio = res[1].Throughput / res[0].Throughput
			}
			out.Runs = append(out.Runs, mr)
			if !*asJSON {
				fmt.Fprintf(env.stdout, "round %d, %s (%s):\n", round, mix, strings.Join(targets[:k], ", "))
				for _, s := range mr.Sides {
					l := s.Result.Latency
					cpuText := "CPU n/a"
					if s.CPUMeasure {
						cpuText = fmt.Sprintf("CPU %5.1f µs/request", float64(s.CPUPerReq.Nanoseconds())/1000)
					}
					fmt.Fprintf(env.stdout, "  %-9s %8.0f/s  p50 %-9v p99 %-9v %s  status %v\n", s.Name, s.Result.Throughput,
						round3(l.P50), round3(l.P99), cpuText, s.Result.Status)
				}
				if mr.Ratio > 0 {
					fmt.Fprintf(env.stdout, "  ratio     %.2f\n", mr.Ratio)
				}
			}
		}
	}
	out.LoadAfter = loadAvg()
	if *asJSON {
		return printResult(env, true, "page", out, nil)
	}
	fmt.Fprintf(env.stdout, "load before %s, after %s\n", out.LoadBefore, out.LoadAfter)
	return nil
}

func round3(d time.Duration) time.Duration {
	switch {
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// overlayCode reads the claim code on the drop's overlay, opening the
// drop first when trigger is set.
func overlayCode(ctx context.Context, env *environ, cfgPath, dropID, base string, trigger bool) (string, error) {
	cfg, err := loadConfig(env, cfgPath)
	if err != nil {
		return "", err
	}
	d, ok := cfg.Drop(dropID)
	if !ok {
		return "", fmt.Errorf("no drop %q in %s", dropID, cfgPath)
	}
	creator, ok := cfg.Creator(d.Creator)
	if !ok || len(creator.OverlayKeys) == 0 {
		return "", fmt.Errorf("drop %q: creator %q has no overlay key to read the claim code with", d.ID, d.Creator)
	}
	if trigger {
		if err := benchTrigger(ctx, cfg, d, base); err != nil {
			return "", err
		}
	}
	u, _ := url.Parse(base)
	wsURL := "ws://" + u.Host + "/v1/overlay/" + url.PathEscape(d.Creator) + "/ws?key=" + url.QueryEscape(creator.OverlayKeys[len(creator.OverlayKeys)-1])
	s, err := benchOverlayState(ctx, wsURL, d.ID, func(s overlayStock) bool { return s.QR != nil })
	if err != nil {
		return "", err
	}
	claimURL, err := s.QR.Text()
	if err != nil {
		return "", fmt.Errorf("reading the overlay's QR: %w", err)
	}
	return claimURL[strings.LastIndex(claimURL, "/")+1:], nil
}

// pageAsset finds what a claim page makes a browser fetch from its own
// server: its stylesheet, its script, its picture.
var pageAsset = regexp.MustCompile(`<link rel="stylesheet" href="(/[^"]*)"|<script src="(/[^"]*)"|<img id="dw-image" src="(/[^"]*)"`)

func pageAssets(html []byte) []string {
	var out []string
	for _, m := range pageAsset.FindAllSubmatch(html, -1) {
		for _, g := range m[1:] {
			if len(g) > 0 {
				// The page escapes & in URLs as HTML does.
				out = append(out, strings.ReplaceAll(string(g), "&amp;", "&"))
			}
		}
	}
	return out
}

// loadAvg is the machine's load averages (1, 5, 15 min), as uptime says
// them; "" where /proc/loadavg is not.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// metricsCPU reads process_cpu_seconds_total from a server's /metrics.
func metricsCPU(ctx context.Context, base string) (time.Duration, bool) {
	m, err := scrapeMetrics(ctx, base)
	if err != nil {
		return 0, false
	}
	v, ok := m["process_cpu_seconds_total"]
	return time.Duration(v * float64(time.Second)), ok
}

// procCPU reads a process's user and system CPU time from /proc (Linux).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing one. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / ticks, true
}

// reference is the reference server, a child process.
type reference struct {
	cmd  *exec.Cmd
	addr string
}

// referenceCommand returns the command that runs the reference server:
// this binary's `bench page-reference` (tests run their own binary).
var referenceCommand = func(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, append([]string{"bench", "page-reference"}, args...)...), nil
}

// startReference starts the reference server with the captured
// responses and waits for its address.
func startReference(ctx context.Context, captured []loadgen.Captured, cpuProfile string) (*reference, error) {
	args := []string{"--listen", "127.0.0.1:0"}
	if cpuProfile != "" {
		args = append(args, "--cpuprofile", cpuProfile)
	}
	cmd, err := referenceCommand(args...)
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("reference server: %w", err)
	}
	r := &reference{cmd: cmd}
	if err := json.NewEncoder(in).Encode(captured); err != nil {
		r.stop()
		return nil, fmt.Errorf("reference server: %w", err)
	}
	_ = in.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(outp).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, outp)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			r.stop()
			return nil, fmt.Errorf("reference server said %q", s)
		}
		r.addr = addr
		return r, nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	r.stop()
	return nil, errors.New("reference server did not start")
}

func (r *reference) cpu() (time.Duration, bool) { return procCPU(r.cmd.Process.Pid) }

func (r *reference) stop() {
	_ = r.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// runBenchPageReference is `dropwire bench page-reference`, the reference
// server of `bench page`: it reads captured responses (JSON) from stdin,
// prints "listening on <addr>", and answers them from memory with a plain
// net/http server until interrupted.
func runBenchPageReference(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench page-reference", "bench page-reference [--listen ADDR] < responses.json")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var captured []loadgen.Captured
	if err := json.NewDecoder(os.Stdin).Decode(&captured); err != nil {
		return fmt.Errorf("reading the responses: %w", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: loadgen.Replay(captured), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(env.stdout, "listening on %s\n", ln.Addr())
	if f, ok := env.stdout.(*os.File); ok {
		_ = f.Sync()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}
