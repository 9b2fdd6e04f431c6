package sdkhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Capture event types.
const (
	TypeDropTrigger   = "drop.trigger"
	TypeDropClose     = "drop.close"
	TypeStreamOnline  = "stream.online"
	TypeStreamOffline = "stream.offline"
)

// Envelope is the capture event a webhook body or a data-channel message
// carries.
type Envelope struct {
	// ID is the event id, the dedupe key within a source.
	ID string `json:"id"`
	// Type is one of the Type… constants.
	Type string `json:"type"`
	// Drop is the drop id; required for drop.* types.
	Drop string `json:"drop,omitempty"`
	// Moment is the vendor's id of the on-stream moment; defaults to ID.
	Moment string `json:"moment"`
	// OccurredAt is the stream time of the moment, zero when not given.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
	// Data is kept with the moment and never interpreted.
	Data json.RawMessage `json:"data,omitempty"`
}

// DecodeEnvelope decodes a verified body. Unknown top-level fields are
// ignored (forward compatibility); the known ones must have the right type
// and pass the rules below, else the error wraps ErrMalformedEvent and names
// the field:
//
//   - the body is a JSON object;
//   - type is drop.trigger, drop.close, stream.online or stream.offline;
//   - id is required unless headerID is given, in which case headerID is the
//     id (for standard the webhook-id header wins over the body);
//   - drop is required for drop.* types;
//   - moment defaults to the id;
//   - ids (id, drop, moment) are 1–128 bytes of printable ASCII, no spaces;
//   - occurred_at, when present, is RFC 3339;
//   - data is any JSON value, kept raw (a copy, not aliasing body).
//
// JSON null counts as absent, and so does an empty drop or moment.
func DecodeEnvelope(body []byte, headerID string) (Envelope, error) {
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return Envelope{}, fmt.Errorf("%w: body must be a JSON object", ErrMalformedEvent)
	}
	var raw struct {
		ID         *string         `json:"id"`
		Type       *string         `json:"type"`
		Drop       *string         `json:"drop"`
		Moment     *string         `json:"moment"`
		OccurredAt *string         `json:"occurred_at"`
		Data       json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return Envelope{}, fmt.Errorf("%w: field %q must be a string", ErrMalformedEvent, te.Field)
		}
		return Envelope{}, fmt.Errorf("%w: body is not valid JSON", ErrMalformedEvent)
	}

	var e Envelope
	if raw.Type == nil || *raw.Type == "" {
		return Envelope{}, fmt.Errorf("%w: field \"type\" is required", ErrMalformedEvent)
	}
	switch e.Type = *raw.Type; e.Type {
	case TypeDropTrigger, TypeDropClose, TypeStreamOnline, TypeStreamOffline:
	default:
		return Envelope{}, fmt.Errorf("%w: field \"type\" must be one of drop.trigger, drop.close, stream.online, stream.offline", ErrMalformedEvent)
	}

	if headerID != "" {
		e.ID = headerID
	} else if raw.ID != nil {
		e.ID = *raw.ID
	}
	if err := checkID("id", e.ID); err != nil {
		return Envelope{}, err
	}

	if raw.Drop != nil {
		e.Drop = *raw.Drop
	}
	if e.Drop != "" || e.Type == TypeDropTrigger || e.Type == TypeDropClose {
		if err := checkID("drop", e.Drop); err != nil {
			return Envelope{}, err
		}
	}

	e.Moment = e.ID
	if raw.Moment != nil && *raw.Moment != "" {
		if err := checkID("moment", *raw.Moment); err != nil {
			return Envelope{}, err
		}
		e.Moment = *raw.Moment
	}

	if raw.OccurredAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *raw.OccurredAt)
		if err != nil {
			return Envelope{}, fmt.Errorf("%w: field \"occurred_at\" must be an RFC 3339 time", ErrMalformedEvent)
		}
		e.OccurredAt = t
	}

	if len(raw.Data) > 0 && !bytes.Equal(raw.Data, []byte("null")) {
		e.Data = raw.Data
	}
	return e, nil
}
