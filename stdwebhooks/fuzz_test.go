package stdwebhooks

import (
	"crypto/ed25519"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// wireCode reports whether err is one of the refusals Verify documents:
// Verify never returns anything else.
func wireCode(err error) bool {
	for _, s := range []error{ErrMissingSignature, ErrBadSignature, ErrStaleTimestamp, ErrMalformedEvent} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// firstEntries returns the first MaxSignatureEntries space-separated
// entries of a signature list, as the verifier considers them.
func firstEntries(list string) []string {
	var out []string
	for _, e := range strings.Split(list, " ") {
		if e == "" {
			continue
		}
		out = append(out, e)
	}
	if len(out) > MaxSignatureEntries {
		out = out[:MaxSignatureEntries]
	}
	return out
}

func FuzzSignatureHeader(f *testing.F) {
	for _, s := range []string{
		refSig, refEdSig, refWrongSig, "v1,", "v1a,", "", " ", ",", ",,,", "v1", "v1,a,b",
		strings.Join([]string{refOtherSig, "v2," + refOtherSig[3:], refSig, refOtherSig}, " "),
		"  " + refSig + "  ", strings.Repeat(refOtherSig+" ", 16) + refSig,
	} {
		f.Add(s)
	}
	body := []byte(refPayload)
	ts := strconv.Itoa(refTS)
	v := newVerifierT(f, Keys{Secrets: []string{refSecret}, PublicKeys: []string{EncodePublicKey(refEdKey(f).Public().(ed25519.PublicKey))}})

	f.Fuzz(func(t *testing.T, list string) {
		n := 0
		for rest := list; ; n++ {
			if n > len(list)+1 {
				t.Fatalf("nextSignature does not terminate on %q", list)
			}
			before := len(rest)
			var version, sig string
			version, sig, rest = nextSignature(rest)
			if version == "" && rest == "" {
				break
			}
			if len(rest) >= before {
				t.Fatalf("nextSignature made no progress on %q", list)
			}
			if strings.ContainsAny(version, " ,") || strings.Contains(sig, " ") || version == "" {
				t.Fatalf("entry %q / %q of %q", version, sig, list)
			}
		}

		_, err := v.Verify(stdHeader(refMsgID, ts, list), body, refTime)
		entries := firstEntries(list)
		valid := false
		for _, e := range entries {
			if e == refSig || e == refEdSig {
				valid = true
			}
		}
		if (err == nil) != valid {
			t.Fatalf("Verify(%q) = %v; a valid entry among the first %d: %v", list, err, MaxSignatureEntries, valid)
		}
		if err != nil && !wireCode(err) {
			t.Fatalf("error without a wire code: %v", err)
		}
	})
}
