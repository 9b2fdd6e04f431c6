package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/loadgen"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

// overlayStock is the part of an overlay state message the claims bench
// reads: the claim URL and the stock.
type overlayStock struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Drop   *struct {
		ID string `json:"id"`
	} `json:"drop"`
	Stock *struct {
		Left  int64 `json:"left"`
		Total int64 `json:"total"`
	} `json:"stock"`
	QR *overlay.QR `json:"qr"`
}

// runBenchClaims is `dropwire bench claims`: a burst of distinct viewers
// claiming one drop, as a stream's audience does after the QR appears. It
// opens the drop with a signed webhook (unless --no-trigger), reads the
// claim URL and stock off the creator's overlay WebSocket, sends the burst
// as a phone does it (the claim page, whose device cookie the claim then
// carries; every viewer a new device), then reads the stock again and
// checks that nothing was oversold.
func runBenchClaims(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "bench claims", "bench claims --config FILE --drop ID [--url URL] [--requests N] [--concurrency C] [--rate R]")
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration with the drop, its creator's overlay key and a source")
	dropID := fs.String("drop", "", "drop to claim (required)")
	base := fs.String("url", "http://127.0.0.1:8080", "Dropwire base URL (loopback or your own servers only)")
	n := fs.Int("requests", 20000, "claim attempts, each from a new viewer")
	conc := fs.Int("concurrency", 64, "connections")
	rate := fs.Int("rate", 0, "attempts per second (open loop); 0: as fast as the connections allow")
	noTrigger := fs.Bool("no-trigger", false, "do not open the drop (it is open already)")
	xff := fs.Bool("xff", false, "give each viewer its own address in X-Forwarded-For, for a server whose trusted_proxies hold this machine: the per-IP limit then counts each viewer apart, as behind a load balancer")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *dropID == "" || *n <= 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(env, *cfgPath)
	if err != nil {
		return err
	}
	d, ok := cfg.Drop(*dropID)
	if !ok {
		return fmt.Errorf("no drop %q in %s", *dropID, *cfgPath)
	}
	creator, ok := cfg.Creator(d.Creator)
	if !ok || len(creator.OverlayKeys) == 0 {
		return fmt.Errorf("drop %q: creator %q has no overlay key to read the claim code with", d.ID, d.Creator)
	}
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not an absolute URL", *base)
	}

	if !*noTrigger {
		if err := benchTrigger(ctx, cfg, d, *base); err != nil {
			return err
		}
	}
	wsURL := "ws://" + u.Host + "/v1/overlay/" + url.PathEscape(d.Creator) + "/ws?key=" + url.QueryEscape(creator.OverlayKeys[len(creator.OverlayKeys)-1])
	if u.Scheme == "https" {
		wsURL = "wss" + strings.TrimPrefix(wsURL, "ws")
	}
	before, err := benchOverlayState(ctx, wsURL, d.ID, func(s overlayStock) bool { return s.QR != nil })
	if err != nil {
		return err
	}
	// The code is in the QR only, as a phone reads it.
	claimURL, err := before.QR.Text()
	if err != nil {
		return fmt.Errorf("the overlay's QR does not decode: %w", err)
	}
	code := claimURL[strings.LastIndex(claimURL, "/")+1:]

	// A viewer's phone opens the claim page, which sets its device cookie,
	// then claims with it: every viewer does both, pages first (the scan),
	// then the claims (the tap). Each phase is measured on its own.
	fmt.Fprintf(env.stderr, "bench claims: %d viewers, %d connections, drop %s (%d of %d left) at %s\n",
		*n, *conc, d.ID, before.Stock.Left, before.Stock.Total, u.Host)
	viewer := func(i int) http.Header {
		h := http.Header{}
		if *xff {
			h.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		}
		return h
	}
	pageReqs := make([]loadgen.Request, *n)
	for i := range pageReqs {
		pageReqs[i] = loadgen.BuildRequest("GET", u.Host, "/c/"+code, viewer(i), nil)
	}
	cookies := make([]string, *n)
	pages, err := loadgen.Run(ctx, loadgen.Config{
		Addr: u.Host, Request: func(i int) loadgen.Request { return pageReqs[i] },
		Rate: *rate, Concurrency: *conc, Max: *n, Progress: env.stderr,
		OnResponse: func(i int, resp []byte) { cookies[i] = loadgen.SetCookie(resp, verifier.DeviceCookie) },
	})
	if err != nil {
		return err
	}
	run := strings.ToLower(rand.Text()[:8])
	body := fmt.Appendf(nil, `{"code":%q}`, code)
	reqs := make([]loadgen.Request, *n)
	for i := range reqs {
		h := viewer(i)
		h.Set("Content-Type", "application/json")
		h.Set("Idempotency-Key", fmt.Sprintf("bench-%s-%d", run, i))
		if cookies[i] != "" {
			h.Set("Cookie", cookies[i])
		}
		reqs[i] = loadgen.BuildRequest("POST", u.Host, "/v1/claims", h, body)
	}
	res, err := loadgen.Run(ctx, loadgen.Config{
		Addr: u.Host, Request: func(i int) loadgen.Request { return reqs[i] },
		Rate: *rate, Concurrency: *conc, Max: *n, Progress: env.stderr,
	})
	if err != nil {
		return err
	}
	created := res.Status[http.StatusCreated]
	want := max(before.Stock.Left-int64(created), 0)
	after, err := benchOverlayState(ctx, wsURL, d.ID, func(s overlayStock) bool {
		return s.Stock != nil && s.Stock.Left <= want
	})
	if err != nil {
		return err
	}
	check := struct {
		Created     int   `json:"created"`
		LeftBefore  int64 `json:"left_before"`
		LeftAfter   int64 `json:"left_after"`
		Oversold    bool  `json:"oversold"`
		RateLimited int   `json:"rate_limited"`
	}{created, before.Stock.Left, after.Stock.Left, false, res.Status[http.StatusTooManyRequests]}
	check.Oversold = int64(created) > before.Stock.Left || after.Stock.Left < 0 ||
		before.Stock.Left-after.Stock.Left != int64(created)
	out := map[string]any{"pages": pages, "load": res, "check": check}
	err = printResult(env, *asJSON, "claims", out, func() {
		pages.Print(env.stdout, fmt.Sprintf("bench claims: %d claim pages (GET /c/{code}), %d connections", *n, *conc))
		res.Print(env.stdout, fmt.Sprintf("bench claims: %d claims (POST /v1/claims, each with its page's cookie), %d connections", *n, *conc))
		fmt.Fprintf(env.stdout, "  result     %d created (201), %d sold out/closed (410), %d rate limited (429)\n",
			created, res.Status[http.StatusGone], check.RateLimited)
		fmt.Fprintf(env.stdout, "  stock      %d left before, %d after: ", check.LeftBefore, check.LeftAfter)
		if check.Oversold {
			fmt.Fprintln(env.stdout, "OVERSOLD or inconsistent")
		} else {
			fmt.Fprintln(env.stdout, "nothing oversold")
		}
		if check.RateLimited > 0 {
			fmt.Fprintln(env.stdout, "  note       every request comes from one address: pass --xff to a server whose trusted_proxies hold this machine, or set claim_rate_ip: -1 on it")
		}
	})
	if err == nil && check.Oversold {
		return &exitError{code: 1, err: fmt.Errorf("stock check failed: %d created, %d left before, %d after", created, check.LeftBefore, check.LeftAfter)}
	}
	return err
}

// benchTrigger opens the drop with a signed webhook from one of its
// creator's sources.
func benchTrigger(ctx context.Context, cfg *config.Config, d *config.Drop, base string) error {
	var src *config.Source
	for i := range cfg.Sources {
		if s := &cfg.Sources[i]; s.Creator == d.Creator && s.Scheme == config.SchemeStandard && len(s.Secrets) > 0 {
			src = s
			break
		}
	}
	if src == nil {
		return fmt.Errorf("drop %q: no standard source of creator %q to open it with (or pass --no-trigger)", d.ID, d.Creator)
	}
	id := "bench-open-" + strings.ToLower(rand.Text()[:10])
	body := fmt.Appendf(nil, `{"id":%q,"type":"drop.trigger","drop":%q,"moment":%q}`, id, d.ID, id)
	h, err := sdkhooks.SignRequest(*src, id, time.Now(), body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(base, "/")+"/v1/hooks/"+url.PathEscape(src.ID), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("opening drop %q: webhook answered %s", d.ID, res.Status)
	}
	return nil
}

// benchOverlayState reads overlay states until one of drop satisfies ok
// (10 s at most).
func benchOverlayState(ctx context.Context, wsURL, drop string, ok func(overlayStock) bool) (overlayStock, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		return overlayStock{}, fmt.Errorf("overlay websocket: %w", err)
	}
	defer ws.Close()
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return overlayStock{}, fmt.Errorf("overlay websocket: no state of drop %q with stock: %w", drop, err)
		}
		var s overlayStock
		if json.Unmarshal(msg, &s) != nil || s.Type != "state" || s.Drop == nil || s.Drop.ID != drop || s.Stock == nil {
			continue
		}
		if ok(s) {
			return s, nil
		}
	}
}
