package verifier

import (
	"strconv"
	"strings"
	"time"
)

// Announcement is a change of a drop as announced on StateChannel by the
// scripts that make it:
//
//	"<drop> <seq>"                                         any change
//	"<drop> <seq> <left>"                                  a claim; stock left
//	"<drop> <seq> open <opened_at> <closes_at> <left> <moment>"  the opening
//	                                                       (ms; left -1: no claim has touched the stock)
//	"<drop> <seq> claim <state>"                           a claim moved on
//	"@settings <creator>"                                  a creator's overlay settings changed
//
// '@' starts no id, so a settings announcement is never taken for a drop's.
type Announcement struct {
	Drop     string
	Creator  string // AnnouncedSettings only
	Kind     AnnouncementKind
	Seq      int64 // set for AnnouncedClaim and AnnouncedOpen
	Left     int64 // stock left: AnnouncedClaim, AnnouncedOpen (-1: untouched)
	OpenedAt time.Time
	ClosesAt time.Time
	Moment   string
}

// AnnouncementKind tells what an Announcement carries.
type AnnouncementKind int

// Kinds of Announcement.
const (
	AnnouncedChange     AnnouncementKind = iota // something changed: read the drop
	AnnouncedClaim                              // a claim took stock; Left is what remains
	AnnouncedOpen                               // the drop opened; the whole new state
	AnnouncedClaimState                         // a claim moved on; the drop did not change
	AnnouncedSettings                           // a creator's overlay settings changed; Drop is empty
)

// settingsPrefix starts a settings announcement.
const settingsPrefix = "@settings "

// SettingsAnnouncement is the StateChannel message saying that creator's
// overlay settings changed. It rides the drop-state channel so that every
// overlay hub, on every replica, applies it through the path it already
// follows.
func SettingsAnnouncement(creator string) string { return settingsPrefix + creator }

// ParseAnnouncement parses a StateChannel message. Anything it does not
// recognise in full is AnnouncedChange, which asks readers to read the
// drop: never wrong, only slower.
func ParseAnnouncement(payload string) Announcement {
	if c, ok := strings.CutPrefix(payload, settingsPrefix); ok {
		return Announcement{Kind: AnnouncedSettings, Creator: c}
	}
	f := strings.SplitN(payload, " ", 7)
	a := Announcement{Drop: f[0], Kind: AnnouncedChange}
	num := func(i int) (int64, bool) {
		n, err := strconv.ParseInt(f[i], 10, 64)
		return n, err == nil
	}
	switch {
	case len(f) == 4 && f[2] == "claim":
		a.Kind = AnnouncedClaimState
	case len(f) == 3:
		seq, ok1 := num(1)
		left, ok2 := num(2)
		if ok1 && ok2 && left >= 0 {
			a.Kind, a.Seq, a.Left = AnnouncedClaim, seq, left
		}
	case len(f) == 7 && f[2] == "open":
		seq, ok1 := num(1)
		opened, ok2 := num(3)
		closes, ok3 := num(4)
		left, ok4 := num(5)
		if ok1 && ok2 && ok3 && ok4 && opened > 0 && f[6] != "" {
			a.Kind, a.Seq, a.Left, a.Moment = AnnouncedOpen, seq, left, f[6]
			a.OpenedAt, a.ClosesAt = time.UnixMilli(opened), time.UnixMilli(closes)
		}
	}
	return a
}
