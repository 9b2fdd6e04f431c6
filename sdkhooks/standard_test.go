package sdkhooks

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

	"github.com/dropwire/dropwire/internal/config"
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
	key, err := decodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	return "v1," + b64.EncodeToString(mac.Sum(nil))
}

func newStandardT(t testing.TB, src config.Source) *Standard {
	t.Helper()
	s, err := NewStandard(src)
	if err != nil {
		t.Fatalf("NewStandard: %v", err)
	}
	return s
}

func TestStandardTimestampZero(t *testing.T) {
	v := newStandardT(t, config.Source{Secrets: []string{refSecret}})
	body := []byte(refPayload)
	h := stdHeader(refMsgID, "0", signRaw(t, refSecret, refMsgID, "0", body))
	if _, err := v.Verify(h, body, time.Unix(0, 0)); err != nil {
		t.Fatalf(`timestamp "0": %v`, err)
	}
}

func TestNewStandardErrors(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
	}{
		{"no keys", config.Source{}},
		{"secret not base64", config.Source{Secrets: []string{"whsec_!!!"}}},
		{"empty secret", config.Source{Secrets: []string{"whsec_"}}},
		{"public key not base64", config.Source{PublicKeys: []string{"whpk_!!!"}}},
		{"public key wrong length", config.Source{PublicKeys: []string{"whpk_" + b64.EncodeToString([]byte("short"))}}},
		{"negative tolerance", config.Source{Secrets: []string{refSecret}, Tolerance: config.Duration(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewStandard(tc.src)
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

// TestStandardVerify checks what the source adds to stdwebhooks.Verifier
// (whose own tests hold the reference vectors and every refusal): the
// source's keys and tolerance, the Verified of an event, and the problem
// code of each refusal.
func TestStandardVerify(t *testing.T) {
	body := []byte(refPayload)
	ts := strconv.Itoa(refTS)
	edPub := EncodePublicKey(refEdKey(t).Public().(ed25519.PublicKey))
	tests := []struct {
		name string
		src  config.Source
		h    http.Header
		now  time.Time
		want string // problem code; "" accepted
	}{
		{name: "reference vector", src: config.Source{Secrets: []string{refSecret}}, h: stdHeader(refMsgID, ts, refSig), now: refTime},
		{name: "rotated secret", src: config.Source{Secrets: []string{otherSecret, refSecret}}, h: stdHeader(refMsgID, ts, refSig), now: refTime},
		{name: "v1a public key", src: config.Source{PublicKeys: []string{edPub}}, h: stdHeader(refMsgID, ts, refEdSig), now: refTime},
		{name: "wrong signature", src: config.Source{Secrets: []string{refSecret}}, h: stdHeader(refMsgID, ts, refWrongSig), now: refTime, want: CodeBadSignature},
		{name: "missing header", src: config.Source{Secrets: []string{refSecret}}, h: stdHeader(refMsgID, "", refSig), now: refTime, want: CodeMissingSignature},
		{name: "default tolerance", src: config.Source{Secrets: []string{refSecret}}, h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(DefaultStandardTolerance + time.Second), want: CodeStaleTimestamp},
		{name: "configured tolerance", src: config.Source{Secrets: []string{refSecret}, Tolerance: config.Duration(30 * time.Second)}, h: stdHeader(refMsgID, ts, refSig), now: refTime.Add(31 * time.Second), want: CodeStaleTimestamp},
		{name: "id with a space", src: config.Source{Secrets: []string{refSecret}}, h: stdHeader("msg 1", ts, signRaw(t, refSecret, "msg 1", ts, body)), now: refTime, want: CodeMalformedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newStandardT(t, tc.src).Verify(tc.h, body, tc.now)
			if Code(err) != tc.want {
				t.Fatalf("Verify: %v (code %q), want code %q", err, Code(err), tc.want)
			}
			if tc.want == "" && (got.EventID != refMsgID || !got.Timestamp.Equal(refTime) || got.Kind != KindEvent) {
				t.Errorf("Verified = %+v", got)
			}
			if tc.want != "" && got != (Verified{}) {
				t.Errorf("rejected Verify returned %+v", got)
			}
		})
	}
}
