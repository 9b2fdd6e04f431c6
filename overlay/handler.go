package overlay

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/problem"
)

// minKeyChecks is how many keys Authorized compares with at least: more
// than a creator usually has (configured keys, plus rotated ones in their
// grace period), so the count of a creator's keys, or whether it exists,
// does not show in the time of a refusal.
const minKeyChecks = 8

// noKey is compared with where a creator has fewer keys than minKeyChecks
// (or none: an unknown creator); it never counts as a match.
const noKey = "\x00 no overlay key \x00"

// Authorized reports whether key opens the overlay of creator. It compares
// key in constant time with every key of the creator (rotation), padded to
// minKeyChecks comparisons, and HubConfig.Keys does the same store work
// for an unknown creator as for a known one, so the answer and its timing
// do not tell whether the creator exists.
func (h *Hub) Authorized(creator, key string) bool {
	keys, ok := h.cfg.Keys(creator)
	got := sha256.Sum256([]byte(key))
	match := 0
	for i := range max(len(keys), minKeyChecks) {
		k, counts := noKey, 0
		if i < len(keys) {
			k, counts = keys[i], 1
		}
		want := sha256.Sum256([]byte(k))
		match |= subtle.ConstantTimeCompare(got[:], want[:]) & counts
	}
	return ok && key != "" && match == 1
}

// PageHandler serves the overlay page (GET /overlay/{creator}?key=K): page
// when the key is right, a page that plainly says "wrong overlay key"
// with status 401 otherwise, so a creator sees the mistake in OBS.
func (h *Hub) PageHandler(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer") // the key is in the URL
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Type", "text/html; charset=utf-8")
		if !h.Authorized(r.PathValue("creator"), r.URL.Query().Get("key")) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(wrongKeyPage))
			return
		}
		_, _ = w.Write(page)
	})
}

// wrongKeyPage is readable on any background, transparent or not.
var wrongKeyPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dropwire overlay: wrong key</title></head>
<body style="margin:0;background:transparent"><p class="dw-error" style="display:inline-block;margin:24px;padding:16px 24px;font:600 32px/1.3 system-ui,sans-serif;color:#fff;background:#b00020;border-radius:8px">` +
	html.EscapeString("Dropwire: wrong overlay key") + `</p></body></html>`

// upgrader keeps idle connections small: a 256-byte read buffer (overlays
// send only control frames) and write buffers from a pool, held only while
// a frame is written.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  256,
	WriteBufferPool: &sync.Pool{},
}

// WSHandler serves GET /v1/overlay/{creator}/ws?key=K: 401 problem for a
// wrong key, 403 for a foreign origin (see the package doc), else the
// WebSocket, which gets the current state at once.
func (h *Hub) WSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		creator := r.PathValue("creator")
		if !h.Authorized(creator, r.URL.Query().Get("key")) {
			problem.Respond(w, http.StatusUnauthorized, "wrong_overlay_key", "wrong overlay key")
			return
		}
		if !h.originAllowed(r) {
			problem.Respond(w, http.StatusForbidden, "origin_not_allowed", "this origin may not open overlays")
			return
		}
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			problem.Respond(w, http.StatusServiceUnavailable, "shutting_down", "server is shutting down")
			return
		}
		u := upgrader
		u.CheckOrigin = func(*http.Request) bool { return true } // checked above
		u.Error = func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			problem.Respond(w, status, "bad_websocket_handshake", reason.Error())
		}
		ws, err := u.Upgrade(hijackable{w}, r, nil)
		if err != nil {
			return // answered by u.Error
		}
		c := h.creator(creator)
		cn := newConn(h, c, ws)
		if err := h.attach(c, cn); err != nil {
			_ = ws.Close()
			return
		}
		go cn.writeLoop()
		go cn.readLoop()
	})
}

func (h *Hub) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" || strings.HasPrefix(o, "file://") {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if pu, err := url.Parse(h.pubURL); err == nil && pu.Host != "" && strings.EqualFold(u.Host, pu.Host) {
		return true
	}
	return false
}

// hijackable reaches the connection through middleware wrappers that only
// offer Unwrap (http.ResponseController), as gorilla/websocket needs.
type hijackable struct{ http.ResponseWriter }

func (w hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
