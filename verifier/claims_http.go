package verifier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
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
	// static page of GET /r/{claim}; MePage the static page of GET /me.
	ClaimPage   []byte
	ReceiptPage []byte
	MePage      []byte
	// PublicURL is the base of the receipt links a viewer saves (the
	// receipt_url of GET /v1/claims/{id}); "" gives paths.
	PublicURL string
	// Asset returns the URL of a static file of the pages (a versioned
	// one, which browsers keep); default /static/<name>.
	Asset func(name string) string
	// QRSVG renders the receipt QR (overlay.QRSVG); nil: no QR.
	QRSVG func(content string) (svg string, version int, err error)
	// RateIP and RateDevice limit claim attempts; a zero Rate: no limit.
	RateIP     store.Limit
	RateDevice store.Limit
	// PowBits, when above zero, asks a claim of a device or email drop for
	// a proof of work of that many bits (claim_pow_bits), which the claim
	// page computes; at most MaxPowBits.
	PowBits int
	// MaxBody limits a claim request body; default 4 KiB.
	MaxBody int64
	Logger  zerolog.Logger
}

// ClaimsAPI serves the claim page and its live status, POST /v1/claims,
// GET /v1/claims/{id}, the receipt page, the viewer's inventory page (/me)
// and the receipt JWKS.
type ClaimsAPI struct {
	cfg   ClaimsAPIConfig
	c     *Claims
	page  *template.Template
	pages viewerPages

	css, js    string   // the claim page's asset URLs
	until      lastTime // the claim page's last "until"
	renderedMu sync.Mutex
	rendered   map[string]*renderedPage // rendered claim pages by view (see render)
}

// NewClaimsAPI returns the API.
func NewClaimsAPI(cfg ClaimsAPIConfig) (*ClaimsAPI, error) {
	if cfg.Claims == nil || cfg.Viewers == nil {
		return nil, errors.New("verifier: ClaimsAPIConfig needs Claims and Viewers")
	}
	if cfg.Nodes == nil {
		cfg.Nodes = cfg.Claims.nodes
	}
	if cfg.PowBits < 0 || cfg.PowBits > MaxPowBits {
		return nil, fmt.Errorf("verifier: claim proof of work of %d bits is outside 0..%d", cfg.PowBits, MaxPowBits)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 10
	}
	page, err := template.New("claim").Parse(string(cfg.ClaimPage))
	if err != nil {
		return nil, fmt.Errorf("verifier: claim page: %w", err)
	}
	a := &ClaimsAPI{cfg: cfg, c: cfg.Claims, page: page, pages: newViewerPages(cfg), rendered: map[string]*renderedPage{}}
	a.css, a.js = a.asset("claim.css"), a.asset("claim.js")
	return a, nil
}

// Register adds the routes with handle (e.g. server.Handle).
func (a *ClaimsAPI) Register(handle func(pattern string, h http.Handler)) {
	handle("GET /c/{code}", http.HandlerFunc(a.claimPage))
	handle("GET /v1/codes/{code}", http.HandlerFunc(a.codeStatus))
	handle("POST /v1/claims", http.HandlerFunc(a.postClaim))
	handle("GET /v1/claims/{id}", http.HandlerFunc(a.getClaim))
	handle("GET /r/{claim}", http.HandlerFunc(a.receiptPage))
	handle("GET /me", http.HandlerFunc(a.mePage))
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
	// Pow is the proof of work of claim_pow_bits.
	Pow struct {
		Challenge string `json:"challenge"`
		Nonce     string `json:"nonce"`
	} `json:"pow"`
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
		problem.Respond(w, http.StatusBadRequest, "malformed", `the body must be a JSON object {"code","viewer"?,"node"?,"region"?,"pow"?}`)
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
	device, hasDevice, err := a.cfg.Viewers.DeviceOf(ctx, r)
	if err != nil {
		a.unavailable(w, err)
		return
	}

	now := a.c.now()
	dropID, _, err := a.c.codes.Resolve(ctx, req.Code, now)
	var d *config.Drop
	if err == nil {
		d, err = a.c.drops.Drop(ctx, dropID)
	}
	if err != nil {
		a.claimError(w, r, nil, err)
		return
	}
	// A device or email drop is claimed from the claim page, which sets
	// the device cookie: a client that never opened it (a script minting
	// a fresh device per claim) is refused before anything is counted.
	if d.Identity != config.IdentityToken && !hasDevice {
		a.claimError(w, r, d, ErrDeviceRequired)
		return
	}
	var deviceKey string
	if hasDevice {
		if deviceKey, err = a.cfg.Viewers.Hash(ctx, config.IdentityDevice, device); err != nil {
			a.unavailable(w, err)
			return
		}
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
		viewer = deviceKey
	}
	if err != nil {
		a.claimError(w, r, d, err)
		return
	}
	// Per device; a token viewer may have no device, so per viewer then.
	limitBy := device
	if !hasDevice {
		limitBy = "viewer:" + viewer
	}
	if p := a.limit(ctx, "device", limitBy, a.cfg.RateDevice); p != nil {
		problem.Write(w, p)
		return
	}
	if a.cfg.PowBits > 0 && d.Identity != config.IdentityToken {
		if err := a.cfg.Viewers.CheckPow(ctx, device, d.ID, req.Pow.Challenge, req.Pow.Nonce, a.cfg.PowBits); err != nil {
			a.claimError(w, r, d, err)
			return
		}
	}
	res, err := a.c.Claim(ctx, ClaimRequest{Code: req.Code, Viewer: viewer, Device: deviceKey, Node: req.Node, Region: req.Region,
		IdempotencyKey: idem, resolved: d})
	if err != nil {
		a.claimError(w, r, d, err)
		return
	}
	if !res.Created && !provesClaimant(d, res.Claim, deviceKey) {
		// A retry's idempotency key, replayed with someone's email from
		// another device: the claim exists, its receipt is not theirs.
		a.claimError(w, r, d, &AlreadyClaimedError{ClaimID: res.Claim.ID})
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, a.response(res.Claim, res.Receipt))
}

// provesClaimant reports whether a request from the device deviceKey,
// whose viewer key matched cl's, proves it comes from cl's claimant. A
// device or token viewer key is itself the proof; an email is only a
// label anyone can type, so it takes the device that made the claim.
func provesClaimant(d *config.Drop, cl *Claim, deviceKey string) bool {
	switch d.Identity {
	case config.IdentityEmail:
		return deviceKey != "" && hmac.Equal([]byte(cl.Device), []byte(deviceKey))
	default:
		return true
	}
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

// claimError answers a failed claim with its problem code. d is the
// code's drop, when it was resolved.
func (a *ClaimsAPI) claimError(w http.ResponseWriter, r *http.Request, d *config.Drop, err error) {
	var ac *AlreadyClaimedError
	var rc *RegionClosedError
	switch {
	case errors.As(err, &ac):
		a.alreadyClaimed(w, r, d, ac.ClaimID)
	case errors.As(err, &rc):
		problem.Write(w, regionClosedProblem(rc))
	case errors.Is(err, ErrDeviceRequired):
		problem.Respond(w, http.StatusForbidden, "device_required",
			"claims of this drop are made from its claim page: open /c/{code} (it sets the device cookie), then claim; API clients claim drops with identity \"token\"")
	case errors.Is(err, ErrProofRequired):
		problem.Respond(w, http.StatusForbidden, "pow_required", "this claim needs the proof of work that the claim page computes: open the claim page and claim from it")
	case errors.Is(err, ErrBadProof):
		problem.Respond(w, http.StatusForbidden, "pow_invalid", strings.TrimPrefix(err.Error(), "verifier: "))
	case errors.Is(err, ErrCodeExpired):
		problem.Respond(w, http.StatusForbidden, "code_expired", "this code has expired: scan the QR that is on stream now")
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownDrop):
		problem.Respond(w, http.StatusNotFound, "unknown_code", "no drop has shown this code: check that you scanned the QR on stream")
	case errors.Is(err, ErrDropClosed):
		problem.Respond(w, http.StatusGone, "closed", "this drop has ended")
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

// alreadyClaimed answers 409 already_claimed. The receipt and pickup code
// go only to a request that proves it comes from the claimant (see
// provesClaimant); anyone else learns the claim id at most.
func (a *ClaimsAPI) alreadyClaimed(w http.ResponseWriter, r *http.Request, d *config.Drop, id string) {
	p := problem.New(http.StatusConflict, "already_claimed", "you have already claimed this drop").With("claim_id", id)
	cl, err := a.c.Get(r.Context(), id)
	if err != nil || d == nil {
		problem.Write(w, p)
		return
	}
	deviceKey := ""
	if device, ok, err := a.cfg.Viewers.DeviceOf(r.Context(), r); err == nil && ok {
		deviceKey, _ = a.cfg.Viewers.Hash(r.Context(), config.IdentityDevice, device)
	}
	if !provesClaimant(d, cl, deviceKey) {
		p.Detail = "this email address has already claimed this drop; its receipt is on the device that claimed it"
		problem.Write(w, p)
		return
	}
	if rc, err := a.c.receipts.Sign(r.Context(), cl); err == nil {
		p = p.With("receipt_url", "/r/"+id).With("receipt", rc).With("pickup_code", cl.PickupCode)
	}
	problem.Write(w, p)
}

func (a *ClaimsAPI) unavailable(w http.ResponseWriter, err error) {
	a.cfg.Logger.Error().Err(err).Msg("claims: claim failed")
	p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the claim could not be decided; retry with the same Idempotency-Key")
	p.RetryAfter = time.Second
	problem.Write(w, p)
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
