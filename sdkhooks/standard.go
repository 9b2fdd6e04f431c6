package sdkhooks

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = stdwebhooks.HeaderID
	HeaderWebhookTimestamp = stdwebhooks.HeaderTimestamp
	HeaderWebhookSignature = stdwebhooks.HeaderSignature
)

const (
	secretPrefix = "whsec_"

	// DefaultStandardTolerance is the freshness window of a standard
	// source without a configured tolerance.
	DefaultStandardTolerance = stdwebhooks.DefaultTolerance

	v1Len = 44 // base64 of a 32-byte HMAC-SHA256
)

var b64 = base64.StdEncoding

// Standard verifies the Standard Webhooks scheme of a source: it is
// stdwebhooks.Verifier seen as a Verifier of this package. Headers
// webhook-id, webhook-timestamp and webhook-signature over
// id.timestamp.body, with "v1,<base64 HMAC-SHA256>" entries for the
// source's secrets and "v1a,<base64 ed25519>" entries for its public keys.
// Any valid entry wins; unknown versions and entries without a comma are
// skipped.
type Standard struct {
	v *stdwebhooks.Verifier
}

var _ Verifier = (*Standard)(nil)

// NewStandard builds a Standard verifier from src.Secrets (whsec_<base64>,
// or bare base64 as the reference libraries accept), src.PublicKeys
// (whpk_<base64> ed25519) and src.Tolerance (default 5 min). Keys are
// decoded once here.
func NewStandard(src config.Source) (*Standard, error) {
	tol, err := tolerance(src, DefaultStandardTolerance)
	if err != nil {
		return nil, err
	}
	v, err := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: src.Secrets, PublicKeys: src.PublicKeys, Tolerance: tol})
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", src.ID, err)
	}
	return &Standard{v: v}, nil
}

// Verify implements Verifier (see stdwebhooks.Verifier.Verify).
func (s *Standard) Verify(h http.Header, body []byte, now time.Time) (Verified, error) {
	m, err := s.v.Verify(h, body, now)
	if err != nil {
		return Verified{}, err
	}
	return Verified{EventID: m.ID, Timestamp: m.Timestamp, Kind: KindEvent}, nil
}

// Signer signs Standard Webhooks, as a vendor signs capture events (see
// stdwebhooks.Signer).
type Signer = stdwebhooks.Signer

// NewSigner returns a Signer for a whsec_<base64> secret (bare base64 is
// accepted too).
func NewSigner(secret string) (*Signer, error) { return stdwebhooks.NewSigner(secret) }

// SignEd25519 returns the "v1a,<base64>" ed25519 signature of id.ts.body.
func SignEd25519(priv ed25519.PrivateKey, id string, ts time.Time, body []byte) string {
	return stdwebhooks.SignEd25519(priv, id, ts, body)
}

// EncodePublicKey returns pub in the whpk_<base64> form public_keys takes.
func EncodePublicKey(pub ed25519.PublicKey) string { return stdwebhooks.EncodePublicKey(pub) }

// decodeSecret decodes a whsec_ secret; without the prefix the whole string
// is base64, as in the Standard Webhooks reference libraries.
func decodeSecret(secret string) ([]byte, error) { return stdwebhooks.DecodeSecret(secret) }
