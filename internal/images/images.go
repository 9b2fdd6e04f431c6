package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
)

// MaxSize is the largest image taken, in bytes: a reward picture for a
// phone screen needs far less.
const MaxSize = 2 << 20

// MaxPixels bounds width × height, so that no upload makes a phone
// decode a huge bitmap.
const MaxPixels = 40_000_000

// Prefix is the path images are served under.
const Prefix = "/i/"

// key is the store key of an image by its file name.
func key(name string) string { return "images:" + name }

// Sniff tells an image's type from its bytes and checks that it is one of
// the types taken, within the limits: it returns the file extension (png,
// jpg, webp, gif). declared, when not "", is the media type the uploader
// named; the bytes must be of that type. Errors: ErrUnsupported,
// ErrTooLarge, ErrCorrupt.
func Sniff(data []byte, declared string) (ext string, err error) {
	if len(data) > MaxSize {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxSize)
	}
	ct := http.DetectContentType(data)
	for e, t := range config.ImageExts {
		if t == ct {
			ext = e
		}
	}
	if ext == "" {
		return "", fmt.Errorf("%w: the bytes are %s", ErrUnsupported, ct)
	}
	if declared != "" && declared != ct {
		return "", fmt.Errorf("%w: declared %s, but the bytes are %s", ErrUnsupported, declared, ct)
	}
	if ext == "webp" {
		// No WebP decoder in the standard library: the sniffed RIFF/WEBP
		// header is what is checked.
		return ext, nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", fmt.Errorf("%w: %d×%d pixels", ErrCorrupt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return "", fmt.Errorf("%w: %d×%d pixels, at most %d in all", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	return ext, nil
}

// Name is an image's file name: the first 128 bits of the SHA-256 of its
// bytes in hex, a dot and ext.
func Name(data []byte, ext string) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]) + "." + ext
}

// Put checks data (see Sniff) and stores it; it returns the path it is
// served at, /i/<name>. Storing the same bytes again changes nothing.
func Put(ctx context.Context, st store.Store, data []byte, declared string) (string, error) {
	ext, err := Sniff(data, declared)
	if err != nil {
		return "", err
	}
	name := Name(data, ext)
	// Kept for good: a drop's definition may name it for as long as the
	// drop exists, and the bytes of a name never change.
	if _, err := st.SetNX(ctx, key(name), string(data), 0); err != nil {
		return "", fmt.Errorf("images: store %s: %w", name, err)
	}
	return Prefix + name, nil
}

// Handler serves GET /i/{name} from st: the bytes with their type, cached
// for a year (the name is the content's hash), as inert data (nosniff,
// and a policy that runs nothing should the bytes be opened as a page).
//
// The bytes of an image served are kept in memory (keptBytes in all):
// the picture of a drop on stream is fetched by every phone that opens
// its claim page, and the bytes of a name never change.
func Handler(st store.Store) http.Handler {
	kept := &keptImages{byName: map[string][]byte{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		hash, ext, ok := config.ParseImageName(name)
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		if !ok {
			problem.Respond(w, http.StatusNotFound, "unknown_image", "no such image: image paths are /i/<32 hex digits>.<png|jpg|webp|gif>")
			return
		}
		etag := `"` + hash + `"`
		if match := r.Header.Get("If-None-Match"); match == etag || match == "*" {
			h.Set("ETag", etag)
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		data, ok := kept.get(name)
		if !ok {
			s, err := st.Get(r.Context(), key(name))
			switch {
			case errors.Is(err, store.ErrNotFound):
				problem.Respond(w, http.StatusNotFound, "unknown_image", "no such image")
				return
			case err != nil:
				p := problem.New(http.StatusServiceUnavailable, "store_unavailable", "the image could not be read; retry")
				p.RetryAfter = time.Second
				problem.Write(w, p)
				return
			}
			data = []byte(s)
			kept.put(name, data)
		}
		h.Set("Content-Type", config.ImageExts[ext])
		h.Set("ETag", etag)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		if partOrChange(r.Header) {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
			return
		}
		// The whole image, as http.ServeContent sends it.
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
	})
}

// partOrChange reports whether a request asks for part of an image or
// sets a precondition: http.ServeContent answers those.
func partOrChange(h http.Header) bool {
	for _, name := range [...]string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if _, ok := h[name]; ok {
			return true
		}
	}
	return false
}

// keptBytes bounds the image bytes kept in memory; past it, all are
// dropped and kept afresh as they are served.
const keptBytes = 32 << 20

// keptImages is the bytes of images served, by name.
type keptImages struct {
	mu     sync.Mutex
	byName map[string][]byte
	size   int
}

func (k *keptImages) get(name string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.byName[name]
	return b, ok
}

func (k *keptImages) put(name string, b []byte) {
	if len(b) > keptBytes {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.byName[name]; ok {
		return
	}
	if k.size+len(b) > keptBytes {
		clear(k.byName)
		k.size = 0
	}
	k.byName[name] = b
	k.size += len(b)
}
