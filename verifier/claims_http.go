package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/httpauth"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/server"
	"github.com/dropwire/dropwire/internal/store"
)

// ClaimsAPIConfig configures the claim HTTP API and pages.
type ClaimsAPIConfig struct {
	Claims  *Claims
	Viewers *Viewers
	// Nodes looks fulfillment nodes up for the pages (name, address, hours).
	Nodes func(id string) (*config.Node, bool)
	// ClaimPage is the html/template of GET /c/{code}; ReceiptPage the
	// static page of GET /r/{claim}.
	ClaimPage   []byte
	ReceiptPage []byte
	// QRSVG renders the receipt QR (overlay.QRSVG); nil: no QR.
	QRSVG func(content string) (svg string, version int, err error)
	// RateIP and RateDevice limit claim attempts; a zero Rate: no limit.
	RateIP     store.Limit
	RateDevice store.Limit
	// MaxBody limits a claim request body; default 4 KiB.
	MaxBody int64
	Logger  zerolog.Logger
}

// ClaimsAPI serves the claim page, POST /v1/claims, GET /v1/claims/{id},
// the receipt page and the receipt JWKS.
type ClaimsAPI struct {
	cfg  ClaimsAPIConfig
	c    *Claims
	page *template.Template
}

// NewClaimsAPI returns the API.
func NewClaimsAPI(cfg ClaimsAPIConfig) (*ClaimsAPI, error) {
	if cfg.Claims == nil || cfg.Viewers == nil {
		return nil, errors.New("verifier: ClaimsAPIConfig needs Claims and Viewers")
	}
	if cfg.Nodes == nil {
		cfg.Nodes = cfg.Claims.nodes
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 10
	}
	page, err := template.New("claim").Parse(string(cfg.ClaimPage))
	if err != nil {
		return nil, fmt.Errorf("verifier: claim page: %w", err)
	}
	return &ClaimsAPI{cfg: cfg, c: cfg.Claims, page: page}, nil
}

// Register adds the routes with handle (e.g. server.Handle).
func (a *ClaimsAPI) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /c/{code}", http.HandlerFunc(a.claimPage))
	handle("POST /v1/claims", http.HandlerFunc(a.postClaim))
	handle("GET /v1/claims/{id}", http.HandlerFunc(a.getClaim))
	handle("GET /r/{claim}", http.HandlerFunc(a.receiptPage))
	handle("GET /.well-known/jwks.json", http.HandlerFunc(a.jwks))
}

// pageNode is a node as the claim page lists it.
type pageNode struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Region  string `json:"region,omitempty"`
	Address string `json:"address,omitempty"`
	Hours   string `json:"hours,omitempty"`
	Left    int64  `json:"left"`
}

// pageData is what the claim page template gets; Data goes to the script.
type pageData struct {
	Status  string // open | sold_out | closed | expired | unknown | error
	Title   string
	Message string
	Data    map[string]any
}

func (a *ClaimsAPI) claimPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	p, err := a.c.Preview(r.Context(), code)
	data := pageData{Status: "open", Data: map[string]any{}}
	switch {
	case err == nil:
		data.Title = p.Drop.Title
		if p.SoldOut {
			data.Status, data.Message = "sold_out", "Sold out: every reward of this drop has been claimed."
		}
		left := map[string]int64{}
		for _, s := range p.Stock {
			left[s.Node] += max(s.Left, 0)
		}
		var nodes []pageNode
		seen := map[string]bool{}
		for _, l := range p.Drop.Stock {
			if seen[l.Node] {
				continue
			}
			seen[l.Node] = true
			pn := pageNode{ID: l.Node, Name: l.Node, Left: left[l.Node]}
			if n, ok := a.cfg.Nodes(l.Node); ok {
				pn.Name, pn.Region, pn.Address, pn.Hours = cmp(n.Name, n.ID), n.Region, n.Address, n.Hours
			}
			nodes = append(nodes, pn)
		}
		data.Data = map[string]any{
			"code": code, "title": p.Drop.Title, "identity": p.Drop.Identity,
			"closes_at": p.State.ClosesAt.Format(time.RFC3339Nano), "server_time": p.Resolved.UTC().Format(time.RFC3339Nano),
			"left": p.Left, "total": p.Total, "nodes": nodes, "status": data.Status,
		}
		if p.Drop.Identity == config.IdentityDevice || p.Drop.Identity == "" {
			// Issued now, so the claim itself needs no extra round trip.
			if _, _, err := a.cfg.Viewers.Device(r.Context(), w, r); err != nil {
				a.cfg.Logger.Warn().Err(err).Msg("claims: device cookie")
			}
		}
	case errors.Is(err, ErrCodeExpired):
		data.Status, data.Message = "expired", "This code has expired. Scan the QR that is on stream now."
	case errors.Is(err, ErrDropClosed):
		data.Status, data.Message = "closed", "This drop is over."
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownDrop):
		data.Status, data.Message = "unknown", "This code is not valid. Check that you scanned the QR on stream."
	default:
		a.cfg.Logger.Warn().Err(err).Msg("claims: claim page")
		data.Status, data.Message = "error", "Something went wrong on our side. Try again in a moment."
	}
	data.Data["status"] = data.Status
	var b bytes.Buffer
	if err := a.page.Execute(&b, data); err != nil {
		a.cfg.Logger.Error().Err(err).Msg("claims: render claim page")
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	status := http.StatusOK
	switch data.Status {
	case "expired":
		status = http.StatusForbidden
	case "closed":
		status = http.StatusGone
	case "unknown":
		status = http.StatusNotFound
	case "error":
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// claimBody is the body of POST /v1/claims.
type claimBody struct {
	Code   string `json:"code"`
	Viewer string `json:"viewer"`
	Node   string `json:"node"`
	Region string `json:"region"`
}

// claimResponse is the body of a successful POST /v1/claims.
type claimResponse struct {
	ClaimID    string    `json:"claim_id"`
	State      string    `json:"state"`
	Receipt    string    `json:"receipt"`
	PickupCode string    `json:"pickup_code"`
	Node       string    `json:"node"`
	SKU        string    `json:"sku"`
	Tier       string    `json:"tier,omitempty"`
	PickupBy   time.Time `json:"pickup_by"`
	Drop       string    `json:"drop"`
	ReceiptURL string    `json:"receipt_url"`
}

func (a *ClaimsAPI) postClaim(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// A body sent as a form or as text is refused: those are what a page on
	// another site can post without asking first.
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			problem.Respond(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the claim must be sent as application/json")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.Respond(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is over %d bytes", a.cfg.MaxBody))
			return
		}
		problem.Respond(w, http.StatusBadRequest, "malformed", "the body could not be read")
		return
	}
	var req claimBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(&req)
	if err == nil {
		// One object and nothing after it (More alone lets a stray ] or } by).
		if _, after := dec.Token(); after != io.EOF {
			err = errors.New("data after the object")
		}
	}
	if err != nil {
		problem.Respond(w, http.StatusBadRequest, "malformed", `the body must be a JSON object {"code","viewer"?,"node"?,"region"?}`)
		return
	}
	if req.Code == "" {
		problem.Respond(w, http.StatusBadRequest, "malformed", `"code" is required`)
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if idem != "" && !validKey(idem) {
		problem.Respond(w, http.StatusBadRequest, "malformed", "Idempotency-Key must be 1-64 characters from [A-Za-z0-9_.:-]")
		return
	}

	if p := a.limit(ctx, "ip", clientIP(r), a.cfg.RateIP); p != nil {
		problem.Write(w, p)
		return
	}
	device, _, err := a.cfg.Viewers.Device(ctx, w, r)
	if err != nil {
		a.unavailable(w, err)
		return
	}
	if p := a.limit(ctx, "device", device, a.cfg.RateDevice); p != nil {
		problem.Write(w, p)
		return
	}

	now := a.c.now()
	dropID, _, err := a.c.codes.Resolve(ctx, req.Code, now)
	var d *config.Drop
	if err == nil {
		d, err = a.c.drops.Drop(ctx, dropID)
	}
	if err != nil {
		a.claimError(w, r, err)
		return
	}
	var viewer string
	switch d.Identity {
	case config.IdentityEmail:
		viewer, err = a.cfg.Viewers.Email(ctx, req.Viewer)
	case config.IdentityToken:
		tok := req.Viewer
		if bearer, ok := httpauth.Bearer(r.Header.Get("Authorization")); tok == "" && ok {
			tok = bearer
		}
		viewer, err = a.cfg.Viewers.Token(ctx, tok)
	default:
		viewer, err = a.cfg.Viewers.Hash(ctx, config.IdentityDevice, device)
	}
	if err != nil {
		a.claimError(w, r, err)
		return
	}
	res, err := a.c.Claim(ctx, ClaimRequest{Code: req.Code, Viewer: viewer, Node: req.Node, Region: req.Region,
		IdempotencyKey: idem, resolved: d})
	if err != nil {
		a.claimError(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, a.response(res.Claim, res.Receipt))
}

func (a *ClaimsAPI) response(c *Claim, receipt string) claimResponse {
	return claimResponse{
		ClaimID: c.ID, State: c.State, Receipt: receipt, PickupCode: c.PickupCode, Node: c.Node,
		SKU: c.SKU, Tier: c.Tier, PickupBy: c.PickupBy, Drop: c.Drop, ReceiptURL: "/r/" + c.ID,
	}
}

// limit applies one rate limit; it fails open when the store does not
// answer (the claim itself will then fail and say so).
func (a *ClaimsAPI) limit(ctx context.Context, kind, id string, l store.Limit) *problem.Problem {
	if l.Rate <= 0 || id == "" {
		return nil
	}
	h, err := a.cfg.Viewers.Hash(ctx, kind, id)
	if err != nil {
		return nil
	}
	dec, err := a.c.st.Allow(ctx, "claims:rate:"+kind+":"+h, l)
	if err != nil || dec.Allowed {
		return nil
	}
	a.c.metrics.results.WithLabelValues("rate_limited").Inc()
	p := problem.New(http.StatusTooManyRequests, "rate_limited", "too many claim attempts from this "+map[string]string{"ip": "network", "device": "device"}[kind]+"; retry later")
	p.RetryAfter = max(dec.RetryAfter, time.Second)
	return p
}

// clientIP is the viewer's address: behind trusted proxies, the one they
// forwarded (see server.ClientIP).
func clientIP(r *http.Request) string { return server.ClientIP(r) }

// claimError answers a failed claim with its problem code.
func (a *ClaimsAPI) claimError(w http.ResponseWriter, r *http.Request, err error) {
	var ac *AlreadyClaimedError
	switch {
	case errors.As(err, &ac):
		p := problem.New(http.StatusConflict, "already_claimed", "you have already claimed this drop").
			With("claim_id", ac.ClaimID).With("receipt_url", "/r/"+ac.ClaimID)
		// The viewer proved who they are: give them their receipt again.
		if cl, gerr := a.c.Get(r.Context(), ac.ClaimID); gerr == nil {
			if rc, serr := a.c.receipts.Sign(r.Context(), cl); serr == nil {
				p = p.With("receipt", rc).With("pickup_code", cl.PickupCode)
			}
		}
		problem.Write(w, p)
	case errors.Is(err, ErrCodeExpired):
		problem.Respond(w, http.StatusForbidden, "code_expired", "this code has expired: scan the QR that is on stream now")
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownDrop):
		problem.Respond(w, http.StatusNotFound, "unknown_code", "no open drop has this code")
	case errors.Is(err, ErrDropClosed):
		problem.Respond(w, http.StatusGone, "closed", "this drop is over")
	case errors.Is(err, ErrSoldOut):
		problem.Respond(w, http.StatusGone, "sold_out", "every reward of this drop has been claimed")
	case errors.Is(err, ErrInvalidClaim):
		problem.Respond(w, http.StatusBadRequest, "invalid_claim", err.Error())
	case errors.Is(err, ErrBadViewer):
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "token") {
			status = http.StatusUnauthorized
		}
		problem.Respond(w, status, "invalid_viewer", err.Error())
	default:
		a.unavailable(w, err)
	}
}

func (a *ClaimsAPI) unavailable(w http.ResponseWriter, err error) {
	a.cfg.Logger.Error().Err(err).Msg("claims: claim failed")
	p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the claim could not be decided; retry with the same Idempotency-Key")
	p.RetryAfter = time.Second
	problem.Write(w, p)
}

// claimView is the body of GET /v1/claims/{id}.
type claimView struct {
	ClaimID      string            `json:"claim_id"`
	Drop         string            `json:"drop"`
	DropTitle    string            `json:"drop_title,omitempty"`
	State        string            `json:"state"`
	Node         pageNode          `json:"node"`
	SKU          string            `json:"sku"`
	Tier         string            `json:"tier,omitempty"`
	PickupCode   string            `json:"pickup_code"`
	PickupBy     time.Time         `json:"pickup_by"`
	CreatedAt    time.Time         `json:"created_at"`
	History      []claimEventView  `json:"history"`
	Compensation map[string]string `json:"compensation"`
	ReceiptQR    string            `json:"receipt_qr_svg,omitempty"`
}

type claimEventView struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

var compensationText = map[string]string{
	config.CompensationNone:    "No compensation is offered if the pickup fails.",
	config.CompensationCode:    "If your pickup fails or is refused, you get a replacement code here.",
	config.CompensationWebhook: "If your pickup fails or is refused, the creator compensates you directly.",
}

func (a *ClaimsAPI) getClaim(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, ok := httpauth.Bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dropwire"`)
		problem.Respond(w, http.StatusUnauthorized, "missing_receipt", "send the claim's receipt as Authorization: Bearer <receipt>")
		return
	}
	rc, err := a.c.receipts.Verify(r.Context(), token)
	if err != nil || rc.ClaimID != id {
		if err != nil && !errors.Is(err, ErrBadReceipt) {
			a.unavailable(w, err)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="dropwire", error="invalid_token"`)
		problem.Respond(w, http.StatusUnauthorized, "bad_receipt", "the receipt does not verify, has expired, or is for another claim")
		return
	}
	cl, err := a.c.Get(r.Context(), id)
	if errors.Is(err, ErrUnknownClaim) {
		problem.Respond(w, http.StatusNotFound, "unknown_claim", "no such claim (it may have expired)")
		return
	}
	if err != nil {
		a.unavailable(w, err)
		return
	}
	v := claimView{
		ClaimID: cl.ID, Drop: cl.Drop, State: cl.State, Node: pageNode{ID: cl.Node, Name: cl.Node}, SKU: cl.SKU, Tier: cl.Tier,
		PickupCode: cl.PickupCode, PickupBy: cl.PickupBy, CreatedAt: cl.CreatedAt, History: []claimEventView{},
		Compensation: map[string]string{"kind": config.CompensationNone, "text": compensationText[config.CompensationNone]},
	}
	if n, ok := a.cfg.Nodes(cl.Node); ok {
		v.Node = pageNode{ID: n.ID, Name: cmp(n.Name, n.ID), Region: n.Region, Address: n.Address, Hours: n.Hours}
	}
	if d, err := a.c.drops.Drop(r.Context(), cl.Drop); err == nil {
		v.DropTitle = d.Title
		if k := d.Compensation.Kind; compensationText[k] != "" {
			v.Compensation = map[string]string{"kind": k, "text": compensationText[k]}
		}
	}
	for _, e := range cl.History {
		v.History = append(v.History, claimEventView(e))
	}
	if a.cfg.QRSVG != nil {
		if svg, _, err := a.cfg.QRSVG(token); err == nil {
			v.ReceiptQR = svg
		}
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *ClaimsAPI) receiptPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := DropOfClaim(r.PathValue("claim")); !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(a.cfg.ReceiptPage)
}

func (a *ClaimsAPI) jwks(w http.ResponseWriter, r *http.Request) {
	doc, err := a.c.receipts.JWKS(r.Context())
	if err != nil {
		a.cfg.Logger.Error().Err(err).Msg("claims: receipt keys")
		p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the receipt signing keys could not be read; retry shortly")
		p.RetryAfter = time.Second
		problem.Write(w, p)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem.Respond(w, http.StatusInternalServerError, "internal", "response could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
