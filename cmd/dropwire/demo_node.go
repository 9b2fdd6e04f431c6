package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/nodekit"
)

// demoNode is the demo's built-in fulfillment node: a loopback HTTP server
// that receives the signed claim.created webhooks and walks each claim
// through the real signed callback path — accepted at once, ready a
// moment later, picked up after pickupAfter — what a locker and a viewer
// at it would do. It is a node as an integrator writes one, with nodekit.
type demoNode struct {
	client      *nodekit.Client
	pickupAfter time.Duration
	log         zerolog.Logger
	srv         *http.Server

	mu     sync.Mutex
	seen   map[string]bool // claim ids taken (webhook retries are acknowledged again)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startDemoNode listens on a loopback port; its URL is url. dropwireURL is
// where its callbacks go.
func startDemoNode(n config.Node, dropwireURL string, pickupAfter time.Duration, log zerolog.Logger) (*demoNode, string, error) {
	receiver, err := nodekit.NewReceiver(nodekit.ReceiverConfig{Secrets: []string{n.Secret}})
	if err != nil {
		return nil, "", err
	}
	client, err := nodekit.NewClient(nodekit.ClientConfig{BaseURL: dropwireURL, Node: n.ID, Secret: n.Secret,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &demoNode{client: client, pickupAfter: pickupAfter, log: log, seen: map[string]bool{}, ctx: ctx, cancel: cancel}
	d.srv = &http.Server{Handler: receiver.Handler(d.take), ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("demo node stopped")
		}
	}()
	return d, "http://" + ln.Addr().String() + "/claims", nil
}

// take starts walking a new claim; a retry of one already taken is
// acknowledged again.
func (d *demoNode) take(_ context.Context, ev nodekit.Event) error {
	if ev.Type != nodekit.TypeClaimCreated {
		return nil
	}
	d.mu.Lock()
	dup := d.seen[ev.Claim.ID]
	d.seen[ev.Claim.ID] = true
	d.mu.Unlock()
	if dup {
		return nil
	}
	d.log.Info().Str("claim", ev.Claim.ID).Str("drop", ev.Claim.Drop).Msg("demo node: claim received")
	d.wg.Add(1)
	go d.walk(ev.Claim)
	return nil
}

// walk reports the claim's progress through signed callbacks.
func (d *demoNode) walk(c nodekit.Claim) {
	defer d.wg.Done()
	slot := "A1"
	if c.PickupCode != "" {
		slot = "A" + c.PickupCode[:1]
	}
	steps := []struct {
		after time.Duration
		cb    nodekit.Callback
	}{
		{200 * time.Millisecond, nodekit.Accepted(c.ID)},
		{d.pickupAfter / 3, nodekit.Ready(c.ID, &nodekit.Locker{Slot: slot})},
		{d.pickupAfter, nodekit.PickedUp(c.ID)},
	}
	start := time.Now()
	for i, s := range steps {
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(time.Until(start.Add(s.after))):
		}
		s.cb.ID = fmt.Sprintf("%s.demo.%d", c.ID, i)
		if _, err := d.client.SendRetry(d.ctx, s.cb, nodekit.Retry{Attempts: 3}); err != nil {
			d.log.Warn().Err(err).Str("claim", c.ID).Str("type", s.cb.Type).Msg("demo node: callback failed")
			return
		}
	}
	d.log.Info().Str("claim", c.ID).Msg("demo node: picked up")
}

// Close stops the server and the claims in progress, and waits for them.
func (d *demoNode) Close() {
	d.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
	d.wg.Wait()
}
