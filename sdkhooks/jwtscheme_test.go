package sdkhooks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/goleak"

	"github.com/dropwire/dropwire/internal/config"
)

var jwtNow = time.Unix(1_700_000_000, 0)

const jwtSecret = "jwt-shared-secret-for-tests-0123456789"

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// claimsFor returns valid claims for body at jwtNow.
func claimsFor(body []byte) map[string]any {
	return map[string]any{
		"iat":    jwtNow.Unix(),
		"exp":    jwtNow.Add(time.Minute).Unix(),
		"sha256": bodyHash(body),
		"jti":    "evt_jwt_1",
	}
}

func signJWT(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any, extra ...map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set("typ", "JWT")
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	for _, m := range extra {
		for k, v := range m {
			if err := hdr.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// unsignedJWT builds an alg "none" token by hand (jwx refuses to).
func unsignedJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}

type testJWK struct {
	kid string
	pub any
	alg string
}

func jwksJSON(t testing.TB, keys ...testJWK) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		key, err := jwk.FromRaw(k.pub)
		if err != nil {
			t.Fatal(err)
		}
		_ = key.Set(jwk.KeyIDKey, k.kid)
		if k.alg != "" {
			_ = key.Set(jwk.AlgorithmKey, k.alg)
		}
		if err := set.AddKey(key); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type jwtKeys struct {
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	ec384 *ecdsa.PrivateKey
	file  string
}

func newJWTKeys(t testing.TB) jwtKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	data := jwksJSON(t,
		testJWK{"ec-1", &ec.PublicKey, "ES256"},
		testJWK{"ed-1", ed.Public(), ""},
		testJWK{"ec384", &ec384.PublicKey, ""}, // unusable: skipped
	)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return jwtKeys{ec: ec, ed: ed, ec384: ec384, file: file}
}

func bearer(tok string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	return h
}

func newJWTT(t testing.TB, src config.Source) *JWT {
	t.Helper()
	v, err := NewJWT(src)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return v
}

func TestJWTVerify(t *testing.T) {
	keys := newJWTKeys(t)
	body := []byte(`{"type":"drop.trigger","drop":"sticker-spring","id":"evt_1"}`)
	hs := func(claims map[string]any) string { return signJWT(t, jwa.HS256, []byte(jwtSecret), "", claims) }
	with := func(mod func(c map[string]any)) map[string]any {
		c := claimsFor(body)
		mod(c)
		return c
	}
	hmacSrc := config.Source{Secrets: []string{jwtSecret}}
	fileSrc := config.Source{JWKS: keys.file}
	bothSrc := config.Source{Secrets: []string{jwtSecret}, JWKS: keys.file, Algorithms: []string{"HS256", "ES256", "EdDSA"}}
	esOnly := config.Source{JWKS: keys.file, Algorithms: []string{"ES256"}}
	whsecKey := []byte("raw-bytes-behind-a-whsec-secret")
	whsec := "whsec_" + b64.EncodeToString(whsecKey)

	tests := []struct {
		name    string
		src     config.Source
		h       http.Header
		body    []byte
		want    error
		wantID  string
		checkTS bool
	}{
		{name: "HS256 valid", src: hmacSrc, h: bearer(hs(claimsFor(body))), wantID: "evt_jwt_1", checkTS: true},
		{name: "HS256 without Bearer", src: hmacSrc, h: http.Header{"Authorization": {hs(claimsFor(body))}}, wantID: "evt_jwt_1"},
		{name: "HS256 lower-case bearer", src: hmacSrc, h: http.Header{"Authorization": {"bearer " + hs(claimsFor(body))}}, wantID: "evt_jwt_1"},
		{name: "HS256 without jti", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { delete(c, "jti") })))},
		{name: "HS256 whsec_ secret is decoded", src: config.Source{Secrets: []string{whsec}}, h: bearer(signJWT(t, jwa.HS256, whsecKey, "", claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "HS256 rotated secret", src: config.Source{Secrets: []string{"newer-secret-xxxxxxxxxxxxxxxxxxxxx", jwtSecret}}, h: bearer(hs(claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "HS256 wrong secret", src: config.Source{Secrets: []string{"another-secret-xxxxxxxxxxxxxxxxxxx"}}, h: bearer(hs(claimsFor(body))), want: ErrBadSignature},
		{name: "alg none", src: hmacSrc, h: bearer(unsignedJWT(claimsFor(body))), want: ErrBadSignature},
		{name: "alg none with a signature", src: hmacSrc, h: bearer(unsignedJWT(claimsFor(body)) + "c2ln"), want: ErrBadSignature},
		{name: "HS256 to an ES256-only source", src: esOnly, h: bearer(hs(claimsFor(body))), want: ErrBadSignature},
		{name: "HS384 to an HS256 source", src: hmacSrc, h: bearer(signJWT(t, jwa.HS384, []byte(jwtSecret), "", claimsFor(body))), want: ErrBadSignature},
		{name: "EdDSA to an ES256-only source", src: esOnly, h: bearer(signJWT(t, jwa.EdDSA, keys.ed, "ed-1", claimsFor(body))), want: ErrBadSignature},
		{name: "missing exp", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { delete(c, "exp") }))), want: ErrBadSignature},
		{name: "exp not a number", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["exp"] = "tomorrow" }))), want: ErrBadSignature},
		{name: "expired beyond tolerance", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["exp"] = jwtNow.Add(-DefaultJWTTolerance - time.Second).Unix() }))), want: ErrStaleTimestamp},
		{name: "expired within tolerance", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["exp"] = jwtNow.Add(-DefaultJWTTolerance + time.Second).Unix() }))), wantID: "evt_jwt_1"},
		{name: "fractional exp", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["exp"] = float64(jwtNow.Unix()) + 30.5 }))), wantID: "evt_jwt_1"},
		{name: "nbf in the future", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["nbf"] = jwtNow.Add(time.Hour).Unix() }))), want: ErrStaleTimestamp},
		{name: "iat in the future", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["iat"] = jwtNow.Add(time.Hour).Unix() }))), want: ErrStaleTimestamp},
		{name: "sha256 mismatch", src: hmacSrc, h: bearer(hs(claimsFor(body))), body: []byte(`{"type":"drop.trigger","drop":"other"}`), want: ErrBadSignature},
		{name: "missing sha256", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { delete(c, "sha256") }))), want: ErrBadSignature},
		{name: "sha256 not a string", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["sha256"] = 1 }))), want: ErrBadSignature},
		{name: "sha256 unpadded", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["sha256"] = strings.TrimRight(bodyHash(body), "=") }))), want: ErrBadSignature},
		{name: "sha256 hex", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["sha256"] = hexHash(body) }))), want: ErrBadSignature},
		{name: "jti with a space", src: hmacSrc, h: bearer(hs(with(func(c map[string]any) { c["jti"] = "a b" }))), want: ErrMalformedEvent},
		{name: "claims not an object", src: hmacSrc, h: bearer(string(mustSign(t, []byte(`[1,2]`)))), want: ErrBadSignature},
		{name: "missing Authorization", src: hmacSrc, h: http.Header{}, want: ErrMissingSignature},
		{name: "Bearer without token", src: hmacSrc, h: http.Header{"Authorization": {"Bearer "}}, want: ErrMissingSignature},
		{name: "not a JWT", src: hmacSrc, h: bearer("abc"), want: ErrBadSignature},
		{name: "JSON serialisation", src: hmacSrc, h: bearer(`{"payload":"e30","signatures":[]}`), want: ErrBadSignature},
		{name: "four parts", src: hmacSrc, h: bearer(hs(claimsFor(body)) + ".x"), want: ErrBadSignature},
		{name: "tampered payload", src: hmacSrc, h: bearer(tamperPayload(hs(claimsFor(body)))), want: ErrBadSignature},
		{name: "truncated signature", src: hmacSrc, h: bearer(hs(claimsFor(body))[:len(hs(claimsFor(body)))-3]), want: ErrBadSignature},
		{name: "crit header", src: hmacSrc, h: bearer(signJWT(t, jwa.HS256, []byte(jwtSecret), "", claimsFor(body), map[string]any{"crit": []string{"exp"}})), want: ErrBadSignature},
		{name: "b64 header", src: hmacSrc, h: bearer(signJWT(t, jwa.HS256, []byte(jwtSecret), "", claimsFor(body), map[string]any{"b64": true})), want: ErrBadSignature},
		{name: "ES256 via JWKS file", src: fileSrc, h: bearer(signJWT(t, jwa.ES256, keys.ec, "ec-1", claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "EdDSA via JWKS file", src: fileSrc, h: bearer(signJWT(t, jwa.EdDSA, keys.ed, "ed-1", claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "ES256 and HS256 on one source", src: bothSrc, h: bearer(signJWT(t, jwa.ES256, keys.ec, "ec-1", claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "HS256 on a mixed source", src: bothSrc, h: bearer(hs(claimsFor(body))), wantID: "evt_jwt_1"},
		{name: "ES256 unknown kid", src: fileSrc, h: bearer(signJWT(t, jwa.ES256, keys.ec, "ec-2", claimsFor(body))), want: ErrBadSignature},
		{name: "ES256 without kid", src: fileSrc, h: bearer(signJWT(t, jwa.ES256, keys.ec, "", claimsFor(body))), want: ErrBadSignature},
		{name: "ES256 token naming the EdDSA kid", src: fileSrc, h: bearer(signJWT(t, jwa.ES256, keys.ec, "ed-1", claimsFor(body))), want: ErrBadSignature},
		{name: "ES256 signed by another key", src: fileSrc, h: bearer(signJWT(t, jwa.ES256, mustEC(t), "ec-1", claimsFor(body))), want: ErrBadSignature},
		{name: "ES384 key skipped", src: config.Source{JWKS: keys.file, Algorithms: []string{"ES256"}}, h: bearer(signJWT(t, jwa.ES384, keys.ec384, "ec384", claimsFor(body))), want: ErrBadSignature},
		{name: "HS256 with the EC public key as secret (alg confusion)", src: fileSrc, h: bearer(signJWT(t, jwa.HS256, []byte("ec-1"), "ec-1", claimsFor(body))), want: ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newJWTT(t, tc.src)
			b := tc.body
			if b == nil {
				b = body
			}
			got, err := v.Verify(tc.h, b, jwtNow)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if got != (Verified{}) {
					t.Errorf("rejected Verify returned %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.EventID != tc.wantID || got.Kind != KindEvent {
				t.Errorf("Verified = %+v, want id %q", got, tc.wantID)
			}
			if tc.checkTS && !got.Timestamp.Equal(jwtNow) {
				t.Errorf("Timestamp = %v, want %v", got.Timestamp, jwtNow)
			}
		})
	}
}

func hexHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func mustSign(t testing.TB, payload []byte) []byte {
	t.Helper()
	tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256, []byte(jwtSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tamperPayload replaces the token's payload with another one, keeping the
// header and signature.
func tamperPayload(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"exp":9999999999,"sha256":"x"}`))
	return strings.Join(parts, ".")
}

func TestNewJWTErrors(t *testing.T) {
	keys := newJWTKeys(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  config.Source
	}{
		{"no keys", config.Source{}},
		{"alg none pinned", config.Source{Secrets: []string{jwtSecret}, Algorithms: []string{"none"}}},
		{"unknown alg pinned", config.Source{Secrets: []string{jwtSecret}, Algorithms: []string{"RS256"}}},
		{"lower-case alg", config.Source{Secrets: []string{jwtSecret}, Algorithms: []string{"hs256"}}},
		{"HS256 without secrets", config.Source{JWKS: keys.file, Algorithms: []string{"HS256"}}},
		{"ES256 without jwks", config.Source{Secrets: []string{jwtSecret}, Algorithms: []string{"ES256"}}},
		{"empty secret", config.Source{Secrets: []string{""}}},
		{"bad whsec secret", config.Source{Secrets: []string{"whsec_!!"}}},
		{"missing JWKS file", config.Source{JWKS: filepath.Join(t.TempDir(), "nope.json")}},
		{"JWKS file not JSON", config.Source{JWKS: bad}},
		{"JWKS file without usable keys", config.Source{JWKS: empty}},
		{"negative tolerance", config.Source{Secrets: []string{jwtSecret}, Tolerance: config.Duration(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewJWT(tc.src); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// jwksServer serves a JWKS on 127.0.0.1 and counts the fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	body    []byte
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		b := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", s.URL)
	}
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func TestJWTJWKSURL(t *testing.T) {
	keys := newJWTKeys(t)
	body := []byte(`{"type":"stream.online","id":"evt_2"}`)
	srv := newJWKSServer(t, jwksJSON(t, testJWK{"ec-1", &keys.ec.PublicKey, "ES256"}, testJWK{"ed-1", keys.ed.Public(), "EdDSA"}))
	v := newJWTT(t, config.Source{JWKS: srv.URL + "/jwks.json", Algorithms: []string{"ES256", "EdDSA"}})

	if n := srv.fetches.Load(); n != 0 {
		t.Fatalf("fetched %d times at construction, want lazily", n)
	}
	for _, tc := range []struct {
		alg jwa.SignatureAlgorithm
		key any
		kid string
	}{{jwa.ES256, keys.ec, "ec-1"}, {jwa.EdDSA, keys.ed, "ed-1"}} {
		if _, err := v.Verify(bearer(signJWT(t, tc.alg, tc.key, tc.kid, claimsFor(body))), body, jwtNow); err != nil {
			t.Fatalf("%s via URL: %v", tc.alg, err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (cached)", n)
	}
}

func TestJWTJWKSRefetchAtMostOncePerMinute(t *testing.T) {
	keys := newJWTKeys(t)
	ec2 := mustEC(t)
	body := []byte(`{"type":"stream.online","id":"evt_3"}`)
	setA := jwksJSON(t, testJWK{"ec-1", &keys.ec.PublicKey, "ES256"})
	setAB := jwksJSON(t, testJWK{"ec-1", &keys.ec.PublicKey, "ES256"}, testJWK{"ec-2", &ec2.PublicKey, "ES256"})
	srv := newJWKSServer(t, setA)
	v := newJWTT(t, config.Source{JWKS: srv.URL, Algorithms: []string{"ES256"}})

	claims := claimsFor(body)
	claims["exp"] = jwtNow.Add(time.Hour).Unix()
	tokA := signJWT(t, jwa.ES256, keys.ec, "ec-1", claims)
	tokB := signJWT(t, jwa.ES256, ec2, "ec-2", claims)
	tokC := signJWT(t, jwa.ES256, ec2, "ec-3", claims)

	steps := []struct {
		name    string
		tok     string
		after   time.Duration
		want    error
		fetches int32
	}{
		{"known kid: first fetch", tokA, 0, nil, 1},
		{"known kid again: cached", tokA, 5 * time.Second, nil, 1},
		{"vendor rotates; unknown kid within the minute: no fetch", tokB, 10 * time.Second, ErrBadSignature, 1},
		{"unknown kid again within the minute: no fetch", tokB, 59 * time.Second, ErrBadSignature, 1},
		{"a minute later: one refetch finds it", tokB, 61 * time.Second, nil, 2},
		{"new kid now known: cached", tokB, 62 * time.Second, nil, 2},
		{"never-published kid within the minute: no fetch", tokC, 90 * time.Second, ErrBadSignature, 2},
		{"never-published kid a minute later: one refetch", tokC, 122 * time.Second, ErrBadSignature, 3},
		{"and again within the minute: no fetch", tokC, 150 * time.Second, ErrBadSignature, 3},
	}
	for i, st := range steps {
		if i == 2 {
			srv.set(setAB)
		}
		_, err := v.Verify(bearer(st.tok), body, jwtNow.Add(st.after))
		if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
		}
		if n := srv.fetches.Load(); n != st.fetches {
			t.Fatalf("%s: fetches = %d, want %d", st.name, n, st.fetches)
		}
	}
}

func TestJWTJWKSURLUnavailable(t *testing.T) {
	keys := newJWTKeys(t)
	body := []byte(`{"type":"stream.online","id":"evt_4"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	v := newJWTT(t, config.Source{JWKS: srv.URL, Algorithms: []string{"ES256"}})
	_, err := v.Verify(bearer(signJWT(t, jwa.ES256, keys.ec, "ec-1", claimsFor(body))), body, jwtNow)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want ErrBadSignature (fail closed)", err)
	}
}

func TestJWTConcurrentVerify(t *testing.T) {
	keys := newJWTKeys(t)
	body := []byte(`{"type":"stream.online","id":"evt_5"}`)
	srv := newJWKSServer(t, jwksJSON(t, testJWK{"ec-1", &keys.ec.PublicKey, "ES256"}))
	v := newJWTT(t, config.Source{JWKS: srv.URL, Secrets: []string{jwtSecret}, Algorithms: []string{"ES256", "HS256"}})
	toks := []string{
		signJWT(t, jwa.ES256, keys.ec, "ec-1", claimsFor(body)),
		signJWT(t, jwa.HS256, []byte(jwtSecret), "", claimsFor(body)),
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := v.Verify(bearer(toks[i%2]), body, jwtNow); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
}

// A JWKS fetch leaves no goroutine behind (no kept-alive connection), so the
// handler tests' leak checks stay meaningful.
func TestJWTJWKSFetchLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	keys := newJWTKeys(t)
	body := []byte(`{"type":"stream.online","id":"evt_6"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(jwksJSON(t, testJWK{"ec-1", &keys.ec.PublicKey, "ES256"}))
	}))
	v := newJWTT(t, config.Source{JWKS: srv.URL, Algorithms: []string{"ES256"}})
	if _, err := v.Verify(bearer(signJWT(t, jwa.ES256, keys.ec, "ec-1", claimsFor(body))), body, jwtNow); err != nil {
		t.Fatal(err)
	}
	srv.Close()
}
