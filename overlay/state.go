package overlay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"
)

// ProtocolVersion is the "v" of state messages.
const ProtocolVersion = 2

// Status values of a state message.
const (
	StatusIdle    = "idle"
	StatusOpen    = "open"
	StatusSoldOut = "sold_out"
	StatusClosed  = "closed"
)

// Time is a time in overlay messages: a JSON number, milliseconds since
// the Unix epoch (what JavaScript's Date.now() counts), half the bytes of
// an RFC 3339 string.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, t.UnixMilli(), 10), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	t.Time = time.UnixMilli(ms).UTC()
	return nil
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
	// Settings are the creator's overlay settings, only the fields that
	// differ from their defaults; absent when none does.
	Settings json.RawMessage `json:"settings,omitempty"`
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

// QR is the claim QR as frames carry it: the symbol's size in modules,
// its modules packed by PackModules (the page draws them, quiet zone
// included), and when the code rotates. The claim URL it encodes is not
// repeated beside it: Text reads it from the modules.
type QR struct {
	Size      int    `json:"size"`
	Modules   string `json:"modules"`
	RotatesAt Time   `json:"rotates_at"`

	url string // what it encodes; set by the hub, not sent
}

// same reports whether s and o show the same thing (seq and server time
// aside), so that a rebuild that changes nothing sends nothing.
func (s *State) same(o *State) bool {
	if s.Status != o.Status || (s.Drop == nil) != (o.Drop == nil) || (s.QR == nil) != (o.QR == nil) ||
		(s.Stock == nil) != (o.Stock == nil) || (s.ClosesAt == nil) != (o.ClosesAt == nil) ||
		!bytes.Equal(s.Settings, o.Settings) {
		return false
	}
	// Times compare with Equal: one read back from the store and one taken
	// from an announcement differ in representation, not in instant.
	if s.Drop != nil && (s.Drop.ID != o.Drop.ID || s.Drop.Title != o.Drop.Title || !s.Drop.OpenedAt.Equal(o.Drop.OpenedAt.Time)) {
		return false
	}
	if s.Stock != nil && *s.Stock != *o.Stock {
		return false
	}
	if s.ClosesAt != nil && !s.ClosesAt.Equal(o.ClosesAt.Time) {
		return false
	}
	if s.QR != nil && (s.QR.url != o.QR.url || s.QR.Modules != o.QR.Modules || !s.QR.RotatesAt.Equal(o.QR.RotatesAt.Time)) {
		return false
	}
	return true
}

// encode returns s as one JSON text frame. HTML escaping is off: a title
// with & or < stays as it is, in fewer bytes.
func (s *State) encode() []byte {
	var b bytes.Buffer
	b.Grow(512)
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
