package sdkhooks

import (
	"fmt"
	"net/http"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// Verifier checks one webhook request of one source. Verify must be given
// the raw, unparsed body; it parses nothing in the body before the signature
// has verified. now is the receive time (time.Now in production; tests pass
// the vector's time). A nil error means the request was signed by a holder
// of one of the source's secrets or keys and is fresh.
type Verifier interface {
	Verify(h http.Header, body []byte, now time.Time) (Verified, error)
}

// Kinds of verified request.
const (
	// KindEvent is a capture event (standard and jwt schemes).
	KindEvent = "event"
	// KindNotification is a Twitch EventSub notification.
	KindNotification = "notification"
	// KindChallenge is a Twitch webhook_callback_verification; answer it
	// with Verified.Challenge as text/plain.
	KindChallenge = "challenge"
	// KindRevocation is a Twitch subscription revocation.
	KindRevocation = "revocation"
)

// Verified is what a successful Verify learned from the signed request.
type Verified struct {
	// EventID is the signed event id: webhook-id (standard), the jti
	// claim or "" (jwt: the envelope's id is used then), the message id
	// (twitch).
	EventID string
	// Timestamp is when the sender signed the request: webhook-timestamp,
	// the token's iat (zero when absent) or the Twitch message timestamp.
	Timestamp time.Time
	// Kind is KindEvent, or for twitch KindNotification, KindChallenge or
	// KindRevocation.
	Kind string
	// Challenge is the value to echo for KindChallenge.
	Challenge string
	// Subscription is the Twitch subscription type, taken from the signed
	// body (the unsigned header only when the body lacks it).
	Subscription string
}

// NewVerifier returns the Verifier for src's scheme. An unknown or empty
// scheme is an error wrapping ErrUnknownScheme: a source never falls back to
// accepting unsigned requests.
func NewVerifier(src config.Source) (Verifier, error) {
	// Each case checks err itself: returning a nil *T as a Verifier would
	// make a non-nil interface.
	switch src.Scheme {
	case config.SchemeStandard:
		v, err := NewStandard(src)
		if err != nil {
			return nil, err
		}
		return v, nil
	case config.SchemeJWT:
		v, err := NewJWT(src)
		if err != nil {
			return nil, err
		}
		return v, nil
	case config.SchemeTwitch:
		v, err := NewTwitch(src)
		if err != nil {
			return nil, err
		}
		return v, nil
	default:
		return nil, fmt.Errorf("%w %q for source %q", ErrUnknownScheme, src.Scheme, src.ID)
	}
}

// tolerance returns src's tolerance or def when unset; a negative one is a
// configuration error.
func tolerance(src config.Source, def time.Duration) (time.Duration, error) {
	d := src.Tolerance.D()
	switch {
	case d < 0:
		return 0, fmt.Errorf("%w: tolerance must not be negative", ErrInvalidKey)
	case d == 0:
		return def, nil
	default:
		return d, nil
	}
}

// fresh reports whether ts lies within ±tol of now.
func fresh(ts, now time.Time, tol time.Duration) bool {
	d := now.Sub(ts)
	return d <= tol && d >= -tol
}

// headerValue returns the first value of a header given its canonical and
// lower-case names. Looking the map up directly avoids the allocation of
// http.Header.Get canonicalising a non-standard name on every request;
// the lower-case fallback serves headers built as map literals.
func headerValue(h http.Header, canonical, lower string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	if v := h[lower]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// maxIDLen bounds every id (event, drop, moment).
const maxIDLen = 128

// checkID reports whether s is a usable id: 1 to 128 bytes of printable
// ASCII without spaces.
func checkID(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: field %q is required", ErrMalformedEvent, field)
	}
	if len(s) > maxIDLen {
		return fmt.Errorf("%w: field %q is longer than %d bytes", ErrMalformedEvent, field, maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: field %q must be printable ASCII without spaces", ErrMalformedEvent, field)
		}
	}
	return nil
}

func errMissingHeader(name string) error {
	return fmt.Errorf("%w: header %q is required", ErrMissingSignature, name)
}
