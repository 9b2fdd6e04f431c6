package verifier

import (
	"crypto/rand"
	"strings"
)

// PickupAlphabet is the alphabet of pickup codes: digits and capitals
// without 0/O and 1/I, so a code read aloud or off a screen is never
// ambiguous. It has 32 symbols, so each is 5 unbiased random bits.
const PickupAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// PickupCodeLen is the length of a pickup code: 8 symbols, 40 bits, so
// that guessing a live code at a node is hopeless.
const PickupCodeLen = 8

// NewPickupCode returns a fresh random pickup code from crypto/rand.
func NewPickupCode() string {
	var b [PickupCodeLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("verifier: crypto/rand failed: " + err.Error()) // never on a supported OS
	}
	for i := range b {
		b[i] = PickupAlphabet[b[i]&31]
	}
	return string(b[:])
}

// FormatPickupCode splits a code in two halves for reading aloud:
// "ABCD-EFGH".
func FormatPickupCode(code string) string {
	if len(code) != PickupCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizePickupCode undoes FormatPickupCode and what a person typing the
// code may add: case, spaces, dashes.
func NormalizePickupCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
