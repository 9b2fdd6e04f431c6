package overlay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connected *prometheus.GaugeVec
	frames    prometheus.Counter
	slow      prometheus.Counter
	qrEncoded prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dropwire_overlay_connections",
			Help: "Overlay WebSocket connections open on this replica, by creator.",
		}, []string{"creator"}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dropwire_overlay_frames_sent_total",
			Help: "State frames written to overlay WebSockets.",
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dropwire_overlay_slow_clients_dropped_total",
			Help: "Overlay connections dropped because a write did not finish within the write timeout.",
		}),
		qrEncoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dropwire_overlay_qr_encoded_total",
			Help: "Claim QR codes encoded for overlays (one per code shown, or about to be, per replica).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connected, m.frames, m.slow, m.qrEncoded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("overlay: metrics: %w", err)
		}
	}
	return m, nil
}
