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
		tiers := []config.Tier{{ID: "express", PickupSLA: config.Duration(45 * time.Minute)}}

		standard, express := f.claim("shop"), f.claim("shop")
		if err := st.HSet(context.Background(), claimKey(f.drop, express), map[string]string{"tier": "express"}); err != nil {
			t.Fatal(err)
		}
		s := f.service(func(c *Config) {
			c.Now, c.SLATick = clock.Now, time.Hour // the sweep runs when the test says
			c.Tiers = tiers
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

// A tier's max_ready_per_hour: of five claims made at once with a cap of
// two, a node is asked to prepare the first two now, the next two an hour
// later and the last one an hour after that, in the order they were made;
// each one's pickup deadline starts when it is released.
func TestMaxReadyPerHourReleasesInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		nc := testNodeConfig("shop", "", "") // hosted: no HTTP, so the clock signs nothing
		nc.PickupSLA = config.Duration(30 * time.Minute)
		nc.RetryHorizon = config.Duration(90 * time.Minute) // shorter than the queue: it starts at each release
		f := newFixture(t, st, config.Compensation{Kind: config.CompensationNone}, nc)
		start := time.Now().Truncate(time.Second)
		clock := &slaClock{t: start}
		var ids []string
		for range 5 {
			id := f.claim("shop")
			if err := st.HSet(context.Background(), claimKey(f.drop, id), map[string]string{"tier": "limited"}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		s := f.service(func(c *Config) {
			c.Now, c.SLATick, c.Workers = clock.Now, time.Hour, 8
			c.Tiers = []config.Tier{{ID: "limited", MaxReadyPerHour: 2}}
		})
		run(t, s)
		state := func(i int) string { return f.claimHash(ids[i])["state"] }
		forwarded := func(want ...int) {
			t.Helper()
			eventually(t, 15*time.Second, "claims released", func() bool {
				n := 0
				for i := range ids {
					if state(i) == "forwarded" {
						n++
					}
				}
				return n >= len(want)
			})
			time.Sleep(200 * time.Millisecond) // nothing more is released
			var got []int
			for i := range ids {
				if state(i) == "forwarded" {
					got = append(got, i)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("forwarded %v, want %v", got, want)
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("forwarded %v, want %v", got, want)
				}
			}
		}
		due := func(i int) time.Time {
			ms, _ := strconv.ParseInt(f.claimHash(ids[i])["pickup_by"], 10, 64)
			return time.UnixMilli(ms)
		}
		forwarded(0, 1)
		if got, want := due(0), start.Add(30*time.Minute); !got.Equal(want) {
			t.Errorf("first claim due %s, want %s", got, want)
		}
		clock.Set(start.Add(59 * time.Minute))
		forwarded(0, 1)
		clock.Set(start.Add(time.Hour))
		forwarded(0, 1, 2, 3)
		if got, want := due(2), start.Add(90*time.Minute); !got.Equal(want) {
			t.Errorf("third claim due %s, want %s: its clock starts at its release", got, want)
		}
		clock.Set(start.Add(2 * time.Hour))
		forwarded(0, 1, 2, 3, 4)
		if got, want := due(4), start.Add(150*time.Minute); !got.Equal(want) {
			t.Errorf("fifth claim due %s, want %s", got, want)
		}
	})
}
