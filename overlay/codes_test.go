package overlay

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A 30-character public_url with a code stays at QR version <= 4 at M.
func TestQRVersion(t *testing.T) {
	base := "https://drops.example-shop.com" // 30 characters
	if len(base) != 30 {
		t.Fatal(len(base))
	}
	url := base + "/c/" + strings.Repeat("Z", CodeLen)
	svg, v, err := QRSVG(url)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := qrcode.New(url, qrcode.Medium)
	q.DisableBorder = true
	if n := len(q.Bitmap()); v > 4 || n != 17+4*v {
		t.Fatalf("version %d, %d modules", v, n)
	}
	if !strings.Contains(svg, `shape-rendering="crispEdges"`) || strings.Count(svg, "<path") != 1 {
		t.Fatalf("svg: %.200s", svg)
	}
}

// Replicas sharing a store derive the same code; the code rotates; a
// previous code is valid for scan_grace after rotating, then expired, and
// it stays "expired" (not "unknown") however long ago it was shown;
// nonsense and codes never shown are unknown; a closed drop's codes say
// closed.
func TestCodesResolve(t *testing.T) {
	st := storetest.Redis(t)
	a := newEnv(t, st, nil, testDrop("spring"))
	b := newEnv(t, storetest.RedisWithPrefix(t, st.Prefix()), nil, testDrop("spring"))
	ctx := context.Background()
	d, _ := a.cat.Drop(ctx, "spring")
	a.trigger(t, "spring", "e1")
	now := time.Now()
	ca, rot, err := a.codes.Issue(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	cb, _, _ := b.codes.Current(ctx, d, now)
	if ca != cb || len(ca) != CodeLen || strings.ToUpper(ca) != ca {
		t.Fatalf("replica codes %q %q", ca, cb)
	}
	// A code of a later window, derived but never put on screen.
	future, _, _ := a.codes.Current(ctx, d, now.Add(time.Hour))
	for _, tc := range []struct {
		code string
		at   time.Time
		err  error
	}{
		{ca, now, nil},
		{strings.ToLower(ca), now, nil},
		{ca, rot.Add(39 * time.Second), nil},
		{ca, rot.Add(41 * time.Second), ErrCodeExpired},
		{ca, rot.Add(50 * time.Minute), ErrCodeExpired},
		{future, now, ErrUnknownCode},
		{"AAAAAAAAAA", now, ErrUnknownCode},
		{"short", now, ErrUnknownCode},
	} {
		drop, _, err := b.codes.Resolve(ctx, tc.code, tc.at)
		if !errors.Is(err, tc.err) || (err == nil && drop != "spring") {
			t.Errorf("Resolve(%q, +%v) = %q, %v; want %v", tc.code, tc.at.Sub(now), drop, err, tc.err)
		}
	}
	next, _, _ := a.codes.Current(ctx, d, rot)
	if next == ca {
		t.Fatal("code did not rotate")
	}
	a.close(t, "spring", "e2")
	for _, at := range []time.Time{now, rot.Add(50 * time.Minute)} {
		if _, _, err := b.codes.Resolve(ctx, ca, at); !errors.Is(err, ErrDropClosed) {
			t.Fatalf("closed drop, +%v: %v", at.Sub(now), err)
		}
	}
}

// A code that was current but whose record was lost (the store was away
// when it went on screen) still scans while it is current or in its grace.
func TestCodesResolveUnrecorded(t *testing.T) {
	e := newEnv(t, storetest.Redis(t), nil, testDrop("spring"))
	ctx := context.Background()
	d, _ := e.cat.Drop(ctx, "spring")
	e.trigger(t, "spring", "e1")
	now := time.Now()
	c, rot, err := e.codes.Current(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	if drop, _, err := e.codes.Resolve(ctx, c, rot.Add(30*time.Second)); err != nil || drop != "spring" {
		t.Fatalf("in grace: %q, %v", drop, err)
	}
	if _, _, err := e.codes.Resolve(ctx, c, rot.Add(time.Hour)); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("never recorded, long after: %v", err)
	}
}

// An issued code, once resolved, is known to the process: a claim rush on
// one code does not read the store for it each time. The record's loss
// then changes nothing for that process.
func TestCodesRememberIssued(t *testing.T) {
	st := storetest.Redis(t)
	a := newEnv(t, st, nil, testDrop("spring"))
	b := newEnv(t, storetest.RedisWithPrefix(t, st.Prefix()), nil, testDrop("spring"))
	ctx := context.Background()
	d, _ := a.cat.Drop(ctx, "spring")
	a.trigger(t, "spring", "e1")
	now := time.Now()
	c, rot, err := a.codes.Issue(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.codes.Resolve(ctx, c, now); err != nil {
		t.Fatal(err)
	}
	if err := storetest.Client(t).Del(ctx, st.Prefix()+issuedKey(c)).Err(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*env{a, b} {
		if _, _, err := e.codes.Resolve(ctx, c, rot.Add(50*time.Minute)); !errors.Is(err, ErrCodeExpired) {
			t.Fatalf("record gone, code known: %v", err)
		}
	}
}

// countingStore counts the reads of issued-code records on a real store.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) (string, error) {
	if strings.HasPrefix(key, "overlay:code:") {
		s.reads.Add(1)
	}
	return s.Store.Get(ctx, key)
}

// A crowd scanning the code on screen costs one read of its record on a
// replica that did not issue it, and none on the one that did: the record
// never changes once written.
func TestIssuedCodeReadOnce(t *testing.T) {
	direct := storetest.Redis(t)
	issuer := newEnv(t, direct, nil, testDrop("spring"))
	st := &countingStore{Store: storetest.RedisWithPrefix(t, direct.Prefix())}
	e := newEnv(t, st, nil, testDrop("spring"))
	ctx := context.Background()
	d, _ := issuer.cat.Drop(ctx, "spring")
	issuer.trigger(t, "spring", "e1")
	now := time.Now()
	c, rot, err := issuer.codes.Issue(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if drop, _, err := issuer.codes.Resolve(ctx, c, now); err != nil || drop != "spring" {
			t.Fatalf("resolve on the issuer: %q %v", drop, err)
		}
		if drop, _, err := e.codes.Resolve(ctx, c, now); err != nil || drop != "spring" {
			t.Fatalf("resolve: %q %v", drop, err)
		}
	}
	// Long after, the kept record still says expired, as the store's does.
	if _, _, err := e.codes.Resolve(ctx, c, rot.Add(time.Hour)); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("an hour later: %v", err)
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("%d reads of the code's record for 51 scans, want 1", n)
	}
}

// heldStore holds the writes of issued-code records until released, on a
// real store.
type heldStore struct {
	store.Store
	release  chan struct{}
	returned atomic.Int64 // record writes that have returned, done or failed
}

func (s *heldStore) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if !strings.HasPrefix(key, "overlay:code:") {
		return s.Store.Set(ctx, key, value, ttl)
	}
	defer s.returned.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Set(ctx, key, value, ttl)
}

// The frame that puts a code on screen does not wait for the code's
// record: the code scans while current (it is derived), and the record,
// written after the frame, makes it "expired", not "unknown", once it has
// rotated out.
func TestHubFrameBeforeCodeRecord(t *testing.T) {
	direct := storetest.Redis(t)
	st := &heldStore{Store: direct, release: make(chan struct{})}
	// A record write fails, and is retried, only after the store timeout.
	e := newEnv(t, st, func(c *HubConfig) { c.StoreTimeout = time.Minute }, testDrop("spring"))
	c := e.dial(t)
	if s := c.next(); s.Status != StatusIdle {
		t.Fatalf("first state: %+v", s)
	}
	e.trigger(t, "spring", "e1")
	s := c.until(func(s State) bool { return s.Status == StatusOpen })
	code := strings.TrimPrefix(qrText(t, s.QR), "https://drops.example.com/c/")
	if n := st.returned.Load(); n != 0 {
		t.Fatalf("the frame came after %d record writes returned; want it before any", n)
	}
	ctx := context.Background()
	if _, err := direct.Get(ctx, issuedKey(code)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record of the code on screen while its write is held: %v", err)
	}
	if drop, _, err := e.codes.Resolve(ctx, code, time.Now()); err != nil || drop != "spring" {
		t.Fatalf("code on screen, record not written yet: %q %v", drop, err)
	}
	close(st.release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := direct.Get(ctx, issuedKey(code)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the code's record was never written")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another replica, which never saw the code, reads the record.
	other := newEnv(t, storetest.RedisWithPrefix(t, direct.Prefix()), nil, testDrop("spring"))
	if _, _, err := other.codes.Resolve(ctx, code, s.QR.RotatesAt.Add(time.Hour)); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("an hour after it rotated out: %v", err)
	}
}
