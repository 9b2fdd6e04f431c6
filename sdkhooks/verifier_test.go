package sdkhooks

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dropwire/dropwire/internal/config"
)

func TestNewVerifier(t *testing.T) {
	tests := []struct {
		src     config.Source
		want    string // type name, "" for an error
		wantErr error
	}{
		{src: config.Source{Scheme: config.SchemeStandard, Secrets: []string{refSecret}}, want: "*sdkhooks.Standard"},
		{src: config.Source{Scheme: config.SchemeJWT, Secrets: []string{"shared"}}, want: "*sdkhooks.JWT"},
		{src: config.Source{Scheme: config.SchemeTwitch, Secrets: []string{"shared"}}, want: "*sdkhooks.Twitch"},
		{src: config.Source{Scheme: "", Secrets: []string{refSecret}}, wantErr: ErrUnknownScheme},
		{src: config.Source{Scheme: "Standard", Secrets: []string{refSecret}}, wantErr: ErrUnknownScheme},
		{src: config.Source{Scheme: "hmac", Secrets: []string{refSecret}}, wantErr: ErrUnknownScheme},
		{src: config.Source{Scheme: config.SchemeStandard}, wantErr: ErrInvalidKey},
	}
	for _, tc := range tests {
		v, err := NewVerifier(tc.src)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) || v != nil {
				t.Errorf("NewVerifier(%q) = %v, %v; want error %v", tc.src.Scheme, v, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewVerifier(%q): %v", tc.src.Scheme, err)
			continue
		}
		if got := fmt.Sprintf("%T", v); got != tc.want {
			t.Errorf("NewVerifier(%q) is %s, want %s", tc.src.Scheme, got, tc.want)
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrMissingSignature, "missing_signature"},
		{ErrBadSignature, "bad_signature"},
		{ErrStaleTimestamp, "stale_timestamp"},
		{ErrMalformedEvent, "malformed_event"},
		{ErrPayloadTooLarge, "payload_too_large"},
		{fmt.Errorf("%w: field \"drop\" is required", ErrMalformedEvent), "malformed_event"},
		{fmt.Errorf("outer: %w", fmt.Errorf("%w: x", ErrStaleTimestamp)), "stale_timestamp"},
		{ErrUnknownScheme, "internal"},
		{ErrInvalidKey, "internal"},
		{errors.New("other"), "internal"},
	}
	for _, tc := range tests {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
