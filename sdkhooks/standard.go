package sdkhooks

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
)

const (
	secretPrefix    = "whsec_"
	publicKeyPrefix = "whpk_"

	// DefaultStandardTolerance is the freshness window of a standard
	// source without a configured tolerance.
	DefaultStandardTolerance = 5 * time.Minute

	// maxSignatureEntries bounds the work one request can cause: only the
	// first entries of webhook-signature are considered (rotation needs
	// two or three).
	maxSignatureEntries = 16

	// maxPooledBuffer keeps one huge request from pinning a huge buffer.
	maxPooledBuffer = 64 << 10

	v1Len  = 44 // base64 of a 32-byte HMAC-SHA256
	v1aLen = 88 // base64 of a 64-byte ed25519 signature
)

var (
	b64       = base64.StdEncoding
	b64Strict = base64.StdEncoding.Strict()
)

// Standard verifies the Standard Webhooks scheme: headers webhook-id,
// webhook-timestamp and webhook-signature over id.timestamp.body, with
// "v1,<base64 HMAC-SHA256>" entries for the source's secrets and
// "v1a,<base64 ed25519>" entries for its public keys. Any valid entry wins;
// unknown versions and entries without a comma are skipped.
type Standard struct {
	macs      []*macKey
	pubs      []ed25519.PublicKey
	tolerance time.Duration
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
	s := &Standard{tolerance: tol}
	for i, secret := range src.Secrets {
		key, err := decodeSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("source %q: secrets[%d]: %w", src.ID, i, err)
		}
		s.macs = append(s.macs, newMACKey(key))
	}
	for i, pk := range src.PublicKeys {
		pub, err := decodePublicKey(pk)
		if err != nil {
			return nil, fmt.Errorf("source %q: public_keys[%d]: %w", src.ID, i, err)
		}
		s.pubs = append(s.pubs, pub)
	}
	if len(s.macs) == 0 && len(s.pubs) == 0 {
		return nil, fmt.Errorf("%w: source %q has neither secrets nor public_keys", ErrInvalidKey, src.ID)
	}
	return s, nil
}

// Verify implements Verifier. Header problems come first (missing →
// ErrMissingSignature, a timestamp that is not canonical integer seconds →
// ErrBadSignature), then the signature, then freshness, so that an unsigned
// request learns nothing about the clock.
func (s *Standard) Verify(h http.Header, body []byte, now time.Time) (Verified, error) {
	id := headerValue(h, HeaderWebhookID, "webhook-id")
	ts := headerValue(h, HeaderWebhookTimestamp, "webhook-timestamp")
	sig := headerValue(h, HeaderWebhookSignature, "webhook-signature")
	switch {
	case sig == "":
		return Verified{}, errMissingHeader("webhook-signature")
	case id == "":
		return Verified{}, errMissingHeader("webhook-id")
	case ts == "":
		return Verified{}, errMissingHeader("webhook-timestamp")
	}
	unix, ok := parseUnix(ts)
	if !ok {
		return Verified{}, fmt.Errorf("%w: header \"webhook-timestamp\" must be integer seconds", ErrBadSignature)
	}
	if !s.match(id, ts, body, sig) {
		return Verified{}, fmt.Errorf("%w: no valid signature in \"webhook-signature\"", ErrBadSignature)
	}
	t := time.Unix(unix, 0)
	if !fresh(t, now, s.tolerance) {
		return Verified{}, fmt.Errorf("%w: webhook-timestamp is more than %s from the server clock", ErrStaleTimestamp, s.tolerance)
	}
	if err := checkID("webhook-id", id); err != nil {
		return Verified{}, err
	}
	return Verified{EventID: id, Timestamp: t, Kind: KindEvent}, nil
}

func errMissingHeader(name string) error {
	return fmt.Errorf("%w: header %q is required", ErrMissingSignature, name)
}

// match reports whether any entry of the signature list verifies.
func (s *Standard) match(id, ts string, body []byte, list string) bool {
	for _, k := range s.macs {
		st := k.get()
		st.sign(id, ts, body)
		ok := false
		for n, rest := 0, list; n < maxSignatureEntries; n++ {
			var version, sig string
			version, sig, rest = nextSignature(rest)
			if version == "" && rest == "" {
				break
			}
			// The encoded forms are compared, as the reference libraries
			// do: base64 decoding ignores trailing bits, and a signature
			// must have exactly one accepted spelling.
			if version != "v1" || len(sig) != v1Len {
				continue
			}
			copy(st.cmp[:], sig)
			if hmac.Equal(st.cmp[:], st.enc[:]) {
				ok = true
				break
			}
		}
		k.put(st)
		if ok {
			return true
		}
	}
	if len(s.pubs) == 0 {
		return false
	}
	var msg *[]byte
	defer func() {
		if msg != nil {
			putBuffer(msg)
		}
	}()
	// Sized for any 88-character input: an unpadded one decodes to 66
	// bytes, and base64 panics on a short destination.
	var raw [v1aLen / 4 * 3]byte
	for n, rest := 0, list; n < maxSignatureEntries; n++ {
		var version, sig string
		version, sig, rest = nextSignature(rest)
		if version == "" && rest == "" {
			break
		}
		if version != "v1a" || len(sig) != v1aLen {
			continue
		}
		// Strict decoding: one spelling per signature.
		if n, err := b64Strict.Decode(raw[:], []byte(sig)); err != nil || n != ed25519.SignatureSize {
			continue
		}
		if msg == nil {
			msg = getBuffer()
			*msg = signedContent((*msg)[:0], id, ts, body)
		}
		for _, pub := range s.pubs {
			if ed25519.Verify(pub, *msg, raw[:ed25519.SignatureSize]) {
				return true
			}
		}
	}
	return false
}

// nextSignature returns the next entry of a space-separated signature list
// split at its first comma, and the rest of the list. Empty entries (runs of
// spaces) are skipped; an entry without a comma is returned with an empty
// sig and version "-" so that the caller skips it but keeps counting. At
// the end of the list it returns "", "", "".
func nextSignature(list string) (version, sig, rest string) {
	list = strings.TrimLeft(list, " ")
	if list == "" {
		return "", "", ""
	}
	entry := list
	if i := strings.IndexByte(list, ' '); i >= 0 {
		entry, rest = list[:i], list[i+1:]
	}
	version, sig, ok := strings.Cut(entry, ",")
	if !ok || version == "" {
		return "-", "", rest
	}
	return version, sig, rest
}

// parseUnix parses a canonical decimal count of seconds: digits only, no
// sign, no leading zero (except "0" itself), fitting an int64.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// signedContent appends id.ts.body to dst.
func signedContent(dst []byte, id, ts string, body []byte) []byte {
	dst = append(dst, id...)
	dst = append(dst, '.')
	dst = append(dst, ts...)
	dst = append(dst, '.')
	return append(dst, body...)
}

// decodeSecret decodes a whsec_ secret; without the prefix the whole string
// is base64, as in the Standard Webhooks reference libraries.
func decodeSecret(secret string) ([]byte, error) {
	key, err := b64.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not whsec_<base64>", ErrInvalidKey)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: secret is empty", ErrInvalidKey)
	}
	return key, nil
}

// decodePublicKey decodes a whpk_<base64> ed25519 public key.
func decodePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := b64.DecodeString(strings.TrimPrefix(s, publicKeyPrefix))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is not whpk_<base64 of 32 bytes>", ErrInvalidKey)
	}
	return ed25519.PublicKey(raw), nil
}

// EncodePublicKey returns pub in the whpk_<base64> form public_keys takes.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + b64.EncodeToString(pub)
}

// macKey is one HMAC-SHA256 secret with a pool of keyed states, so that
// the hot path neither re-derives the HMAC pads nor allocates.
type macKey struct {
	pool sync.Pool
}

// macState is a reusable HMAC computation and its scratch buffers.
type macState struct {
	h      hash.Hash
	prefix []byte
	sum    [sha256.Size]byte
	enc    [v1Len]byte
	cmp    [v1Len]byte
	hex    [2 * sha256.Size]byte
	cmpHex [2 * sha256.Size]byte
}

func newMACKey(key []byte) *macKey {
	key = append([]byte(nil), key...)
	m := &macKey{}
	m.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key)}
	}
	return m
}

func (m *macKey) get() *macState { return m.pool.Get().(*macState) }

func (m *macKey) put(st *macState) {
	if cap(st.prefix) > maxPooledBuffer {
		st.prefix = nil
	}
	m.pool.Put(st)
}

// sign computes the v1 signature of id.ts.body into st.sum and st.enc.
func (st *macState) sign(id, ts string, body []byte) {
	st.h.Reset()
	st.prefix = append(st.prefix[:0], id...)
	st.prefix = append(st.prefix, '.')
	st.prefix = append(st.prefix, ts...)
	st.prefix = append(st.prefix, '.')
	st.h.Write(st.prefix)
	st.h.Write(body)
	st.h.Sum(st.sum[:0])
	b64.Encode(st.enc[:], st.sum[:])
}

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	bufferPool.Put(b)
}

// Signer signs outbound webhooks (and test and tool requests) with one
// Standard Webhooks secret. It is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for a whsec_<base64> secret (bare base64 is
// accepted too).
func NewSigner(secret string) (*Signer, error) {
	key, err := decodeSecret(secret)
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
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, s.Sign(id, ts, body))
	return h
}

// SignEd25519 returns the "v1a,<base64>" ed25519 signature of id.ts.body.
func SignEd25519(priv ed25519.PrivateKey, id string, ts time.Time, body []byte) string {
	msg := signedContent(nil, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1a," + b64.EncodeToString(ed25519.Sign(priv, msg))
}
