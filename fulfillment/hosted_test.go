package fulfillment

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// recordingTransport counts the requests the forwarder sends, by host.
type recordingTransport struct {
	mu   sync.Mutex
	sent []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.sent = append(rt.sent, r.URL.String())
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) requests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.sent...)
}

// A hosted node's claim goes nowhere over HTTP: the forwarder moves it to
// forwarded with its pickup deadline (in the SLA set) and lists it for the
// node's console, as a delivered claim of a node with a URL is moved.
func TestHostedClaimIsForwardedWithoutHTTP(t *testing.T) {
	storetest.Each(t, testHostedClaimIsForwardedWithoutHTTP)
}

func testHostedClaimIsForwardedWithoutHTTP(t *testing.T, st store.Store) {
	remote := newTestNode(t)
	hosted := config.Node{ID: "kiosk", Name: "Kiosk", PickupSLA: config.Duration(2 * time.Hour), ConsoleKeys: []string{shopKey}}
	f := newFixture(t, st, config.Compensation{Kind: config.CompensationNone}, hosted,
		testNodeConfig("remote", remote.srv.URL, remote.secret))
	rt := &recordingTransport{}
	s := f.service(func(c *Config) { c.Client = &http.Client{Transport: rt} })
	run(t, s)

	viaHTTP := f.claim("remote")
	id := f.claim("kiosk")
	eventually(t, 10*time.Second, "both claims forwarded", func() bool {
		return f.claimHash(id)["state"] == "forwarded" && f.claimHash(viaHTTP)["state"] == "forwarded"
	})
	if got := rt.requests(); len(got) != 1 || !strings.HasPrefix(got[0], remote.srv.URL) {
		t.Fatalf("requests sent: %v (want the remote node's claim only)", got)
	}
	h := f.claimHash(id)
	by, _ := strconv.ParseInt(h["pickup_by"], 10, 64)
	created, _ := strconv.ParseInt(h["created_at"], 10, 64)
	if d := time.Duration(by-created) * time.Millisecond; d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Fatalf("pickup_by is %s after the claim, want the node's 2h SLA", d)
	}
	if s, err := st.Run(context.Background(), zscoreScript, []string{slaKey(f.drop)}, id); err != nil || s != h["pickup_by"] {
		t.Fatalf("SLA deadline %v %v, want %s", s, err, h["pickup_by"])
	}
	if h := strings.Join(f.history(id), ","); h != "claimed,forwarded" {
		t.Fatalf("history %s", h)
	}
	listed, err := st.Run(context.Background(), consoleListScript, []string{consoleKey(f.drop, "kiosk"),
		stockKey(f.drop), stateKey(f.drop)}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ids := listed.([]any)[0].([]any); len(ids) != 1 || ids[0] != id {
		t.Fatalf("console list %v, want [%s]", ids, id)
	}
	// Nothing waits for a retry or went to the dead letters.
	if dl, err := s.DeadLetters(context.Background()); err != nil || len(dl) != 0 {
		t.Fatalf("dead letters %v %v", dl, err)
	}
}

// A hosted node's claim that nobody picks up is compensated by the SLA
// exactly as a forwarded one is: the same timeline, a code from the same
// pool, the same failure.
func TestHostedClaimCompensatedBySLALikeForwarded(t *testing.T) {
	st := storetest.Redis(t)
	remote := newTestNode(t)
	rn := testNodeConfig("remote", remote.srv.URL, remote.secret)
	rn.PickupSLA = config.Duration(300 * time.Millisecond)
	hosted := config.Node{ID: "kiosk", PickupSLA: config.Duration(300 * time.Millisecond), ConsoleKeys: []string{shopKey}}
	f := newFixture(t, st, config.Compensation{Kind: config.CompensationCode, CodesFile: codesFile(t, 5)}, hosted, rn)
	s := f.service(func(c *Config) { c.SLATick = 10 * time.Millisecond })
	run(t, s)

	forwarded, kiosk := f.claim("remote"), f.claim("kiosk")
	eventually(t, 15*time.Second, "both claims compensated", func() bool {
		return f.claimHash(forwarded)["state"] == "compensated" && f.claimHash(kiosk)["state"] == "compensated"
	})
	hf, hk := strings.Join(f.history(forwarded), ","), strings.Join(f.history(kiosk), ",")
	if hf != hk || hk != "claimed,forwarded,pickup_failed,compensated" {
		t.Fatalf("timelines: forwarded %s, hosted %s", hf, hk)
	}
	cf, ck := f.claimHash(forwarded), f.claimHash(kiosk)
	for _, k := range []string{"failure", "compensation"} {
		if cf[k] != ck[k] || ck[k] == "" {
			t.Errorf("%s: forwarded %q, hosted %q", k, cf[k], ck[k])
		}
	}
	if !strings.HasPrefix(ck["compensation_code"], "CODE-") || ck["compensation_code"] == cf["compensation_code"] {
		t.Fatalf("codes: forwarded %q, hosted %q", cf["compensation_code"], ck["compensation_code"])
	}
}
