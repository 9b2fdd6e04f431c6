package sdkhooks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeEnvelope(t *testing.T) {
	long := strings.Repeat("a", 128)
	tooLong := strings.Repeat("a", 129)
	at := time.Date(2026, 5, 1, 12, 0, 0, 250_000_000, time.UTC)

	tests := []struct {
		name      string
		body      string
		headerID  string
		want      Envelope
		wantErr   error
		wantField string // must appear in the error message
	}{
		{
			name: "full drop.trigger",
			body: `{"id":"evt_1","type":"drop.trigger","drop":"sticker-spring","moment":"m-42","occurred_at":"2026-05-01T12:00:00.25Z","data":{"scene":"intro","n":[1,2]}}`,
			want: Envelope{ID: "evt_1", Type: "drop.trigger", Drop: "sticker-spring", Moment: "m-42", OccurredAt: at, Data: []byte(`{"scene":"intro","n":[1,2]}`)},
		},
		{name: "moment defaults to id", body: `{"id":"evt_1","type":"drop.close","drop":"d"}`, want: Envelope{ID: "evt_1", Type: "drop.close", Drop: "d", Moment: "evt_1"}},
		{name: "empty moment defaults to id", body: `{"id":"evt_1","type":"drop.close","drop":"d","moment":""}`, want: Envelope{ID: "evt_1", Type: "drop.close", Drop: "d", Moment: "evt_1"}},
		{name: "null moment defaults to id", body: `{"id":"evt_1","type":"drop.close","drop":"d","moment":null}`, want: Envelope{ID: "evt_1", Type: "drop.close", Drop: "d", Moment: "evt_1"}},
		{name: "header id wins", body: `{"id":"evt_body","type":"drop.trigger","drop":"d"}`, headerID: "msg_hdr", want: Envelope{ID: "msg_hdr", Type: "drop.trigger", Drop: "d", Moment: "msg_hdr"}},
		{name: "header id stands in for a missing id", body: `{"type":"stream.online"}`, headerID: "msg_hdr", want: Envelope{ID: "msg_hdr", Type: "stream.online", Moment: "msg_hdr"}},
		{name: "header id wins over an invalid body id", body: `{"id":"bad id","type":"stream.online"}`, headerID: "msg_hdr", want: Envelope{ID: "msg_hdr", Type: "stream.online", Moment: "msg_hdr"}},
		{name: "invalid header id", body: `{"type":"stream.online"}`, headerID: "msg hdr", wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "stream.online without drop", body: `{"id":"e","type":"stream.online"}`, want: Envelope{ID: "e", Type: "stream.online", Moment: "e"}},
		{name: "stream.offline with drop", body: `{"id":"e","type":"stream.offline","drop":"d"}`, want: Envelope{ID: "e", Type: "stream.offline", Drop: "d", Moment: "e"}},
		{name: "unknown fields ignored", body: `{"id":"e","type":"stream.online","future":{"x":1},"v":2}`, want: Envelope{ID: "e", Type: "stream.online", Moment: "e"}},
		{name: "data kept raw (string)", body: `{"id":"e","type":"stream.online","data":"text"}`, want: Envelope{ID: "e", Type: "stream.online", Moment: "e", Data: []byte(`"text"`)}},
		{name: "null data", body: `{"id":"e","type":"stream.online","data":null}`, want: Envelope{ID: "e", Type: "stream.online", Moment: "e"}},
		{name: "occurred_at with offset", body: `{"id":"e","type":"stream.online","occurred_at":"2026-05-01T14:00:00.25+02:00"}`, want: Envelope{ID: "e", Type: "stream.online", Moment: "e", OccurredAt: at}},
		{name: "id of 128 bytes", body: `{"id":"` + long + `","type":"stream.online"}`, want: Envelope{ID: long, Type: "stream.online", Moment: long}},
		{name: "whitespace around", body: " \n\t{\"id\":\"e\",\"type\":\"stream.online\"}\n", want: Envelope{ID: "e", Type: "stream.online", Moment: "e"}},

		{name: "missing type", body: `{"id":"e","drop":"d"}`, wantErr: ErrMalformedEvent, wantField: `"type"`},
		{name: "empty type", body: `{"id":"e","type":""}`, wantErr: ErrMalformedEvent, wantField: `"type"`},
		{name: "unknown type", body: `{"id":"e","type":"drop.open","drop":"d"}`, wantErr: ErrMalformedEvent, wantField: `"type"`},
		{name: "type not a string", body: `{"id":"e","type":1}`, wantErr: ErrMalformedEvent, wantField: `"type"`},
		{name: "drop.trigger without drop", body: `{"id":"e","type":"drop.trigger"}`, wantErr: ErrMalformedEvent, wantField: `"drop"`},
		{name: "drop.close with empty drop", body: `{"id":"e","type":"drop.close","drop":""}`, wantErr: ErrMalformedEvent, wantField: `"drop"`},
		{name: "drop not a string", body: `{"id":"e","type":"drop.close","drop":{"id":"d"}}`, wantErr: ErrMalformedEvent, wantField: `"drop"`},
		{name: "drop with a space", body: `{"id":"e","type":"drop.close","drop":"sticker spring"}`, wantErr: ErrMalformedEvent, wantField: `"drop"`},
		{name: "missing id", body: `{"type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "null id", body: `{"id":null,"type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id not a string", body: `{"id":42,"type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id too long", body: `{"id":"` + tooLong + `","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id with a space", body: `{"id":"evt 1","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id with a control character", body: `{"id":"evt\u0001","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id with a tab", body: `{"id":"evt\t1","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id not ASCII", body: `{"id":"évt","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "id with DEL", body: `{"id":"evt\u007f","type":"stream.online"}`, wantErr: ErrMalformedEvent, wantField: `"id"`},
		{name: "moment too long", body: `{"id":"e","type":"stream.online","moment":"` + tooLong + `"}`, wantErr: ErrMalformedEvent, wantField: `"moment"`},
		{name: "moment with a space", body: `{"id":"e","type":"stream.online","moment":"m 1"}`, wantErr: ErrMalformedEvent, wantField: `"moment"`},
		{name: "moment not a string", body: `{"id":"e","type":"stream.online","moment":7}`, wantErr: ErrMalformedEvent, wantField: `"moment"`},
		{name: "occurred_at not RFC 3339", body: `{"id":"e","type":"stream.online","occurred_at":"yesterday"}`, wantErr: ErrMalformedEvent, wantField: `"occurred_at"`},
		{name: "occurred_at date only", body: `{"id":"e","type":"stream.online","occurred_at":"2026-05-01"}`, wantErr: ErrMalformedEvent, wantField: `"occurred_at"`},
		{name: "occurred_at a number", body: `{"id":"e","type":"stream.online","occurred_at":1714564800}`, wantErr: ErrMalformedEvent, wantField: `"occurred_at"`},
		{name: "array body", body: `[{"id":"e","type":"stream.online"}]`, wantErr: ErrMalformedEvent, wantField: "JSON object"},
		{name: "null body", body: `null`, wantErr: ErrMalformedEvent, wantField: "JSON object"},
		{name: "string body", body: `"x"`, wantErr: ErrMalformedEvent, wantField: "JSON object"},
		{name: "empty body", body: ``, wantErr: ErrMalformedEvent, wantField: "JSON object"},
		{name: "truncated JSON", body: `{"id":"e","type":"stream.online"`, wantErr: ErrMalformedEvent, wantField: "JSON"},
		{name: "trailing data", body: `{"id":"e","type":"stream.online"} {}`, wantErr: ErrMalformedEvent, wantField: "JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEnvelope([]byte(tc.body), tc.headerID)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantField) {
					t.Errorf("error %q does not name %s", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			if got.ID != tc.want.ID || got.Type != tc.want.Type || got.Drop != tc.want.Drop || got.Moment != tc.want.Moment ||
				!got.OccurredAt.Equal(tc.want.OccurredAt) || string(got.Data) != string(tc.want.Data) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeEnvelopeDataIsACopy(t *testing.T) {
	body := []byte(`{"id":"e","type":"stream.online","data":{"k":"v"}}`)
	env, err := DecodeEnvelope(body, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if string(env.Data) != `{"k":"v"}` {
		t.Errorf("Data aliases the body: %s", env.Data)
	}
}
