package fulfillment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/server"
	"github.com/dropwire/dropwire/verifier"
)

// consoleCSP is the console page's Content-Security-Policy: its own script
// and style, no inline code, no frames; the camera preview is a
// MediaStream, which needs no source.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleMaxBody limits the console API's JSON bodies; consoleMaxFrame a
// camera frame sent to be decoded.
const (
	consoleMaxBody  = 16 << 10
	consoleMaxFrame = 2 << 20
	// consoleMaxPixels bounds a frame's size before it is decoded.
	consoleMaxPixels = 4096 * 4096
)

// Messages of the sign-in page. They never say whether the node exists.
const (
	msgWrongKey    = "This key does not open this console. Check the link, or ask whoever runs the drops for a new one."
	msgStoreDown   = "Keys cannot be checked right now. Try again in a moment."
	msgCrossSite   = "Sign in from this console's own page."
	signInRequired = "sign in to this console: the session is missing, has expired, or its key was rotated out"
)

// consolePageView is what the console page template gets. It holds
// nothing about the node: the page of a node that does not exist is the
// same page, byte for byte.
type consolePageView struct {
	View  string // signin | console
	Error string
	CSS   string
	JS    string
}

// Routes returns the console's patterns with their handlers: the page and
// its API under /n/{node} (the session cookie's path), and the admin API
// of console keys.
func (c *Console) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /n/{node}":                                  http.HandlerFunc(c.servePage),
		"POST /n/{node}":                                 http.HandlerFunc(c.signInForm),
		"POST /n/{node}/signout":                         http.HandlerFunc(c.signOut),
		"GET /n/{node}/claims":                           c.api(c.listClaims),
		"GET /n/{node}/claims/{claim}":                   c.api(c.getClaim),
		"POST /n/{node}/lookup":                          c.api(c.lookup),
		"POST /n/{node}/scan":                            c.api(c.scan),
		"POST /n/{node}/claims/{claim}/events":           c.api(c.act),
		"GET /v1/admin/consoles":                         c.svc.admin(c.listConsoles),
		"POST /v1/admin/nodes/{node}/console-key/rotate": c.svc.admin(c.rotateKey),
	}
}

// servePage serves GET /n/{node}: the console to a signed-in operator,
// else the sign-in form. A ?key= link signs in and is redirected away at
// once, so the key does not stay in the address bar or the history.
func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if q := r.URL.Query(); q.Has("key") {
		c.signIn(w, r, node, q.Get("key"))
		return
	}
	if _, ok := c.session(r, node); ok {
		c.render(w, http.StatusOK, "console", "")
		return
	}
	c.render(w, http.StatusOK, "signin", "")
}

// signInForm serves POST /n/{node}: the sign-in form (key=...).
func (c *Console) signInForm(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		c.render(w, http.StatusForbidden, "signin", msgCrossSite)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "signin", "The sign-in form could not be read.")
		return
	}
	c.signIn(w, r, r.PathValue("node"), r.PostForm.Get("key"))
}

// signIn checks a key and starts a session. The client address's attempts
// are limited first, so a blocked client learns nothing about the key;
// a wrong key and a node that does not exist get the same answer after
// the same work.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, node, key string) {
	ctx := r.Context()
	d, err := c.st.Allow(ctx, "fulfillment:console-signin:"+server.ClientIP(r), c.cfg.SignInLimit)
	if err != nil {
		c.log.Error().Err(err).Msg("console sign-in: rate limit not checked")
		c.render(w, http.StatusServiceUnavailable, "signin", msgStoreDown)
		return
	}
	if !d.Allowed {
		secs := int(math.Ceil(d.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		c.log.Warn().Str("node", clipID(node)).Msg("console sign-in rate limited")
		c.render(w, http.StatusTooManyRequests, "signin",
			fmt.Sprintf("Too many sign-in attempts from this address. Try again in %s.", wait(d.RetryAfter)))
		return
	}
	matched, ok := c.keys.Match(ctx, node, key)
	if !ok {
		c.log.Warn().Str("node", clipID(node)).Msg("console sign-in refused: wrong key or unknown node")
		c.render(w, http.StatusUnauthorized, "signin", msgWrongKey)
		return
	}
	keyID, err := c.KeyID(ctx, matched)
	if err != nil {
		c.render(w, http.StatusServiceUnavailable, "signin", msgStoreDown)
		return
	}
	ck, err := c.sessionCookie(ctx, node, keyID)
	if err != nil {
		c.render(w, http.StatusServiceUnavailable, "signin", msgStoreDown)
		return
	}
	http.SetCookie(w, ck)
	c.log.Info().Str("node", node).Str("key_id", keyID).Msg("console sign-in")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, consolePath(node), http.StatusSeeOther)
}

// signOut serves POST /n/{node}/signout.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if s, ok := c.session(r, node); ok {
		c.log.Info().Str("node", node).Str("key_id", s.KeyID).Msg("console sign-out")
	}
	http.SetCookie(w, c.clearCookie(node))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// wait says a duration the way the sign-in page does: "3 minutes".
func wait(d time.Duration) string {
	switch s := int(math.Ceil(d.Seconds())); {
	case s <= 1:
		return "a second"
	case s < 90:
		return strconv.Itoa(s) + " seconds"
	default:
		return strconv.Itoa(int(math.Ceil(float64(s)/60))) + " minutes"
	}
}

// clipID keeps a path segment from the outside short in logs.
func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func (c *Console) render(w http.ResponseWriter, status int, view, msg string) {
	var b bytes.Buffer
	if err := c.page.Execute(&b, consolePageView{View: view, Error: msg, CSS: c.cfg.Asset("console.css"),
		JS: c.cfg.Asset("console.js")}); err != nil {
		c.log.Error().Err(err).Msg("console page")
		problem.Respond(w, http.StatusInternalServerError, "internal", "the console page could not be made")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(self)")
	h.Set("Content-Security-Policy", consoleCSP)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// crossSite reports whether the browser says a request comes from another
// site: such a request never acts in a console.
func crossSite(r *http.Request) bool {
	s := r.Header.Get("Sec-Fetch-Site")
	return s == "cross-site" || s == "same-site"
}

// api guards a console API handler: a session of the path's node, and for
// a POST, a request from the console's own page.
func (c *Console) api(next func(http.ResponseWriter, *http.Request, consoleSession)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, ok := c.session(r, r.PathValue("node"))
		if !ok {
			problem.Respond(w, http.StatusUnauthorized, "signin_required", signInRequired)
			return
		}
		if r.Method == http.MethodPost && crossSite(r) {
			problem.Respond(w, http.StatusForbidden, "cross_site", "console actions come from the console's own page")
			return
		}
		next(w, r, s)
	})
}

func (c *Console) listClaims(w http.ResponseWriter, r *http.Request, s consoleSession) {
	v, err := c.List(r.Context(), s.Node)
	if err != nil {
		c.storeProblem(w, err)
		return
	}
	v.KeyID = s.KeyID
	writeJSON(w, http.StatusOK, v)
}

func (c *Console) getClaim(w http.ResponseWriter, r *http.Request, s consoleSession) {
	cl, err := c.Claim(r.Context(), s.Node, r.PathValue("claim"))
	if err != nil {
		problem.Write(w, c.lookupProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

// decodeJSON reads a size-limited JSON body into v, refusing unknown
// fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *problem.Problem {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, consoleMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.New(http.StatusRequestEntityTooLarge, "payload_too_large", "body is over the limit")
		}
		return problem.New(http.StatusBadRequest, "malformed_request", "could not read the body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.New(http.StatusBadRequest, "malformed_request", "body is not the expected JSON object: "+err.Error())
	}
	return nil
}

func (c *Console) lookup(w http.ResponseWriter, r *http.Request, s consoleSession) {
	var q Lookup
	if p := decodeJSON(w, r, &q); p != nil {
		problem.Write(w, p)
		return
	}
	c.answerLookup(w, r, s, q, "lookup")
}

// answerLookup finds a claim and answers it, or why it cannot be picked
// up; the lookup is logged with the node and key id.
func (c *Console) answerLookup(w http.ResponseWriter, r *http.Request, s consoleSession, q Lookup, how string) {
	cl, err := c.Find(r.Context(), s.Node, q)
	p := (*problem.Problem)(nil)
	if err != nil {
		p = c.lookupProblem(err)
	}
	ev := c.log.Info().Str("node", s.Node).Str("key_id", s.KeyID).Str("by", how)
	if cl.ID != "" {
		ev = ev.Str("claim", cl.ID)
	}
	if p != nil {
		ev = ev.Str("refused", p.Code)
	}
	ev.Msg("console lookup")
	if p != nil {
		problem.Write(w, p)
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

// lookupProblem explains why a claim was not found or cannot be picked
// up, in words an operator reads aloud to a viewer.
func (c *Console) lookupProblem(err error) *problem.Problem {
	var wrong *WrongNodeError
	var expired *ReceiptExpiredError
	var closed *ClaimClosedError
	var code *UnknownCodeError
	switch {
	case errors.As(err, &wrong):
		return problem.New(http.StatusConflict, "wrong_node",
			"This receipt is for "+wrong.Name+", not for this pickup point.").With("node", wrong.Node)
	case errors.As(err, &expired):
		return problem.New(http.StatusGone, "receipt_expired",
			"This receipt expired on "+expired.At.Format("Jan 2, 2006 15:04 MST")+".").With("expired_at", expired.At)
	case errors.As(err, &closed):
		cl := closed.Claim
		if cl.Status == StatusPickedUp {
			at := stateAt(cl, verifier.ClaimPickedUp)
			return problem.New(http.StatusConflict, "already_picked_up",
				"Already picked up"+at+": do not hand it out again.").With("claim", cl)
		}
		return problem.New(http.StatusConflict, "claim_closed",
			"This claim can no longer be picked up: "+closedReason(cl)+".").With("claim", cl)
	case errors.Is(err, verifier.ErrBadReceipt):
		return problem.New(http.StatusUnprocessableEntity, "bad_receipt",
			"This receipt does not verify: it was not issued by this service, or it was changed.")
	case errors.Is(err, ErrNoQR):
		return problem.New(http.StatusUnprocessableEntity, "no_qr", "No QR code could be read in this picture.")
	case errors.Is(err, ErrBadLookup):
		return problem.New(http.StatusBadRequest, "bad_lookup", strings.TrimPrefix(err.Error(), ErrBadLookup.Error()+": "))
	case errors.As(err, &code):
		return problem.New(http.StatusNotFound, "unknown_claim", "No claim with pickup code "+code.Code+" at this pickup point.")
	case errors.Is(err, ErrUnknownClaim):
		return problem.New(http.StatusNotFound, "unknown_claim", "No claim of this pickup point matches.")
	default:
		return callbackProblem(err)
	}
}

// stateAt says when a claim entered state: " at 15:04 on Jan 2".
func stateAt(cl ConsoleClaim, state string) string {
	for _, h := range cl.History {
		if h.State == state {
			return " at " + h.At.Format("15:04 MST on Jan 2")
		}
	}
	return ""
}

func closedReason(cl ConsoleClaim) string {
	switch cl.State {
	case verifier.ClaimRejected:
		return "it was refused"
	case verifier.ClaimForwardFailed:
		return "it never reached this pickup point"
	}
	if cl.Reason != "" {
		return "it failed (" + cl.Reason + ")"
	}
	return "it failed"
}

func (c *Console) act(w http.ResponseWriter, r *http.Request, s consoleSession) {
	var a ConsoleAction
	if p := decodeJSON(w, r, &a); p != nil {
		problem.Write(w, p)
		return
	}
	res, err := c.Act(r.Context(), s.Node, s.KeyID, r.PathValue("claim"), a)
	if err != nil {
		problem.Write(w, callbackProblem(err))
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// storeProblem answers a failure to read the store.
func (c *Console) storeProblem(w http.ResponseWriter, err error) {
	c.log.Error().Err(err).Msg("console: store")
	p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the console cannot be read right now; retrying")
	p.RetryAfter = time.Second
	problem.Write(w, p)
}

// ConsoleLink is a hosted node's console as the dashboard shows it.
type ConsoleLink struct {
	Node string `json:"node"`
	Name string `json:"name"`
	// URL opens the console with the current key ("" while the node has
	// no key: a rotation makes one).
	URL   string `json:"console_url"`
	KeyID string `json:"key_id,omitempty"`
}

// ConsoleRotation is the answer to a console key rotation.
type ConsoleRotation struct {
	Node         string    `json:"node"`
	Key          string    `json:"key"`
	KeyID        string    `json:"key_id"`
	URL          string    `json:"console_url"`
	OldKeysUntil time.Time `json:"old_keys_until"`
}

// link returns the console link of node with key.
func (c *Console) link(node, key string) string {
	if key == "" {
		return ""
	}
	return strings.TrimRight(c.cfg.PublicURL, "/") + consolePath(node) + "?key=" + url.QueryEscape(key)
}

func (c *Console) listConsoles(w http.ResponseWriter, r *http.Request) {
	out := []ConsoleLink{}
	for _, n := range c.svc.cfg.Nodes {
		if !n.Hosted() {
			continue
		}
		key, err := c.keys.Current(r.Context(), n.ID)
		if err != nil {
			c.storeProblem(w, err)
			return
		}
		l := ConsoleLink{Node: n.ID, Name: n.Name, URL: c.link(n.ID, key)}
		if l.Name == "" {
			l.Name = n.ID
		}
		if key != "" {
			if l.KeyID, err = c.KeyID(r.Context(), key); err != nil {
				c.storeProblem(w, err)
				return
			}
		}
		out = append(out, l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"consoles": out})
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if t := c.svc.nodes[node]; t != nil && !t.node.Hosted() {
		problem.Write(w, problem.New(http.StatusConflict, "not_hosted",
			"node "+node+" has a url: it takes its claims over HTTP and has no pickup console"))
		return
	}
	key, until, err := c.keys.rotate(r.Context(), node)
	if errors.Is(err, ErrUnknownNode) {
		problem.Respond(w, http.StatusNotFound, "unknown_node", "no fulfillment node with this id")
		return
	}
	var keyID string
	if err == nil {
		keyID, err = c.KeyID(r.Context(), key)
	}
	if err != nil {
		c.storeProblem(w, err)
		return
	}
	c.log.Info().Str("node", node).Str("key_id", keyID).Time("old_keys_until", until).Msg("console key rotated")
	writeJSON(w, http.StatusOK, ConsoleRotation{Node: node, Key: key, KeyID: keyID, URL: c.link(node, key), OldKeysUntil: until})
}

// scan serves POST /n/{node}/scan: a camera frame (JPEG or PNG) from a
// browser without BarcodeDetector, decoded here, then looked up as a
// scanned QR code. Frames are limited per session.
func (c *Console) scan(w http.ResponseWriter, r *http.Request, s consoleSession) {
	d, err := c.st.Allow(r.Context(), "fulfillment:console-scan:"+s.Node+":"+s.KeyID, c.cfg.ScanLimit)
	if err != nil {
		c.storeProblem(w, err)
		return
	}
	if !d.Allowed {
		p := problem.New(http.StatusTooManyRequests, "rate_limited", "too many frames; slow down")
		p.RetryAfter = d.RetryAfter
		problem.Write(w, p)
		return
	}
	text, p := readFrameQR(w, r)
	if p != nil {
		problem.Write(w, p)
		return
	}
	c.answerLookup(w, r, s, Lookup{QR: text}, "scan")
}
