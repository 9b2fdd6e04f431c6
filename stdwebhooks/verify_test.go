package stdwebhooks

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Reference vectors of the Standard Webhooks libraries
// (github.com/standard-webhooks/standard-webhooks, libraries/):
//   - secret, msg id, timestamp, payload and expected v1 signature: the
//     "sign function" tests of go/webhook_test.go (TestWebhookSign),
//     go/webhook_symmetric_test.go (TestSymmetricWebhookSign),
//     javascript/src/webhook.test.ts and python/tests/test_webhooks.py;
//   - the ed25519 seed and expected v1a signature of the same message:
//     go/webhook_asymmetric_test.go (TestAsymmetricWebhookSign), where the
//     private key is a base64 32-byte seed (ed25519.NewKeyFromSeed);
//   - refWrongSig (last character changed): python test_invalid_signature;
//   - refOtherSig: the invalid entries of the multi-signature tests in the
//     go, javascript and python suites;
//   - refJunkSig: javascript "invalid signature throws error".
const (
	refSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refBareSecret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	refMsgID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	refTS         = 1614265330
	refPayload    = `{"test": 2432232314}`
	refSig        = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	refWrongSig   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
	refOtherSig   = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	refJunkSig    = "v1,dawfeoifkpqwoekfpqoekf"
	refEdSeed     = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	refEdSig      = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
	// otherSecret is a second, unrelated secret for rotation tests.
	otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
)

var refTime = time.Unix(refTS, 0)

func refEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := b64.DecodeString(refEdSeed)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func stdHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != "" {
		h.Set("webhook-timestamp", ts)
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

// signRaw signs id.ts.body over the exact timestamp text, so that a
// rejection of an odd timestamp is shown to be about its format.
func signRaw(t testing.TB, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(signedContent(nil, id, ts, body))
	return "v1," + b64.EncodeToString(mac.Sum(nil))
}

func newVerifierT(t testing.TB, keys Keys) *Verifier {
	t.Helper()
	v, err := NewVerifier(keys)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestSignerReferenceVectors(t *testing.T) {
	for _, secret := range []string{refSecret, refBareSecret} {
		s, err := NewSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sign(refMsgID, refTime, []byte(refPayload)); got != refSig {
			t.Errorf("Sign with %.6s…: got %s, want %s", secret, got, refSig)
		}
		h := s.Headers(refMsgID, refTime, []byte(refPayload))
		if h.Get("webhook-id") != refMsgID || h.Get("webhook-timestamp") != strconv.Itoa(refTS) || h.Get("webhook-signature") != refSig {
			t.Errorf("Headers = %v", h)
		}
	}
	if got := SignEd25519(refEdKey(t), refMsgID, refTime, []byte(refPayload)); got != refEdSig {
		t.Errorf("SignEd25519: got %s, want %s", got, refEdSig)
	}
	for _, bad := range []string{"", "whsec_", "whsec_not base64!", "%%%"} {
		if _, err := NewSigner(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewSigner(%q) err = %v, want ErrInvalidKey", bad, err)
		}
	}
}

func TestVerify(t *testing.T) {
	body := []byte(refPayload)
	ts := strconv.Itoa(refTS)
	edPub := EncodePublicKey(refEdKey(t).Public().(ed25519.PublicKey))
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	otherPub := EncodePublicKey(otherPriv.Public().(ed25519.PublicKey))

	hmacOnly := Keys{Secrets: []string{refSecret}}
	tol := DefaultTolerance

	tests := []struct {
		name string
		src  Keys
		h    http.Header
		body []byte
		now  time.Time
		want error // nil: accepted
	}{
		{name: "reference vector", h: stdHeader(refMsgID, ts, refSig)},
		{name: "secret without whsec_ prefix", src: Keys{Secrets: []string{refBareSecret}}, h: stdHeader(refMsgID, ts, refSig)},
		{name: "lower-case header map", h: http.Header{"webhook-id": {refMsgID}, "webhook-timestamp": {ts}, "webhook-signature": {refSig}}},
		{name: "wrong signature", h: stdHeader(refMsgID, ts, refWrongSig), want: ErrBadSignature},
		{name: "other signature", h: stdHeader(refMsgID, ts, refOtherSig), want: ErrBadSignature},
		{name: "junk signature", h: stdHeader(refMsgID, ts, refJunkSig), want: ErrBadSignature},
		{name: "bare v1,", h: stdHeader(refMsgID, ts, "v1,"), want: ErrBadSignature},
		{name: "truncated to 8 chars", h: stdHeader(refMsgID, ts, refSig[:8]), want: ErrBadSignature},
		{name: "truncated by one char", h: stdHeader(refMsgID, ts, refSig[:len(refSig)-1]), want: ErrBadSignature},
		{name: "signature without padding", h: stdHeader(refMsgID, ts, strings.TrimRight(refSig, "=")), want: ErrBadSignature},
		{name: "signature with extra byte", h: stdHeader(refMsgID, ts, refSig+"A"), want: ErrBadSignature},
		{name: "other spelling of same bytes", h: stdHeader(refMsgID, ts, refSig[:len(refSig)-2]+"F="), want: ErrBadSignature},
		{name: "missing webhook-id", h: stdHeader("", ts, refSig), want: ErrMissingSignature},
		{name: "missing webhook-timestamp", h: stdHeader(refMsgID, "", refSig), want: ErrMissingSignature},
		{name: "missing webhook-signature", h: stdHeader(refMsgID, ts, ""), want: ErrMissingSignature},
		{name: "no headers", h: http.Header{}, want: ErrMissingSignature},
		{name: "tampered body", h: stdHeader(refMsgID, ts, refSig), body: []byte(`{"test": 2432232315}`), want: ErrBadSignature},
		{name: "empty body", h: stdHeader(refMsgID, ts, refSig), body: []byte{}, want: ErrBadSignature},
		{name: "tampered id", h: stdHeader(refMsgID+"x", ts, refSig), want: ErrBadSignature},
		{name: "only unknown versions", h: stdHeader(refMsgID, ts, "v2,"+refSig[3:]+" v0,"+refSig[3:]), want: ErrBadSignature},
		{name: "version without comma", h: stdHeader(refMsgID, ts, "v1"+refSig[3:]), want: ErrBadSignature},
		{name: "entry without comma skipped", h: stdHeader(refMsgID, ts, "garbage "+refSig)},
		{name: "reference multi-signature list", h: stdHeader(refMsgID, ts, strings.Join([]string{refOtherSig, "v2," + refOtherSig[3:], refSig, refOtherSig}, " "))},
		{name: "extra spaces in list", h: stdHeader(refMsgID, ts, "  "+refOtherSig+"   "+refSig+"  ")},
		{name: "v1 and v1a swapped version", h: stdHeader(refMsgID, ts, "v1a,"+refSig[3:]), want: ErrBadSignature},
		{name: "valid entry past the 16-entry limit", h: stdHeader(refMsgID, ts, strings.Repeat(refOtherSig+" ", 16)+refSig), want: ErrBadSignature},
		{name: "valid entry at the limit", h: stdHeader(refMsgID, ts, strings.Repeat(refOtherSig+" ", 15)+refSig)},
		{name: "rotated secret: second matches", src: Keys{Secrets: []string{otherSecret, refSecret}}, h: stdHeader(refMsgID, ts, refSig)},
		{name: "rotated secret: none matches", src: Keys{Secrets: []string{otherSecret}}, h: stdHeader(refMsgID, ts, refSig), want: ErrBadSignature},
		{name: "v1a valid", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refEdSig)},
		{name: "v1a key without prefix", src: Keys{PublicKeys: []string{strings.TrimPrefix(edPub, "whpk_")}}, h: stdHeader(refMsgID, ts, refEdSig)},
		{name: "v1a rotated key", src: Keys{PublicKeys: []string{otherPub, edPub}}, h: stdHeader(refMsgID, ts, refEdSig)},
		{name: "v1a wrong key", src: Keys{PublicKeys: []string{otherPub}}, h: stdHeader(refMsgID, ts, refEdSig), want: ErrBadSignature},
		{name: "v1a invalid (reference)", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, "v1a,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="), want: ErrBadSignature},
		{name: "v1a partial (reference)", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, "v1a,"), want: ErrBadSignature},
		{name: "v1a tampered body", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refEdSig), body: []byte(`{"test": 1}`), want: ErrBadSignature},
		{name: "v1a flipped signature bit", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refEdSig[:10]+"R"+refEdSig[11:]), want: ErrBadSignature},
		{name: "v1a of 88 chars without padding (found by fuzzing: base64 panicked on a short buffer)", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, "v1a,"+strings.Repeat("A", 88)), want: ErrBadSignature},
		{name: "v1a without key configured", h: stdHeader(refMsgID, ts, refEdSig), want: ErrBadSignature},
		{name: "v1 with only a public key", src: Keys{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refSig), want: ErrBadSignature},
		{name: "v1 invalid, v1a valid", src: Keys{Secrets: []string{refSecret}, PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refWrongSig+" "+refEdSig)},
		{name: "id with a space", h: stdHeader("msg 1", ts, signRaw(t, refSecret, "msg 1", ts, body)), want: ErrMalformedEvent},
		{name: "id too long", h: stdHeader(strings.Repeat("a", 129), ts, signRaw(t, refSecret, strings.Repeat("a", 129), ts, body)), want: ErrMalformedEvent},

		// Freshness, in both directions, at the default and a configured tolerance.
		{name: "now = ts + tolerance + 1s", h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(tol + time.Second), want: ErrStaleTimestamp},
		{name: "now = ts - tolerance - 1s", h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(-tol - time.Second), want: ErrStaleTimestamp},
		{name: "now = ts + tolerance - 1s", h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(tol - time.Second)},
		{name: "now = ts - tolerance + 1s", h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(-tol + time.Second)},
		{name: "now = ts + tolerance", h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(tol)},
		{name: "configured 30s: +31s", src: Keys{Secrets: []string{refSecret}, Tolerance: 30 * time.Second}, h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(31 * time.Second), want: ErrStaleTimestamp},
		{name: "configured 30s: -31s", src: Keys{Secrets: []string{refSecret}, Tolerance: 30 * time.Second}, h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(-31 * time.Second), want: ErrStaleTimestamp},
		{name: "configured 30s: +29s", src: Keys{Secrets: []string{refSecret}, Tolerance: 30 * time.Second}, h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(29 * time.Second)},
		{name: "stale and wrong signature is a bad signature", h: stdHeader(refMsgID, ts, refWrongSig), now: refTime.Add(time.Hour), want: ErrBadSignature},
	}
	// Non-canonical timestamps, each signed over its exact text.
	for _, odd := range []string{"1614265330.0", "+1614265330", "-1614265330", "01614265330", " 1614265330", "1614265330 ", "1e9", "0x5f", "1_614_265_330", "99999999999999999999", "hello", "１６１４２６５３３０"} {
		tests = append(tests, struct {
			name string
			src  Keys
			h    http.Header
			body []byte
			now  time.Time
			want error
		}{name: "timestamp " + strconv.Quote(odd), h: http.Header{"Webhook-Id": {refMsgID}, "Webhook-Timestamp": {odd}, "Webhook-Signature": {signRaw(t, refSecret, refMsgID, odd, body)}}, want: ErrBadSignature})
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if src.Secrets == nil && src.PublicKeys == nil {
				src.Secrets = hmacOnly.Secrets
			}
			v := newVerifierT(t, src)
			b := tc.body
			if b == nil {
				b = body
			}
			now := tc.now
			if now.IsZero() {
				now = refTime // known-answer tests set freshness aside
			}
			got, err := v.Verify(tc.h, b, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.ID != headerValue(tc.h, HeaderID, "webhook-id") || !got.Timestamp.Equal(refTime) {
					t.Errorf("Message = %+v", got)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got != (Message{}) {
				t.Errorf("rejected Verify returned %+v", got)
			}
		})
	}
}

func TestVerifyTimestampZero(t *testing.T) {
	v := newVerifierT(t, Keys{Secrets: []string{refSecret}})
	body := []byte(refPayload)
	h := stdHeader(refMsgID, "0", signRaw(t, refSecret, refMsgID, "0", body))
	if _, err := v.Verify(h, body, time.Unix(0, 0)); err != nil {
		t.Fatalf(`timestamp "0": %v`, err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	tests := []struct {
		name string
		src  Keys
	}{
		{"no keys", Keys{}},
		{"secret not base64", Keys{Secrets: []string{"whsec_!!!"}}},
		{"empty secret", Keys{Secrets: []string{"whsec_"}}},
		{"public key not base64", Keys{PublicKeys: []string{"whpk_!!!"}}},
		{"public key wrong length", Keys{PublicKeys: []string{"whpk_" + b64.EncodeToString([]byte("short"))}}},
		{"negative tolerance", Keys{Secrets: []string{refSecret}, Tolerance: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.src)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
			for _, s := range tc.src.Secrets {
				if len(s) > 6 && strings.Contains(err.Error(), s[6:]) {
					t.Errorf("error %q contains the secret", err)
				}
			}
		})
	}
}

func TestNextSignature(t *testing.T) {
	var got []string
	for rest := "  v1,a  b v2,c,d v1, ,x "; ; {
		var version, sig string
		version, sig, rest = nextSignature(rest)
		if version == "" && rest == "" {
			break
		}
		got = append(got, version+"|"+sig)
	}
	want := []string{"v1|a", "-|", "v2|c,d", "v1|", "-|"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}
