package sdkhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/sdkhooks"
	"github.com/dropwire/dropwire/verifier"
)

const xcSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// xcApp serves a whole Dropwire (app.New, the real wiring) whose source
// "cap" may send both webhooks and data-channel events.
func xcApp(t *testing.T, st store.Store) (string, *app.App) {
	t.Helper()
	cfg := &config.Config{
		Listen:      "127.0.0.1:0",
		RTCLoopback: true,
		Creators:    []config.Creator{{ID: "ava", OverlayKeys: []string{"ava-overlay-key-0001"}}},
		Sources: []config.Source{{ID: "cap", Creator: "ava", Scheme: config.SchemeStandard,
			Secrets: []string{xcSecret}, WebRTC: true, Rate: 1000, Burst: 1000}},
		Nodes: []config.Node{{ID: "shop", Secret: xcSecret}},
	}
	for _, id := range []string{"rtc-first", "hook-first", "together"} {
		cfg.Drops = append(cfg.Drops, config.Drop{ID: id, Creator: "ava", Stock: []config.StockLine{{Node: "shop", SKU: "s", Qty: 5}}})
	}
	cfg.ApplyDefaults()
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Server().Handler())
	t.Cleanup(func() {
		ts.Close()
		_ = a.Shutdown(context.Background())
	})
	return ts.URL, a
}

func xcTrigger(id, drop, moment string) string {
	return fmt.Sprintf(`{"id":%q,"type":"drop.trigger","drop":%q,"moment":%q}`, id, drop, moment)
}

// xcHook posts a signed webhook and returns the moment state it reports.
func xcHook(base, id, drop, moment string) (string, error) {
	s, err := sdkhooks.NewSigner(xcSecret)
	if err != nil {
		return "", err
	}
	body := xcTrigger(id, drop, moment)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/hooks/cap", strings.NewReader(body))
	req.Header = s.Headers(id, time.Now(), []byte(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res verifier.Result
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &res) != nil || res.Moment == nil {
		return "", fmt.Errorf("webhook: %d %s", resp.StatusCode, raw)
	}
	return res.Moment.State, nil
}

// xcRTC sends one event on c and returns the moment state of its ack.
func xcRTC(c *sdkhooks.RTCClient, id, drop, moment string) (string, error) {
	if err := c.Send([]byte(xcTrigger(id, drop, moment))); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := c.NextAck(ctx)
	if err != nil {
		return "", err
	}
	if a.Status != verifier.StatusAccepted || a.Moment == nil {
		return "", fmt.Errorf("data channel: ack %+v", a)
	}
	return a.Moment.State, nil
}

// The same moment over the data channel and as a signed webhook, in both
// orders and at once: exactly one report opens the drop, the other is kept
// as corroboration with its delay.
func TestRTCCrossChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		base, a := xcApp(t, st)
		tok, err := sdkhooks.MintToken(a.Config().Sources[0], time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := sdkhooks.DialRTC(ctx, sdkhooks.RTCClientConfig{URL: base + "/v1/rtc/cap", Token: tok, Loopback: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close(context.Background()) }()

		check := func(t *testing.T, drop string, states map[string]string) {
			t.Helper()
			opened, corroborated := 0, 0
			for _, s := range states {
				switch s {
				case verifier.MomentOpened:
					opened++
				case verifier.MomentCorroboration:
					corroborated++
				}
			}
			if opened != 1 || corroborated != 1 {
				t.Fatalf("states by channel %v: want one opened, one corroboration", states)
			}
			reports, err := a.Verifier().Reports(context.Background(), drop, "m-"+drop)
			if err != nil || len(reports) != 2 {
				t.Fatalf("reports %+v, %v", reports, err)
			}
			first, second := reports[0], reports[1]
			if first.State != verifier.MomentOpened || second.State != verifier.MomentCorroboration ||
				first.Channel == second.Channel || second.Delay < 0 || second.ReceivedAt.Before(first.ReceivedAt) {
				t.Fatalf("reports %+v", reports)
			}
			if states[first.Channel] != verifier.MomentOpened {
				t.Fatalf("the %s report opened, but its sender was told %q", first.Channel, states[first.Channel])
			}
			st, err := a.Verifier().State(context.Background(), drop)
			if err != nil || st.Status != verifier.StatusOpen || st.Channel != first.Channel {
				t.Fatalf("state %+v, %v", st, err)
			}
			t.Logf("%s opened; %s corroborated %v later", first.Channel, second.Channel, second.Delay)
		}

		t.Run("data channel first", func(t *testing.T) {
			states := map[string]string{}
			var err error
			if states[verifier.ChannelDataChannel], err = xcRTC(c, "dc-1", "rtc-first", "m-rtc-first"); err != nil {
				t.Fatal(err)
			}
			if states[verifier.ChannelWebhook], err = xcHook(base, "wh-1", "rtc-first", "m-rtc-first"); err != nil {
				t.Fatal(err)
			}
			check(t, "rtc-first", states)
		})
		t.Run("webhook first", func(t *testing.T) {
			states := map[string]string{}
			var err error
			if states[verifier.ChannelWebhook], err = xcHook(base, "wh-2", "hook-first", "m-hook-first"); err != nil {
				t.Fatal(err)
			}
			if states[verifier.ChannelDataChannel], err = xcRTC(c, "dc-2", "hook-first", "m-hook-first"); err != nil {
				t.Fatal(err)
			}
			check(t, "hook-first", states)
		})
		t.Run("concurrently", func(t *testing.T) {
			var (
				wg         sync.WaitGroup
				start      = make(chan struct{})
				dcS, whS   string
				dcE, whErr error
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				dcS, dcE = xcRTC(c, "dc-3", "together", "m-together")
			}()
			go func() {
				defer wg.Done()
				<-start
				whS, whErr = xcHook(base, "wh-3", "together", "m-together")
			}()
			close(start)
			wg.Wait()
			if dcE != nil || whErr != nil {
				t.Fatal(dcE, whErr)
			}
			check(t, "together", map[string]string{verifier.ChannelDataChannel: dcS, verifier.ChannelWebhook: whS})
		})
	})
}
