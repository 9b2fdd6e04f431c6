package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// webp1x1 is a 1×1 lossless WebP.
var webp1x1, _ = base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

func sample(t testing.TB, format string) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 4, 3), []color.Color{color.Black, color.White})
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	case "webp":
		return webp1x1
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSniff(t *testing.T) {
	pngBytes := sample(t, "png")
	// A PNG header that claims 100000×100000 pixels.
	huge := bytes.Clone(pngBytes)
	copy(huge[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	for _, tc := range []struct {
		name     string
		data     []byte
		declared string
		ext      string
		err      error
	}{
		{"png", pngBytes, "image/png", "png", nil},
		{"png, type not named", pngBytes, "", "png", nil},
		{"jpeg", sample(t, "jpg"), "image/jpeg", "jpg", nil},
		{"gif", sample(t, "gif"), "image/gif", "gif", nil},
		{"webp", sample(t, "webp"), "image/webp", "webp", nil},
		{"png declared as jpeg", pngBytes, "image/jpeg", "", ErrUnsupported},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "image/svg+xml", "", ErrUnsupported},
		{"html declared as png", []byte("<!doctype html><script>alert(1)</script>"), "image/png", "", ErrUnsupported},
		{"text", []byte("hello"), "", "", ErrUnsupported},
		{"empty", nil, "image/png", "", ErrUnsupported},
		{"png signature, garbage after", append([]byte("\x89PNG\x0d\x0a\x1a\x0a"), strings.Repeat("x", 40)...), "image/png", "", ErrCorrupt},
		{"too many pixels", huge, "image/png", "", ErrTooLarge},
		{"too many bytes", append(bytes.Clone(pngBytes), make([]byte, MaxSize)...), "image/png", "", ErrTooLarge},
	} {
		ext, err := Sniff(tc.data, tc.declared)
		if ext != tc.ext || !errors.Is(err, tc.err) {
			t.Errorf("%s: %q %v, want %q %v", tc.name, ext, err, tc.ext, tc.err)
		}
	}
}

func TestPutAndServe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		mux := http.NewServeMux()
		mux.Handle("GET /i/{name}", Handler(st))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		ctx := context.Background()

		data := sample(t, "png")
		path, err := Put(ctx, st, data, "image/png")
		if err != nil {
			t.Fatal(err)
		}
		if !config.ImagePath(path) || !strings.HasSuffix(path, ".png") {
			t.Fatalf("path %q is not an image path the configuration takes", path)
		}
		again, err := Put(ctx, st, data, "image/png")
		if err != nil || again != path {
			t.Fatalf("same bytes again: %q %v, want %q", again, err, path)
		}
		if _, err := Put(ctx, st, []byte("<svg/>"), "image/svg+xml"); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("svg stored: %v", err)
		}

		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		h := res.Header
		if res.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("GET %s: %d, %d bytes", path, res.StatusCode, len(body))
		}
		for k, want := range map[string]string{
			"Content-Type":            "image/png",
			"Cache-Control":           "public, max-age=31536000, immutable",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; sandbox",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		// Revalidation costs no body.
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotModified || h.Get("ETag") == "" {
			t.Fatalf("revalidation: %d, ETag %q", res.StatusCode, h.Get("ETag"))
		}

		for _, p := range []string{
			"/i/" + strings.Repeat("0", 32) + ".png",     // never stored
			"/i/" + strings.TrimPrefix(path, "/i/")[:31], // cut short
			strings.TrimSuffix(path, ".png") + ".svg",    // another type
			strings.TrimSuffix(path, ".png") + ".gif",    // the same hash, another type
			"/i/..%2fadmin:drops",
		} {
			res, err := http.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 404 || !strings.Contains(string(b), "unknown_image") {
				t.Errorf("GET %s: %d %s", p, res.StatusCode, b)
			}
		}
	})
}

// A served image is kept in memory: it is served again with its store
// key gone (a new replica's handler, reading the store, has nothing), with
// the headers http.ServeContent gives it, and ranges still work.
func TestServedImageKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		data := sample(t, "gif")
		path, err := Put(ctx, st, data, "image/gif")
		if err != nil {
			t.Fatal(err)
		}
		served := Handler(st)
		get := func(h http.Handler, header map[string]string) *httptest.ResponseRecorder {
			mux := http.NewServeMux()
			mux.Handle("GET /i/{name}", h)
			r := httptest.NewRequest("GET", path, nil)
			for k, v := range header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			return rec
		}
		if rec := get(served, nil); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), data) {
			t.Fatalf("first GET: %d, %d bytes", rec.Code, rec.Body.Len())
		}
		if err := st.Del(ctx, key(strings.TrimPrefix(path, Prefix))); err != nil {
			t.Fatal(err)
		}
		if rec := get(Handler(st), nil); rec.Code != 404 {
			t.Fatalf("the image is still in the store: %d", rec.Code)
		}
		whole := get(served, nil)
		if whole.Code != 200 || !bytes.Equal(whole.Body.Bytes(), data) {
			t.Fatalf("GET from memory: %d, %d bytes", whole.Code, whole.Body.Len())
		}
		// If-Modified-Since changes nothing for an image without a date,
		// but sends the request through http.ServeContent.
		viaServeContent := get(served, map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"})
		if viaServeContent.Code != 200 || !maps.EqualFunc(whole.Header(), viaServeContent.Header(), slices.Equal) ||
			!bytes.Equal(viaServeContent.Body.Bytes(), data) {
			t.Fatalf("headers\nfrom memory   %v\nServeContent %v", whole.Header(), viaServeContent.Header())
		}
		part := get(served, map[string]string{"Range": "bytes=0-5"})
		if part.Code != http.StatusPartialContent || !bytes.Equal(part.Body.Bytes(), data[:6]) {
			t.Fatalf("range: %d %q", part.Code, part.Body.Bytes())
		}
	})
}

// Whatever the bytes, Sniff never panics, and what it takes is one of
// the four types, named by the extension it returns, within the limits.
func FuzzSniff(f *testing.F) {
	for _, format := range []string{"png", "jpg", "gif", "webp"} {
		f.Add(sample(f, format), config.ImageExts[format])
	}
	f.Add([]byte("<svg/>"), "image/svg+xml")
	f.Add([]byte("\x89PNG\x0d\x0a\x1a\x0a\x00\x00\x00\x0dIHDR"), "")
	f.Fuzz(func(t *testing.T, data []byte, declared string) {
		ext, err := Sniff(data, declared)
		if err != nil {
			return
		}
		if ct := http.DetectContentType(data); config.ImageExts[ext] != ct || (declared != "" && declared != ct) || len(data) > MaxSize {
			t.Fatalf("took %d bytes of %s (declared %q) as %q", len(data), ct, declared, ext)
		}
	})
}
