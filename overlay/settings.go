package overlay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Limits of Settings.
const (
	// MinQRSize is the smallest QR box, in px of a 1920×1080 canvas: a
	// version 4 symbol with its quiet zone keeps about 2.6 px a module
	// when the stream is scaled down to 1280×720, which phones (and the
	// tests' decoder) still read.
	MinQRSize     = 160
	MaxQRSize     = 600
	DefaultQRSize = 280
	// MaxTextLen bounds the call to action and the messages, in characters.
	MaxTextLen          = 40
	DefaultCallToAction = "Scan to claim"
	DefaultSoldOutText  = "Sold out"
	DefaultClosedText   = "Drop closed"
	// MaxMessageSeconds bounds how long "sold out" / "closed" shows.
	MaxMessageSeconds = 30
	// maxCoord bounds x and y in px (a 4K canvas).
	maxCoord = 3840
)

// Settings is how a creator's overlay looks, as the creator set it on
// the dashboard. Every overlay of the creator, on every replica, applies
// them as soon as they change (the state message's "settings"); URL
// parameters of one overlay override them.
//
// A zero field means its default. Normalize makes every default zero, so
// that the stored form, and what frames carry, names only what differs.
type Settings struct {
	// Position is the corner the card sits in: tl, tr, bl or br (default).
	Position string `json:"position,omitempty"`
	// X and Y, both or neither, place the card's top-left corner instead:
	// "120px" or "12.5%" of the canvas.
	X string `json:"x,omitempty"`
	Y string `json:"y,omitempty"`
	// QRSize is the QR box's side in px of a 1920×1080 canvas,
	// MinQRSize to MaxQRSize; default DefaultQRSize.
	QRSize int `json:"qr_size,omitempty"`
	// Theme is dark (default) or light.
	Theme string `json:"theme,omitempty"`
	// Brand is the accent colour, "#rrggbb"; default the theme's.
	Brand string `json:"brand,omitempty"`
	// TitleLines is how many lines the title may take: 1 or 2 (default).
	TitleLines int `json:"title_lines,omitempty"`
	// CallToAction is the line above the QR; default DefaultCallToAction.
	CallToAction string `json:"call_to_action,omitempty"`
	// HideCountdown and HideStock take the time left and the stock off
	// the card.
	HideCountdown bool `json:"hide_countdown,omitempty"`
	HideStock     bool `json:"hide_stock,omitempty"`
	// SoldOutText and ClosedText are the messages shown when a drop sells
	// out or closes, for MessageSeconds (1 to MaxMessageSeconds; default
	// the server's, 6 s).
	SoldOutText    string `json:"sold_out_text,omitempty"`
	ClosedText     string `json:"closed_text,omitempty"`
	MessageSeconds int    `json:"message_seconds,omitempty"`
	// OnlyLive draws the overlay only while OBS streams (OBS tells the
	// page); elsewhere it always draws.
	OnlyLive bool `json:"only_live,omitempty"`
}

// SettingsError is an invalid field of Settings.
type SettingsError struct {
	Field  string // the JSON name
	Reason string
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Reason }

// Normalize validates s and sets every field that holds its default to
// zero. It returns a *SettingsError naming the first bad field.
func (s *Settings) Normalize() error {
	bad := func(field, format string, a ...any) error {
		return &SettingsError{Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	switch s.Position {
	case "", "tl", "tr", "bl":
	case "br":
		s.Position = ""
	default:
		return bad("position", "must be one of tl, tr, bl, br")
	}
	if (s.X == "") != (s.Y == "") {
		if s.X == "" {
			return bad("x", "x and y go together: set both or neither")
		}
		return bad("y", "x and y go together: set both or neither")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"x", &s.X}, {"y", &s.Y}} {
		if *f.v == "" {
			continue
		}
		v, ok := coord(*f.v)
		if !ok {
			return bad(f.name, "must be a length like 120px (0 to %d) or 12.5%% (0 to 100)", maxCoord)
		}
		*f.v = v
	}
	switch {
	case s.QRSize == 0 || s.QRSize == DefaultQRSize:
		s.QRSize = 0
	case s.QRSize < MinQRSize || s.QRSize > MaxQRSize:
		return bad("qr_size", "must be between %d and %d px", MinQRSize, MaxQRSize)
	}
	switch s.Theme {
	case "", "light":
	case "dark":
		s.Theme = ""
	default:
		return bad("theme", "must be dark or light")
	}
	if s.Brand != "" {
		if !isHexColour(s.Brand) {
			return bad("brand", "must be a colour like #ff3366")
		}
		s.Brand = strings.ToLower(s.Brand)
	}
	switch s.TitleLines {
	case 0, 1:
	case 2:
		s.TitleLines = 0
	default:
		return bad("title_lines", "must be 1 or 2")
	}
	for _, f := range []struct {
		name, def string
		v         *string
	}{{"call_to_action", DefaultCallToAction, &s.CallToAction},
		{"sold_out_text", DefaultSoldOutText, &s.SoldOutText},
		{"closed_text", DefaultClosedText, &s.ClosedText}} {
		t := strings.TrimSpace(*f.v)
		switch {
		case !utf8.ValidString(t) || strings.ContainsFunc(t, isControl):
			return bad(f.name, "must be plain text on one line")
		case utf8.RuneCountInString(t) > MaxTextLen:
			return bad(f.name, "is %d characters; at most %d fit the card", utf8.RuneCountInString(t), MaxTextLen)
		case t == f.def:
			t = ""
		}
		*f.v = t
	}
	if s.MessageSeconds < 0 || s.MessageSeconds > MaxMessageSeconds {
		return bad("message_seconds", "must be between 1 and %d (0: the default)", MaxMessageSeconds)
	}
	return nil
}

// Filled returns s with every default spelled out, as the admin API
// shows it.
func (s Settings) Filled(linger time.Duration) Settings {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.Position, "br")
	def(&s.Theme, "dark")
	def(&s.CallToAction, DefaultCallToAction)
	def(&s.SoldOutText, DefaultSoldOutText)
	def(&s.ClosedText, DefaultClosedText)
	if s.QRSize == 0 {
		s.QRSize = DefaultQRSize
	}
	if s.TitleLines == 0 {
		s.TitleLines = 2
	}
	if s.MessageSeconds == 0 {
		s.MessageSeconds = int((linger + time.Second - 1) / time.Second)
	}
	return s
}

// linger is how long the creator's sold-out or closed message shows.
func (s *Settings) linger(def time.Duration) time.Duration {
	if s == nil || s.MessageSeconds == 0 {
		return def
	}
	return time.Duration(s.MessageSeconds) * time.Second
}

func coord(v string) (string, bool) {
	num, unit := v, ""
	switch {
	case strings.HasSuffix(v, "px"):
		num, unit = v[:len(v)-2], "px"
	case strings.HasSuffix(v, "%"):
		num, unit = v[:len(v)-1], "%"
	default:
		return "", false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || strings.ContainsAny(num, "eE+") {
		return "", false
	}
	if (unit == "px" && f > maxCoord) || (unit == "%" && f > 100) {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + unit, true
}

func isHexColour(v string) bool {
	if len(v) != 7 || v[0] != '#' {
		return false
	}
	for _, c := range v[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// SettingsKey is where a creator's overlay settings are stored: one key,
// in the creator's own hash slot.
func SettingsKey(creator string) string { return "{c:" + creator + "}:overlay:settings" }

// ReadSettings reads a creator's settings; none stored: the defaults.
func ReadSettings(ctx context.Context, st store.Store, creator string) (Settings, error) {
	var s Settings
	v, err := st.Get(ctx, SettingsKey(creator))
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return Settings{}, fmt.Errorf("overlay: stored settings of %s: %w", creator, err)
	}
	return s, nil
}

// SaveSettings validates s (a *SettingsError when it is not valid; then
// nothing changes), stores it and announces the change, so every overlay
// of the creator on every replica applies it. A lost announcement is
// repaired by the hubs' periodic resync. It returns s normalized.
func SaveSettings(ctx context.Context, st store.Store, creator string, s Settings) (Settings, error) {
	if err := s.Normalize(); err != nil {
		return Settings{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return Settings{}, err
	}
	if err := st.Set(ctx, SettingsKey(creator), string(b), 0); err != nil {
		return Settings{}, err
	}
	if err := st.Publish(ctx, verifier.StateChannel, []byte(verifier.SettingsAnnouncement(creator))); err != nil {
		return s, fmt.Errorf("%w: %w", ErrNotAnnounced, err)
	}
	return s, nil
}

// wire is s as frames carry it: null when every field is the default.
func (s *Settings) wire() json.RawMessage {
	if s == nil || *s == (Settings{}) {
		return nil
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
