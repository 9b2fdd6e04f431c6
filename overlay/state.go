package overlay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"
)

// Status values of a state message.
const (
	StatusIdle    = "idle"
	StatusOpen    = "open"
	StatusSoldOut = "sold_out"
	StatusClosed  = "closed"
)

// TimeFormat is the layout of every time in overlay messages: RFC 3339,
// UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Time is a time encoded with TimeFormat.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeFormat)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeFormat)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	t.Time = v
	return err
}

// State is the whole overlay state of one creator, as sent to every overlay
// on connect and on every change. See the package doc for its fields.
type State struct {
	V          int       `json:"v"`
	Type       string    `json:"type"`
	Seq        int64     `json:"seq"`
	ServerTime Time      `json:"server_time"`
	Status     string    `json:"status"`
	Drop       *DropInfo `json:"drop"`
	ClosesAt   *Time     `json:"closes_at"`
	Stock      *Stock    `json:"stock"`
	QR         *QR       `json:"qr"`
}

// DropInfo describes the drop an overlay shows.
type DropInfo struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	OpenedAt Time   `json:"opened_at"`
}

// Stock is what is left of a drop, over all its nodes and SKUs.
type Stock struct {
	Left  int64 `json:"left"`
	Total int64 `json:"total"`
}

// QR is the claim QR: its URL, the URL rendered as SVG, and when the code
// rotates.
type QR struct {
	URL       string `json:"url"`
	SVG       string `json:"svg"`
	RotatesAt Time   `json:"rotates_at"`
}

// same reports whether s and o show the same thing (seq and server time
// aside), so that a rebuild that changes nothing sends nothing.
func (s *State) same(o *State) bool {
	if s.Status != o.Status || (s.Drop == nil) != (o.Drop == nil) || (s.QR == nil) != (o.QR == nil) ||
		(s.Stock == nil) != (o.Stock == nil) || (s.ClosesAt == nil) != (o.ClosesAt == nil) {
		return false
	}
	if s.Drop != nil && *s.Drop != *o.Drop {
		return false
	}
	if s.Stock != nil && *s.Stock != *o.Stock {
		return false
	}
	if s.ClosesAt != nil && !s.ClosesAt.Equal(o.ClosesAt.Time) {
		return false
	}
	if s.QR != nil && (s.QR.URL != o.QR.URL || !s.QR.RotatesAt.Equal(o.QR.RotatesAt.Time)) {
		return false
	}
	return true
}

// encode returns s as one JSON text frame. HTML escaping is off: the SVG
// stays readable and a third smaller.
func (s *State) encode() []byte {
	var b bytes.Buffer
	b.Grow(512 + func() int {
		if s.QR != nil {
			return len(s.QR.SVG)
		}
		return 0
	}())
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // cannot fail: plain fields only
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// pingFrame is the application-level keepalive the page watches.
var pingFrame = textFrame([]byte(`{"type":"ping"}`))

// frame is a text message in its wire form: framed once for every
// connection it goes to, and written to each as it is.
type frame []byte

// textFrame frames payload as one unmasked text message (RFC 6455 §5.2):
// FIN and opcode 1, then the length in 7, 16 or 64 bits. A server never
// masks, and overlays negotiate no extension.
func textFrame(payload []byte) frame {
	n := len(payload)
	f := make([]byte, 0, 10+n)
	f = append(f, 0x81)
	switch {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xFFFF:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}
