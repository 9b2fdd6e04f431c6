package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

// Test drops: a sandbox copy of a drop (its own id, stock and claims) that
// is opened at once by a drop.trigger signed with the creator's source
// secret and posted through the server's own webhook route, so the test
// proves the whole path a capture SDK takes: signature, dedupe, moment,
// overlay, claim, node.
const (
	DefaultTestQty    = 5
	DefaultTestWindow = 5 * time.Minute
)

type testBody struct {
	Qty    int    `json:"qty,omitempty"`
	Window string `json:"window,omitempty"`
}

// TestResult answers a test drop.
type TestResult struct {
	Drop    DropView        `json:"drop"`
	Source  string          `json:"source"`
	Trigger json.RawMessage `json:"trigger"` // the webhook endpoint's answer
}

// signingSource picks the creator's source a test trigger is signed for:
// standard first, then jwt with an HMAC secret.
func signingSource(cfg *config.Config, creator string) (config.Source, bool) {
	for _, scheme := range []string{config.SchemeStandard, config.SchemeJWT} {
		for _, s := range cfg.Sources {
			if s.Creator == creator && s.Scheme == scheme && len(s.Secrets) > 0 {
				return s, true
			}
		}
	}
	return config.Source{}, false
}

// LiveError is the refusal of a test drop while a real drop of the same
// creator is live; it matches ErrDropLive.
type LiveError struct {
	Drop DropView // the live drop
}

func (e *LiveError) Error() string { return fmt.Sprintf("%v: %q", ErrDropLive, e.Drop.ID) }
func (e *LiveError) Unwrap() error { return ErrDropLive }

// liveDrop returns a real (not sandbox) drop of creator that is live: open
// or sold out, its window not over. Such a drop is on stream (or may be
// again, when stock is added), so a test must not share the overlay.
func (a *Admin) liveDrop(ctx context.Context, creator string) (*LiveError, error) {
	// A drop created a moment ago on another replica counts too.
	if err := a.loadDrops(ctx); err != nil {
		return nil, err
	}
	for _, d := range a.cfg.Drops.All(creator) {
		if d.Sandbox {
			continue
		}
		st, err := a.cfg.Verifier.State(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		if st.Status != verifier.StatusOpen {
			continue
		}
		v, err := a.view(ctx, d, nil)
		if err != nil {
			return nil, err
		}
		return &LiveError{Drop: v}, nil
	}
	return nil, nil
}

// TestDrop copies drop from into a sandbox drop and opens it through the
// signed webhook path. While a real drop of the creator is live it refuses
// with a *LiveError (ErrDropLive).
//
// The check comes first and the trigger a few store calls later: a real
// drop that opens in between (on any replica) is not seen. The overlay
// covers that case: it never shows a sandbox drop over an open real one.
func (a *Admin) TestDrop(ctx context.Context, from *config.Drop, qty int, window time.Duration) (TestResult, error) {
	src, ok := signingSource(a.cfg.Config, from.Creator)
	if !ok {
		return TestResult{}, ErrNoSigningSource
	}
	if a.cfg.Ingress == nil {
		return TestResult{}, fmt.Errorf("admin: no ingress handler for test triggers")
	}
	if live, err := a.liveDrop(ctx, from.Creator); err != nil {
		return TestResult{}, err
	} else if live != nil {
		return TestResult{}, live
	}
	now := a.now()
	suffix := "-test-" + strconv.FormatInt(now.UnixMilli(), 36)
	base := from.ID
	if len(base)+len(suffix) > 64 {
		base = base[:64-len(suffix)]
	}
	spec := specOf(from, true)
	spec.ID, spec.Sandbox = base+suffix, true
	spec.Title = "Test: " + from.Title
	if from.Title == "" {
		spec.Title = "Test drop"
	}
	spec.Window = window.String()
	spec.Quorum = 1 // one signed trigger opens it
	if spec.Compensation.Kind == config.CompensationCode {
		// The codes are the real drop's: a test claim must not spend one.
		spec.Compensation = CompensationSpec{Kind: config.CompensationNone}
	}
	for i := range spec.Stock {
		spec.Stock[i].Qty = qty
	}
	d, err := a.CreateDrop(ctx, spec)
	if err != nil {
		return TestResult{}, err
	}
	evID := "evt_dashboard_" + strconv.FormatInt(now.UnixNano(), 36)
	body, _ := json.Marshal(map[string]any{"type": "drop.trigger", "drop": d.ID, "moment": "test-" + evID,
		"occurred_at": now.UTC().Format(time.RFC3339Nano), "data": map[string]any{"test": true}})
	h, err := sdkhooks.SignRequest(src, evID, now, body)
	if err != nil {
		return TestResult{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/hooks/"+src.ID, bytes.NewReader(body))
	if err != nil {
		return TestResult{}, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:0"
	rec := &recorder{header: http.Header{}}
	a.cfg.Ingress.ServeHTTP(rec, req)
	if rec.status != http.StatusAccepted {
		return TestResult{}, fmt.Errorf("admin: test trigger answered %d: %s", rec.status, rec.body.String())
	}
	v, err := a.view(ctx, d, map[string]bool{d.ID: true})
	if err != nil {
		return TestResult{}, err
	}
	a.log.Info().Str("drop", d.ID).Str("source", src.ID).Msg("test drop opened")
	return TestResult{Drop: v, Source: src.ID, Trigger: json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))}, nil
}

func (a *Admin) testDrop(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	var b testBody
	if p := decode(w, r, &b); p != nil {
		problem.Write(w, p)
		return
	}
	qty, window := b.Qty, DefaultTestWindow
	if qty == 0 {
		qty = DefaultTestQty
	}
	if qty < 1 || qty > 1000 {
		problem.Respond(w, http.StatusUnprocessableEntity, "invalid_test", "qty must be between 1 and 1000")
		return
	}
	if b.Window != "" {
		v, err := time.ParseDuration(b.Window)
		if err != nil || v <= 0 || v > 24*time.Hour {
			problem.Respond(w, http.StatusUnprocessableEntity, "invalid_test", "window must be a duration like 5m, at most 24h")
			return
		}
		window = v
	}
	res, err := a.TestDrop(r.Context(), d, qty, window)
	if err != nil {
		a.dropError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// recorder is the response of an in-process request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
