package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Captured is one response as a server sent it, kept to be served again
// by a reference server (Replay).
type Captured struct {
	// Target is the request's path and query, as the request line has it.
	Target string      `json:"target"`
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// Capture sends each request once, in order, over one connection to addr
// and returns the responses. Each request must be a GET (its target is
// read back from its request line).
func Capture(addr string, reqs []Request, timeout time.Duration) ([]Captured, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cn, err := dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	defer cn.Close()
	out := make([]Captured, 0, len(reqs))
	for _, req := range reqs {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
		if err != nil {
			return nil, fmt.Errorf("loadgen: capture: %w", err)
		}
		if _, err := cn.do(req); err != nil {
			return nil, fmt.Errorf("loadgen: capture %s: %w", r.RequestURI, err)
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(cn.last)), r)
		if err != nil {
			return nil, fmt.Errorf("loadgen: capture %s: %w", r.RequestURI, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, fmt.Errorf("loadgen: capture %s: %w", r.RequestURI, err)
		}
		out = append(out, Captured{Target: r.RequestURI, Status: res.StatusCode, Header: res.Header, Body: body})
	}
	return out, nil
}

// Replay is the reference a server is measured against: a plain net/http
// handler that answers each captured target with its captured status,
// headers (Set-Cookie included, the same for every request) and body,
// from memory, and does nothing else. Targets not captured get a 404.
func Replay(responses []Captured) http.Handler {
	byTarget := make(map[string]Captured, len(responses))
	for _, c := range responses {
		h := c.Header.Clone()
		// net/http writes its own Date; the rest is sent as captured.
		h.Del("Date")
		c.Header = h
		byTarget[c.Target] = c
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := byTarget[r.RequestURI]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		for k, v := range c.Header {
			h[k] = v
		}
		w.WriteHeader(c.Status)
		_, _ = w.Write(c.Body)
	})
}

// Side is one server of a comparison and the requests it is sent, in
// turn (request i is Requests[i % len(Requests)]).
type Side struct {
	Name     string
	Addr     string
	Requests []Request
}

// Interleave runs the same load against each side in turn, slices times,
// with the order of the sides reversed every other slice, so that a
// machine whose load changes during the run weighs on both alike. Each
// slice sends perSlice requests over cfg.Concurrency connections (cfg's
// Addr, Request and Max are set here). It returns each side's slices
// combined (Combine), in the order of sides. around, when set, is called
// before each run of one side, and the function it returns after it,
// e.g. to read the server's CPU time around the run.
func Interleave(ctx context.Context, cfg Config, sides []Side, slices, perSlice int,
	around func(side int) func(Result)) ([]Result, error) {
	runs := make([][]Result, len(sides))
	for i := range slices {
		for j := range sides {
			k := j
			if i%2 == 1 {
				k = len(sides) - 1 - j
			}
			s := sides[k]
			c := cfg
			c.Addr, c.Max = s.Addr, perSlice
			c.Request = func(n int) Request { return s.Requests[n%len(s.Requests)] }
			var after func(Result)
			if around != nil {
				after = around(k)
			}
			r, err := Run(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("loadgen: %s: %w", s.Name, err)
			}
			if after != nil {
				after(r)
			}
			runs[k] = append(runs[k], r)
		}
	}
	out := make([]Result, len(sides))
	for k := range sides {
		out[k] = Combine(runs[k]...)
	}
	return out, nil
}
