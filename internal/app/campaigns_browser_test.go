package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dropwire/dropwire/internal/browsertest"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// A capture trigger for a campaign's drop before the campaign starts is
// answered outside_window, opens nothing, and the drop's card on the
// dashboard says so.
func TestTriggerOutsideCampaignOnDashboard(t *testing.T) {
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cfg.Campaigns = []config.Campaign{{ID: "later", Creator: config.DemoCreator, Title: "Later",
		StartsAt: now.Add(24 * time.Hour).Format(time.RFC3339), EndsAt: now.Add(48 * time.Hour).Format(time.RFC3339),
		Drops: []string{config.DemoDrop}, Regions: []config.Region{{ID: "local", Timezone: "UTC"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, srv := adminApp(t, cfg, storetest.Memory(t))

	signer, err := stdwebhooks.NewSigner(cfg.Sources[0].Secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	trigger := []byte(`{"type":"drop.trigger","drop":"demo-drop","moment":"m-early"}`)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/hooks/"+cfg.Sources[0].ID, bytes.NewReader(trigger))
	req.Header = signer.Headers("evt-early", time.Now(), trigger)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var ans struct {
		Status string
		Moment struct {
			State    string
			OpenedAt string `json:"opened_at"`
		}
	}
	_ = json.Unmarshal(body, &ans)
	if res.StatusCode != http.StatusAccepted || ans.Status != "accepted" || ans.Moment.State != "outside_window" || ans.Moment.OpenedAt != "" {
		t.Fatalf("trigger before the campaign: %d %s", res.StatusCode, body)
	}

	ctx, cancel := context.WithTimeout(browsertest.New(t, browsertest.Options{Width: 1280, Height: 1000}), 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), cfg.AdminToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`[data-drop="demo-drop"] .outside`)),
	); err != nil {
		t.Fatal(err)
	}
	line, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-drop="demo-drop"] .outside').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "1 trigger outside the campaign window opened nothing; last ") || !strings.HasSuffix(line, "(moment m-early from demo-capture)") {
		t.Errorf("the card says %q", line)
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-drop="demo-drop"] .badge.status').textContent`))
	if status != "idle" {
		t.Errorf("the drop is %q, want idle", status)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-drop="demo-drop"]').scrollIntoView(), true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "dashboard-outside-window.png")
}
