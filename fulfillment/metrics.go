package fulfillment

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	deliveries    *prometheus.CounterVec
	attempts      *prometheus.HistogramVec
	depth         *prometheus.GaugeVec
	oldest        *prometheus.GaugeVec
	breaker       *prometheus.GaugeVec
	disabled      *prometheus.GaugeVec
	deadLetters   *prometheus.CounterVec
	pickup        prometheus.Histogram
	redemptions   *prometheus.CounterVec
	compensations *prometheus.CounterVec
	callbacks     *prometheus.CounterVec
	slaMissed     *prometheus.CounterVec

	attemptLogDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_deliveries_total",
			Help: "Delivery attempts to fulfillment nodes (and compensation webhooks) by node and result: ok, http_<status>, error, gone, breaker_open.",
		}, []string{"node", "result"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dropwire_fulfillment_delivery_attempts",
			Help:    "Attempts an outbox entry took until it was acknowledged or dead-lettered, by node.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 34, 55},
		}, []string{"node"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_fulfillment_outbox_depth",
			Help: "Outbox entries of a drop not delivered yet: pending in the consumer group plus waiting for a retry.",
		}, []string{"drop"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_fulfillment_oldest_pending_seconds",
			Help: "Idle time of the longest-waiting pending outbox entry of a drop.",
		}, []string{"drop"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_fulfillment_breaker_state",
			Help: "Circuit breaker of a node in this replica: 0 closed, 1 half-open, 2 open.",
		}, []string{"node"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_fulfillment_node_disabled",
			Help: "1 when a node answered 410 Gone and is no longer sent claims (alert on it).",
		}, []string{"node"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_dead_letters_total",
			Help: "Outbox entries dead-lettered, by node and reason.",
		}, []string{"node", "reason"}),
		pickup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dropwire_fulfillment_pickup_seconds",
			Help:    "Time from claim to confirmed pickup.",
			Buckets: prometheus.ExponentialBuckets(60, 2, 12),
		}),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_redemptions_total",
			Help: "Claims that ended, by drop and outcome (picked_up, pickup_failed, rejected, forward_failed); the redemption rate is picked_up over all.",
		}, []string{"drop", "outcome"}),
		compensations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_compensations_total",
			Help: "Compensations by kind (code, webhook, none, pool_empty).",
		}, []string{"kind"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_callbacks_total",
			Help: "Node callbacks by node and result (applied, unchanged, duplicate, or a problem code).",
		}, []string{"node", "result"}),
		slaMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_pickup_sla_missed_total",
			Help: "Claims whose pickup deadline passed without a pickup (moved to pickup_failed by the SLA loop), by drop; counted once across replicas.",
		}, []string{"drop"}),
		attemptLogDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dropwire_fulfillment_attempt_log_dropped_total",
			Help: "Delivery attempts left out of the nodes' delivery log (its queue full, or the store failing); the deliveries themselves are not affected.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.depth, m.oldest, m.breaker,
			m.disabled, m.deadLetters, m.pickup, m.redemptions, m.compensations, m.callbacks, m.slaMissed, m.attemptLogDropped} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// transitioned counts what an applied transition means for the drop.
func (m *metrics) transitioned(drop, to string, o Outcome, kind string) {
	if o.Result != ResultApplied {
		return
	}
	if failing[to] || to == "picked_up" {
		m.redemptions.WithLabelValues(drop, to).Inc()
	}
	if failing[to] {
		switch {
		case o.CompensationCode != "":
			m.compensations.WithLabelValues("code").Inc()
		case kind == "code":
			m.compensations.WithLabelValues("pool_empty").Inc()
		case kind == "webhook":
			// counted when the webhook is delivered
		default:
			m.compensations.WithLabelValues("none").Inc()
		}
	}
}
