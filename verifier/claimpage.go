package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
)

// The claim page (GET /c/{code}) and its live status (GET
// /v1/codes/{code}). Before the viewer claims, the page says what they
// get (picture, title, description), how many are left (live), where to
// pick up and by when, how long the scanned code still works, what
// happens if the pickup fails, and what the drop asks of them. A device
// that has claimed the drop sees its receipt instead, never Claim it.

// RegionCookie is the cookie the claim page's script sets to the region
// of the node a viewer chose, so that the next claim page lists that
// region's nodes first.
const RegionCookie = "dw_region"

// pagePolicy is the compensation policy, in one sentence, as the claim
// page says it before the viewer claims.
var pagePolicy = map[string]string{
	config.CompensationNone:    "If the pickup fails, nothing replaces it.",
	config.CompensationCode:    "If the pickup fails or is refused, you get a replacement code on your receipt.",
	config.CompensationWebhook: "If the pickup fails or is refused, the creator compensates you directly.",
}

// claimNode is a node as the claim page lists it.
type claimNode struct {
	ID, Name, Region, Address, Hours string
	// Deadline is the pickup deadline as the viewer will get it, "Pick up
	// within 4 h".
	Deadline string
	Left     int64
	Checked  bool
}

// claimedView is the receipt a device that claimed sees on a revisit.
type claimedView struct {
	ID, PickupCode, Node string
	PickupBy             time.Time
	// Another is set while the viewer may claim more (per_viewer > 1).
	Another bool
}

// claimPageView is what the claim page template gets.
type claimPageView struct {
	// Code is the code scanned; Drop and PerViewer are set when it is a
	// known drop's.
	Code      string
	Drop      string
	PerViewer int
	// Status is open, sold_out, closed, expired, claimed, unknown or error.
	Status      string
	Title       string
	Description string
	Image       string
	Message     string
	SoldOutAt   string // RFC 3339, "" when not recorded
	SoldOutText string // the same in UTC words, until the script says it in local time
	Left, Total int64
	Nodes       []claimNode
	Identity    string
	SignIn      string // identity token: the login to sign in with
	Policy      string
	Until       string // RFC 3339: the code stops working
	UntilCloses bool   // Until is the drop's closes_at, not the code's end
	Claimed     *claimedView
	CSS, JS     string

	// extra goes to the script with the rest of Data: what is of one
	// viewer (a proof-of-work challenge, the claim it made).
	extra      map[string]any
	serverTime string // replaces serverTimeMark in the page
}

// Data is what the page hands its script, as JSON.
func (v *claimPageView) Data() map[string]any {
	d := make(map[string]any, 16)
	d["code"], d["status"] = v.Code, v.Status
	if v.Drop != "" {
		nodes := make([]map[string]any, len(v.Nodes))
		for i, n := range v.Nodes {
			nodes[i] = map[string]any{"id": n.ID, "region": n.Region, "left": n.Left}
		}
		d["drop"] = v.Drop
		d["identity"] = v.Identity
		d["per_viewer"] = v.PerViewer
		d["server_time"] = serverTimeMark
		d["until"] = v.Until
		d["until_closes"] = v.UntilCloses
		d["left"], d["total"] = v.Left, v.Total
		d["nodes"] = nodes
		if v.SoldOutAt != "" {
			d["sold_out_at"] = v.SoldOutAt
		}
	}
	maps.Copy(d, v.extra)
	return d
}

// setExtra adds a value of one viewer to the script's data.
func (v *claimPageView) setExtra(k string, x any) {
	if v.extra == nil {
		v.extra = map[string]any{}
	}
	v.extra[k] = x
}

func (a *ClaimsAPI) claimPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	v := claimPageView{Code: code, CSS: a.css, JS: a.js}
	p, err := a.c.Preview(r.Context(), code)
	switch {
	case err == nil:
		a.previewPage(w, r, &v, &p)
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownDrop):
		v.Status, v.Message = "unknown", "This code is not valid. Check that you scanned the QR on stream."
	default:
		a.cfg.Logger.Warn().Err(err).Msg("claims: claim page")
		v.Status, v.Message = "error", "Something went wrong on our side. Try again in a moment."
	}
	page, err := a.render(&v)
	if err != nil {
		a.cfg.Logger.Error().Err(err).Msg("claims: render claim page")
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h["Content-Type"] = headerHTML
	h["Cache-Control"] = headerNoStore
	h["Content-Security-Policy"] = page.csp
	h["Referrer-Policy"] = headerNoReferrer
	h["X-Content-Type-Options"] = headerNoSniff
	h["X-Frame-Options"] = headerDeny
	h["Content-Length"] = []string{strconv.Itoa(page.size(v.serverTime))}
	status := http.StatusOK
	switch v.Status {
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
	page.write(w, v.serverTime)
}

// The claim page's fixed header values, shared by every response
// (net/http only reads them).
var (
	headerHTML       = []string{"text/html; charset=utf-8"}
	headerNoStore    = []string{"no-store"}
	headerNoReferrer = []string{"no-referrer"}
	headerNoSniff    = []string{"nosniff"}
	headerDeny       = []string{"DENY"}
)

// previewPage fills the page of a code whose drop is known.
func (a *ClaimsAPI) previewPage(w http.ResponseWriter, r *http.Request, v *claimPageView, p *Preview) {
	ctx := r.Context()
	d := p.Drop
	v.Title, v.Description, v.Image = d.Title, d.Description, d.Image
	if config.ImageProblem(v.Image) != "" {
		v.Image = "" // a stored definition from before images were checked
	}
	v.Identity, v.Policy = d.Identity, pagePolicy[d.Compensation.Kind]
	if v.Policy == "" {
		v.Policy = pagePolicy[config.CompensationNone]
	}
	if d.Identity == config.IdentityToken {
		v.SignIn = a.signIn()
	}
	v.Left, v.Total = p.Left, p.Total
	if p.SoldOut && !p.SoldOutAt.IsZero() {
		v.SoldOutAt = p.SoldOutAt.Format(time.RFC3339)
		v.SoldOutText = p.SoldOutAt.Format("15:04 MST")
	}
	v.Nodes = a.pageNodes(d, p.Stock, regionOf(r))
	switch {
	case errors.Is(p.Code, ErrDropClosed):
		v.Status, v.Message = "closed", "This drop has ended."
	case p.SoldOut:
		v.Status = "sold_out"
	case errors.Is(p.Code, ErrCodeExpired):
		v.Status, v.Message = "expired", "This code expired: scan the QR on stream now."
	default:
		v.Status = "open"
	}
	v.Until = a.until.format(p.CodeUntil)
	v.UntilCloses = p.CodeUntil.Equal(p.State.ClosesAt)

	// The device: issued on the open (or sold-out) page of a device or
	// email drop, whose claim needs it, so that a claim sent from it is
	// answered for the drop (sold out), not for the cookie; read (never
	// issued) otherwise, to find a claim the device made.
	var device string
	var hasDevice bool
	if d.Identity != config.IdentityToken && (v.Status == "open" || v.Status == "sold_out") {
		var issued bool
		var err error
		device, issued, err = a.cfg.Viewers.Device(ctx, w, r)
		if err != nil {
			a.cfg.Logger.Warn().Err(err).Msg("claims: device cookie")
		}
		hasDevice = err == nil && !issued
		if err == nil && a.cfg.PowBits > 0 {
			if ch, err := a.cfg.Viewers.PowChallenge(ctx, device, d.ID, a.cfg.PowBits); err == nil {
				v.setExtra("pow", map[string]any{"challenge": ch, "bits": a.cfg.PowBits})
			}
		}
	} else if id, ok, err := a.cfg.Viewers.DeviceOf(ctx, r); err == nil && ok {
		device, hasDevice = id, true
	}
	if hasDevice {
		a.claimedPage(ctx, v, d, device)
	}

	v.Drop, v.PerViewer = d.ID, max(d.PerViewer, 1)
	v.serverTime = p.Resolved.UTC().Format(time.RFC3339Nano)
}

// claimedPage turns v into the receipt of the claim the device made of d,
// if it made one: a revisit never offers Claim it again (unless the drop
// allows the viewer more).
func (a *ClaimsAPI) claimedPage(ctx context.Context, v *claimPageView, d *config.Drop, device string) {
	deviceKey, err := a.cfg.Viewers.Hash(ctx, config.IdentityDevice, device)
	if err != nil {
		return
	}
	id, n, err := a.c.ClaimOfDevice(ctx, d, deviceKey)
	if err != nil {
		a.cfg.Logger.Warn().Err(err).Msg("claims: claim page: the device's claim")
		return
	}
	if id == "" {
		return
	}
	cl, err := a.c.Get(ctx, id)
	if err != nil || (d.Identity != config.IdentityDevice && !provesClaimant(d, cl, deviceKey)) {
		return
	}
	rc, err := a.c.receipts.Sign(ctx, cl)
	if err != nil {
		a.cfg.Logger.Warn().Err(err).Msg("claims: claim page: receipt")
		return
	}
	node := cl.Node
	if nd, ok := a.cfg.Nodes(cl.Node); ok {
		node = cmp(nd.Name, nd.ID)
	}
	another := d.Identity == config.IdentityDevice && n < max(d.PerViewer, 1) && v.Status == "open"
	v.Claimed = &claimedView{ID: cl.ID, PickupCode: spacedCode(cl.PickupCode), Node: node, PickupBy: cl.PickupBy, Another: another}
	if !another {
		v.Status = "claimed"
	}
	v.setExtra("claimed", map[string]any{"claim_id": cl.ID, "receipt": rc})
}

// pageNodes lists d's nodes with what each has left: those with stock
// first, the viewer's region first among them, then as configured.
func (a *ClaimsAPI) pageNodes(d *config.Drop, stock []StockLeft, region string) []claimNode {
	nodes := make([]claimNode, 0, len(d.Stock))
	for _, l := range d.Stock {
		if slices.ContainsFunc(nodes, func(n claimNode) bool { return n.ID == l.Node }) {
			continue
		}
		var left int64
		for _, s := range stock {
			if s.Node == l.Node {
				left += max(s.Left, 0)
			}
		}
		n := claimNode{ID: l.Node, Name: l.Node, Left: left, Deadline: pickupWithin(config.DefaultPickupSLA)}
		if cn, ok := a.cfg.Nodes(l.Node); ok {
			n.Name, n.Region, n.Address, n.Hours = cmp(cn.Name, cn.ID), cn.Region, cn.Address, cn.Hours
			if cn.PickupSLA > 0 {
				n.Deadline = pickupWithin(cn.PickupSLA.D())
			}
		}
		nodes = append(nodes, n)
	}
	rank := func(n claimNode) int {
		r := 0
		if n.Left <= 0 {
			r += 2
		}
		if region == "" || n.Region != region {
			r++
		}
		return r
	}
	slices.SortStableFunc(nodes, func(x, y claimNode) int { return rank(x) - rank(y) })
	if len(nodes) > 0 && nodes[0].Left > 0 {
		nodes[0].Checked = true
	}
	return nodes
}

// spacedCode writes an 8-character pickup code as the receipt does,
// "ABCD-EFGH", easier to read out at a counter.
func spacedCode(c string) string {
	if len(c) == 8 {
		return c[:4] + "-" + c[4:]
	}
	return c
}

// regionOf is the viewer's region, when known: the ?region= of the claim
// URL, else the region of the node this browser last chose (RegionCookie).
func regionOf(r *http.Request) string {
	var region string
	if r.URL.RawQuery != "" {
		region = r.URL.Query().Get("region")
	}
	if region == "" {
		if c, err := r.Cookie(RegionCookie); err == nil {
			region, _ = url.QueryUnescape(c.Value)
		}
	}
	if len(region) > 64 {
		return ""
	}
	return region
}

// lastTime formats times as RFC 3339 (nanoseconds, UTC), keeping the
// last one: every view of a code shows the same end of the code.
type lastTime struct{ p atomic.Pointer[formattedTime] }

type formattedTime struct {
	t time.Time
	s string
}

func (l *lastTime) format(t time.Time) string {
	if f := l.p.Load(); f != nil && f.t.Equal(t) {
		return f.s
	}
	s := t.UTC().Format(time.RFC3339Nano)
	l.p.Store(&formattedTime{t, s})
	return s
}

// pickupWithins holds pickupWithin's sentences: a handful of SLAs (the
// configured nodes'), said on every view of every claim page.
var pickupWithins = struct {
	sync.RWMutex
	m map[time.Duration]string
}{m: map[time.Duration]string{}}

// pickupWithin is a node's pickup deadline as the page says it, "Pick up
// within 4 h".
func pickupWithin(d time.Duration) string {
	pickupWithins.RLock()
	s, ok := pickupWithins.m[d]
	pickupWithins.RUnlock()
	if !ok {
		s = "Pick up within " + humanDuration(d)
		pickupWithins.Lock()
		pickupWithins.m[d] = s
		pickupWithins.Unlock()
	}
	return s
}

// humanDuration says d as the page does: "4 h", "1 h 30 min", "45 min",
// "2 days".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	case d >= time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	case d >= time.Minute:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return "1 min"
}

// signIn names the login a token drop's viewers sign in with: the host of
// viewer_issuer, else a plain "your account".
func (a *ClaimsAPI) signIn() string {
	if u, err := url.Parse(a.cfg.Viewers.cfg.Issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return "your account"
}

// asset is the URL of a static file of the pages.
func (a *ClaimsAPI) asset(name string) string {
	if a.cfg.Asset != nil {
		return a.cfg.Asset(name)
	}
	return "/static/" + name
}

// claimPageCSP is the claim page's policy: nothing but its own script,
// style and requests, and images from itself and the drop image's origin.
func claimPageCSP(image string) string {
	img := "'self'"
	if u, err := url.Parse(image); err == nil && u.Scheme == "https" && u.Host != "" && config.ImageProblem(image) == "" {
		img += " https://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

// codeStatus is the body of GET /v1/codes/{code}: the live part of the
// claim page, the same for every viewer of the code (nothing of the
// viewer is in it, so caches may share it for a second).
type codeStatus struct {
	// Status is open, sold_out, expired or closed.
	Status     string          `json:"status"`
	Left       int64           `json:"left"`
	Total      int64           `json:"total"`
	Nodes      []codeNodeStock `json:"nodes"`
	SoldOutAt  *time.Time      `json:"sold_out_at,omitempty"`
	ClosesAt   *time.Time      `json:"closes_at,omitempty"`
	CodeUntil  time.Time       `json:"code_until"`
	ServerTime time.Time       `json:"server_time"`
}

type codeNodeStock struct {
	ID   string `json:"id"`
	Left int64  `json:"left"`
}

// codeStatus serves GET /v1/codes/{code}, which the claim page polls.
func (a *ClaimsAPI) codeStatus(w http.ResponseWriter, r *http.Request) {
	p, err := a.c.Preview(r.Context(), r.PathValue("code"))
	switch {
	case errors.Is(err, ErrUnknownCode), errors.Is(err, ErrUnknownDrop):
		problem.Respond(w, http.StatusNotFound, "unknown_code", "no drop has shown this code: check that you scanned the QR on stream")
		return
	case err != nil:
		a.cfg.Logger.Warn().Err(err).Msg("claims: code status")
		pr := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the code's status could not be read; retry shortly")
		pr.RetryAfter = time.Second
		problem.Write(w, pr)
		return
	}
	s := codeStatus{Left: p.Left, Total: p.Total, Nodes: []codeNodeStock{}, CodeUntil: p.CodeUntil.UTC(), ServerTime: p.Resolved.UTC()}
	for _, n := range a.pageNodes(p.Drop, p.Stock, "") {
		s.Nodes = append(s.Nodes, codeNodeStock{ID: n.ID, Left: n.Left})
	}
	slices.SortStableFunc(s.Nodes, func(x, y codeNodeStock) int { return strings.Compare(x.ID, y.ID) })
	switch {
	case errors.Is(p.Code, ErrDropClosed):
		s.Status = StatusClosed
	case p.SoldOut:
		s.Status = StatusSoldOut
	case errors.Is(p.Code, ErrCodeExpired):
		s.Status = "expired"
	default:
		s.Status = StatusOpen
	}
	if !p.SoldOutAt.IsZero() {
		s.SoldOutAt = &p.SoldOutAt
	}
	if !p.State.ClosesAt.IsZero() {
		s.ClosesAt = &p.State.ClosesAt
	}
	b, _ := json.Marshal(s)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Every viewer of the code polls the same answer: a second in a cache
	// changes nothing they see.
	h.Set("Cache-Control", "public, max-age=1")
	_, _ = w.Write(append(b, '\n'))
}
