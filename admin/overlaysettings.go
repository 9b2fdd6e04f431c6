package admin

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/overlay"
)

// OverlaySettingsView is a creator's overlay settings as the admin API
// shows them: every field spelled out, with the limits the dashboard's
// form keeps to.
type OverlaySettingsView struct {
	Creator  string           `json:"creator"`
	Settings overlay.Settings `json:"settings"`
	Limits   SettingsLimits   `json:"limits"`
	// Sample is what the dashboard's preview shows: a made-up open drop
	// with a QR of the same version as a real claim URL's. It is never
	// sent to an overlay.
	Sample *PreviewSample `json:"sample,omitempty"`
}

// PreviewSample is the drop the dashboard's preview shows.
type PreviewSample struct {
	Drop  overlay.DropInfo `json:"drop"`
	Stock overlay.Stock    `json:"stock"`
	QR    struct {
		Size    int    `json:"size"`
		Modules string `json:"modules"`
	} `json:"qr"`
}

// sampleTitle wraps to two lines on the default card: the preview shows
// how a long title is cut.
const sampleTitle = "Limited edition holographic sticker pack, signed by the artist"

func (a *Admin) previewSample() *PreviewSample {
	p := &PreviewSample{Drop: overlay.DropInfo{ID: "sample", Title: sampleTitle}, Stock: overlay.Stock{Left: 42, Total: 50}}
	size, modules, err := overlay.QRModules(strings.TrimRight(a.cfg.Config.PublicURL, "/") + "/c/PREVIEW0PREVIEW")
	if err != nil {
		return nil
	}
	p.QR.Size, p.QR.Modules = size, modules
	return p
}

// SettingsLimits are the allowed ranges of overlay settings.
type SettingsLimits struct {
	QRSizeMin         int `json:"qr_size_min"`
	QRSizeMax         int `json:"qr_size_max"`
	TextMax           int `json:"text_max"`
	MessageSecondsMax int `json:"message_seconds_max"`
}

var settingsLimits = SettingsLimits{QRSizeMin: overlay.MinQRSize, QRSizeMax: overlay.MaxQRSize,
	TextMax: overlay.MaxTextLen, MessageSecondsMax: overlay.MaxMessageSeconds}

func (a *Admin) knownCreator(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("creator")
	if !slices.ContainsFunc(a.cfg.Config.Creators, func(c config.Creator) bool { return c.ID == id }) {
		problem.Respond(w, http.StatusNotFound, "unknown_creator", "no creator "+id)
		return "", false
	}
	return id, true
}

func (a *Admin) settingsView(creator string, s overlay.Settings) OverlaySettingsView {
	return OverlaySettingsView{Creator: creator, Settings: s.Filled(overlay.DefaultLinger), Limits: settingsLimits}
}

// getOverlaySettings serves GET /v1/admin/creators/{creator}/overlay-settings.
func (a *Admin) getOverlaySettings(w http.ResponseWriter, r *http.Request) {
	creator, ok := a.knownCreator(w, r)
	if !ok {
		return
	}
	s, err := overlay.ReadSettings(r.Context(), a.st, creator)
	if err != nil {
		a.storeProblem(w, "could not read the overlay settings", err)
		return
	}
	v := a.settingsView(creator, s)
	v.Sample = a.previewSample()
	writeJSON(w, http.StatusOK, v)
}

// putOverlaySettings serves PUT /v1/admin/creators/{creator}/overlay-settings:
// the body replaces the settings (a field left out gets its default); an
// invalid field gets 422 naming it, and nothing changes. Every overlay of
// the creator applies the new settings at once.
func (a *Admin) putOverlaySettings(w http.ResponseWriter, r *http.Request) {
	creator, ok := a.knownCreator(w, r)
	if !ok {
		return
	}
	var s overlay.Settings
	if p := decode(w, r, &s); p != nil {
		problem.Write(w, p)
		return
	}
	saved, err := overlay.SaveSettings(r.Context(), a.st, creator, s)
	var se *overlay.SettingsError
	switch {
	case errors.As(err, &se):
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "invalid_overlay_settings", se.Error()).
			With("field", se.Field))
		return
	case errors.Is(err, overlay.ErrNotAnnounced):
		a.log.Warn().Err(err).Str("creator", creator).Msg("admin: overlay settings apply at the next resync")
	case err != nil:
		a.storeProblem(w, "could not store the overlay settings", err)
		return
	}
	a.log.Info().Str("creator", creator).Msg("admin: overlay settings changed")
	writeJSON(w, http.StatusOK, a.settingsView(creator, saved))
}
