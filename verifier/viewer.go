package verifier

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/dropwire/dropwire/internal/store"
)

// ViewerSecretKey is the store key of the secret that signs device cookies
// and keys viewer hashes when the configuration sets none. The first
// replica to start creates it (SetNX); the others read it back.
const ViewerSecretKey = "claims:viewer-secret"

// DeviceCookie is the name of the signed HttpOnly cookie that carries a
// viewer's random device id.
const DeviceCookie = "dw_device"

// ViewersConfig configures Viewers.
type ViewersConfig struct {
	Store store.Store
	// Secret, when set (at least 32 bytes), is used instead of the one kept
	// in the store.
	Secret string
	// JWKS, Issuer and Audience check viewer tokens (identity "token"):
	// a file path or http(s) URL with the creator's login keys.
	JWKS     string
	Issuer   string
	Audience string
	// SecureCookie marks the device cookie Secure (public URL is https).
	SecureCookie bool
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Viewers turns what a viewer presents (a device cookie, an email, a
// token) into the viewer key claims are stored under: a keyed hash, so no
// email, token subject or device id is ever stored in clear. Safe for
// concurrent use.
type Viewers struct {
	cfg ViewersConfig

	cookieAttrs string // "; Path=/; Max-Age=…" of every device cookie

	mu     sync.Mutex
	mac    *viewerMAC // keyed with the secret once it is known
	keys   jwk.Set
	keysAt time.Time
}

// NewViewers returns Viewers; the secret and the JWKS are loaded on first
// use, so a replica starts while the store or the JWKS URL is down.
func NewViewers(cfg ViewersConfig) (*Viewers, error) {
	if cfg.Store == nil {
		return nil, errors.New("verifier: ViewersConfig needs a Store")
	}
	if cfg.Secret != "" && len(cfg.Secret) < 32 {
		return nil, errors.New("verifier: viewer secret is shorter than 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Viewers{cfg: cfg}
	// A device cookie's value is base64url and a dot, which a cookie
	// carries as it is: what follows it is the same for every cookie.
	const probe = "x"
	v.cookieAttrs = strings.TrimPrefix(v.deviceCookie(probe).String(), DeviceCookie+"="+probe)
	if cfg.Secret != "" {
		v.mac = newViewerMAC([]byte(cfg.Secret))
	}
	return v, nil
}

// key returns the MAC keyed with the viewer secret, reading (or creating)
// the secret in the store on first use.
func (v *Viewers) key(ctx context.Context) (*viewerMAC, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mac != nil {
		return v.mac, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if _, err := v.cfg.Store.SetNX(ctx, ViewerSecretKey, hex.EncodeToString(b[:]), 0); err != nil {
		return nil, fmt.Errorf("verifier: viewer secret: %w", err)
	}
	s, err := v.cfg.Store.Get(ctx, ViewerSecretKey)
	if err != nil {
		return nil, fmt.Errorf("verifier: viewer secret: %w", err)
	}
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) < 16 {
		return nil, fmt.Errorf("verifier: viewer secret at %q is malformed", ViewerSecretKey)
	}
	v.mac = newViewerMAC(raw)
	return v.mac, nil
}

// Hash returns the viewer key of an identity of kind ("device", "email",
// "token", "ip"): a keyed hash, 128 bits in hex.
func (v *Viewers) Hash(ctx context.Context, kind, id string) (string, error) {
	mac, err := v.key(ctx)
	if err != nil {
		return "", err
	}
	sum := mac.sum16("viewer", kind, id)
	return hex.EncodeToString(sum[:]), nil
}

// DeviceOf returns the device id of the request's signed cookie; ok is
// false when there is none or it does not verify. It never issues one.
func (v *Viewers) DeviceOf(ctx context.Context, r *http.Request) (id string, ok bool, err error) {
	mac, err := v.key(ctx)
	if err != nil {
		return "", false, err
	}
	// Every cookie of that name is tried: a stale one set for another path
	// or domain may come first.
	for _, c := range r.CookiesNamed(DeviceCookie) {
		if id, ok := openDeviceCookie(mac, c.Value); ok {
			return id, true, nil
		}
	}
	return "", false, nil
}

// Device returns the device id of the request's signed cookie, issuing a
// new cookie on w when there is none or it does not verify. issued says
// whether it did.
func (v *Viewers) Device(ctx context.Context, w http.ResponseWriter, r *http.Request) (id string, issued bool, err error) {
	id, ok, err := v.DeviceOf(ctx, r)
	if err != nil || ok {
		return id, false, err
	}
	mac, err := v.key(ctx)
	if err != nil {
		return "", false, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	id = base64.RawURLEncoding.EncodeToString(b[:])
	// As http.SetCookie writes it, but for the attributes written once.
	sum := mac.sum16("device-cookie", id)
	w.Header().Add("Set-Cookie", DeviceCookie+"="+id+"."+base64.RawURLEncoding.EncodeToString(sum[:])+v.cookieAttrs)
	return id, true, nil
}

// deviceCookie is the device cookie as issued, for value.
func (v *Viewers) deviceCookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     DeviceCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   400 * 24 * 3600, // the longest browsers keep
		HttpOnly: true,
		Secure:   v.cfg.SecureCookie,
		SameSite: http.SameSiteLaxMode,
	}
}

// openDeviceCookie opens a device cookie, "<id>.<base64url MAC>".
func openDeviceCookie(mac *viewerMAC, value string) (string, bool) {
	id, sig, ok := strings.Cut(value, ".")
	if !ok || len(id) != 22 || len(sig) != 22 {
		return "", false
	}
	var got [16]byte
	if n, err := base64.RawURLEncoding.Decode(got[:], []byte(sig)); err != nil || n != len(got) {
		return "", false
	}
	return id, mac.equal16(got[:], "device-cookie", id)
}

// Email returns the viewer key of an email address (normalised: trimmed,
// lower case). Errors wrap ErrBadViewer.
func (v *Viewers) Email(ctx context.Context, email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > 254 {
		return "", fmt.Errorf("%w: email address is too long", ErrBadViewer)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", fmt.Errorf("%w: not an email address", ErrBadViewer)
	}
	return v.Hash(ctx, "email", e)
}

// Token verifies a viewer JWT from the creator's login against the
// configured JWKS (signature, exp required, nbf, iss and aud when
// configured) and returns the viewer key of its issuer and subject.
// Errors wrap ErrBadViewer.
func (v *Viewers) Token(ctx context.Context, token string) (string, error) {
	if v.cfg.JWKS == "" {
		return "", fmt.Errorf("%w: viewer tokens are not configured (viewer_jwks)", ErrBadViewer)
	}
	if len(token) > 8192 {
		return "", fmt.Errorf("%w: token is too long", ErrBadViewer)
	}
	var tok jwt.Token
	for attempt := range 2 {
		set, err := v.jwks(ctx, attempt > 0)
		if err != nil {
			return "", err
		}
		opts := []jwt.ParseOption{jwt.WithKeySet(set), jwt.WithValidate(true), jwt.WithClock(jwt.ClockFunc(v.cfg.Now)),
			jwt.WithAcceptableSkew(time.Minute), jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("sub")}
		if v.cfg.Issuer != "" {
			opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
		}
		if v.cfg.Audience != "" {
			opts = append(opts, jwt.WithAudience(v.cfg.Audience))
		}
		tok, err = jwt.Parse([]byte(token), opts...)
		if err == nil {
			break
		}
		if attempt > 0 {
			return "", fmt.Errorf("%w: token does not verify: %v", ErrBadViewer, err)
		}
	}
	return v.Hash(ctx, "token", tok.Issuer()+"\x00"+tok.Subject())
}

// jwks returns the viewer token keys, read at most once a minute (fresh:
// reread now, for a key the creator's login just rotated in).
func (v *Viewers) jwks(ctx context.Context, fresh bool) (jwk.Set, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	if v.keys != nil && (!fresh || now.Sub(v.keysAt) < time.Minute) {
		return v.keys, nil
	}
	var (
		set jwk.Set
		err error
	)
	if strings.Contains(v.cfg.JWKS, "://") {
		set, err = jwk.Fetch(ctx, v.cfg.JWKS)
	} else {
		set, err = jwk.ReadFile(v.cfg.JWKS)
	}
	if err != nil {
		if v.keys != nil {
			return v.keys, nil // keep the keys we have
		}
		return nil, fmt.Errorf("verifier: viewer_jwks: %w", err)
	}
	v.keys, v.keysAt = set, now
	return set, nil
}
