package loadgen

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one load run.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Request returns the i-th request to send (0-based); it is called
	// from several goroutines.
	Request func(i int) Request
	// Rate is requests per second (open loop); 0 sends as fast as
	// Concurrency connections allow (closed loop).
	Rate int
	// Concurrency is the number of connections (default 16).
	Concurrency int
	// Duration bounds the run; Max bounds the number of requests (0: no
	// bound). At least one must be set.
	Duration time.Duration
	Max      int
	// Progress, when set, receives a live progress line every second.
	Progress io.Writer
	// Timeout of one request (default 10 s).
	Timeout time.Duration
	// OnResponse, when set, is given each complete response (head and
	// body) with its request's index, e.g. to keep a cookie it sets. It is
	// called from the engine's goroutines and must not keep resp.
	OnResponse func(i int, resp []byte)

	// goroutines selects the portable engine where the polled one runs.
	goroutines bool
}

// Result is the outcome of a run.
type Result struct {
	Sent       int            `json:"sent"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
	Throughput float64        `json:"throughput_per_s"`
	Status     map[int]int    `json:"status"`
	Errors     map[string]int `json:"errors,omitempty"`
	Latency    Summary        `json:"latency"`

	lat *Latencies // every latency, sorted (see Combine)
}

type worker struct {
	lat    Latencies
	status map[int]int
	errs   map[string]int
}

// Run sends the requests and returns what happened.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Duration <= 0 && cfg.Max <= 0 {
		return Result{}, fmt.Errorf("loadgen: set a duration or a request count")
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var (
		done, failed atomic.Int64
		start        = time.Now()
	)
	stopProgress := progress(cfg.Progress, start, &done, &failed)
	var workers []*worker
	if polled && !cfg.goroutines {
		w, err := runPolled(ctx, cfg, &done, &failed)
		if err != nil {
			stopProgress()
			return Result{}, err
		}
		workers = []*worker{w}
	} else {
		workers = runConns(ctx, cfg, start, &done, &failed)
	}
	elapsed := time.Since(start)
	stopProgress()

	res := Result{Status: map[int]int{}, Errors: map[string]int{}, Elapsed: elapsed}
	var all Latencies
	for _, wk := range workers {
		all.Merge(&wk.lat)
		for k, v := range wk.status {
			res.Status[k] += v
			res.Sent += v
		}
		for k, v := range wk.errs {
			res.Errors[k] += v
		}
	}
	res.Latency = all.Summarize()
	res.lat = &all
	res.Throughput = float64(res.Sent) / elapsed.Seconds()
	return res, nil
}

// Combine returns the results of several runs as one: every request of
// them, over the sum of their durations.
func Combine(results ...Result) Result {
	out := Result{Status: map[int]int{}, Errors: map[string]int{}}
	var all Latencies
	for _, r := range results {
		out.Sent += r.Sent
		out.Elapsed += r.Elapsed
		for k, v := range r.Status {
			out.Status[k] += v
		}
		for k, v := range r.Errors {
			out.Errors[k] += v
		}
		if r.lat != nil {
			all.Merge(r.lat)
		}
	}
	out.Latency = all.Summarize()
	out.lat = &all
	if out.Elapsed > 0 {
		out.Throughput = float64(out.Sent) / out.Elapsed.Seconds()
	}
	return out
}

// progress writes a live progress line to w every second until the
// returned stop is called; with w nil it does nothing.
func progress(w io.Writer, start time.Time, done, failed *atomic.Int64) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-quit:
				fmt.Fprintln(w)
				return
			case now := <-tick.C:
				n := done.Load()
				fmt.Fprintf(w, "\r  %5.1fs  %9d done  %8.0f/s  %d errors   ",
					now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), failed.Load())
				last, lastAt = n, now
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}

// runConns is the portable engine: a goroutine per connection.
func runConns(ctx context.Context, cfg Config, start time.Time, done, failed *atomic.Int64) []*worker {
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Second / time.Duration(cfg.Rate)
	}

	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		workers = make([]*worker, cfg.Concurrency)
	)
	for w := range workers {
		wk := &worker{status: map[int]int{}, errs: map[string]int{}}
		workers[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cn *conn
			defer func() {
				if cn != nil {
					_ = cn.Close()
				}
			}()
			free := time.Now()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if cfg.Max > 0 && i >= cfg.Max {
					return
				}
				from := time.Now()
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
						from = time.Now()
					} else if free.After(due) {
						// Busy past the due time: the queueing counts.
						from = due
					}
				}
				req := cfg.Request(i)
				if cn == nil {
					var err error
					if cn, err = dial(cfg.Addr, cfg.Timeout); err != nil {
						wk.errs[err.Error()]++
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				status, err := cn.do(req)
				end := time.Now()
				free = end
				if status != 0 {
					wk.status[status]++
					wk.lat.Add(end.Sub(from))
					done.Add(1)
					if cfg.OnResponse != nil {
						cfg.OnResponse(i, cn.last)
					}
				}
				if err != nil {
					if status == 0 {
						wk.errs[shortErr(err)]++
						failed.Add(1)
					}
					_ = cn.Close()
					cn = nil
				}
			}
		}()
	}
	wg.Wait()
	return workers
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 80 {
		s = s[i+2:]
	}
	return s
}

// Print writes a human report of r.
func (r Result) Print(w io.Writer, title string) {
	fmt.Fprintf(w, "%s\n", title)
	fmt.Fprintf(w, "  requests   %d in %.2fs = %.0f/s\n", r.Sent, r.Elapsed.Seconds(), r.Throughput)
	l := r.Latency
	fmt.Fprintf(w, "  latency    min %v  p50 %v  p90 %v  p99 %v  p99.9 %v  max %v\n",
		round(l.Min), round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max))
	codes := make([]int, 0, len(r.Status))
	for c := range r.Status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Fprint(w, "  status    ")
	for _, c := range codes {
		fmt.Fprintf(w, " %d×%d", c, r.Status[c])
	}
	fmt.Fprintln(w)
	for e, n := range r.Errors {
		fmt.Fprintf(w, "  error      %d× %s\n", n, e)
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// Latencies returns every latency of the run (sorted); nil for a Result
// not made by Run or Combine.
func (r Result) Latencies() *Latencies {
	if r.lat == nil {
		return &Latencies{}
	}
	return r.lat
}
