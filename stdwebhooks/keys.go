package stdwebhooks

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
)

// signingKeyPrefix marks an ed25519 private key, the half of a whpk_ key
// that only the sender holds.
const signingKeyPrefix = "whsk_"

// SecretSize is the number of random bytes in a secret NewSecret makes:
// 256 bits, the HMAC-SHA256 key size.
const SecretSize = 32

// NewSecret returns a fresh whsec_<base64> secret of SecretSize random
// bytes, for the sender and the receiver to share.
func NewSecret() string {
	b := make([]byte, SecretSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return secretPrefix + b64.EncodeToString(b)
}

// NewKeyPair returns a fresh ed25519 key pair for v1a signatures: the
// whsk_ signing key for the sender, the whpk_ public key for the
// receiver's configuration.
func NewKeyPair() (signingKey, publicKey string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err) // crypto/rand never fails (Go 1.24+)
	}
	return EncodeSigningKey(priv), EncodePublicKey(pub)
}

// EncodeSigningKey returns priv in the whsk_<base64> form: the 64 bytes of
// seed and public key, as libsodium and Go keep an ed25519 private key.
func EncodeSigningKey(priv ed25519.PrivateKey) string {
	return signingKeyPrefix + b64.EncodeToString(priv)
}

// DecodeSigningKey decodes a whsk_<base64> ed25519 private key of 64 bytes
// (seed and public key) or 32 (the seed alone). Errors wrap ErrInvalidKey.
func DecodeSigningKey(s string) (ed25519.PrivateKey, error) {
	if !strings.HasPrefix(s, signingKeyPrefix) {
		return nil, fmt.Errorf("%w: signing key is not whsk_<base64>", ErrInvalidKey)
	}
	raw, err := b64.DecodeString(s[len(signingKeyPrefix):])
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: signing key is not whsk_<base64>", ErrInvalidKey)
	case len(raw) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case len(raw) == ed25519.PrivateKeySize:
		priv := ed25519.PrivateKey(raw)
		// The second half must be the seed's own public key, or the
		// signatures would not verify against the whpk_ key given out.
		if !ed25519.NewKeyFromSeed(priv.Seed()).Equal(priv) {
			return nil, fmt.Errorf("%w: signing key's public half does not match its seed", ErrInvalidKey)
		}
		return priv, nil
	default:
		return nil, fmt.Errorf("%w: signing key is %d bytes, want %d or %d", ErrInvalidKey, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}
