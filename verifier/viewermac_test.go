package verifier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// plainMAC is the construction cookies, challenges and viewer keys have
// always used, written out with hmac.New: HMAC-SHA256 over the parts,
// each followed by a zero byte, cut to 128 bits.
func plainMAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)[:16]
}

func TestViewerMACIsHMACSHA256(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef-viewer-secret")
	long := strings.Repeat("token-subject/", 200) // past what a pooled state keeps
	cases := [][]string{
		{"device-cookie", "AAAAAAAAAAAAAAAAAAAAAA"},
		{"viewer", "device", "x"},
		{"viewer", "email", "ava@example.com"},
		{"pow", "dev", "spring", "1700000000000.12.abcdefghijklmnop"},
		{"viewer", "token", "https://login.example\x00" + long},
		{""},
		{},
	}
	m := newViewerMAC(key)
	// Twice over, so that the second pass runs on pooled, reset states.
	for range 2 {
		for _, parts := range cases {
			got := m.sum16(parts...)
			if want := plainMAC(key, parts...); !hmac.Equal(got[:], want) {
				t.Fatalf("sum16(%q) = %x, want %x", parts, got, want)
			}
			if !m.equal16(plainMAC(key, parts...), parts...) {
				t.Fatalf("equal16 refuses the MAC of %q", parts)
			}
		}
	}
	other := newViewerMAC([]byte("another key, as long as the first one is"))
	for _, parts := range cases {
		if other.equal16(plainMAC(key, parts...), parts...) {
			t.Fatalf("a MAC of %q under another key is accepted", parts)
		}
	}
	if m.equal16(plainMAC(key, "device-cookie", "a")[:15], "device-cookie", "a") {
		t.Fatal("a shortened MAC is accepted")
	}

	// Many goroutines share the pool (run with -race).
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				parts := cases[(g+i)%len(cases)]
				got := m.sum16(parts...)
				if !hmac.Equal(got[:], plainMAC(key, parts...)) {
					t.Errorf("concurrent sum16(%q) differs", parts)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A device cookie issued by one replica opens on another that read the
// same secret from the store; a cookie made with the plain construction
// (as before the keyed MAC was pooled) opens too; one made with any other
// key, or with its id changed, does not.
func TestDeviceCookieAcrossReplicasAndConstructions(t *testing.T) {
	ctx := context.Background()
	st := storetest.Redis(t)
	issuer, err := NewViewers(ViewersConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := NewViewers(ViewersConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	id, issued, err := issuer.Device(ctx, rec, httptest.NewRequest("GET", "/c/X", nil))
	if err != nil || !issued {
		t.Fatalf("Device: issued %v, %v", issued, err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != DeviceCookie {
		t.Fatalf("cookies set: %v", cookies)
	}
	issuedValue := cookies[0].Value
	// The header is what http.SetCookie writes for it.
	set := httptest.NewRecorder()
	http.SetCookie(set, &http.Cookie{Name: DeviceCookie, Value: issuedValue, Path: "/", MaxAge: 400 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if got, want := rec.Header().Values("Set-Cookie"), set.Header().Values("Set-Cookie"); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Set-Cookie %q, http.SetCookie writes %q", got, want)
	}
	secure, err := NewViewers(ViewersConfig{Store: st, SecureCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	if _, _, err := secure.Device(ctx, rec, httptest.NewRequest("GET", "/c/X", nil)); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode ||
		c[0].Path != "/" || c[0].MaxAge != 400*24*3600 {
		t.Fatalf("secure device cookie: %+v", c)
	}

	hexSecret, err := st.Get(ctx, ViewerSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := hex.DecodeString(hexSecret)
	if err != nil {
		t.Fatal(err)
	}
	plain := func(key []byte, id string) string {
		return id + "." + base64.RawURLEncoding.EncodeToString(plainMAC(key, "device-cookie", id))
	}
	if want := plain(secret, id); issuedValue != want {
		t.Fatalf("issued cookie %q, the plain construction gives %q", issuedValue, want)
	}

	open := func(value string) (string, bool) {
		t.Helper()
		r := httptest.NewRequest("GET", "/c/X", nil)
		r.AddCookie(&http.Cookie{Name: DeviceCookie, Value: value})
		got, ok, err := reader.DeviceOf(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return got, ok
	}
	if got, ok := open(issuedValue); !ok || got != id {
		t.Fatalf("the issued cookie opens as %q, %v on another replica", got, ok)
	}
	const other = "BBBBBBBBBBBBBBBBBBBBBB"
	if got, ok := open(plain(secret, other)); !ok || got != other {
		t.Fatalf("a plain-construction cookie opens as %q, %v", got, ok)
	}
	wrongKey := append([]byte(nil), secret...)
	wrongKey[0] ^= 1
	sig := issuedValue[strings.IndexByte(issuedValue, '.'):]
	for name, value := range map[string]string{
		"another key":       plain(wrongKey, id),
		"another id":        other + sig,
		"a shortened mac":   issuedValue[:len(issuedValue)-1],
		"no mac":            id + ".",
		"garbage in base64": id + ".!!!!!!!!!!!!!!!!!!!!!!",
	} {
		if got, ok := open(value); ok {
			t.Errorf("a cookie with %s opens as %q", name, got)
		}
	}

	// The viewer key of a device is the same keyed hash it always was.
	key, err := reader.Hash(ctx, "device", id)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(plainMAC(secret, "viewer", "device", id)); key != want {
		t.Fatalf("Hash = %s, want %s", key, want)
	}
}
