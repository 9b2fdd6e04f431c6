package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/fulfillment"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/sdkhooks"
)

// demoNode is the demo's built-in fulfillment node: a loopback HTTP server
// that receives the signed claim.created webhooks, checks their signature
// with the node's secret, and then walks each claim through the real
// signed callback path: accepted at once, ready a moment later, picked up
// after pickupAfter — what a locker and a viewer at it would do.
type demoNode struct {
	id          string
	verify      *sdkhooks.Standard
	signer      *sdkhooks.Signer
	callbackURL string
	pickupAfter time.Duration
	client      *http.Client
	log         zerolog.Logger
	srv         *http.Server
	ln          net.Listener

	mu     sync.Mutex
	seen   map[string]bool // claim ids taken (webhook retries are acknowledged again)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startDemoNode listens on a loopback port; its URL is url.
func startDemoNode(n config.Node, callbackURL string, pickupAfter time.Duration, log zerolog.Logger) (*demoNode, string, error) {
	verify, err := sdkhooks.NewStandard(config.Source{ID: n.ID, Secrets: []string{n.Secret}})
	if err != nil {
		return nil, "", err
	}
	signer, err := sdkhooks.NewSigner(n.Secret)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &demoNode{id: n.ID, verify: verify, signer: signer, callbackURL: callbackURL, pickupAfter: pickupAfter,
		client: &http.Client{Timeout: 5 * time.Second}, log: log, ln: ln,
		seen: map[string]bool{}, ctx: ctx, cancel: cancel}
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("demo node stopped")
		}
	}()
	return d, "http://" + ln.Addr().String() + "/claims", nil
}

// ServeHTTP takes one claim webhook: signature first, then the body.
func (d *demoNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if _, err := d.verify.Verify(r.Header, body, time.Now()); err != nil {
		d.log.Warn().Err(err).Msg("demo node: webhook signature refused")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p fulfillment.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Claim.ID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	if p.Type != fulfillment.TypeClaimCreated {
		return
	}
	d.mu.Lock()
	dup := d.seen[p.Claim.ID]
	d.seen[p.Claim.ID] = true
	d.mu.Unlock()
	if dup {
		return
	}
	d.log.Info().Str("claim", p.Claim.ID).Str("drop", p.Claim.Drop).Msg("demo node: claim received")
	d.wg.Add(1)
	go d.walk(p.Claim)
}

// walk reports the claim's progress through signed callbacks.
func (d *demoNode) walk(c fulfillment.ClaimPayload) {
	defer d.wg.Done()
	slot := "A1"
	if c.PickupCode != "" {
		slot = "A" + c.PickupCode[:1]
	}
	steps := []struct {
		after time.Duration
		cb    fulfillment.Callback
	}{
		{200 * time.Millisecond, fulfillment.Callback{Type: "claim.accepted", Claim: c.ID}},
		{d.pickupAfter / 3, fulfillment.Callback{Type: "claim.ready", Claim: c.ID,
			Locker: &fulfillment.Locker{Slot: slot}}},
		{d.pickupAfter, fulfillment.Callback{Type: "claim.picked_up", Claim: c.ID}},
	}
	start := time.Now()
	for i, s := range steps {
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(time.Until(start.Add(s.after))):
		}
		if err := d.callback(fmt.Sprintf("%s.demo.%d", c.ID, i), s.cb); err != nil {
			d.log.Warn().Err(err).Str("claim", c.ID).Str("type", s.cb.Type).Msg("demo node: callback failed")
			return
		}
	}
	d.log.Info().Str("claim", c.ID).Msg("demo node: picked up")
}

func (d *demoNode) callback(id string, cb fulfillment.Callback) error {
	body, _ := json.Marshal(cb)
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, d.callbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range d.signer.Headers(id, time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := d.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("callback %s answered %d", cb.Type, res.StatusCode)
	}
	return nil
}

// Close stops the server and the claims in progress, and waits for them.
func (d *demoNode) Close() {
	d.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
	d.wg.Wait()
}
