package nodekit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// JWKSPath is where Dropwire publishes the receipt keys.
const JWKSPath = "/.well-known/jwks.json"

// Defaults of ReceiptsConfig.
const (
	DefaultMinRefresh = 30 * time.Second
	DefaultMaxAge     = time.Hour
)

const (
	maxReceiptLen = 4096
	maxJWKSBytes  = 1 << 20
)

// ReceiptsConfig configures Receipts.
type ReceiptsConfig struct {
	// BaseURL is Dropwire's public URL (its public_url); the keys are
	// read from BaseURL + JWKSPath.
	BaseURL string
	// Node, when set, refuses receipts of other nodes with ErrOtherNode.
	Node string
	// MinRefresh is the least time between two fetches of the key set
	// (default 30 s), so receipts with made-up key ids cost Dropwire
	// nothing.
	MinRefresh time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again (default 1 h). A failed fetch keeps the old set in use.
	MaxAge time.Duration
	// Client fetches the keys (default: a client with a 10 s timeout).
	Client *http.Client
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Receipt is what a verified receipt says.
type Receipt struct {
	ClaimID    string
	Drop       string
	Node       string
	SKU        string
	Tier       string
	PickupCode string
	PickupBy   time.Time
	IssuedAt   time.Time
	ExpiresAt  time.Time
	// Issuer is Dropwire's public URL.
	Issuer string
	// KeyID names the key that signed it.
	KeyID string
}

// receiptClaims is the JWT payload Dropwire signs.
type receiptClaims struct {
	Issuer     string `json:"iss"`
	ClaimID    string `json:"cid"`
	Drop       string `json:"drop"`
	Node       string `json:"node"`
	SKU        string `json:"sku"`
	Tier       string `json:"tier"`
	PickupCode string `json:"pickup_code"`
	PickupBy   int64  `json:"pickup_by"`
	IssuedAt   int64  `json:"iat"`
	Expires    int64  `json:"exp"`
}

// Receipts verifies receipts offline against Dropwire's published keys.
type Receipts struct {
	url        string
	node       string
	minRefresh time.Duration
	maxAge     time.Duration
	client     *http.Client
	now        func() time.Time

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex // guards what follows
	set     jwk.Set
	setAt   time.Time // when set was fetched
	tried   time.Time // when a fetch was last started
}

// NewReceipts returns Receipts. The keys are fetched on first use. Errors
// wrap ErrInvalidConfig.
func NewReceipts(cfg ReceiptsConfig) (*Receipts, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: BaseURL must be an http(s) URL", ErrInvalidConfig)
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = DefaultMinRefresh
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Receipts{url: strings.TrimRight(cfg.BaseURL, "/") + JWKSPath, node: cfg.Node,
		minRefresh: cfg.MinRefresh, maxAge: cfg.MaxAge, client: cfg.Client, now: cfg.Now}, nil
}

// Verify checks token: an ES256 JWS whose "kid" names a published key,
// not expired, and (with ReceiptsConfig.Node) for this node. Errors:
// ErrBadReceipt (ErrUnknownKey, ErrReceiptExpired and ErrOtherNode match
// it), or ErrJWKS when no key set could be had at all.
func (r *Receipts) Verify(ctx context.Context, token string) (Receipt, error) {
	if len(token) > maxReceiptLen {
		return Receipt{}, fmt.Errorf("%w: longer than %d bytes", ErrBadReceipt, maxReceiptLen)
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil || len(msg.Signatures()) != 1 {
		return Receipt{}, fmt.Errorf("%w: not a compact JWS", ErrBadReceipt)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if hdr.Algorithm() != jwa.ES256 {
		return Receipt{}, fmt.Errorf("%w: algorithm %q, want ES256", ErrBadReceipt, hdr.Algorithm())
	}
	kid := hdr.KeyID()
	if kid == "" {
		return Receipt{}, fmt.Errorf("%w: no kid in the header", ErrBadReceipt)
	}
	key, err := r.key(ctx, kid)
	if err != nil {
		return Receipt{}, err
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.ES256, key))
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: signature does not verify", ErrBadReceipt)
	}
	var c receiptClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.ClaimID == "" || c.Expires == 0 {
		return Receipt{}, fmt.Errorf("%w: claims are malformed", ErrBadReceipt)
	}
	rc := Receipt{ClaimID: c.ClaimID, Drop: c.Drop, Node: c.Node, SKU: c.SKU, Tier: c.Tier, PickupCode: c.PickupCode,
		PickupBy: time.Unix(c.PickupBy, 0), IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.Expires, 0),
		Issuer: c.Issuer, KeyID: kid}
	if !r.now().Before(rc.ExpiresAt) {
		return rc, ErrReceiptExpired
	}
	if r.node != "" && rc.Node != r.node {
		return rc, ErrOtherNode
	}
	return rc, nil
}

// key returns the published key kid: from the cached set, or from a
// fresh one when the set is old or lacks kid and MinRefresh allows.
func (r *Receipts) key(ctx context.Context, kid string) (jwk.Key, error) {
	set, old := r.cached()
	if set != nil && !old {
		if k, ok := set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	set, err := r.refresh(ctx, set)
	if set == nil {
		return nil, err
	}
	if k, ok := set.LookupKeyID(kid); ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func (r *Receipts) cached() (jwk.Set, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set, r.set != nil && r.now().Sub(r.setAt) >= r.maxAge
}

// refresh fetches the key set unless one was fetched (or tried) within
// MinRefresh, and returns the set to use: the new one, or seen (the set
// the caller had) when no fetch was allowed or it failed.
func (r *Receipts) refresh(ctx context.Context, seen jwk.Set) (jwk.Set, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	if r.set != nil && r.set != seen {
		// Another caller fetched while this one waited.
		set := r.set
		r.mu.Unlock()
		return set, nil
	}
	if !r.tried.IsZero() && r.now().Sub(r.tried) < r.minRefresh {
		set := r.set
		r.mu.Unlock()
		if set == nil {
			return nil, fmt.Errorf("%w: the last fetch failed; next try within %s", ErrJWKS, r.minRefresh)
		}
		return set, nil
	}
	r.tried = r.now()
	r.mu.Unlock()

	set, err := r.fetch(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		return r.set, err
	}
	r.set, r.setAt = set, r.now()
	return set, nil
}

func (r *Receipts) fetch(ctx context.Context) (jwk.Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s answered %d", ErrJWKS, r.url, res.StatusCode)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWK Set: %v", ErrJWKS, err)
	}
	return set, nil
}
