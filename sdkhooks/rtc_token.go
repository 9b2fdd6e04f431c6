package sdkhooks

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/httpauth"
)

// TokenLeeway is the clock skew allowed on a data-channel token's exp and
// nbf. It is deliberately shorter than a webhook's tolerance: a token is
// reused for the whole session, not for one request.
const TokenLeeway = 30 * time.Second

// MintToken returns a data-channel bearer token for src: a compact JWT,
// HS256 with the source's newest secret (a whsec_ secret is base64-decoded,
// as the jwt scheme keys HS256), with sub = the source id, iat = now and
// exp = now + ttl. It fails with ErrNoTokenKey for a source without
// secrets: one that signs with a private key mints its own tokens.
func MintToken(src config.Source, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("sdkhooks: token ttl must be positive")
	}
	if len(src.Secrets) == 0 {
		return "", fmt.Errorf("%w: source %q", ErrNoTokenKey, src.ID)
	}
	key, err := hmacKey(src.ID, 0, src.Secrets[0])
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"sub": src.ID, "iat": now.Unix(), "exp": now.Add(ttl).Unix()})
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "JWT")
	tok, err := jws.Sign(claims, jws.WithKey(jwa.HS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sdkhooks: sign token: %w", err)
	}
	return string(tok), nil
}

// hmacKey is the HS256 key of a secret, exactly as NewJWT derives it.
func hmacKey(source string, i int, secret string) ([]byte, error) {
	key := []byte(secret)
	if strings.HasPrefix(secret, secretPrefix) {
		var err error
		if key, err = decodeSecret(secret); err != nil {
			return nil, fmt.Errorf("source %q: secrets[%d]: %w", source, i, err)
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: source %q: secrets[%d] is empty", ErrInvalidKey, source, i)
	}
	return key, nil
}

// tokenVerifier checks the bearer tokens of one source. It reuses the jwt
// scheme's key selection (jwtKeyProvider): HS256 with every secret of the
// source, and, for a jwt source, ES256/EdDSA with its JWKS by kid, with the
// source's pinned algorithms.
type tokenVerifier struct {
	source string
	keys   *JWT
}

func newTokenVerifier(src config.Source) (*tokenVerifier, error) {
	if src.Scheme == config.SchemeJWT {
		j, err := NewJWT(src)
		if err != nil {
			return nil, err
		}
		return &tokenVerifier{source: src.ID, keys: j}, nil
	}
	j := &JWT{algs: []string{AlgHS256}}
	for i, s := range src.Secrets {
		key, err := hmacKey(src.ID, i, s)
		if err != nil {
			return nil, err
		}
		j.hmacKeys = append(j.hmacKeys, key)
	}
	if len(j.hmacKeys) == 0 {
		return nil, fmt.Errorf("%w: source %q has webrtc enabled but no secret to verify tokens with", ErrInvalidKey, src.ID)
	}
	return &tokenVerifier{source: src.ID, keys: j}, nil
}

// tokenClaims are the claims a data-channel token must carry.
type tokenClaims struct {
	Sub *string      `json:"sub"`
	Exp *json.Number `json:"exp"`
	Nbf *json.Number `json:"nbf"`
}

// verify checks an Authorization header value and returns the token's
// expiry. The signature is checked before any claim is read.
func (v *tokenVerifier) verify(authorization string, now time.Time) (time.Time, error) {
	tok, ok := bearerToken(authorization)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: Authorization must be \"Bearer <token>\"", ErrMissingToken)
	}
	if !isCompactJWS(tok) {
		return time.Time{}, fmt.Errorf("%w: not a compact JWT", ErrBadToken)
	}
	kp := &jwtKeyProvider{j: v.keys, now: now}
	payload, err := jws.Verify([]byte(tok), jws.WithCompact(), jws.WithKeyProvider(kp))
	if err != nil {
		if kp.err != nil {
			// The key provider's reason (alg not allowed, unknown kid),
			// re-wrapped as a token error.
			return time.Time{}, fmt.Errorf("%w: %s", ErrBadToken, strings.TrimPrefix(kp.err.Error(), ErrBadSignature.Error()+": "))
		}
		return time.Time{}, fmt.Errorf("%w: signature does not verify", ErrBadToken)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return time.Time{}, fmt.Errorf("%w: claims are not a JSON object of the expected types", ErrBadToken)
	}
	if c.Sub == nil || *c.Sub != v.source {
		return time.Time{}, fmt.Errorf("%w: claim \"sub\" must be the source id", ErrBadToken)
	}
	if c.Exp == nil {
		return time.Time{}, fmt.Errorf("%w: claim \"exp\" is required", ErrBadToken)
	}
	exp, ok := numericDate(*c.Exp)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: claim \"exp\" is not a NumericDate", ErrBadToken)
	}
	if !now.Before(exp.Add(TokenLeeway)) {
		return time.Time{}, fmt.Errorf("%w: token expired", ErrExpiredToken)
	}
	if c.Nbf != nil {
		nbf, ok := numericDate(*c.Nbf)
		if !ok {
			return time.Time{}, fmt.Errorf("%w: claim \"nbf\" is not a NumericDate", ErrBadToken)
		}
		if nbf.After(now.Add(TokenLeeway)) {
			return time.Time{}, fmt.Errorf("%w: token not valid yet (nbf)", ErrExpiredToken)
		}
	}
	return exp, nil
}

// bearerToken extracts the token of "Bearer <token>".
func bearerToken(h string) (string, bool) { return httpauth.Bearer(h) }
