package app

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// pageData is what a claim page shows of its drop (its script's data).
type pageData struct {
	Status      string
	Left, Total int64
}

var pageDataRE = regexp.MustCompile(`(?s)<script id="dw-data" type="application/json">(.*?)</script>`)

// claimPage reads GET /c/{code} as a phone opens it.
func claimPage(t *testing.T, srv string, claimURL string) pageData {
	t.Helper()
	u, _ := url.Parse(claimURL)
	res, err := http.Get(srv + u.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := pageDataRE.FindSubmatch(body)
	// A drop that ended answers 410 with its page.
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusGone || m == nil {
		t.Fatalf("GET %s: %d %.300s", u.Path, res.StatusCode, body)
	}
	var d pageData
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &d); err != nil {
		t.Fatalf("claim page data %q: %v", m[1], err)
	}
	return d
}

// TestAdminChangeOnClaimPageAtOnce: a change made through the admin API
// of a replica is on that replica's claim page as soon as the API has
// answered, whether or not the change's announcement has come back from
// Redis. The replica's subscription to announcements is stopped here, so
// only the change itself can tell the page: stock added to a sold-out
// drop shows (open again, with the new count), and a drop closed shows
// closed.
func TestAdminChangeOnClaimPageAtOnce(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Redis(t))
	tok := a.Config().AdminToken
	spec := map[string]any{"id": "spring", "creator": "demo", "title": "Spring pack", "window": "30m", "qr_rotate": "10m",
		"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 1}}}
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	ov := dialOverlay(t, a, srv)
	trigger(t, a, srv, "spring", "evt-open")
	u := qrURL(t, ov.until(showing("spring")))
	if d := claimPage(t, srv.URL, u); d.Status != "open" || d.Left != 1 || d.Total != 1 {
		t.Fatalf("opened: %+v", d)
	}
	claim(t, srv, u)
	if d := claimPage(t, srv.URL, u); d.Status != "sold_out" || d.Left != 0 {
		t.Fatalf("after the last unit was claimed: %+v", d)
	}

	// Announcements no longer reach this replica's claim path.
	if err := a.claims.Close(); err != nil {
		t.Fatal(err)
	}
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/stock",
		map[string]any{"node": "demo-locker", "sku": "pack", "qty": 2}, nil); code != 200 {
		t.Fatalf("add stock: %d", code)
	}
	if d := claimPage(t, srv.URL, u); d.Status != "open" || d.Left != 2 || d.Total != 3 {
		t.Fatalf("right after stock was added: %+v, want open with 2 of 3 left", d)
	}
	if code := adminCall(t, srv, tok, "POST", "/v1/admin/drops/spring/close", nil, nil); code != 200 {
		t.Fatalf("close: %d", code)
	}
	if d := claimPage(t, srv.URL, u); d.Status != "closed" {
		t.Fatalf("right after the drop was closed: %+v, want closed", d)
	}
}
