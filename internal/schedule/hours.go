package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rule is one entry of a node's opening hours: weekly hours
// ("Mon-Fri 09:00-18:00", "Sat 10:00-14:00", "Fri 20:00-02:00" running
// past midnight, "09:00-18:00" every day) or one dated window
// ("2026-12-06T10:00/2026-12-06T16:00", a pop-up).
type Rule struct {
	days     [7]bool // by time.Weekday
	from, to int     // minutes after midnight; to <= from runs into the next day
	dated    *Window
}

// Dated reports whether r is a dated window rather than weekly hours.
func (r Rule) Dated() bool { return r.dated != nil }

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseRule reads one entry of opening hours in loc.
func ParseRule(spec string, loc *time.Location) (Rule, error) {
	s := strings.TrimSpace(spec)
	if strings.Contains(s, "/") {
		w, err := ParseWindow(s, loc)
		if err != nil {
			return Rule{}, err
		}
		return Rule{dated: &w}, nil
	}
	var r Rule
	days, hours, ok := strings.Cut(s, " ")
	if !ok {
		days, hours = "", s
		for d := range r.days {
			r.days[d] = true
		}
	} else if err := r.parseDays(days); err != nil {
		return Rule{}, err
	}
	a, b, ok := strings.Cut(strings.TrimSpace(hours), "-")
	from, err1 := clock(a)
	to, err2 := clock(b)
	if !ok || err1 != nil || err2 != nil || from == 24*60 {
		return Rule{}, fmt.Errorf("%q is not opening hours: write e.g. \"Mon-Fri 09:00-18:00\", \"Sat 10:00-14:00\" or a dated window 2026-12-06T10:00/2026-12-06T16:00", clip(spec))
	}
	if from == to {
		return Rule{}, fmt.Errorf("%q opens and closes at the same time", clip(spec))
	}
	r.from, r.to = from, to
	return r, nil
}

func (r *Rule) parseDays(s string) error {
	bad := func() error {
		return fmt.Errorf("%q is not a list of days: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges like Mon-Fri and commas", clip(s))
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, ok1 := weekdays[strings.ToLower(a)]
		last, ok2 := first, true
		if isRange {
			last, ok2 = weekdays[strings.ToLower(b)]
		}
		if !ok1 || !ok2 {
			return bad()
		}
		for d := first; ; d = (d + 1) % 7 {
			r.days[d] = true
			if d == last {
				break
			}
		}
	}
	return nil
}

// clock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func clock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh > 24 || mm > 59 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// Hours are a node's opening hours in its time zone. The zero Hours has
// no rules: always open.
type Hours struct {
	loc   *time.Location
	rules []Rule
}

// NewHours returns the hours made of rules, in loc.
func NewHours(loc *time.Location, rules ...Rule) Hours {
	if loc == nil {
		loc = time.UTC
	}
	return Hours{loc: loc, rules: append([]Rule(nil), rules...)}
}

// ParseHours reads every entry of specs in loc; the error names the first
// entry that does not read, by index.
func ParseHours(specs []string, loc *time.Location) (Hours, error) {
	rules := make([]Rule, 0, len(specs))
	for i, s := range specs {
		r, err := ParseRule(s, loc)
		if err != nil {
			return Hours{}, fmt.Errorf("entry %d: %w", i, err)
		}
		rules = append(rules, r)
	}
	return NewHours(loc, rules...), nil
}

// Always reports whether h has no rules: open at any time.
func (h Hours) Always() bool { return len(h.rules) == 0 }

// PopUp reports whether h has dated windows only: a pop-up, open on those
// days and never otherwise.
func (h Hours) PopUp() bool {
	if len(h.rules) == 0 {
		return false
	}
	for _, r := range h.rules {
		if !r.Dated() {
			return false
		}
	}
	return true
}

// Location is the time zone of h.
func (h Hours) Location() *time.Location {
	if h.loc == nil {
		return time.UTC
	}
	return h.loc
}

// Intervals returns the open intervals of h that overlap [from, to),
// merged (touching or overlapping rules make one interval) and sorted.
// For Hours that are always open it returns [from, to).
func (h Hours) Intervals(from, to time.Time) []Window {
	if h.Always() {
		return []Window{{Start: from, End: to}}
	}
	loc := h.Location()
	var out []Window
	// A weekly rule of the day before may run past midnight into from.
	lf := from.In(loc)
	day := time.Date(lf.Year(), lf.Month(), lf.Day()-1, 0, 0, 0, 0, loc)
	for ; day.Before(to); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc) {
		for _, r := range h.rules {
			if r.Dated() || !r.days[day.Weekday()] {
				continue
			}
			start := time.Date(day.Year(), day.Month(), day.Day(), 0, r.from, 0, 0, loc)
			endDay := day.Day()
			if r.to <= r.from {
				endDay++
			}
			end := time.Date(day.Year(), day.Month(), endDay, 0, r.to, 0, 0, loc)
			if end.After(from) && start.Before(to) {
				out = append(out, Window{Start: start, End: end})
			}
		}
	}
	for _, r := range h.rules {
		if r.Dated() && r.dated.End.After(from) && r.dated.Start.Before(to) {
			out = append(out, *r.dated)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	merged := out[:0]
	for _, w := range out {
		if n := len(merged); n > 0 && !w.Start.After(merged[n-1].End) {
			if w.End.After(merged[n-1].End) {
				merged[n-1].End = w.End
			}
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// horizon bounds every search for open time: a year.
const horizon = 366 * 24 * time.Hour

// chunk is how much of the calendar one step of a search reads.
const chunk = 14 * 24 * time.Hour

// Open reports whether h is open at t.
func (h Hours) Open(t time.Time) bool {
	if h.Always() {
		return true
	}
	for _, w := range h.Intervals(t, t.Add(time.Nanosecond)) {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Next returns the open interval that contains t, or else the next one
// to start, within a year.
func (h Hours) Next(t time.Time) (Window, bool) {
	if h.Always() {
		return Window{Start: t, End: t.Add(horizon)}, true
	}
	for from := t; from.Before(t.Add(horizon)); from = from.Add(chunk) {
		for _, w := range h.Intervals(from, from.Add(chunk)) {
			if w.End.After(t) {
				return w, true
			}
		}
	}
	return Window{}, false
}

// AddOpen returns the instant at which d of open time has passed since
// from: the clock runs only while h is open. A 2 h SLA from 17:30 at a
// node open 09:00-18:00 ends at 10:30 the next open day. When h has too
// little open time left within a year (a pop-up's last window), the
// result is the end of the last open interval; with none at all after
// from, it is from + d.
func (h Hours) AddOpen(from time.Time, d time.Duration) time.Time {
	if h.Always() || d <= 0 {
		return from.Add(d)
	}
	pos, left := from, d
	var last time.Time
	for c := from; c.Before(from.Add(horizon)); c = c.Add(chunk) {
		for _, w := range h.Intervals(c, c.Add(chunk)) {
			if !w.End.After(pos) {
				continue
			}
			start := w.Start
			if start.Before(pos) {
				start = pos
			}
			avail := w.End.Sub(start)
			if avail >= left {
				return start.Add(left)
			}
			left -= avail
			pos, last = w.End, w.End
		}
	}
	if !last.IsZero() {
		return last
	}
	return from.Add(d)
}
