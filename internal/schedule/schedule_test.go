package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A window is read in its zone's rules of that day: Berlin's evening
// window is an hour later in UTC once summer time has ended.
func TestParseWindowAcrossDaylightSaving(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	for _, tc := range []struct {
		in         string
		start, end string
	}{
		{"2026-10-24T18:00/2026-10-24T20:00", "2026-10-24T16:00:00Z", "2026-10-24T18:00:00Z"},
		{"2026-10-25T18:00/2026-10-25T20:00", "2026-10-25T17:00:00Z", "2026-10-25T19:00:00Z"},
		// Across the change itself: 01:30 CEST to 03:30 CET is three hours.
		{"2026-10-25T01:30/2026-10-25T03:30", "2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z"},
	} {
		w, err := ParseWindow(tc.in, berlin)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !w.Start.Equal(utc(t, tc.start)) || !w.End.Equal(utc(t, tc.end)) {
			t.Errorf("%s: %s–%s, want %s–%s", tc.in, w.Start.UTC(), w.End.UTC(), tc.start, tc.end)
		}
	}
}

func TestParseWindowRefusals(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	for _, tc := range []struct{ in, want string }{
		{"2026-12-05T20:00/2026-12-05T18:00", "ends before it starts"},
		{"2026-12-05T18:00/2026-12-05T18:00", "ends before it starts"},
		{"2026-12-05T18:00", "not a window"},
		{"2026-12-05 18:00/2026-12-05T20:00", "not a local date and time"},
		{"2026-12-05T18:00Z/2026-12-05T20:00", "not a local date and time"},
		// Clocks jump from 02:00 to 03:00 on 2026-03-29 in Berlin.
		{"2026-03-29T02:30/2026-03-29T04:00", "does not exist"},
	} {
		_, err := ParseWindow(tc.in, berlin)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseLocal("2026-03-29T02:30", berlin); !errors.Is(err, ErrNoSuchLocalTime) {
		t.Errorf("skipped local time: %v", err)
	}
}

func TestParseRule(t *testing.T) {
	loc := zone(t, "Europe/Berlin")
	good := []string{"Mon-Fri 09:00-18:00", "Sat 10:00-14:00", "Mon,Wed,Fri-Sun 08:30-12:00", "09:00-17:00",
		"Fri 20:00-02:00", "Sun 00:00-24:00", "2026-12-06T10:00/2026-12-06T16:00", "mon-fri 09:00-18:00"}
	for _, s := range good {
		if _, err := ParseRule(s, loc); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"", "Mon-Fri", "Mon-Fri 9-18", "Mon-Fri 09:00", "Someday 09:00-18:00", "Mon-Fri 09:00-25:00",
		"Mon 10:00-10:00", "Mon 24:00-10:00", "Mon-Fri 09:60-18:00", "2026-12-06T16:00/2026-12-06T10:00"}
	for _, s := range bad {
		if _, err := ParseRule(s, loc); err == nil {
			t.Errorf("%q was accepted", s)
		}
	}
}

func mustHours(t *testing.T, loc *time.Location, specs ...string) Hours {
	t.Helper()
	h, err := ParseHours(specs, loc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The SLA clock counts open time only.
func TestAddOpen(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	weekdays := mustHours(t, berlin, "Mon-Fri 09:00-18:00")
	local := func(s string) time.Time {
		v, err := ParseLocal(s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		h    Hours
		from string
		d    time.Duration
		want string
	}{
		{"inside the day", weekdays, "2026-12-01T10:00", 2 * time.Hour, "2026-12-01T12:00"},
		{"17:30 plus 2 h is 10:30 the next open day", weekdays, "2026-12-01T17:30", 2 * time.Hour, "2026-12-02T10:30"},
		{"Friday evening runs on on Monday", weekdays, "2026-12-04T17:30", 2 * time.Hour, "2026-12-07T10:30"},
		{"a claim made while closed starts at opening", weekdays, "2026-12-01T20:00", 2 * time.Hour, "2026-12-02T11:00"},
		{"ending exactly at closing", weekdays, "2026-12-01T16:00", 2 * time.Hour, "2026-12-01T18:00"},
		{"several days of open time", weekdays, "2026-12-01T09:00", 20 * time.Hour, "2026-12-03T11:00"},
		{"overnight hours", mustHours(t, berlin, "Fri 20:00-02:00"), "2026-12-04T23:00", 4 * time.Hour, "2026-12-11T21:00"},
		{"a pop-up's next window", mustHours(t, berlin, "2026-12-06T10:00/2026-12-06T16:00", "2026-12-13T10:00/2026-12-13T16:00"),
			"2026-12-06T15:00", 2 * time.Hour, "2026-12-13T11:00"},
		{"a pop-up's last window ends the clock", mustHours(t, berlin, "2026-12-06T10:00/2026-12-06T16:00"),
			"2026-12-06T15:00", 2 * time.Hour, "2026-12-06T16:00"},
		{"always open", Hours{}, "2026-12-01T17:30", 2 * time.Hour, "2026-12-01T19:30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.AddOpen(local(tc.from), tc.d)
			if want := local(tc.want); !got.Equal(want) {
				t.Errorf("got %s, want %s", got.In(berlin), want)
			}
		})
	}
}

// Open time is real time: the day the clocks go back has 25 hours, so 24
// hours of it end at 23:00 local (22:00 UTC), not at midnight.
func TestAddOpenDaylightSaving(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	h := mustHours(t, berlin, "00:00-24:00")
	from, _ := ParseLocal("2026-10-25T00:00", berlin)
	if got, want := h.AddOpen(from, 24*time.Hour), utc(t, "2026-10-25T22:00:00Z"); !got.Equal(want) {
		t.Errorf("got %s, want %s", got.UTC(), want)
	}
}

func TestOpenAndNext(t *testing.T) {
	ny := zone(t, "America/New_York")
	h := mustHours(t, ny, "Mon-Fri 09:00-18:00", "2026-12-06T10:00/2026-12-06T16:00")
	at := func(s string) time.Time { v, _ := ParseLocal(s, ny); return v }
	for _, tc := range []struct {
		at   string
		open bool
		next string
	}{
		{"2026-12-04T12:00", true, "2026-12-04T09:00"},
		{"2026-12-04T18:00", false, "2026-12-06T10:00"},
		{"2026-12-06T11:00", true, "2026-12-06T10:00"},
		{"2026-12-06T16:30", false, "2026-12-07T09:00"},
	} {
		if got := h.Open(at(tc.at)); got != tc.open {
			t.Errorf("Open(%s) = %v", tc.at, got)
		}
		w, ok := h.Next(at(tc.at))
		if !ok || !w.Start.Equal(at(tc.next)) {
			t.Errorf("Next(%s) = %v %v, want start %s", tc.at, w, ok, tc.next)
		}
	}
	if h.PopUp() {
		t.Error("weekly hours are not a pop-up")
	}
	if !mustHours(t, ny, "2026-12-06T10:00/2026-12-06T16:00").PopUp() {
		t.Error("dated windows only: a pop-up")
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"Mon-Fri 09:00-18:00", "Fri 20:00-02:00", "2026-12-06T10:00/2026-12-06T16:00", "09:00-24:00", "Sun-Sat 00:00-00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s, time.UTC)
		if err != nil {
			return
		}
		h := NewHours(time.UTC, r)
		from := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		got := h.AddOpen(from, 3*time.Hour)
		if got.Before(from) {
			t.Fatalf("%q: AddOpen went back in time: %s", s, got)
		}
	})
}
