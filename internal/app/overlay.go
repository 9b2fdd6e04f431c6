package app

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

// wireOverlay builds the overlay hub, its pages and its WebSocket.
func (a *App) wireOverlay() error {
	// Every scan resolves its code against the drop's state; claims keep
	// the cache fresh (Claims.States).
	a.states = verifier.NewStateCache(a.verifier, time.Second)
	codes, err := overlay.NewCodes(overlay.CodesConfig{Store: a.store, Drops: a.drops, States: a.states})
	if err != nil {
		return err
	}
	a.codes = codes
	hub, err := overlay.NewHub(overlay.HubConfig{
		Store:     a.store,
		Drops:     a.drops,
		States:    a.verifier,
		Codes:     codes,
		PublicURL: a.cfg.PublicURL,
		// Looked up on every request: keys rotated through the admin API
		// apply at once.
		Keys:       a.overlayKeys,
		Logger:     a.log.With().Str("component", "overlay").Logger(),
		Registerer: a.server.Registry(),
	})
	if err != nil {
		return err
	}
	page, err := fs.ReadFile(web.FS, "overlay.html")
	if err != nil {
		return err
	}
	a.server.Handle("GET /overlay/{creator}", hub.PageHandler(page))
	a.server.Handle("GET /v1/overlay/{creator}/ws", hub.WSHandler())
	a.server.Handle("GET /static/", keptStatic(staticHandler()))
	a.server.OnShutdown("overlay", hub.Shutdown)
	a.hub = hub
	return nil
}

// staticHandler serves web.FS under /static/. Each file has an ETag, its
// content hash (web.Version), so a browser revalidates it with a 304. A
// URL whose ?v= is that hash (web.AssetURL) names one content for good
// and is cached for a year; any other URL must be revalidated, so an
// upgrade reaches an open overlay at its next load.
func staticHandler() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(web.FS))
	tags := map[string]string{}
	_ = fs.WalkDir(web.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := fs.ReadFile(web.FS, p); err == nil {
			sum := sha256.Sum256(b)
			tags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			problem.Respond(w, http.StatusNotFound, "not_found", "no such file")
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		if v := web.Version(strings.TrimPrefix(r.URL.Path, "/static/")); v != "" {
			h.Set("ETag", `"`+v+`"`)
			if r.URL.Query().Get("v") == v {
				h.Set("Cache-Control", "public, max-age=31536000, immutable")
			}
		}
		h.Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
