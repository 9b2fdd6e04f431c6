package verifier

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events        *prometheus.CounterVec
	latency       prometheus.Histogram
	opened        prometheus.Counter
	corroboration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_ingest_events_total",
			Help: "Capture events by source, status (accepted, duplicate, rejected) and reason.",
		}, []string{"source", "status", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dropwire_ingest_duration_seconds",
			Help:    "Time from receiving a verified event to its effect being stored.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dropwire_moments_opened_total",
			Help: "Drops opened by a claim moment.",
		}),
		corroboration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dropwire_corroboration_delay_seconds",
			Help:    "Delay of a later report of an opening moment after the report that opened it, by channel.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"channel"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.latency, m.opened, m.corroboration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// rejected counts an event refused for reason (a problem code).
func (m *metrics) rejected(source, reason string) {
	m.events.WithLabelValues(source, "rejected", reason).Inc()
}

func (m *metrics) observe(source string, ev Event, res Result, took time.Duration) {
	m.events.WithLabelValues(source, res.Status, "").Inc()
	m.latency.Observe(took.Seconds())
	if res.Moment == nil {
		return
	}
	switch res.Moment.State {
	case MomentOpened:
		m.opened.Inc()
	case MomentCorroboration:
		if res.Moment.DelayMS != nil {
			m.corroboration.WithLabelValues(ev.Channel).Observe(float64(*res.Moment.DelayMS) / 1000)
		}
	}
}
