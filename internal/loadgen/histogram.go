package loadgen

import (
	"slices"
	"time"
)

// Latencies collects request latencies; percentiles are exact.
type Latencies struct{ d []time.Duration }

// Add records one latency.
func (l *Latencies) Add(d time.Duration) { l.d = append(l.d, d) }

// Merge adds every latency of o.
func (l *Latencies) Merge(o *Latencies) { l.d = append(l.d, o.d...) }

// Values returns the latencies (not a copy).
func (l *Latencies) Values() []time.Duration { return l.d }

// Len returns the number of latencies.
func (l *Latencies) Len() int { return len(l.d) }

// Summary is the distribution of a run's latencies.
type Summary struct {
	Count int           `json:"count"`
	Min   time.Duration `json:"min_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
	Mean  time.Duration `json:"mean_ns"`
}

// Summarize sorts the latencies and returns their distribution.
func (l *Latencies) Summarize() Summary {
	if len(l.d) == 0 {
		return Summary{}
	}
	slices.Sort(l.d)
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	q := func(p float64) time.Duration {
		i := int(p*float64(len(l.d))+0.5) - 1
		return l.d[min(max(i, 0), len(l.d)-1)]
	}
	return Summary{
		Count: len(l.d), Min: l.d[0], Max: l.d[len(l.d)-1], Mean: sum / time.Duration(len(l.d)),
		P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999),
	}
}
