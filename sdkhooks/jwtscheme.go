package sdkhooks

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/httpauth"
)

// JWT algorithms a jwt source may pin.
const (
	AlgHS256 = "HS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

const (
	// DefaultJWTTolerance is the clock skew allowed on exp, nbf and iat of
	// a jwt source without a configured tolerance.
	DefaultJWTTolerance = 5 * time.Minute

	// jwksRefetchInterval bounds fetches of a JWKS URL: an unknown kid
	// refetches at most this often.
	jwksRefetchInterval = time.Minute
	// jwksMaxAge makes a known set be refetched (at the same bounded rate)
	// after this long, so that keys removed by the vendor stop verifying.
	jwksMaxAge = time.Hour
	// jwksFetchTimeout bounds one JWKS request.
	jwksFetchTimeout = 5 * time.Second
	// maxJWKSSize bounds a JWKS document.
	maxJWKSSize = 1 << 20
	// maxTokenSize bounds the Authorization header that is parsed.
	maxTokenSize = 8 << 10
)

// JWT verifies the body-hash JWT scheme: the Authorization header carries
// a compact JWS (with or without "Bearer ") signed with HS256 (the source's
// secrets), ES256 or EdDSA (a key of the source's JWKS chosen by kid). The
// algorithm must be one the source pins; the claims must hold exp and
// sha256 = standard base64 of SHA-256 of the raw body.
type JWT struct {
	algs      []string
	hmacKeys  [][]byte
	jwks      *keySet // nil without a JWKS
	tolerance time.Duration
}

var _ Verifier = (*JWT)(nil)

// NewJWT builds a JWT verifier from src. Secrets are the raw HS256 shared
// secrets (a whsec_ secret is base64-decoded like a standard one); JWKS is
// a file path, read now, or an http(s) URL, fetched on first use.
// Algorithms pins the accepted algs (HS256, ES256, EdDSA; never "none");
// when empty it defaults to HS256 if there are secrets plus ES256 and EdDSA
// if there is a JWKS.
func NewJWT(src config.Source) (*JWT, error) {
	tol, err := tolerance(src, DefaultJWTTolerance)
	if err != nil {
		return nil, err
	}
	j := &JWT{tolerance: tol}
	for i, secret := range src.Secrets {
		key := []byte(secret)
		if strings.HasPrefix(secret, secretPrefix) {
			if key, err = decodeSecret(secret); err != nil {
				return nil, fmt.Errorf("source %q: secrets[%d]: %w", src.ID, i, err)
			}
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("%w: source %q: secrets[%d] is empty", ErrInvalidKey, src.ID, i)
		}
		j.hmacKeys = append(j.hmacKeys, key)
	}
	if src.JWKS != "" {
		if j.jwks, err = newKeySet(src.JWKS); err != nil {
			return nil, fmt.Errorf("source %q: jwks: %w", src.ID, err)
		}
	}

	algs := src.Algorithms
	if len(algs) == 0 {
		if len(j.hmacKeys) > 0 {
			algs = append(algs, AlgHS256)
		}
		if j.jwks != nil {
			algs = append(algs, AlgES256, AlgEdDSA)
		}
	}
	for i, alg := range algs {
		switch alg {
		case AlgHS256:
			if len(j.hmacKeys) == 0 {
				return nil, fmt.Errorf("%w: source %q: algorithms[%d] HS256 needs secrets", ErrInvalidKey, src.ID, i)
			}
		case AlgES256, AlgEdDSA:
			if j.jwks == nil {
				return nil, fmt.Errorf("%w: source %q: algorithms[%d] %s needs jwks", ErrInvalidKey, src.ID, i, alg)
			}
		default:
			return nil, fmt.Errorf("%w: source %q: algorithms[%d] %q is not one of HS256, ES256, EdDSA", ErrInvalidKey, src.ID, i, alg)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("%w: source %q has neither secrets nor jwks", ErrInvalidKey, src.ID)
	}
	j.algs = algs
	return j, nil
}

func (j *JWT) allows(alg string) bool {
	for _, a := range j.algs {
		if a == alg {
			return true
		}
	}
	return false
}

// jwtClaims are the claims this scheme reads; others are ignored.
type jwtClaims struct {
	Exp    *json.Number `json:"exp"`
	Nbf    *json.Number `json:"nbf"`
	Iat    *json.Number `json:"iat"`
	JTI    *string      `json:"jti"`
	SHA256 *string      `json:"sha256"`
}

// Verify implements Verifier. The token's signature is checked first, then
// its exp/nbf/iat against now ± tolerance (ErrStaleTimestamp), then the
// body hash.
func (j *JWT) Verify(h http.Header, body []byte, now time.Time) (Verified, error) {
	auth := headerValue(h, "Authorization", "authorization")
	if auth == "" {
		return Verified{}, errMissingHeader("Authorization")
	}
	// The JWT may come bare or as a bearer token.
	token, ok := httpauth.Bearer(auth)
	if !ok {
		token = strings.TrimSpace(auth)
		if strings.EqualFold(token, "Bearer") {
			token = "" // the scheme without a token
		}
	}
	if token == "" {
		return Verified{}, errMissingHeader("Authorization")
	}
	if !isCompactJWS(token) {
		return Verified{}, fmt.Errorf("%w: Authorization does not carry a compact JWT", ErrBadSignature)
	}

	kp := &jwtKeyProvider{j: j, now: now}
	payload, err := jws.Verify([]byte(token), jws.WithCompact(), jws.WithKeyProvider(kp))
	if err != nil {
		if kp.err != nil {
			return Verified{}, kp.err
		}
		return Verified{}, fmt.Errorf("%w: token signature does not verify", ErrBadSignature)
	}

	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Verified{}, fmt.Errorf("%w: token claims are not a JSON object of the expected types", ErrBadSignature)
	}
	if c.Exp == nil {
		return Verified{}, fmt.Errorf("%w: claim \"exp\" is required", ErrBadSignature)
	}
	exp, ok := numericDate(*c.Exp)
	if !ok {
		return Verified{}, fmt.Errorf("%w: claim \"exp\" is not a NumericDate", ErrBadSignature)
	}
	if now.After(exp.Add(j.tolerance)) {
		return Verified{}, fmt.Errorf("%w: token expired", ErrStaleTimestamp)
	}
	if c.Nbf != nil {
		nbf, ok := numericDate(*c.Nbf)
		if !ok {
			return Verified{}, fmt.Errorf("%w: claim \"nbf\" is not a NumericDate", ErrBadSignature)
		}
		if nbf.After(now.Add(j.tolerance)) {
			return Verified{}, fmt.Errorf("%w: token not valid yet (nbf)", ErrStaleTimestamp)
		}
	}
	var v Verified
	if c.Iat != nil {
		iat, ok := numericDate(*c.Iat)
		if !ok {
			return Verified{}, fmt.Errorf("%w: claim \"iat\" is not a NumericDate", ErrBadSignature)
		}
		if iat.After(now.Add(j.tolerance)) {
			return Verified{}, fmt.Errorf("%w: token issued in the future (iat)", ErrStaleTimestamp)
		}
		v.Timestamp = iat
	}

	if c.SHA256 == nil {
		return Verified{}, fmt.Errorf("%w: claim \"sha256\" is required", ErrBadSignature)
	}
	sum := sha256.Sum256(body)
	var want [v1Len]byte
	b64.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare([]byte(*c.SHA256), want[:]) != 1 {
		return Verified{}, fmt.Errorf("%w: claim \"sha256\" does not match the body", ErrBadSignature)
	}

	if c.JTI != nil && *c.JTI != "" {
		if err := checkID("jti", *c.JTI); err != nil {
			return Verified{}, err
		}
		v.EventID = *c.JTI
	}
	v.Kind = KindEvent
	return v, nil
}

// isCompactJWS reports whether s has the shape header.payload.signature in
// base64url; JSON serialisation and JWE are not accepted.
func isCompactJWS(s string) bool {
	if len(s) > maxTokenSize {
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(n json.Number) (time.Time, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < -1<<40 || i > 1<<40 {
			return time.Time{}, false
		}
		return time.Unix(i, 0), true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < -(1<<40) || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// jwtKeyProvider chooses the verification keys from the token's protected
// header: the alg must be pinned, HS256 uses the secrets, ES256 and EdDSA
// the JWKS key named by kid. It records why it refused, so that Verify can
// return that error instead of jws's wrapping.
type jwtKeyProvider struct {
	j   *JWT
	now time.Time
	err error
}

func (kp *jwtKeyProvider) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	kp.err = kp.fetch(sink, sig)
	return kp.err
}

func (kp *jwtKeyProvider) fetch(sink jws.KeySink, sig *jws.Signature) error {
	hdr := sig.ProtectedHeaders()
	alg := hdr.Algorithm().String()
	if !kp.j.allows(alg) {
		if len(alg) > 16 {
			alg = alg[:16]
		}
		return fmt.Errorf("%w: alg %q is not allowed for this source", ErrBadSignature, alg)
	}
	// Extensions change what is signed or how; none is supported.
	if len(hdr.Critical()) > 0 {
		return fmt.Errorf("%w: crit header is not supported", ErrBadSignature)
	}
	if _, ok := hdr.Get("b64"); ok {
		return fmt.Errorf("%w: b64 header is not supported", ErrBadSignature)
	}
	if alg == AlgHS256 {
		for _, key := range kp.j.hmacKeys {
			sink.Key(jwa.HS256, key)
		}
		return nil
	}
	kid := hdr.KeyID()
	if kid == "" {
		return fmt.Errorf("%w: kid header is required for %s", ErrBadSignature, alg)
	}
	key, ok := kp.j.jwks.lookup(kid, alg, kp.now)
	if !ok {
		return fmt.Errorf("%w: no %s key with that kid", ErrBadSignature, alg)
	}
	sink.Key(jwa.SignatureAlgorithm(alg), key)
	return nil
}

// keySet is the JWKS of a jwt source, reduced to usable public keys by kid.
// A file is read once at construction; a URL is fetched on first use, again
// when a kid is unknown or the set is older than jwksMaxAge, but never more
// often than once per jwksRefetchInterval. A failed fetch keeps the keys
// already known.
type keySet struct {
	url    string // "" for a file
	client *http.Client

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.Mutex // guards the fields below
	keys      map[string]jwksKey
	fetchedAt time.Time
	attempted time.Time
}

// jwksKey is one verification key: alg is AlgES256 or AlgEdDSA, key is a
// *ecdsa.PublicKey on P-256 or an ed25519.PublicKey.
type jwksKey struct {
	alg string
	key any
}

func newKeySet(location string) (*keySet, error) {
	if strings.HasPrefix(location, "https://") || strings.HasPrefix(location, "http://") {
		// Fetches are rare (at most one a minute), so no connection is kept
		// alive: no idle-connection goroutine outlives a fetch.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		return &keySet{url: location, client: &http.Client{Timeout: jwksFetchTimeout, Transport: tr}}, nil
	}
	data, err := os.ReadFile(location)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read JWKS file: %w", ErrInvalidKey, err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: JWKS file has no ES256 or EdDSA key with a kid", ErrInvalidKey)
	}
	return &keySet{keys: keys}, nil
}

// lookup returns the key for kid usable with alg, fetching the URL when
// the rules above allow.
func (s *keySet) lookup(kid, alg string, now time.Time) (any, bool) {
	s.mu.Lock()
	k, found := s.keys[kid]
	old := s.url != "" && (s.fetchedAt.IsZero() || now.Sub(s.fetchedAt) > jwksMaxAge)
	s.mu.Unlock()
	if (found && !old) || s.url == "" {
		return k.key, found && k.alg == alg
	}

	s.fetchMu.Lock()
	s.mu.Lock()
	since := now.Sub(s.attempted)
	due := s.attempted.IsZero() || since >= jwksRefetchInterval || since < 0
	if due {
		s.attempted = now
	}
	s.mu.Unlock()
	if due {
		if keys, err := s.fetch(); err == nil {
			s.mu.Lock()
			s.keys, s.fetchedAt = keys, now
			s.mu.Unlock()
		}
	}
	s.fetchMu.Unlock()

	s.mu.Lock()
	k, found = s.keys[kid]
	s.mu.Unlock()
	return k.key, found && k.alg == alg
}

func (s *keySet) fetch() (map[string]jwksKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS fetch: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSSize)
	}
	return parseJWKS(data)
}

// parseJWKS keeps the signature keys with a kid that this scheme can use:
// EC P-256 (ES256) and OKP Ed25519 (EdDSA), public parts only. Keys for
// encryption, of other types, or whose alg names another algorithm are
// skipped.
func parseJWKS(data []byte) (map[string]jwksKey, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS does not parse", ErrInvalidKey)
	}
	keys := make(map[string]jwksKey, set.Len())
	for i := 0; i < set.Len(); i++ {
		k, ok := set.Key(i)
		if !ok || k.KeyID() == "" || (k.KeyUsage() != "" && k.KeyUsage() != "sig") {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			continue
		}
		var e jwksKey
		switch pub := raw.(type) {
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				continue
			}
			e = jwksKey{alg: AlgES256, key: pub}
		case ed25519.PublicKey:
			e = jwksKey{alg: AlgEdDSA, key: pub}
		default:
			continue
		}
		if a := k.Algorithm().String(); a != "" && a != e.alg {
			continue
		}
		if _, dup := keys[k.KeyID()]; dup {
			continue // the first key with a kid wins, as in jwk.Set.LookupKeyID
		}
		keys[k.KeyID()] = e
	}
	return keys, nil
}
