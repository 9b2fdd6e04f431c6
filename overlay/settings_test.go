package overlay

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store/storetest"
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

// A creator's settings ride the state message, and their message time
// replaces the server's: with a server default of an hour, a closing
// message set to 1 s gives way to idle.
func TestHubAppliesSettings(t *testing.T) {
	st := storetest.Memory(t)
	e := newEnv(t, st, func(c *HubConfig) { c.Linger = time.Hour }, testDrop("a"))
	c := e.dial(t)
	if s := c.next(); s.Status != StatusIdle || s.Settings != nil {
		t.Fatalf("first state %+v", s)
	}
	if _, err := SaveSettings(context.Background(), st, "ava", Settings{Position: "tl", ClosedText: "See you next time", MessageSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	s := c.next()
	var got Settings
	if err := json.Unmarshal(s.Settings, &got); err != nil || got != (Settings{Position: "tl", ClosedText: "See you next time", MessageSeconds: 1}) {
		t.Fatalf("settings frame %s: %+v %v", s.Settings, got, err)
	}
	e.trigger(t, "a", "evt-1")
	c.until(func(s State) bool { return s.Status == StatusOpen })
	e.close(t, "a", "evt-2")
	c.until(func(s State) bool { return s.Status == StatusClosed })
	if s := c.next(); s.Status != StatusIdle || s.Settings == nil {
		t.Fatalf("after the closing message: %+v", s)
	}
}
