package stdwebhooks

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
)

// Standard Webhooks header names.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

const (
	secretPrefix    = "whsec_"
	publicKeyPrefix = "whpk_"

	// DefaultTolerance is the freshness window when Keys.Tolerance is 0.
	DefaultTolerance = 5 * time.Minute

	// MaxSignatureEntries bounds the work one request can cause: only the
	// first entries of webhook-signature are considered (rotation needs
	// two or three).
	MaxSignatureEntries = 16

	// maxPooledBuffer keeps one huge request from pinning a huge buffer.
	maxPooledBuffer = 64 << 10

	v1Len  = 44 // base64 of a 32-byte HMAC-SHA256
	v1aLen = 88 // base64 of a 64-byte ed25519 signature

	// maxIDLen bounds webhook-id.
	maxIDLen = 128
)

var (
	b64       = base64.StdEncoding
	b64Strict = base64.StdEncoding.Strict()
)

// Keys are what a Verifier accepts: any valid entry for any of them wins.
type Keys struct {
	// Secrets are whsec_<base64> HMAC secrets (bare base64 is accepted, as
	// in the reference libraries), newest first: rotation.
	Secrets []string
	// PublicKeys are whpk_<base64> ed25519 public keys (v1a).
	PublicKeys []string
	// Tolerance is how far webhook-timestamp may be from now, either way;
	// 0 means DefaultTolerance.
	Tolerance time.Duration
}

// Message is what a successful Verify learned from the signed headers.
type Message struct {
	// ID is webhook-id: the sender's idempotency key.
	ID string
	// Timestamp is webhook-timestamp.
	Timestamp time.Time
}

// Verifier checks Standard Webhooks signatures. Unknown versions and
// entries without a comma are skipped.
type Verifier struct {
	macs      []*macKey
	pubs      []ed25519.PublicKey
	tolerance time.Duration
}

// NewVerifier decodes keys once. Errors wrap ErrInvalidKey and name the
// entry by index, never by value.
func NewVerifier(keys Keys) (*Verifier, error) {
	if keys.Tolerance < 0 {
		return nil, fmt.Errorf("%w: tolerance must not be negative", ErrInvalidKey)
	}
	v := &Verifier{tolerance: keys.Tolerance}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	for i, secret := range keys.Secrets {
		key, err := DecodeSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("secrets[%d]: %w", i, err)
		}
		v.macs = append(v.macs, newMACKey(key))
	}
	for i, pk := range keys.PublicKeys {
		pub, err := decodePublicKey(pk)
		if err != nil {
			return nil, fmt.Errorf("public_keys[%d]: %w", i, err)
		}
		v.pubs = append(v.pubs, pub)
	}
	if len(v.macs) == 0 && len(v.pubs) == 0 {
		return nil, fmt.Errorf("%w: neither secrets nor public_keys", ErrInvalidKey)
	}
	return v, nil
}

// Verify checks the headers h over the raw body, received at now. Header
// problems come first (missing → ErrMissingSignature, a timestamp that is
// not canonical integer seconds → ErrBadSignature), then the signature,
// then freshness, so that an unsigned request learns nothing about the
// clock.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) (Message, error) {
	id := headerValue(h, HeaderID, "webhook-id")
	ts := headerValue(h, HeaderTimestamp, "webhook-timestamp")
	sig := headerValue(h, HeaderSignature, "webhook-signature")
	switch {
	case sig == "":
		return Message{}, errMissingHeader("webhook-signature")
	case id == "":
		return Message{}, errMissingHeader("webhook-id")
	case ts == "":
		return Message{}, errMissingHeader("webhook-timestamp")
	}
	unix, ok := parseUnix(ts)
	if !ok {
		return Message{}, fmt.Errorf("%w: header \"webhook-timestamp\" must be integer seconds", ErrBadSignature)
	}
	if !v.match(id, ts, body, sig) {
		return Message{}, fmt.Errorf("%w: no valid signature in \"webhook-signature\"", ErrBadSignature)
	}
	t := time.Unix(unix, 0)
	if d := now.Sub(t); d > v.tolerance || d < -v.tolerance {
		return Message{}, fmt.Errorf("%w: webhook-timestamp is more than %s from the server clock", ErrStaleTimestamp, v.tolerance)
	}
	if err := checkID(id); err != nil {
		return Message{}, err
	}
	return Message{ID: id, Timestamp: t}, nil
}

func errMissingHeader(name string) error {
	return fmt.Errorf("%w: header %q is required", ErrMissingSignature, name)
}

// checkID reports whether id is usable: 1 to 128 bytes of printable
// ASCII without spaces.
func checkID(id string) error {
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: field %q is longer than %d bytes", ErrMalformedEvent, "webhook-id", maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: field %q must be printable ASCII without spaces", ErrMalformedEvent, "webhook-id")
		}
	}
	return nil
}

// headerValue returns the first value of a header given its canonical and
// lower-case names. Looking the map up directly avoids the allocation of
// http.Header.Get canonicalising a non-standard name on every request;
// the lower-case fallback serves headers built as map literals.
func headerValue(h http.Header, canonical, lower string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	if v := h[lower]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// match reports whether any entry of the signature list verifies.
func (v *Verifier) match(id, ts string, body []byte, list string) bool {
	for _, k := range v.macs {
		st := k.get()
		st.sign(id, ts, body)
		ok := false
		for n, rest := 0, list; n < MaxSignatureEntries; n++ {
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
	if len(v.pubs) == 0 {
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
	for n, rest := 0, list; n < MaxSignatureEntries; n++ {
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
		for _, pub := range v.pubs {
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

// DecodeSecret decodes a whsec_<base64> secret into its key bytes; without
// the prefix the whole string is base64, as in the Standard Webhooks
// reference libraries. Errors wrap ErrInvalidKey.
func DecodeSecret(secret string) ([]byte, error) {
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

// EncodePublicKey returns pub in the whpk_<base64> form Keys.PublicKeys
// takes.
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
