package stdwebhooks

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"
)

func TestDecodeSigningKey(t *testing.T) {
	signing, public := NewKeyPair()
	priv, err := DecodeSigningKey(signing)
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodePublicKey(priv.Public().(ed25519.PublicKey)); got != public {
		t.Fatalf("public half %s, keygen printed %s", got, public)
	}
	seedOnly := signingKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed())
	if k, err := DecodeSigningKey(seedOnly); err != nil || !k.Equal(priv) {
		t.Errorf("the seed alone: %v, same key %v", err, k.Equal(priv))
	}

	other, _ := NewKeyPair()
	otherKey, _ := DecodeSigningKey(other)
	mixed := append(append([]byte{}, priv.Seed()...), otherKey.Public().(ed25519.PublicKey)...)
	for name, s := range map[string]string{
		"no prefix":           base64.StdEncoding.EncodeToString(priv),
		"a public key":        public,
		"not base64":          signingKeyPrefix + "!!!",
		"wrong length":        signingKeyPrefix + base64.StdEncoding.EncodeToString(priv[:40]),
		"halves of two pairs": signingKeyPrefix + base64.StdEncoding.EncodeToString(mixed),
	} {
		if _, err := DecodeSigningKey(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: err = %v, want ErrInvalidKey", name, err)
		}
	}
}

func TestNewSecretIsUsable(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatal("two secrets are the same")
	}
	key, err := DecodeSecret(a)
	if err != nil || len(key) != SecretSize {
		t.Fatalf("secret decodes to %d bytes (%v), want %d", len(key), err, SecretSize)
	}
	if _, err := NewSigner(a); err != nil {
		t.Fatal(err)
	}
}
