package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Campaigns through the admin API: created on one replica (validated as
// the file's are), read and announced on another, changed until they
// start and not after.
func TestAdminCampaignsAcrossReplicas(t *testing.T) {
	st1 := storetest.Redis(t)
	st2 := storetest.RedisWithPrefix(t, st1.Prefix())
	cfg1, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg2, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg2.AdminToken, cfg2.Creators, cfg2.Sources, cfg2.Nodes = cfg1.AdminToken, cfg1.Creators, cfg1.Sources, cfg1.Nodes
	_, srv1 := adminApp(t, cfg1, st1)
	_, srv2 := adminApp(t, cfg2, st2)
	tok := cfg1.AdminToken

	drop := map[string]any{"id": "spring", "creator": config.DemoCreator, "title": "Spring pack",
		"stock": []map[string]any{{"node": config.DemoNode, "sku": "pack", "qty": 3}}}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", drop, nil); code != 201 {
		t.Fatalf("create drop: %d", code)
	}
	now := time.Now().UTC()
	local := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04") }
	campaign := map[string]any{"id": "spring-run", "creator": config.DemoCreator, "title": "Spring run",
		"starts_at": now.Add(24 * time.Hour).Format(time.RFC3339), "ends_at": now.Add(72 * time.Hour).Format(time.RFC3339),
		"drops":   []string{"spring"},
		"regions": []map[string]any{{"id": "local", "timezone": "UTC", "windows": []string{local(25*time.Hour) + "/" + local(27*time.Hour)}}}}
	var created admin.CampaignView
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/campaigns", campaign, &created); code != 201 {
		t.Fatalf("create campaign: %d", code)
	}
	if created.Source != "api" || created.Status != "upcoming" || created.Announcement != srv1.URL+"/a/spring-run" || len(created.Regions) != 1 {
		t.Errorf("created: %+v", created)
	}
	if code := adminCall(t, srv2, tok, "POST", "/v1/admin/campaigns", campaign, nil); code != 409 {
		t.Errorf("same id: %d, want 409", code)
	}

	var bad struct {
		Code     string
		Problems []map[string]string
	}
	invalid := map[string]any{"id": "bad-run", "creator": config.DemoCreator, "title": "Bad",
		"starts_at": campaign["starts_at"], "ends_at": campaign["ends_at"], "drops": []string{"spring"},
		"regions": []map[string]any{{"id": "local", "timezone": "Mars/Olympus", "windows": []string{}},
			{"id": "other", "timezone": "UTC", "windows": []string{local(27*time.Hour) + "/" + local(25*time.Hour)}}}}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/campaigns", invalid, &bad); code != 422 || bad.Code != "invalid_campaign" {
		t.Fatalf("invalid campaign: %d %+v", code, bad)
	}
	paths := map[string]string{}
	for _, p := range bad.Problems {
		paths[p["path"]] = p["message"]
	}
	for path, msg := range map[string]string{
		"campaign.regions[0].timezone":   `unknown time zone "Mars/Olympus"`,
		"campaign.regions[1].windows[0]": "ends before it starts",
		"campaign.drops[0]":              `drop "spring" is already in campaign "spring-run"`,
	} {
		if !strings.Contains(paths[path], msg) {
			t.Errorf("problem at %s: %q, want %q (all: %v)", path, paths[path], msg, bad.Problems)
		}
	}
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/campaigns/bad-run", nil, nil); code != 404 {
		t.Errorf("an invalid campaign was kept: %d", code)
	}

	// Replica 2 learns it, and announces it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v admin.CampaignView
		if adminCall(t, srv2, tok, "GET", "/v1/admin/campaigns/spring-run", nil, &v) == 200 && v.Title == "Spring run" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica 2 never saw the campaign")
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Get(srv2.URL + "/a/spring-run")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "Spring run") || !strings.Contains(string(page), "Spring pack") {
		t.Errorf("announcement on replica 2: %d", res.StatusCode)
	}

	// Changed before it starts, on either replica.
	campaign["title"] = "Spring run, renamed"
	var updated admin.CampaignView
	if code := adminCall(t, srv2, tok, "PUT", "/v1/admin/campaigns/spring-run", campaign, &updated); code != 200 || updated.Title != "Spring run, renamed" {
		t.Errorf("update before the start: %d %+v", code, updated)
	}
	// A campaign that has started stays as it is.
	started := map[string]any{"id": "now-run", "creator": config.DemoCreator, "title": "Now",
		"starts_at": now.Add(-time.Hour).Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"drops": []string{}, "regions": []map[string]any{{"id": "local", "timezone": "UTC"}}}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/campaigns", started, &bad); code != 422 {
		t.Errorf("a campaign without drops: %d", code)
	}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/drops", map[string]any{"id": "now-drop", "creator": config.DemoCreator,
		"stock": []map[string]any{{"node": config.DemoNode, "sku": "pack", "qty": 1}}}, nil); code != 201 {
		t.Fatal("drop")
	}
	started["drops"] = []string{"now-drop"}
	if code := adminCall(t, srv1, tok, "POST", "/v1/admin/campaigns", started, nil); code != 201 {
		t.Fatalf("create a running campaign: %d", code)
	}
	started["title"] = "Changed"
	var p struct{ Code string }
	if code := adminCall(t, srv1, tok, "PUT", "/v1/admin/campaigns/now-run", started, &p); code != 409 || p.Code != "campaign_started" {
		t.Errorf("update after the start: %d %q", code, p.Code)
	}
	if code := adminCall(t, srv1, tok, "PUT", "/v1/admin/campaigns/nope", started, &p); code != 422 || p.Code != "invalid_campaign" {
		t.Errorf("a body of another campaign: %d %q", code, p.Code)
	}
	started["id"] = "nope"
	if code := adminCall(t, srv1, tok, "PUT", "/v1/admin/campaigns/nope", started, &p); code != 404 || p.Code != "unknown_campaign" {
		t.Errorf("update of an unknown campaign: %d %q", code, p.Code)
	}
	var list struct{ Campaigns []admin.CampaignView }
	if code := adminCall(t, srv1, tok, "GET", "/v1/admin/campaigns", nil, &list); code != 200 || len(list.Campaigns) != 2 ||
		list.Campaigns[0].ID != "now-run" || list.Campaigns[0].Status != "running" || list.Campaigns[1].Status != "upcoming" {
		t.Errorf("list: %d %+v", code, list)
	}
}
