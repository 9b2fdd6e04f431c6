package overlay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

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
// previous code is valid for scan_grace after rotating, then expired;
// nonsense is unknown; a closed drop's code says closed.
func TestCodesResolve(t *testing.T) {
	st := storetest.Redis(t)
	a := newEnv(t, st, nil, testDrop("spring"))
	b := newEnv(t, storetest.RedisWithPrefix(t, st.Prefix()), nil, testDrop("spring"))
	ctx := context.Background()
	d, _ := a.cat.Drop(ctx, "spring")
	a.trigger(t, "spring", "e1")
	now := time.Now()
	ca, rot, err := a.codes.Current(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	cb, _, _ := b.codes.Current(ctx, d, now)
	if ca != cb || len(ca) != CodeLen || strings.ToUpper(ca) != ca {
		t.Fatalf("replica codes %q %q", ca, cb)
	}
	for _, tc := range []struct {
		code string
		at   time.Time
		err  error
	}{
		{ca, now, nil},
		{strings.ToLower(ca), now, nil},
		{ca, rot.Add(39 * time.Second), nil},
		{ca, rot.Add(41 * time.Second), ErrCodeExpired},
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
	if _, _, err := a.codes.Resolve(ctx, ca, now); !errors.Is(err, ErrDropClosed) {
		t.Fatalf("closed drop: %v", err)
	}
}
