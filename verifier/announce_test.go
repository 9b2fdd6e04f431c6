package verifier

import (
	"testing"
	"time"
)

func TestParseAnnouncement(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Announcement
	}{
		{"d1 4", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"d1 4 7", Announcement{Drop: "d1", Kind: AnnouncedClaim, Seq: 4, Left: 7}},
		{"d1 4 -1", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"d1 x 7", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"d1 4 claim picked_up", Announcement{Drop: "d1", Kind: AnnouncedClaimState}},
		{"d1 2 open 1000 5000 -1 m-1", Announcement{Drop: "d1", Kind: AnnouncedOpen, Seq: 2, Left: -1,
			OpenedAt: time.UnixMilli(1000), ClosesAt: time.UnixMilli(5000), Moment: "m-1"}},
		{"d1 2 open 0 5000 3 m-1", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"d1 2 open 1000 5000 3", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"d1", Announcement{Drop: "d1", Kind: AnnouncedChange}},
		{"", Announcement{Kind: AnnouncedChange}},
		{SettingsAnnouncement("ava"), Announcement{Kind: AnnouncedSettings, Creator: "ava"}},
	} {
		if got := ParseAnnouncement(tc.in); got != tc.want {
			t.Errorf("ParseAnnouncement(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
