package overlay

import (
	"encoding/json"
	"testing"
)

// Normalize keeps what differs from the defaults, in one spelling, so the
// stored form and the frame name only that; normalizing again changes
// nothing.
func TestSettingsNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{`{}`, `{}`},
		{`{"position":"br","qr_size":280,"theme":"dark","title_lines":2,"call_to_action":"Scan to claim"}`, `{}`},
		{`{"position":"tl","qr_size":160,"brand":"#FF3366","call_to_action":"  Go!  "}`,
			`{"position":"tl","qr_size":160,"brand":"#ff3366","call_to_action":"Go!"}`},
		{`{"x":"010.50%","y":"0px"}`, `{"x":"10.5%","y":"0px"}`},
	} {
		var s Settings
		if err := json.Unmarshal([]byte(tc.in), &s); err != nil {
			t.Fatal(err)
		}
		if err := s.Normalize(); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		got, _ := json.Marshal(s)
		if string(got) != tc.want {
			t.Errorf("%s normalized to %s, want %s", tc.in, got, tc.want)
		}
		if w := s.wire(); (tc.want == `{}`) != (w == nil) {
			t.Errorf("%s: frame carries %s", tc.in, w)
		}
	}
}

func FuzzSettingsNormalize(f *testing.F) {
	f.Add(`{"position":"tl","x":"10px","y":"5%","qr_size":160,"theme":"light","brand":"#aBcDeF","call_to_action":"Scan"}`)
	f.Add(`{"x":"1e3px","y":"-1%","sold_out_text":"a\u0000b","message_seconds":31}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Settings
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		if s.Normalize() != nil {
			return
		}
		once := s
		if err := s.Normalize(); err != nil || s != once {
			t.Fatalf("normalizing %q again: %+v %v, was %+v", in, s, err, once)
		}
	})
}
