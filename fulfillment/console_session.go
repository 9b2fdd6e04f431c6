package fulfillment

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A console sign-in is a session cookie, so the key travels once (a form
// post, or a ?key= link that is redirected away at once) and is never in
// a URL the browser keeps:
//
//	dw_console = base64url(node NUL key id NUL expiry) "." base64url(HMAC)
//
// HttpOnly, SameSite=Strict, Path=/n/<node>, expiring with the session.
// It names the key it was made with by its id (a keyed hash, never the
// key): a session ends when its key is rotated out, after the grace.

// ConsoleCookie is the name of the console's session cookie.
const ConsoleCookie = "dw_console"

// consoleSecretKey is the store key of the secret that signs console
// sessions and key ids when the configuration sets none; the first replica
// to need it creates it (SetNX).
const consoleSecretKey = "fulfillment:console-secret"

// consoleSession is a verified session.
type consoleSession struct {
	Node    string
	KeyID   string
	Expires time.Time
}

func (c *Console) secretKey(ctx context.Context) ([]byte, error) {
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	if c.secret != nil {
		return c.secret, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	if _, err := c.st.SetNX(ctx, consoleSecretKey, hex.EncodeToString(b[:]), 0); err != nil {
		return nil, fmt.Errorf("fulfillment: console secret: %w", err)
	}
	s, err := c.st.Get(ctx, consoleSecretKey)
	if err != nil {
		return nil, fmt.Errorf("fulfillment: console secret: %w", err)
	}
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) < 16 {
		return nil, fmt.Errorf("fulfillment: console secret at %q is malformed", consoleSecretKey)
	}
	c.secret = raw
	return raw, nil
}

func consoleMAC(secret []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// KeyID names a console key in logs, sessions and the dashboard without
// giving it away: a keyed hash, so a short id is no help in guessing it.
func (c *Console) KeyID(ctx context.Context, key string) (string, error) {
	secret, err := c.secretKey(ctx)
	if err != nil {
		return "", err
	}
	return "ck_" + hex.EncodeToString(consoleMAC(secret, "console-key", key)[:5]), nil
}

// sessionCookie returns the cookie of a new session of node with keyID.
func (c *Console) sessionCookie(ctx context.Context, node, keyID string) (*http.Cookie, error) {
	secret, err := c.secretKey(ctx)
	if err != nil {
		return nil, err
	}
	exp := c.now().Add(c.cfg.Session)
	payload := node + "\x00" + keyID + "\x00" + strconv.FormatInt(exp.Unix(), 10)
	v := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(consoleMAC(secret, "console-session", payload))
	return &http.Cookie{Name: ConsoleCookie, Value: v, Path: consolePath(node), MaxAge: int(c.cfg.Session.Seconds()),
		HttpOnly: true, Secure: c.cfg.SecureCookie, SameSite: http.SameSiteStrictMode}, nil
}

// clearCookie ends the session in the browser.
func (c *Console) clearCookie(node string) *http.Cookie {
	return &http.Cookie{Name: ConsoleCookie, Value: "", Path: consolePath(node), MaxAge: -1,
		HttpOnly: true, Secure: c.cfg.SecureCookie, SameSite: http.SameSiteStrictMode}
}

func consolePath(node string) string { return "/n/" + url.PathEscape(node) }

// session returns the request's session of node: a cookie signed here,
// not expired, for this node, made with a key that still opens it.
func (c *Console) session(r *http.Request, node string) (consoleSession, bool) {
	ck, err := r.Cookie(ConsoleCookie)
	if err != nil {
		return consoleSession{}, false
	}
	enc, sig, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return consoleSession{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return consoleSession{}, false
	}
	secret, err := c.secretKey(r.Context())
	if err != nil {
		return consoleSession{}, false
	}
	if !hmac.Equal(mac, consoleMAC(secret, "console-session", string(payload))) {
		return consoleSession{}, false
	}
	parts := strings.Split(string(payload), "\x00")
	if len(parts) != 3 || parts[0] != node {
		return consoleSession{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !c.now().Before(time.Unix(exp, 0)) {
		return consoleSession{}, false
	}
	keys, known := c.keys.Keys(r.Context(), node)
	if !known {
		return consoleSession{}, false
	}
	for _, k := range keys {
		if hmac.Equal([]byte("ck_"+hex.EncodeToString(consoleMAC(secret, "console-key", k)[:5])), []byte(parts[1])) {
			return consoleSession{Node: node, KeyID: parts[1], Expires: time.Unix(exp, 0)}, true
		}
	}
	return consoleSession{}, false
}
