package config

import (
	"strings"
	"testing"
	"time"
)

// campaignBase is a valid configuration with tiers, node hours and a
// campaign; cases edit single lines of it so the line numbers stay put.
const campaignBase = `creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
nodes:
  - id: shop
    region: eu
    timezone: Europe/Berlin
    open: ["Mon-Fri 09:00-18:00"]
    secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
drops:
  - id: pack
    creator: ava
    stock: [{node: shop, sku: sticker, tier: gold, qty: 10}]
  - id: pin
    creator: ava
    stock: [{node: shop, sku: pin, tier: gold, qty: 10}]
tiers:
  - id: gold
    pickup_sla: 2h
    max_ready_per_hour: 5
campaigns:
  - id: winter
    creator: ava
    title: "Winter run"
    starts_at: "2026-12-05T00:00:00+01:00"
    ends_at: "2026-12-08T00:00:00+01:00"
    drops: [pack]
    regions:
      - id: eu
        timezone: Europe/Berlin
        windows: ["2026-12-05T18:00/2026-12-05T20:00"]
`

func TestCampaignConfig(t *testing.T) {
	c := mustParse(t, campaignBase, nil)
	cp, ok := c.Campaign("winter")
	if !ok {
		t.Fatal("no campaign winter")
	}
	s, err := cp.Schedule()
	if err != nil {
		t.Fatal(err)
	}
	at := func(v string) time.Time { x, _ := time.Parse(time.RFC3339, v); return x }
	if open, _, _ := s.RegionOpen("eu", at("2026-12-05T17:30:00Z")); !open {
		t.Error("18:30 Berlin is inside the window")
	}
	open, next, ok := s.RegionOpen("eu", at("2026-12-05T16:30:00Z"))
	if open || !ok || !next.Start.Equal(at("2026-12-05T17:00:00Z")) {
		t.Errorf("17:30 Berlin: open %v, next %v %v", open, next, ok)
	}
	n, _ := c.Node("shop")
	// Tuesday 17:30 with the gold tier's 2 h: Wednesday 10:30.
	from := at("2026-12-01T16:30:00Z")
	if got := c.PickupDeadline(n, "gold", from); !got.Equal(at("2026-12-02T09:30:00Z")) {
		t.Errorf("deadline %s", got)
	}
	if got := c.PickupSLA(n, "standard"); got != DefaultPickupSLA {
		t.Errorf("an undefined tier takes the node's SLA: %s", got)
	}
}

// Every new key is checked, each problem at its line.
func TestCampaignProblems(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     []want
	}{
		{"window ends before it starts", `["2026-12-05T18:00/2026-12-05T20:00"]`, `["2026-12-05T20:00/2026-12-05T18:00"]`,
			[]want{{31, "campaigns[0].regions[0].windows[0]", "ends before it starts"}}},
		{"window outside the campaign", `["2026-12-05T18:00/2026-12-05T20:00"]`, `["2026-12-09T18:00/2026-12-09T20:00"]`,
			[]want{{31, "campaigns[0].regions[0].windows[0]", "lies outside the campaign"}}},
		{"overlapping windows", `["2026-12-05T18:00/2026-12-05T20:00"]`, `["2026-12-05T18:00/2026-12-05T20:00", "2026-12-05T19:00/2026-12-05T21:00"]`,
			[]want{{31, "campaigns[0].regions[0].windows[1]", "overlaps"}}},
		{"a skipped local time", `["2026-12-05T18:00/2026-12-05T20:00"]`, `["2026-03-29T02:30/2026-03-29T04:00"]`,
			[]want{{31, "campaigns[0].regions[0].windows[0]", "does not exist"}}},
		{"unknown region time zone", "        timezone: Europe/Berlin", "        timezone: Europe/Berlinn",
			[]want{{30, "campaigns[0].regions[0].timezone", `unknown time zone "Europe/Berlinn"`}}},
		{"unknown node time zone", "    timezone: Europe/Berlin\n    open", "    timezone: Mars/Olympus\n    open",
			[]want{{7, "nodes[0].timezone", `unknown time zone "Mars/Olympus"`}}},
		{"open without a time zone", "    timezone: Europe/Berlin\n    open", "    open",
			[]want{{5, "nodes[0].timezone", "is required with open"}}},
		{"bad open syntax", `["Mon-Fri 09:00-18:00"]`, `["Mon-Fri 9-18", "Sat 10:00-14:00"]`,
			[]want{{8, "nodes[0].open[0]", "is not opening hours"}}},
		{"bad open days", `["Mon-Fri 09:00-18:00"]`, `["Mon-Fry 09:00-18:00"]`,
			[]want{{8, "nodes[0].open[0]", "is not a list of days"}}},
		{"drop in two campaigns", `        windows: ["2026-12-05T18:00/2026-12-05T20:00"]`, `        windows: ["2026-12-05T18:00/2026-12-05T20:00"]
  - id: spring
    creator: ava
    title: "Spring"
    starts_at: "2026-12-05T00:00:00Z"
    ends_at: "2026-12-06T00:00:00Z"
    drops: [pin, pack]
    regions: [{id: eu, timezone: UTC}]`,
			[]want{{37, "campaigns[1].drops[1]", `drop "pack" is already in a campaign (line 27)`}}},
		{"tier nobody defines", "    stock: [{node: shop, sku: pin, tier: gold, qty: 10}]", "    stock: [{node: shop, sku: pin, tier: silver, qty: 10}]",
			[]want{{16, "drops[1].stock[0].tier", `unknown tier "silver"`}}},
		{"default tier undefined once tiers exist", "    stock: [{node: shop, sku: pin, tier: gold, qty: 10}]", "    stock: [{node: shop, sku: pin, qty: 10}]",
			[]want{{16, "drops[1].stock[0].tier", `unknown tier "standard"`}}},
		{"zero tier sla", "    pickup_sla: 2h", "    pickup_sla: 0s",
			[]want{{19, "tiers[0].pickup_sla", "must be greater than 0"}}},
		{"campaign ends before it starts", `    ends_at: "2026-12-08T00:00:00+01:00"`, `    ends_at: "2026-12-04T00:00:00+01:00"`,
			[]want{{26, "campaigns[0].ends_at", "ends before it starts"}}},
		{"starts_at without offset", `    starts_at: "2026-12-05T00:00:00+01:00"`, `    starts_at: "2026-12-05T00:00"`,
			[]want{{25, "campaigns[0].starts_at", "is not an RFC 3339 time"}}},
		{"unknown drop", "    drops: [pack]", "    drops: [pak]", []want{{27, "campaigns[0].drops[0]", `unknown drop "pak"`}}},
		{"stock outside the campaign's regions", "      - id: eu\n", "      - id: us\n",
			[]want{{27, "campaigns[0].drops[0]", `region "eu", which this campaign has no entry for`}}},
		{"unknown creator", "    creator: ava\n    title", "    creator: bob\n    title",
			[]want{{23, "campaigns[0].creator", `unknown creator "bob"`}, {27, "campaigns[0].drops[0]", `belongs to creator "ava"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := strings.Count(campaignBase, tc.old); n != 1 {
				t.Fatalf("edit: %q occurs %d times", tc.old, n)
			}
			_, err := Parse("test.yaml", []byte(strings.Replace(campaignBase, tc.old, tc.new, 1)), envOf(nil))
			checkProblems(t, "test.yaml", problems(t, err), tc.want)
		})
	}
}

// Without a tiers section a tier stays a label, as before tiers existed.
func TestTiersOptional(t *testing.T) {
	mustParse(t, base, nil)
}
