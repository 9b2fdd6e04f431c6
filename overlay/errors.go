package overlay

import "errors"

var (
	// ErrUnknownCode is returned by [Codes.Resolve] for a code that no open
	// drop has shown: mistyped, forged, or of a drop that never opened.
	ErrUnknownCode = errors.New("overlay: unknown code")
	// ErrCodeExpired is returned by [Codes.Resolve] for a code that was
	// shown but rotated out more than the drop's scan_grace ago.
	ErrCodeExpired = errors.New("overlay: code expired")
	// ErrDropClosed is returned by [Codes.Resolve] for a code that belongs
	// to a drop that has closed (window over or closed by its creator).
	ErrDropClosed = errors.New("overlay: drop closed")
	// ErrNotAnnounced is returned by [SaveSettings] when the settings are
	// stored but their announcement was not sent: overlays apply them at
	// their hub's next resync instead of at once.
	ErrNotAnnounced = errors.New("overlay: settings stored, not announced")
	// ErrClosed is returned when the Hub has been shut down.
	ErrClosed = errors.New("overlay: hub shut down")
)
