package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dropwire/dropwire/internal/store"
)

// storePingTimeout bounds the ping of a scrape; a Redis that is away
// fails well within it (see store.DefaultRedisReadTimeout).
const storePingTimeout = 2 * time.Second

// registerStoreHealth exports whether the store answers, asked at scrape
// time: every replica reports an outage even while no request comes in
// to fail (/readyz says the same to a balancer, not to Prometheus).
func registerStoreHealth(reg prometheus.Registerer, st store.Store) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dropwire_store_up",
		Help: "1 when the store answered a ping at scrape time, 0 when it did not.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), storePingTimeout)
		defer cancel()
		if st.Ping(ctx) != nil {
			return 0
		}
		return 1
	}))
}
