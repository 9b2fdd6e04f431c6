package verifier

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Proof of work on claims (claim_pow_bits): the claim page hands the
// viewer's browser a challenge bound to its device and the drop; the
// browser finds a nonce such that SHA-256(challenge ":" nonce) starts
// with that many zero bits and sends both with the claim. One claim then
// costs a browser about 2^bits hashes, nothing to a viewer and a real
// price per device to a scalper with thousands of them.

// PowTTL is how long a proof-of-work challenge may be used after the
// claim page issued it.
const PowTTL = 10 * time.Minute

// MaxPowBits bounds claim_pow_bits: beyond it a phone takes too long.
const MaxPowBits = 24

// PowChallenge returns a challenge for device to claim from drop, needing
// n zero bits: "<issued unix ms>.<n>.<random>.<mac>".
func (v *Viewers) PowChallenge(ctx context.Context, device, drop string, n int) (string, error) {
	mac, err := v.key(ctx)
	if err != nil {
		return "", err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	head := strconv.FormatInt(v.cfg.Now().UnixMilli(), 10) + "." + strconv.Itoa(n) + "." + base64.RawURLEncoding.EncodeToString(b[:])
	sum := mac.sum16("pow", device, drop, head)
	return head + "." + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// CheckPow verifies a proof of work: challenge was issued to device for
// drop within PowTTL, asks at least n bits, and SHA-256(challenge ":"
// nonce) has that many leading zero bits. Errors: ErrProofRequired (none
// sent), ErrBadProof.
func (v *Viewers) CheckPow(ctx context.Context, device, drop, challenge, nonce string, n int) error {
	if challenge == "" && nonce == "" {
		return ErrProofRequired
	}
	if len(challenge) > 128 || len(nonce) == 0 || len(nonce) > 32 {
		return fmt.Errorf("%w: malformed", ErrBadProof)
	}
	mac, err := v.key(ctx)
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(challenge, '.')
	if i < 0 {
		return fmt.Errorf("%w: malformed challenge", ErrBadProof)
	}
	head, sig := challenge[:i], challenge[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !mac.equal16(got, "pow", device, drop, head) {
		return fmt.Errorf("%w: the challenge is for another device or drop", ErrBadProof)
	}
	parts := strings.Split(head, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: malformed challenge", ErrBadProof)
	}
	issued, err1 := strconv.ParseInt(parts[0], 10, 64)
	asked, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%w: malformed challenge", ErrBadProof)
	}
	if age := v.cfg.Now().Sub(time.UnixMilli(issued)); age > PowTTL || age < -time.Minute {
		return fmt.Errorf("%w: the challenge has expired; reload the claim page", ErrBadProof)
	}
	if asked < n {
		return fmt.Errorf("%w: the challenge asks too little work", ErrBadProof)
	}
	if ZeroBits(sha256.Sum256([]byte(challenge+":"+nonce))) < asked {
		return fmt.Errorf("%w: the nonce does not solve the challenge", ErrBadProof)
	}
	return nil
}

// ZeroBits counts the leading zero bits of a hash.
func ZeroBits(h [sha256.Size]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}
