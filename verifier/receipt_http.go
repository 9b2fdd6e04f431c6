package verifier

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/httpauth"
	"github.com/dropwire/dropwire/internal/problem"
)

// viewerCSP is the Content-Security-Policy of the receipt page and /me:
// their own script and style only, no inline code, no frames. The receipt
// QR is inline SVG markup (no script in it), which the policy allows.
const viewerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// viewerPages are the static viewer pages, each with the ETag of its
// bytes, so a revisit costs a 304.
type viewerPages struct {
	receipt, me       []byte
	receiptTag, meTag string
}

func newViewerPages(cfg ClaimsAPIConfig) viewerPages {
	return viewerPages{receipt: cfg.ReceiptPage, me: cfg.MePage, receiptTag: etagOf(cfg.ReceiptPage), meTag: etagOf(cfg.MePage)}
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// claimView is the body of GET /v1/claims/{id}.
type claimView struct {
	ClaimID    string           `json:"claim_id"`
	Drop       string           `json:"drop"`
	DropTitle  string           `json:"drop_title,omitempty"`
	State      string           `json:"state"`
	Node       pageNode         `json:"node"`
	SKU        string           `json:"sku"`
	Tier       string           `json:"tier,omitempty"`
	PickupCode string           `json:"pickup_code"`
	PickupBy   time.Time        `json:"pickup_by"`
	CreatedAt  time.Time        `json:"created_at"`
	History    []claimEventView `json:"history"`
	// Locker is set while the claim is ready at a locker.
	Locker       *lockerView      `json:"locker,omitempty"`
	Compensation compensationView `json:"compensation"`
	// ServerTime lets the page count the deadline down from the server's
	// clock, not the phone's.
	ServerTime time.Time `json:"server_time"`
	// ReceiptURL is the receipt page; with "#" and the receipt after it,
	// the link that opens the receipt on any device.
	ReceiptURL       string    `json:"receipt_url"`
	ReceiptExpiresAt time.Time `json:"receipt_expires_at"`
	ReceiptQR        string    `json:"receipt_qr_svg,omitempty"`
}

type claimEventView struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

type lockerView struct {
	Slot string `json:"slot,omitempty"`
	PIN  string `json:"pin,omitempty"`
}

// compensationView is what the viewer gets if the pickup fails.
type compensationView struct {
	// Kind is the policy: code, webhook or none.
	Kind string `json:"kind"`
	// Status: not_failed (the policy applies if the pickup fails), pending
	// (the creator's webhook is being told), given, pool_empty (kind code
	// with no code left) or none (kind none, and the pickup failed).
	Status string `json:"status"`
	// Code is the replacement code (kind code, given).
	Code string `json:"code,omitempty"`
	// Text is what to tell the viewer now, in plain words: the policy
	// before a failure, the outcome after, or the creator's own words
	// (the viewer_text of the webhook's answer).
	Text string `json:"text"`
	// Policy is the policy in one sentence.
	Policy string `json:"policy"`
}

// Compensation statuses of compensationView.
const (
	compNotFailed = "not_failed"
	compPending   = "pending"
	compGiven     = "given"
	compPoolEmpty = "pool_empty"
	compNone      = "none"
)

var compensationPolicy = map[string]string{
	config.CompensationNone:    "No compensation is offered if the pickup fails.",
	config.CompensationCode:    "If your pickup fails or is refused, you get a replacement code here.",
	config.CompensationWebhook: "If your pickup fails or is refused, the creator compensates you directly.",
}

var failedStates = map[string]bool{ClaimRejected: true, ClaimPickupFailed: true, ClaimForwardFailed: true}

// compensation says what cl's viewer gets: policy is the drop's current
// kind, used until the claim fails (then what was done is the answer).
func compensation(cl *Claim, policy string) compensationView {
	kind := policy
	switch cl.Compensation {
	case config.CompensationCode, compPoolEmpty:
		kind = config.CompensationCode
	case config.CompensationWebhook:
		kind = config.CompensationWebhook
	case config.CompensationNone:
		kind = config.CompensationNone
	}
	if compensationPolicy[kind] == "" {
		kind = config.CompensationNone
	}
	v := compensationView{Kind: kind, Status: compNotFailed, Policy: compensationPolicy[kind], Text: compensationPolicy[kind]}
	switch {
	case cl.State == ClaimCompensated && cl.CompensationCode != "":
		v.Status, v.Code = compGiven, cl.CompensationCode
		v.Text = "The pickup did not work out. Here is your replacement code."
	case cl.State == ClaimCompensated:
		v.Status = compGiven
		v.Text = cmp(cl.CompensationText, "The pickup did not work out. The creator has been told and compensates you directly.")
	case !failedStates[cl.State]:
	case cl.Compensation == config.CompensationWebhook:
		v.Status = compPending
		v.Text = "The pickup did not work out. The creator is being told; their answer will appear here."
	case cl.Compensation == compPoolEmpty:
		v.Status = compPoolEmpty
		v.Text = "The pickup did not work out, and no replacement codes are left. Show this receipt to the creator to be compensated."
	default:
		v.Status = compNone
		v.Text = "The pickup did not work out. This drop offers no compensation."
	}
	return v
}

// qrWanted reads the "qr" query parameter of GET /v1/claims/{id}: whether
// the answer carries the receipt QR (by default it does), and whether the
// value is one it knows.
func qrWanted(r *http.Request) (bool, bool) {
	switch r.URL.Query().Get("qr") {
	case "", "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

func (a *ClaimsAPI) getClaim(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, ok := httpauth.Bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dropwire"`)
		problem.Respond(w, http.StatusUnauthorized, "missing_receipt", "send the claim's receipt as Authorization: Bearer <receipt>")
		return
	}
	withQR, ok := qrWanted(r)
	if !ok {
		problem.Respond(w, http.StatusBadRequest, "malformed", `"qr" must be 1 or 0 (true or false): 0 leaves the receipt QR out`)
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
		ServerTime: a.c.now().UTC(), ReceiptURL: strings.TrimSuffix(a.cfg.PublicURL, "/") + "/r/" + cl.ID,
		ReceiptExpiresAt: time.Unix(rc.Expires, 0).UTC(),
	}
	if n, ok := a.cfg.Nodes(cl.Node); ok {
		v.Node = pageNode{ID: n.ID, Name: cmp(n.Name, n.ID), Region: n.Region, Address: n.Address, Hours: n.Hours}
	}
	policy := config.CompensationNone
	if d, err := a.c.drops.Drop(r.Context(), cl.Drop); err == nil {
		v.DropTitle, policy = d.Title, d.Compensation.Kind
	}
	v.Compensation = compensation(cl, policy)
	// The PIN opens the locker: shown while the claim waits in it, and
	// never after.
	if cl.State == ClaimReady && (cl.Locker.Slot != "" || cl.Locker.PIN != "") {
		v.Locker = &lockerView{Slot: cl.Locker.Slot, PIN: cl.Locker.PIN}
	}
	for _, e := range cl.History {
		v.History = append(v.History, claimEventView(e))
	}
	if withQR && a.cfg.QRSVG != nil {
		if svg, _, err := a.cfg.QRSVG(token); err == nil {
			v.ReceiptQR = svg
		}
	}
	writeJSONCompressed(w, r, v)
}

// gzipOver is the size from which an answer is worth compressing: the
// receipt QR's SVG (tens of KB of path data that shrinks about fivefold),
// not a poll's few hundred bytes.
const gzipOver = 4 << 10

// writeJSONCompressed answers 200 with v as writeJSON does, gzipped when
// it is large and the client takes gzip.
func writeJSONCompressed(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil || len(b) < gzipOver || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		writeJSON(w, http.StatusOK, v)
		return
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	_, _ = zw.Write(append(b, '\n'))
	_ = zw.Close()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", "gzip")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(z.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(z.Bytes())
}

// acceptsGzip reports whether an Accept-Encoding value takes gzip (a
// "gzip" or "*" coding without q=0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(val, 64); err != nil || q <= 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// receiptPage serves the receipt page. The receipt itself never comes to
// the server with it: the page reads it from the URL fragment or the
// device's storage and sends it only as a Bearer header to the API.
func (a *ClaimsAPI) receiptPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := DropOfClaim(r.PathValue("claim")); !ok {
		problem.Respond(w, http.StatusNotFound, "unknown_claim", "no claim has this id")
		return
	}
	servePage(w, r, a.pages.receipt, a.pages.receiptTag)
}

// mePage serves /me, the receipts this device holds. The list is the
// device's own storage, read by the page: the server keeps no index of
// a device's claims (see README, "Your rewards on any device").
func (a *ClaimsAPI) mePage(w http.ResponseWriter, r *http.Request) {
	servePage(w, r, a.pages.me, a.pages.meTag)
}

func servePage(w http.ResponseWriter, r *http.Request, page []byte, etag string) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", viewerCSP)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
