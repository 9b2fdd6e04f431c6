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
	a.server.Handle("GET /static/", staticHandler())
	a.server.OnShutdown("overlay", hub.Shutdown)
	return nil
}

// staticHandler serves web.FS under /static/. The files have no modification
// time, so browsers are asked to revalidate rather than keep a stale
// overlay script after an upgrade; the ETag of each file's bytes makes
// that revalidation a 304 without a body.
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
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if tag, ok := tags[strings.TrimPrefix(r.URL.Path, "/static/")]; ok {
			// http.ServeContent answers If-None-Match with 304 from it.
			w.Header().Set("ETag", tag)
		}
		files.ServeHTTP(w, r)
	})
}
