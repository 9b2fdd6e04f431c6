package stdwebhooks

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strconv"
	"time"
)

// Signer signs webhooks with one Standard Webhooks secret. It is safe for
// concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for a whsec_<base64> secret (bare base64 is
// accepted too). Errors wrap ErrInvalidKey.
func NewSigner(secret string) (*Signer, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// Sign returns the "v1,<base64>" signature of id.ts.body, ts in whole
// seconds.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(signedContent(nil, id, strconv.FormatInt(ts.Unix(), 10), body))
	return "v1," + b64.EncodeToString(mac.Sum(nil))
}

// Headers returns the three Standard Webhooks headers for body.
func (s *Signer) Headers(id string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
	return h
}

// SignEd25519 returns the "v1a,<base64>" ed25519 signature of id.ts.body.
func SignEd25519(priv ed25519.PrivateKey, id string, ts time.Time, body []byte) string {
	msg := signedContent(nil, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1a," + b64.EncodeToString(ed25519.Sign(priv, msg))
}
