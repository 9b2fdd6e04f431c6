package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/images"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

func putImage(t *testing.T, srv *httptest.Server, token, drop, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/admin/drops/"+drop+"/image", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// An image uploaded on one replica becomes the drop's image and is served
// by every replica at its content-hash URL, cached for good and inert.
func TestDropImageAcrossReplicas(t *testing.T) {
	st1 := storetest.Redis(t)
	st2 := storetest.RedisWithPrefix(t, st1.Prefix())
	cfg1, _ := config.Demo()
	cfg2, _ := config.Demo()
	cfg2.AdminToken = cfg1.AdminToken
	_, srv1 := adminApp(t, cfg1, st1)
	_, srv2 := adminApp(t, cfg2, st2)
	tok := cfg1.AdminToken

	pic := pngOf(t, 40, 30)
	status, view := putImage(t, srv1, tok, "demo-drop", "image/png", pic)
	path, _ := view["image"].(string)
	if status != 200 || !config.ImagePath(path) || path != images.Prefix+images.Name(pic, "png") {
		t.Fatalf("upload: %d %v", status, view)
	}
	// The other replica serves the bytes and, once it has the
	// announcement, names them as the drop's image.
	res, err := http.Get(srv2.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, pic) || res.Header.Get("Content-Type") != "image/png" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET %s on replica 2: %d %v", path, res.StatusCode, res.Header)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v admin.DropView
		if adminCall(t, srv2, tok, "GET", "/v1/admin/drops/demo-drop", nil, &v) == 200 && v.Image == path {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 never showed the image: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Bad uploads are refused with their own problem and change nothing.
func TestDropImageMistakes(t *testing.T) {
	cfg, _ := config.Demo()
	_, srv := adminApp(t, cfg, storetest.Memory(t))
	tok := cfg.AdminToken
	webp, _ := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if status, v := putImage(t, srv, tok, "demo-drop", "image/webp", webp); status != 200 || !strings.HasSuffix(v["image"].(string), ".webp") {
		t.Fatalf("webp: %d %v", status, v)
	}
	var before admin.DropView
	adminCall(t, srv, tok, "GET", "/v1/admin/drops/demo-drop", nil, &before)
	huge := append(pngOf(t, 8, 8), make([]byte, images.MaxSize)...)
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		status      int
		code        string
	}{
		{"no type", "", pngOf(t, 8, 8), 415, "unsupported_media_type"},
		{"svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 415, "unsupported_media_type"},
		{"html said to be a png", "image/png", []byte("<!doctype html><script>alert(1)</script>"), 415, "unsupported_media_type"},
		{"png said to be a gif", "image/gif", pngOf(t, 8, 8), 415, "unsupported_media_type"},
		{"text", "text/plain", []byte("hello"), 415, "unsupported_media_type"},
		{"over 2 MiB", "image/png", huge, 413, "payload_too_large"},
		{"corrupt png", "image/png", append([]byte("\x89PNG\x0d\x0a\x1a\x0a"), make([]byte, 64)...), 422, "invalid_image"},
	} {
		status, p := putImage(t, srv, tok, "demo-drop", tc.ctype, tc.body)
		if status != tc.status || p["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, p, tc.status, tc.code)
		}
	}
	if status, p := putImage(t, srv, tok, "nope", "image/png", pngOf(t, 8, 8)); status != 404 || p["code"] != "unknown_drop" {
		t.Errorf("unknown drop: %d %v", status, p)
	}
	var after admin.DropView
	adminCall(t, srv, tok, "GET", "/v1/admin/drops/demo-drop", nil, &after)
	if after.Image != before.Image {
		t.Fatalf("a refused upload changed the image: %q → %q", before.Image, after.Image)
	}
}

// Description and image are checked when a drop is created through the
// API, as in the configuration file.
func TestDropPresentationChecked(t *testing.T) {
	cfg, _ := config.Demo()
	_, srv := adminApp(t, cfg, storetest.Memory(t))
	tok := cfg.AdminToken
	spec := func(id string, extra map[string]any) map[string]any {
		s := map[string]any{"id": id, "creator": "demo", "title": "Pack",
			"stock": []map[string]any{{"node": "demo-locker", "sku": "pack", "qty": 3}}}
		for k, v := range extra {
			s[k] = v
		}
		return s
	}
	var ok admin.DropView
	if status := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec("good", map[string]any{
		"description": "Three die-cut stickers.\nPick them up in person.", "image": "https://cdn.example/pack.png"}), &ok); status != 201 ||
		ok.Description != "Three die-cut stickers.\nPick them up in person." || ok.Image != "https://cdn.example/pack.png" {
		t.Fatalf("create with description and image: %d %+v", status, ok)
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		path  string
	}{
		{"description too long", map[string]any{"description": strings.Repeat("x", 501)}, "drop.description"},
		{"image over http", map[string]any{"image": "http://cdn.example/pack.png"}, "drop.image"},
		{"image as javascript", map[string]any{"image": "javascript:alert(1)"}, "drop.image"},
	} {
		var p struct {
			Code     string
			Problems []map[string]string
		}
		status := adminCall(t, srv, tok, "POST", "/v1/admin/drops", spec("bad", tc.extra), &p)
		if status != 422 || p.Code != "invalid_drop" || len(p.Problems) != 1 || p.Problems[0]["path"] != tc.path {
			t.Errorf("%s: %d %+v", tc.name, status, p)
		}
	}
	if status := adminCall(t, srv, tok, "GET", "/v1/admin/drops/bad", nil, nil); status != 404 {
		t.Fatalf("a refused drop was created: %d", status)
	}
}
