package verifier

import "time"

// ClaimsOverTime is the claims of each region in buckets of equal length,
// the first starting at the campaign's start.
type ClaimsOverTime struct {
	// BucketSeconds is the length of a bucket: the shortest of 1, 2, 3,
	// 4, 6, 12 and 24 hours (then whole days) that covers the campaign
	// in at most MaxBuckets buckets.
	BucketSeconds int64 `json:"bucket_s"`
	// Starts is when each bucket starts, RFC 3339 in UTC.
	Starts []string `json:"starts"`
	// Regions is, for each region of the report (the same keys, the same
	// order), its claims made in each bucket.
	Regions []RegionSeries `json:"regions"`
}

// RegionSeries is one region's claims per bucket.
type RegionSeries struct {
	Key    string `json:"key"`
	Claims []int  `json:"claims"`
}

// MaxBuckets bounds the buckets of ClaimsOverTime: a chart's worth.
const MaxBuckets = 48

var bucketLadder = []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour}

// bucketFor is the bucket length for a span of the given length.
func bucketFor(span time.Duration) time.Duration {
	for _, b := range bucketLadder {
		if span <= b*MaxBuckets {
			return b
		}
	}
	day := 24 * time.Hour
	days := (span + day*MaxBuckets - 1) / (day * MaxBuckets)
	return days * day
}

// claimsOverTime buckets claims by when they were made, for each of
// regions (sorted), the report's regions.
// The buckets run from the campaign's start to its end, and on past it
// to cover a claim made later (a drop's window may outlast the campaign);
// a claim from before the start (none should be) counts in the first.
func claimsOverTime(starts, ends time.Time, claims map[string]CampaignClaim, regions []string, regionOf func(node string) string) ClaimsOverTime {
	end := ends
	for _, c := range claims {
		if t := time.UnixMilli(c.Created).Add(time.Millisecond); t.After(end) {
			end = t
		}
	}
	bucket := bucketFor(end.Sub(starts))
	n := max(int((end.Sub(starts)+bucket-1)/bucket), 1)
	out := ClaimsOverTime{BucketSeconds: int64(bucket / time.Second), Starts: make([]string, n), Regions: []RegionSeries{}}
	for i := range n {
		out.Starts[i] = starts.Add(time.Duration(i) * bucket).UTC().Format(time.RFC3339)
	}
	series := map[string][]int{}
	for _, r := range regions {
		series[r] = make([]int, n)
		out.Regions = append(out.Regions, RegionSeries{Key: r, Claims: series[r]})
	}
	for _, c := range claims {
		if counts := series[regionOf(c.Node)]; counts != nil {
			counts[min(max(int(time.UnixMilli(c.Created).Sub(starts)/bucket), 0), n-1)]++
		}
	}
	return out
}
