package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/internal/store"
)

// ReceiptKeyPrefix is the store key prefix of the receipt signing keys: one
// key per rotation period, "receipts:key:<period index>", holding the
// private JWK. The first replica to sign in a period creates it (SetNX);
// every replica then signs with the same key.
const ReceiptKeyPrefix = "receipts:key:"

// ReceiptsConfig configures Receipts.
type ReceiptsConfig struct {
	Store store.Store
	// TTL is how long a receipt is valid after its claim; default 7 days.
	TTL time.Duration
	// Rotate is how often a new signing key is used; default 24 h. A key
	// stays published until the last receipt it signed has expired.
	Rotate time.Duration
	// Issuer is the receipts' "iss", the service's public URL.
	Issuer string
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Receipts signs claim receipts (ES256 JWTs with "kid" in the header) and
// publishes the public keys as a JWKS. Safe for concurrent use.
type Receipts struct {
	st     store.Store
	ttl    time.Duration
	rotate time.Duration
	iss    string
	now    func() time.Time

	mu      sync.Mutex
	keys    map[int64]jwk.Key // private keys by period
	absent  map[int64]bool    // past periods known to have no key
	set     jwk.Set           // public keys, cached
	setJSON []byte
	setAt   time.Time
	// refreshedAt is when an unknown kid last made Verify reread the keys.
	refreshedAt time.Time
}

// ReceiptClaims are the claims of a receipt.
type ReceiptClaims struct {
	Issuer     string `json:"iss,omitempty"`
	Subject    string `json:"sub"` // the claim id
	ClaimID    string `json:"cid"`
	Drop       string `json:"drop"`
	Node       string `json:"node"`
	SKU        string `json:"sku"`
	Tier       string `json:"tier,omitempty"`
	PickupCode string `json:"pickup_code"`
	PickupBy   int64  `json:"pickup_by"` // unix seconds
	IssuedAt   int64  `json:"iat"`
	Expires    int64  `json:"exp"`
}

// NewReceipts returns Receipts; keys are created or loaded on first use.
func NewReceipts(cfg ReceiptsConfig) (*Receipts, error) {
	if cfg.Store == nil {
		return nil, errors.New("verifier: ReceiptsConfig needs a Store")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	if cfg.Rotate <= 0 {
		cfg.Rotate = 24 * time.Hour
	}
	if cfg.Rotate < time.Second {
		return nil, errors.New("verifier: receipt key rotation must be at least a second")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Receipts{st: cfg.Store, ttl: cfg.TTL, rotate: cfg.Rotate, iss: cfg.Issuer, now: cfg.Now,
		keys: map[int64]jwk.Key{}, absent: map[int64]bool{}}, nil
}

// TTL returns how long a receipt is valid after its claim.
func (r *Receipts) TTL() time.Duration { return r.ttl }

func (r *Receipts) period(t time.Time) int64 { return t.UnixMilli() / r.rotate.Milliseconds() }

// retireAt is when the key of period p is no longer needed: the last
// receipt it can sign expires then.
func (r *Receipts) retireAt(p int64) time.Time {
	return time.UnixMilli((p + 1) * r.rotate.Milliseconds()).Add(r.ttl)
}

// signingKey returns the key of the current period, creating it (once for
// all replicas) when missing.
func (r *Receipts) signingKey(ctx context.Context) (jwk.Key, error) {
	now := r.now()
	p := r.period(now)
	r.mu.Lock()
	k := r.keys[p]
	r.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := r.load(ctx, p)
	if err != nil || k != nil {
		return k, err
	}
	fresh, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(fresh)
	if err != nil {
		return nil, err
	}
	// Kept a minute past retirement so a JWKS read at the edge still has it.
	ttl := r.retireAt(p).Sub(now) + time.Minute
	if _, err := r.st.SetNX(ctx, ReceiptKeyPrefix+strconv.FormatInt(p, 10), string(raw), ttl); err != nil {
		return nil, fmt.Errorf("verifier: receipt key: %w", err)
	}
	// Read back whichever key won, ours or another replica's.
	k, err = r.load(ctx, p)
	if err == nil && k == nil {
		err = errors.New("verifier: receipt key vanished")
	}
	if err == nil {
		r.mu.Lock()
		r.set = nil // publish the new key at once
		r.mu.Unlock()
	}
	return k, err
}

// load returns the key of period p from the cache or the store (nil when
// there is none).
func (r *Receipts) load(ctx context.Context, p int64) (jwk.Key, error) {
	r.mu.Lock()
	k, absent := r.keys[p], r.absent[p]
	r.mu.Unlock()
	if k != nil || absent {
		return k, nil
	}
	v, err := r.st.Get(ctx, ReceiptKeyPrefix+strconv.FormatInt(p, 10))
	if errors.Is(err, store.ErrNotFound) {
		if p < r.period(r.now())-1 {
			r.mu.Lock()
			r.absent[p] = true // no one signs in the past
			r.mu.Unlock()
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verifier: receipt key: %w", err)
	}
	k, err = jwk.ParseKey([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("verifier: receipt key %d is malformed: %w", p, err)
	}
	r.mu.Lock()
	r.keys[p] = k
	r.mu.Unlock()
	return k, nil
}

func newSigningKey() (jwk.Key, error) {
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	k, err := jwk.FromRaw(pk)
	if err != nil {
		return nil, err
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	for _, kv := range [][2]any{
		{jwk.KeyIDKey, base64.RawURLEncoding.EncodeToString(tp)},
		{jwk.AlgorithmKey, jwa.ES256},
		{jwk.KeyUsageKey, "sig"},
	} {
		if err := k.Set(kv[0].(string), kv[1]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Claims returns the receipt claims of c: valid from its creation for TTL,
// so that signing it again (a retry) says the same thing.
func (r *Receipts) Claims(c *Claim) ReceiptClaims {
	return ReceiptClaims{
		Issuer: r.iss, Subject: c.ID, ClaimID: c.ID, Drop: c.Drop, Node: c.Node, SKU: c.SKU, Tier: c.Tier,
		PickupCode: c.PickupCode, PickupBy: c.PickupBy.Unix(),
		IssuedAt: c.CreatedAt.Unix(), Expires: c.CreatedAt.Add(r.ttl).Unix(),
	}
}

// Sign returns the receipt of c: a compact ES256 JWS.
func (r *Receipts) Sign(ctx context.Context, c *Claim) (string, error) {
	k, err := r.signingKey(ctx)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(r.Claims(c))
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.TypeKey, "JWT")
	_ = h.Set(jws.KeyIDKey, k.KeyID())
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("verifier: sign receipt: %w", err)
	}
	return string(tok), nil
}

// Verify checks a receipt against the published keys and its expiry.
// Errors wrap ErrBadReceipt; an expired receipt's also wraps
// ErrReceiptExpired and comes with its claims, which did verify.
func (r *Receipts) Verify(ctx context.Context, token string) (ReceiptClaims, error) {
	if len(token) > 4096 {
		return ReceiptClaims{}, fmt.Errorf("%w: too long", ErrBadReceipt)
	}
	kid, err := compactKid(token)
	if err != nil {
		return ReceiptClaims{}, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	set, _, err := r.publicSet(ctx, false)
	if err != nil {
		return ReceiptClaims{}, err
	}
	if _, known := set.LookupKeyID(kid); !known && r.mayRefresh() {
		// A key rotated in by another replica since the set was read.
		if set, _, err = r.publicSet(ctx, true); err != nil {
			return ReceiptClaims{}, err
		}
	}
	payload, err := jws.Verify([]byte(token), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		return ReceiptClaims{}, fmt.Errorf("%w: signature does not verify", ErrBadReceipt)
	}
	var c ReceiptClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.ClaimID == "" {
		return ReceiptClaims{}, fmt.Errorf("%w: claims are malformed", ErrBadReceipt)
	}
	if !r.now().Before(time.Unix(c.Expires, 0)) {
		return c, fmt.Errorf("%w: %w", ErrBadReceipt, ErrReceiptExpired)
	}
	return c, nil
}

// mayRefresh reports whether an unknown key id may make Verify read the
// keys again: at most once a second, so tokens with made-up key ids cost
// the store nothing.
func (r *Receipts) mayRefresh() bool {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := now.Sub(r.refreshedAt); d >= 0 && d < time.Second {
		return false
	}
	r.refreshedAt = now
	return true
}

// compactKid checks that token is a JWS in canonical compact form (three
// unpadded base64url parts, nothing else: the decoders behind jws.Verify
// also take padding, the other alphabet and line breaks, so one receipt
// could be written many ways) and returns the kid of its header.
func compactKid(token string) (string, error) {
	var parts [3]string
	rest := token
	for i := range parts {
		if i < 2 {
			var ok bool
			if parts[i], rest, ok = strings.Cut(rest, "."); !ok {
				return "", errors.New("not a compact JWS")
			}
		} else {
			parts[i] = rest
		}
	}
	for _, p := range parts {
		if !canonicalB64URL(p) {
			return "", errors.New("not canonical base64url")
		}
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(header, &h); err != nil || h.Kid == "" {
		return "", errors.New("header without a kid")
	}
	return h.Kid, nil
}

// canonicalB64URL reports whether s is non-empty unpadded base64url, with
// no other character and no stray bits: the one way to write its bytes.
func canonicalB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return s != "" && err == nil
}

// JWKS returns the public keys of every receipt still valid, as a JWK Set
// document.
func (r *Receipts) JWKS(ctx context.Context) ([]byte, error) {
	_, doc, err := r.publicSet(ctx, false)
	return doc, err
}

// publicSet returns the public keys of the periods whose receipts may still
// be valid, cached for a few seconds (fresh: reread now).
func (r *Receipts) publicSet(ctx context.Context, fresh bool) (jwk.Set, []byte, error) {
	now := r.now()
	r.mu.Lock()
	if !fresh && r.set != nil && now.Sub(r.setAt) < 10*time.Second && now.Sub(r.setAt) >= 0 {
		set, doc := r.set, r.setJSON
		r.mu.Unlock()
		return set, doc, nil
	}
	r.mu.Unlock()

	cur := r.period(now)
	oldest := r.period(now.Add(-r.ttl)) - 1
	set := jwk.NewSet()
	for p := cur; p >= oldest; p-- {
		if !now.Before(r.retireAt(p)) {
			break
		}
		k, err := r.load(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		if k == nil {
			continue
		}
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			return nil, nil, err
		}
		if err := set.AddKey(pub); err != nil {
			return nil, nil, err
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	r.set, r.setJSON, r.setAt = set, doc, now
	for p := range r.keys {
		if !now.Before(r.retireAt(p)) {
			delete(r.keys, p)
		}
	}
	for p := range r.absent {
		if p < oldest {
			delete(r.absent, p)
		}
	}
	r.mu.Unlock()
	return set, doc, nil
}
