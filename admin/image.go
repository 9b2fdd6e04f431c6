package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/images"
	"github.com/dropwire/dropwire/internal/problem"
)

// putImage serves PUT /v1/admin/drops/{id}/image: the body is a PNG,
// JPEG, WebP or GIF image (Content-Type naming its type, which the bytes
// must match), at most images.MaxSize. It is stored once for every
// replica and served at /i/<hash>.<ext>, which becomes the drop's image.
// Uploading the same bytes again changes nothing.
func (a *Admin) putImage(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !imageType(mt) {
		problem.Respond(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the image as image/png, image/jpeg, image/webp or image/gif (SVG is not taken: it can carry script)")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, images.MaxSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.Respond(w, http.StatusRequestEntityTooLarge, "payload_too_large",
				fmt.Sprintf("the image is over %d MiB: a picture for a phone screen needs far less", images.MaxSize>>20))
			return
		}
		problem.Respond(w, http.StatusBadRequest, "malformed_request", "could not read the body")
		return
	}
	path, err := images.Put(r.Context(), a.st, data, mt)
	switch {
	case errors.Is(err, images.ErrUnsupported):
		problem.Respond(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"the body is not the "+mt+" image it is declared as: "+unwrapDetail(err))
		return
	case errors.Is(err, images.ErrTooLarge), errors.Is(err, images.ErrCorrupt):
		problem.Respond(w, http.StatusUnprocessableEntity, "invalid_image", unwrapDetail(err))
		return
	case err != nil:
		a.storeProblem(w, "could not store the image (repeat the upload)", err)
		return
	}
	nd := *d
	nd.Image = path
	if err := a.cfg.Config.CheckDrop(&nd); err != nil {
		a.dropError(w, fmt.Errorf("%w: %w", ErrInvalidDrop, err))
		return
	}
	stored := specOf(&nd, true)
	stored.Sandbox, stored.Source = d.Sandbox, "api"
	js, _ := json.Marshal(stored)
	if err := a.st.HSet(r.Context(), dropsKey, map[string]string{d.ID: string(js)}); err != nil {
		a.storeProblem(w, "image stored; the drop does not show it yet (repeat the upload)", err)
		return
	}
	a.cfg.Drops.Put(nd)
	a.cfg.Verifier.Changed(d.ID)
	a.announce(r.Context(), d.ID)
	a.log.Info().Str("drop", d.ID).Str("image", path).Int("bytes", len(data)).Msg("drop image uploaded")
	a.getDrop(w, r)
}

func imageType(mt string) bool {
	for _, t := range config.ImageExts {
		if mt == t {
			return true
		}
	}
	return false
}

// unwrapDetail is an images error without its package prefix.
func unwrapDetail(err error) string {
	s := err.Error()
	const p = "images: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
