package verifier

import (
	"fmt"
	"testing"
	"time"
)

// A campaign's claims-over-time buckets: as short as 48 buckets allow,
// from the start, on past the end for a late claim.
func TestClaimsOverTime(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		span time.Duration
		want time.Duration
	}{
		{30 * time.Minute, h}, {48 * h, h}, {48*h + time.Second, 2 * h}, {72 * h, 2 * h}, {96 * h, 2 * h},
		{10 * 24 * h, 6 * h}, {24 * 24 * h, 12 * h}, {30 * 24 * h, 24 * h}, {48 * 24 * h, 24 * h},
		{100 * 24 * h, 72 * h},
	} {
		if got := bucketFor(tc.span); got != tc.want {
			t.Errorf("span %s: bucket %s, want %s", tc.span, got, tc.want)
		}
	}

	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return start.Add(d).UnixMilli() }
	region := map[string]string{"a1": "a", "a2": "a", "b1": "b"}
	claims := map[string]CampaignClaim{
		"1": {Node: "a1", Created: ms(0)},                      // first instant
		"2": {Node: "a2", Created: ms(2*h - time.Millisecond)}, // last instant of bucket 0
		"3": {Node: "b1", Created: ms(2 * h)},                  // bucket 1
		"4": {Node: "a1", Created: ms(72*h + 30*time.Minute)},  // past the end: the buckets go on
		"5": {Node: "b1", Created: ms(-time.Minute)},           // before the start: bucket 0
		"6": {Node: "elsewhere", Created: ms(h)},               // a region the report does not list
	}
	got := claimsOverTime(start, start.Add(72*h), claims, []string{"a", "b"}, func(n string) string { return region[n] })
	if got.BucketSeconds != 7200 || len(got.Starts) != 37 || got.Starts[0] != "2026-12-05T00:00:00Z" ||
		got.Starts[36] != "2026-12-08T00:00:00Z" {
		t.Fatalf("buckets: %d s, %d starts %v", got.BucketSeconds, len(got.Starts), got.Starts)
	}
	a, b := make([]int, 37), make([]int, 37)
	a[0], a[36], b[0], b[1] = 2, 1, 1, 1
	if want := fmt.Sprint([]RegionSeries{{"a", a}, {"b", b}}); fmt.Sprint(got.Regions) != want {
		t.Errorf("series %v, want %v", got.Regions, want)
	}
}
