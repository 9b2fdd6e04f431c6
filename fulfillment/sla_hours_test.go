package fulfillment

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

type slaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *slaClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *slaClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A claim forwarded at 17:30 on a Tuesday to a node open 09–18 with a 2 h
// SLA is due at 10:30 on Wednesday, and the SLA sweep fails (and
// compensates) it only after that. A tier's pickup_sla overrides the
// node's, on the same open-time clock.
func TestSLACountsOpenTimeOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		// A hosted node: its claims are forwarded without HTTP, so the
		// injected clock signs nothing a real node would check.
		nc := testNodeConfig("shop", "", "")
		nc.PickupSLA = config.Duration(2 * time.Hour)
		nc.Timezone, nc.Open = "Europe/Berlin", []string{"Mon-Fri 09:00-18:00"}
		f := newFixture(t, st, config.Compensation{Kind: config.CompensationCode, CodesFile: codesFile(t, 5)}, nc)
		clock := &slaClock{t: berlin(t, "2026-12-01T17:30")}
		tiers := map[string]*config.Tier{"express": {ID: "express", PickupSLA: config.Duration(45 * time.Minute)}}

		standard, express := f.claim("shop"), f.claim("shop")
		if err := st.HSet(context.Background(), claimKey(f.drop, express), map[string]string{"tier": "express"}); err != nil {
			t.Fatal(err)
		}
		s := f.service(func(c *Config) {
			c.Now, c.SLATick = clock.Now, time.Hour // the sweep runs when the test says
			c.Tiers = func(id string) (*config.Tier, bool) { tr, ok := tiers[id]; return tr, ok }
		})
		run(t, s)
		eventually(t, 10*time.Second, "both claims forwarded", func() bool {
			return f.claimHash(standard)["state"] == "forwarded" && f.claimHash(express)["state"] == "forwarded"
		})
		due := func(id string) time.Time {
			ms, _ := strconv.ParseInt(f.claimHash(id)["pickup_by"], 10, 64)
			return time.UnixMilli(ms)
		}
		if got, want := due(standard), berlin(t, "2026-12-02T10:30"); !got.Equal(want) {
			t.Errorf("standard due %s, want %s", got, want)
		}
		if got, want := due(express), berlin(t, "2026-12-02T09:15"); !got.Equal(want) {
			t.Errorf("express due %s, want %s", got, want)
		}

		ctx := context.Background()
		for _, step := range []struct {
			at        string
			failed    int
			stateStd  string
			stateExpr string
		}{
			{"2026-12-01T23:00", 0, "forwarded", "forwarded"}, // the node is closed: no clock
			{"2026-12-02T09:14", 0, "forwarded", "forwarded"},
			{"2026-12-02T09:16", 1, "forwarded", "compensated"},
			{"2026-12-02T10:29", 0, "forwarded", "compensated"},
			{"2026-12-02T10:31", 1, "compensated", "compensated"},
		} {
			clock.Set(berlin(t, step.at))
			n, err := s.ExpirePickups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != step.failed || f.claimHash(standard)["state"] != step.stateStd || f.claimHash(express)["state"] != step.stateExpr {
				t.Errorf("at %s: %d failed, standard %s, express %s", step.at, n, f.claimHash(standard)["state"], f.claimHash(express)["state"])
			}
		}
	})
}
