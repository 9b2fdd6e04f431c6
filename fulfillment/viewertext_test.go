package fulfillment

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func TestViewerText(t *testing.T) {
	long := strings.Repeat("é", MaxViewerText+20)
	for _, tc := range []struct {
		name, ct, body, want string
	}{
		{"plain", "application/json", `{"viewer_text":"Your 10 € voucher is in your account."}`, "Your 10 € voucher is in your account."},
		{"no content type", "", `{"viewer_text":"ok"}`, "ok"},
		{"json with charset", "application/json; charset=utf-8", `{"viewer_text":"ok","other":1}`, "ok"},
		{"problem+json", "application/problem+json", `{"viewer_text":"ok"}`, "ok"},
		{"trimmed, line breaks kept", "application/json", `{"viewer_text":"  line one\r\nline two\n "}`, "line one\nline two"},
		{"controls and bidi overrides dropped", "application/json", `{"viewer_text":"a\u0000b\u202ec\u0007d\u2066e"}`, "abcde"},
		{"cut at the limit", "application/json", `{"viewer_text":"` + long + `"}`, long[:2*MaxViewerText]},
		{"not json", "text/plain", `{"viewer_text":"ok"}`, ""},
		{"html", "text/html", `<p>ok</p>`, ""},
		{"truncated", "application/json", `{"viewer_text":"ok`, ""},
		{"not a string", "application/json", `{"viewer_text":42}`, ""},
		{"array", "application/json", `["viewer_text"]`, ""},
		{"no member", "application/json", `{"status":"ok"}`, ""},
		{"empty", "application/json", ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ViewerText(tc.ct, []byte(tc.body)); got != tc.want {
				t.Fatalf("ViewerText(%q, %q) = %q, want %q", tc.ct, tc.body, got, tc.want)
			}
		})
	}
}

// FuzzViewerText: whatever the creator's webhook answers, the text kept
// is valid UTF-8, plain (no control character but a line break), and at
// most MaxViewerText characters.
func FuzzViewerText(f *testing.F) {
	for _, s := range []string{`{"viewer_text":"Your voucher"}`, `{"viewer_text":"\u202eevil"}`, `{"viewer_text":null}`, `{`, ``,
		`{"viewer_text":"` + strings.Repeat("x", 600) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := ViewerText("application/json", body)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxViewerText || got != strings.TrimSpace(got) {
			t.Fatalf("%q", got)
		}
		for _, r := range got {
			if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
				t.Fatalf("control %U in %q", r, got)
			}
		}
	})
}

// Compensation kind webhook: what the creator's 2xx answer says for the
// viewer is kept with the compensated claim (for its receipt); an answer
// without viewer_text keeps nothing.
func TestWebhookCompensationViewerText(t *testing.T) {
	st := storetest.Redis(t)
	node := newTestNode(t)
	creatorSecret := newSecret(t)
	answers := make(chan string, 4)
	creator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := checkStandardSignature(creatorSecret, r.Header, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, <-answers)
	}))
	t.Cleanup(creator.Close)
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	f := newFixture(t, st, config.Compensation{Kind: "webhook", URL: creator.URL, Secret: creatorSecret}, nc)
	s := f.service()
	run(t, s)

	for _, tc := range []struct{ answer, want string }{
		{`{"viewer_text":"  A 10 € voucher is in your account.\r\nSorry!  "}`, "A 10 € voucher is in your account.\nSorry!"},
		{`{"ok":true}`, ""},
	} {
		id := f.claim("shop")
		eventually(t, 5*time.Second, "forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
		answers <- tc.answer
		if _, err := s.HandleCallback(context.Background(), "shop", "fail-"+id, Callback{Type: "claim.failed", Claim: id}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "compensated", func() bool { return f.claimHash(id)["state"] == "compensated" })
		h := f.claimHash(id)
		if got, ok := h["compensation_text"]; got != tc.want || ok != (tc.want != "") {
			t.Fatalf("answer %s: compensation_text %q (%v), want %q", tc.answer, got, ok, tc.want)
		}
	}
}
