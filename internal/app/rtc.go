package app

import (
	"github.com/dropwire/dropwire/sdkhooks"
)

// wireRTC builds the WebRTC data-channel ingest: its signaling routes
// (POST/DELETE/OPTIONS/PATCH /v1/rtc/...) and, on shutdown, the closing of
// every peer. Events go through the same Verifier as webhooks.
func (a *App) wireRTC() error {
	cfg := sdkhooks.RTCConfigFrom(a.cfg)
	cfg.Ingester = a.verifier
	cfg.Logger = a.log.With().Str("component", "rtc").Logger()
	cfg.Registerer = a.server.Registry()
	rtc, err := sdkhooks.NewRTC(cfg)
	if err != nil {
		return err
	}
	a.server.OnShutdown("rtc", rtc.Close)
	rtc.Register(a.server.Handle)
	return nil
}
