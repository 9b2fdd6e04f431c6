package schedule

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Window is a span of time: Start inclusive, End exclusive.
type Window struct {
	Start, End time.Time
}

// Contains reports whether t is inside w.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// LocalLayout is how a local date and time is written: minutes, no zone.
// Seconds (LocalLayoutSeconds) are accepted too.
const (
	LocalLayout        = "2006-01-02T15:04"
	LocalLayoutSeconds = "2006-01-02T15:04:05"
)

// ErrNoSuchLocalTime is returned for a local time that the zone skips
// (the hour the clocks jump forward).
var ErrNoSuchLocalTime = errors.New("schedule: local time does not exist in this time zone")

// ParseLocal reads a local date and time ("2026-12-05T18:00") in loc.
func ParseLocal(s string, loc *time.Location) (time.Time, error) {
	layout := LocalLayout
	if len(s) == len(LocalLayoutSeconds) {
		layout = LocalLayoutSeconds
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a local date and time like 2026-12-05T18:00", clip(s))
	}
	// time.ParseInLocation moves a skipped local time by the size of the
	// gap: written back, it reads differently.
	if t.Format(layout) != s {
		return time.Time{}, fmt.Errorf("%w: %s in %s", ErrNoSuchLocalTime, s, loc)
	}
	return t, nil
}

// ParseWindow reads "start/end" in local times of loc, e.g.
// "2026-12-05T18:00/2026-12-05T20:00". The end must come after the start.
func ParseWindow(s string, loc *time.Location) (Window, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return Window{}, fmt.Errorf("%q is not a window: write start/end, e.g. 2026-12-05T18:00/2026-12-05T20:00", clip(s))
	}
	start, err := ParseLocal(strings.TrimSpace(a), loc)
	if err != nil {
		return Window{}, err
	}
	end, err := ParseLocal(strings.TrimSpace(b), loc)
	if err != nil {
		return Window{}, err
	}
	if !end.After(start) {
		return Window{}, fmt.Errorf("window %s ends before it starts", clip(s))
	}
	return Window{Start: start, End: end}, nil
}

// Windows is a list of windows sorted by start.
type Windows []Window

// Sorted returns the windows sorted by start (a copy).
func Sorted(ws []Window) Windows {
	out := append(Windows(nil), ws...)
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// At returns the window that contains t.
func (ws Windows) At(t time.Time) (Window, bool) {
	for _, w := range ws {
		if w.Contains(t) {
			return w, true
		}
	}
	return Window{}, false
}

// Next returns the first window that starts after t.
func (ws Windows) Next(t time.Time) (Window, bool) {
	for _, w := range ws {
		if w.Start.After(t) {
			return w, true
		}
	}
	return Window{}, false
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
