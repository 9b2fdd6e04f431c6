package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dropwire/dropwire/stdwebhooks"
)

const testNodeSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// startTestNode runs a standalone node on loopback until the test ends,
// and checks that stopping it leaves no goroutine behind.
func startTestNode(t *testing.T, stateFile string) (hookURL, apiURL string) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	n, err := newStandaloneNode(standaloneConfig{DropwireURL: "http://127.0.0.1:9", Node: "locker", Secret: testNodeSecret,
		StateFile: stateFile, Logger: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	hook, api := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.serve(ctx, hook, api) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, ignore)
	})
	for _, a := range []string{hook, api} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not listen", a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return "http://" + hook + "/dropwire", "http://" + api
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sendClaim posts a signed claim.created as Dropwire does.
func sendClaim(t *testing.T, url, id string) int {
	t.Helper()
	body := fmt.Sprintf(`{"type":"claim.created","claim":{"id":%q,"drop":"d","node":"locker","sku":"s","pickup_code":"K7Q2M9XA"},"receipt":"a.b.c"}`, id)
	signer, _ := stdwebhooks.NewSigner(testNodeSecret)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range signer.Headers(id+".created", time.Now(), []byte(body)) {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// A claim the node could not keep (its --state file cannot be written: its
// directory is gone) is not acknowledged, so Dropwire sends it again; once
// the file can be written, the retry is kept.
func TestNodeAcknowledgesOnlyKeptClaims(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hook, api := startTestNode(t, filepath.Join(dir, "claims.json"))
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if got := sendClaim(t, hook, "d.c1"); got != http.StatusServiceUnavailable {
		t.Fatalf("claim not kept: answered %d, want 503", got)
	}
	if code, body := getBody(t, api+"/claims/d.c1"); code != 404 {
		t.Fatalf("a claim not kept is listed: %d %s", code, body)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := sendClaim(t, hook, "d.c1"); got != http.StatusOK {
		t.Fatalf("retry: %d", got)
	}
	if code, body := getBody(t, api+"/claims/d.c1"); code != 200 || !strings.Contains(body, `"state":"forwarded"`) {
		t.Fatalf("kept claim: %d %s", code, body)
	}
}

// A forged webhook is refused and keeps nothing; a retry of a kept claim
// is acknowledged again and kept once.
func TestNodeWebhooks(t *testing.T) {
	hook, api := startTestNode(t, "")
	if got := sendClaim(t, hook, "d.c1"); got != http.StatusOK {
		t.Fatalf("claim: %d", got)
	}
	if got := sendClaim(t, hook, "d.c1"); got != http.StatusOK {
		t.Fatalf("retry: %d", got)
	}
	req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(`{"type":"claim.created","claim":{"id":"d.c2"}}`))
	req.Header.Set("webhook-id", "x")
	req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
	req.Header.Set("webhook-signature", "v1,AAAA")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged: %d", res.StatusCode)
	}
	if _, body := getBody(t, api+"/claims"); strings.Count(body, `"id":`) != 1 || !strings.Contains(body, `"d.c1"`) {
		t.Fatalf("claims: %s", body)
	}
	if code, body := getBody(t, api+"/claims?pickup_code=k7q2-m9xa"); code != 200 || !strings.Contains(body, `"d.c1"`) {
		t.Fatalf("by pickup code: %d %s", code, body)
	}
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
