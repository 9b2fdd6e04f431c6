package verifier_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the bytes a client reads off the wire.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// wireClient is a browser-like client (cookies, Accept-Encoding: gzip as
// Go's transport sends it) that counts every byte it receives.
func wireClient(n *atomic.Int64) *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: n}, nil
		},
	}}
}

// The claim page is one request for the HTML and two for its own small
// files, which browsers keep (their URL names their content): at most
// 40 KB on the wire, headers included, before the picture.
func TestClaimPageWeight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := presentedConfig(t, base)
	serveApp(t, ln, cfg)
	uploadImage(t, base, "spring", rewardPNG(t))
	hook(t, base, "evt-1", `{"type":"drop.trigger","drop":"spring","moment":"m-1"}`)
	url := shownCode(t, base)

	var n atomic.Int64
	c := wireClient(&n)
	fetch := func(u string, h map[string]string) (*http.Response, []byte, int64) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		before := n.Load()
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, b, n.Load() - before
	}
	res, page, htmlBytes := fetch(url, nil)
	if res.StatusCode != 200 {
		t.Fatalf("claim page: %d", res.StatusCode)
	}
	var assets []string
	for _, m := range regexp.MustCompile(`<(?:link rel="stylesheet" href|script src)="([^"]+)"`).FindAllSubmatch(page, -1) {
		assets = append(assets, string(m[1]))
	}
	if len(assets) != 2 {
		t.Fatalf("the page loads %d files (%v), want its stylesheet and its script", len(assets), assets)
	}
	total := htmlBytes
	for _, a := range assets {
		res, body, wire := fetch(base+a, nil)
		total += wire
		etag := res.Header.Get("ETag")
		if res.StatusCode != 200 || len(body) == 0 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || etag == "" {
			t.Fatalf("%s: %d %v", a, res.StatusCode, res.Header)
		}
		if res, _, _ := fetch(base+a, map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
			t.Fatalf("%s revalidated: %d", a, res.StatusCode)
		}
		t.Logf("%s: %d bytes on the wire", a, wire)
	}
	// The same file without its version must be revalidated: an old
	// page never keeps a new file, nor a new page an old one.
	if res, _, _ := fetch(base+"/static/claim.js", nil); res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" {
		t.Fatalf("unversioned file: %v", res.Header)
	}
	t.Logf("claim page: HTML %d bytes, in all %d bytes on the wire before the picture", htmlBytes, total)
	if res, _, wire := fetch(base+"/v1/codes/"+url[len(url)-10:], nil); res.StatusCode == 200 {
		t.Logf("a poll of the live status: %d bytes on the wire", wire)
	}
	if total > 40*1024 {
		t.Fatalf("the claim page takes %d bytes before the picture, over 40 KB", total)
	}
}
