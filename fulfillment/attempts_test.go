package fulfillment

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// deliveries waits until node's log holds at least n attempts and
// returns them, newest first.
func waitDeliveries(t *testing.T, s *Service, node string, n int) []Attempt {
	t.Helper()
	var as []Attempt
	eventually(t, 10*time.Second, "attempts in the delivery log", func() bool {
		var err error
		as, err = s.Deliveries(context.Background(), node, AttemptLogSize)
		if err != nil {
			t.Fatal(err)
		}
		return len(as) >= n
	})
	return as
}

// Two failed attempts and a success: the log holds all three, newest
// first, each with its event, claim, attempt number, status, latency and
// (after a failure) when the next attempt is due.
func TestDeliveryLogRecordsEachAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		node.setRespond(func(_ *http.Request, hit int) (int, http.Header) {
			if hit <= 2 {
				return http.StatusInternalServerError, nil
			}
			return http.StatusNoContent, nil
		})
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		id := f.claim("shop")
		s := f.service(func(c *Config) { c.Consumer = "replica-a" })
		run(t, s)
		eventually(t, 10*time.Second, "forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })

		as := waitDeliveries(t, s, "shop", 3)
		if len(as) != 3 {
			t.Fatalf("%d attempts logged, want 3: %+v", len(as), as)
		}
		for i, want := range []struct {
			attempt int
			status  int
			result  string
			retry   bool
		}{{3, 204, "ok", false}, {2, 500, "http_500", true}, {1, 500, "http_500", true}} {
			a := as[i]
			if a.Event != id+".created" || a.Claim != id || a.Drop != f.drop || a.Type != TypeClaimCreated || a.Replica != "replica-a" {
				t.Errorf("attempt %d: %+v", i, a)
			}
			if a.Attempt != want.attempt || a.Status == nil || *a.Status != want.status || a.Result != want.result || a.Error != "" {
				t.Errorf("attempt %d: attempt %d status %v result %q error %q, want attempt %d status %d result %q",
					i, a.Attempt, a.Status, a.Result, a.Error, want.attempt, want.status, want.result)
			}
			if (a.NextRetryAt != nil) != want.retry || a.DeadLettered || a.At.IsZero() || a.LatencyMS < 0 {
				t.Errorf("attempt %d: next retry %v, dead-lettered %v, at %v, latency %d", i, a.NextRetryAt, a.DeadLettered, a.At, a.LatencyMS)
			}
			if a.NextRetryAt != nil && a.NextRetryAt.Before(a.At) {
				t.Errorf("attempt %d: next retry %v before the attempt %v", i, a.NextRetryAt, a.At)
			}
		}
		if !as[0].At.After(as[2].At) && !as[0].At.Equal(as[2].At) {
			t.Errorf("not newest first: %v then %v", as[0].At, as[2].At)
		}
	})
}

// An attempt that gets no answer is logged with why, and without the
// node's URL (which may carry a token).
func TestDeliveryLogNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, result, err string
		node              func(t *testing.T) (config.Node, string)
	}{
		{name: "timeout", result: "timeout", err: "no answer within 100ms", node: func(t *testing.T) (config.Node, string) {
			node := newTestNode(t)
			node.setRespond(func(r *http.Request, _ int) (int, http.Header) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return http.StatusNoContent, nil
			})
			nc := testNodeConfig("shop", node.srv.URL+"/hook?token=node-secret-token", node.secret)
			nc.Timeout = config.Duration(100 * time.Millisecond)
			return nc, node.srv.URL
		}},
		{name: "refused", result: "error", err: "connection refused", node: func(t *testing.T) (config.Node, string) {
			addr := freeAddr(t)
			return testNodeConfig("shop", "http://"+addr+"/hook?token=node-secret-token", newSecret(t)), addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := storetest.Redis(t)
			nc, where := tc.node(t)
			f := newFixture(t, st, config.Compensation{Kind: "none"}, nc)
			id := f.claim("shop")
			s := f.service()
			run(t, s)
			a := waitDeliveries(t, s, "shop", 1)[0]
			if a.Claim != id || a.Result != tc.result || a.Status != nil || !strings.Contains(a.Error, tc.err) || a.NextRetryAt == nil {
				t.Fatalf("attempt %+v: want result %q, no status, error with %q, a next retry", a, tc.result, tc.err)
			}
			if strings.Contains(a.Error, where) || strings.Contains(a.Error, "node-secret-token") {
				t.Fatalf("the logged error names the node's URL: %q", a.Error)
			}
			b, _ := json.Marshal(a)
			if !strings.Contains(string(b), `"status":null`) {
				t.Fatalf("no status: want null in %s", b)
			}
		})
	}
}

// The log keeps a node's newest AttemptLogSize attempts.
func TestDeliveryLogCapped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		const n = AttemptLogSize + 30
		ids := make([]string, n)
		for i := range ids {
			ids[i] = f.claim("shop")
		}
		s := f.service()
		run(t, s)
		eventually(t, 20*time.Second, "every claim forwarded", func() bool {
			for _, id := range ids {
				if f.claimHash(id)["state"] != "forwarded" {
					return false
				}
			}
			return true
		})
		// One more after all of them: the newest entry.
		last := f.claim("shop")
		eventually(t, 10*time.Second, "the last claim logged", func() bool {
			as, err := s.Deliveries(context.Background(), "shop", 1)
			return err == nil && len(as) == 1 && as[0].Claim == last
		})
		raw, err := st.Run(context.Background(), lrangeScript, []string{attemptsKey("shop")})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(raw.([]any)); got != AttemptLogSize {
			t.Fatalf("the log holds %d entries, want %d", got, AttemptLogSize)
		}
		as, err := s.Deliveries(context.Background(), "shop", AttemptLogSize)
		if err != nil || len(as) != AttemptLogSize {
			t.Fatalf("Deliveries: %d, %v", len(as), err)
		}
		seen := map[string]bool{}
		for _, a := range as {
			if seen[a.Event] {
				t.Fatalf("event %s logged twice for one 2xx each", a.Event)
			}
			seen[a.Event] = true
		}
		if _, err := s.Deliveries(context.Background(), "nope", 10); err == nil {
			t.Fatal("Deliveries of an unknown node: no error")
		}
	})
}

// Attempts one replica made, and its breaker, are what another replica's
// admin API shows: a node answering 500 opens the first replica's
// breaker, and the second reads the node's breaker open, with the
// failing attempts. On one Redis and on a Redis Cluster.
func TestDeliveryLogSeenByAnotherReplica(t *testing.T) {
	storetest.EachRedis(t, testDeliveryLogSeenByAnotherReplica)
}

func testDeliveryLogSeenByAnotherReplica(t *testing.T, be storetest.Backend) {
	prefix := storetest.Prefix(t)
	stA, stB := be.Open(t, prefix), be.Open(t, prefix)
	node := newTestNode(t)
	node.setRespond(func(*http.Request, int) (int, http.Header) { return http.StatusInternalServerError, nil })
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	nc.BreakerFailures = 2
	nc.BreakerCooldown = config.Duration(time.Hour)
	// The attempt after the cooldown must stay within the horizon, or the
	// entry is dead-lettered at once (rightly) and counted below.
	nc.RetryHorizon = config.Duration(24 * time.Hour)
	hosted := config.Node{ID: "kiosk", Name: "Kiosk", Secret: newSecret(t)}
	f := newFixture(t, stA, config.Compensation{Kind: "none"}, nc, hosted)
	id := f.claim("shop")
	a := f.service(func(c *Config) { c.Consumer = "replica-a" })
	run(t, a)
	b := (&fixture{t: t, st: stB, drops: f.drops, nodes: f.nodes, drop: f.drop}).service(func(c *Config) { c.Consumer = "replica-b" })

	var shop NodeView
	eventually(t, 10*time.Second, "the breaker open, seen from replica b", func() bool {
		nodes, err := b.Nodes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 2 || nodes[0].ID != "shop" || nodes[1].ID != "kiosk" {
			t.Fatalf("nodes %+v", nodes)
		}
		if k := nodes[1]; !k.Hosted || k.Name != "Kiosk" || len(k.Attempts) != 0 || k.Breaker.State != BreakerStateClosed {
			t.Fatalf("hosted node %+v", k)
		}
		shop = nodes[0]
		return shop.Breaker.State == BreakerStateOpen
	})
	br := shop.Breaker
	if br.Failures != 2 || br.OpenUntil == nil || !br.OpenUntil.After(time.Now().Add(30*time.Minute)) {
		t.Fatalf("breaker %+v: want 2 failures, open for about an hour", br)
	}
	if len(br.Replicas) != 1 || br.Replicas[0].Replica != "replica-a" || br.Replicas[0].State != BreakerStateOpen {
		t.Fatalf("breaker replicas %+v: want replica-a open", br.Replicas)
	}
	if shop.Hosted || shop.Disabled || shop.DeadLetters != 0 || len(shop.Attempts) != 2 {
		t.Fatalf("node %+v", shop)
	}
	for _, at := range shop.Attempts {
		if at.Claim != id || at.Status == nil || *at.Status != 500 || at.Replica != "replica-a" || at.NextRetryAt == nil {
			t.Errorf("attempt %+v", at)
		}
	}
}

// A delivery given up on: its last attempt says so, and the node counts
// the dead letter.
func TestDeliveryLogDeadLetter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node, _ := switchableNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, deadNode(node))
		id := f.claim("shop")
		s := f.service()
		run(t, s)
		eventually(t, 5*time.Second, "forward_failed", func() bool { return f.claimHash(id)["state"] == "forward_failed" })
		var nodes []NodeView
		eventually(t, 5*time.Second, "the last attempt logged dead-lettered", func() bool {
			var err error
			if nodes, err = s.Nodes(context.Background()); err != nil {
				t.Fatal(err)
			}
			as := nodes[0].Attempts
			return len(as) > 0 && as[0].DeadLettered
		})
		last := nodes[0].Attempts[0]
		if last.NextRetryAt != nil || last.Result != "http_500" || nodes[0].DeadLetters != 1 {
			t.Fatalf("last attempt %+v, dead letters %d: want no next retry and 1 dead letter", last, nodes[0].DeadLetters)
		}
		for _, a := range nodes[0].Attempts[1:] {
			if a.DeadLettered || a.NextRetryAt == nil {
				t.Fatalf("an earlier attempt %+v: want a next retry", a)
			}
		}
	})
}

func TestBreakerView(t *testing.T) {
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	report := func(state string, failures int, openUntil time.Duration, ago time.Duration) string {
		r := ReplicaBreaker{State: state, Failures: failures, At: now.Add(-ago)}
		if openUntil != 0 {
			u := now.Add(openUntil)
			r.OpenUntil = &u
		}
		b, _ := json.Marshal(r)
		return string(b)
	}
	for _, tc := range []struct {
		name      string
		reports   map[string]string
		state     string
		failures  int
		openUntil time.Duration // 0: none
		replicas  []string
	}{
		{name: "no reports", state: "closed"},
		{name: "one closed", reports: map[string]string{"a": report("closed", 1, 0, time.Second)},
			state: "closed", failures: 1, replicas: []string{"a"}},
		{name: "one open of two", reports: map[string]string{
			"a": report("closed", 0, 0, time.Second), "b": report("open", 5, 20*time.Second, 10*time.Second)},
			state: "open", failures: 5, openUntil: 20 * time.Second, replicas: []string{"a", "b"}},
		{name: "latest reopening wins", reports: map[string]string{
			"a": report("open", 3, 5*time.Second, time.Second), "b": report("open", 4, 20*time.Second, time.Second)},
			state: "open", failures: 4, openUntil: 20 * time.Second, replicas: []string{"a", "b"}},
		{name: "open past its cooldown lets a probe through", reports: map[string]string{
			"a": report("open", 5, -time.Second, time.Minute)},
			state: "half_open", failures: 5, replicas: []string{"a"}},
		{name: "half-open beats closed", reports: map[string]string{
			"a": report("half_open", 5, 0, time.Second), "b": report("closed", 0, 0, time.Second)},
			state: "half_open", failures: 5, replicas: []string{"a", "b"}},
		{name: "a quiet replica is left out", reports: map[string]string{
			"a": report("open", 5, -time.Hour, 2*time.Hour), "b": report("closed", 0, 0, time.Second)},
			state: "closed", replicas: []string{"b"}},
		{name: "a quiet replica still open counts", reports: map[string]string{
			"a": report("open", 5, time.Hour, 2*time.Hour)},
			state: "open", failures: 5, openUntil: time.Hour, replicas: []string{"a"}},
		{name: "an unreadable report is skipped", reports: map[string]string{"a": "{", "b": report("closed", 0, 0, 0)},
			state: "closed", replicas: []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := breakerView(tc.reports, now)
			var names []string
			for _, r := range v.Replicas {
				names = append(names, r.Replica)
			}
			if v.State != tc.state || v.Failures != tc.failures || strings.Join(names, ",") != strings.Join(tc.replicas, ",") {
				t.Fatalf("view %+v: want %s, %d failures, replicas %v", v, tc.state, tc.failures, tc.replicas)
			}
			switch {
			case tc.openUntil == 0 && v.OpenUntil != nil:
				t.Fatalf("open until %v, want none", v.OpenUntil)
			case tc.openUntil != 0 && (v.OpenUntil == nil || !v.OpenUntil.Equal(now.Add(tc.openUntil))):
				t.Fatalf("open until %v, want %v", v.OpenUntil, now.Add(tc.openUntil))
			}
		})
	}
}

// The admin API: GET /v1/admin/nodes and the node's delivery log, and the
// dead-letter routes narrowed to one node.
func TestNodesAdminAPI(t *testing.T) {
	st := storetest.Redis(t)
	down, _ := switchableNode(t)
	up := newTestNode(t)
	dead := deadNode(down)
	f := newFixture(t, st, config.Compensation{Kind: "none"}, dead, testNodeConfig("other", up.srv.URL, up.secret))
	failed, forwarded := f.claim("shop"), f.claim("other")
	s := f.service()
	run(t, s)
	eventually(t, 10*time.Second, "one claim forward_failed, one forwarded", func() bool {
		return f.claimHash(failed)["state"] == "forward_failed" && f.claimHash(forwarded)["state"] == "forwarded"
	})
	waitDeliveries(t, s, "other", 1)

	mux := http.NewServeMux()
	for p, h := range s.AdminHandlers() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	call := func(method, path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return res.StatusCode, out
	}

	code, body := call("GET", "/v1/admin/nodes")
	if code != 200 {
		t.Fatalf("GET /v1/admin/nodes: %d %v", code, body)
	}
	nodes := body["nodes"].([]any)
	shop, other := nodes[0].(map[string]any), nodes[1].(map[string]any)
	if shop["id"] != "shop" || shop["hosted"] != false || shop["dead_letters"] != 1.0 || other["dead_letters"] != 0.0 {
		t.Fatalf("nodes %v", nodes)
	}
	br := shop["breaker"].(map[string]any)
	if _, ok := br["state"].(string); !ok || br["replicas"] == nil {
		t.Fatalf("breaker %v", br)
	}
	at := other["attempts"].([]any)[0].(map[string]any)
	for _, k := range []string{"at", "event", "claim", "attempt", "status", "latency_ms", "result", "replica"} {
		if _, ok := at[k]; !ok {
			t.Errorf("attempt without %q: %v", k, at)
		}
	}
	if at["claim"] != forwarded || at["status"] != 200.0 || at["attempt"] != 1.0 {
		t.Fatalf("attempt %v", at)
	}

	if code, body := call("GET", "/v1/admin/nodes/shop/deliveries?limit=1"); code != 200 || len(body["deliveries"].([]any)) != 1 || body["node"] != "shop" {
		t.Fatalf("deliveries?limit=1: %d %v", code, body)
	}
	for _, q := range []string{"0", "101", "ten", "-1"} {
		if code, body := call("GET", "/v1/admin/nodes/shop/deliveries?limit="+q); code != 400 || body["code"] != "invalid_limit" {
			t.Errorf("limit=%s: %d %v, want 400 invalid_limit", q, code, body)
		}
	}
	if code, body := call("GET", "/v1/admin/nodes/nope/deliveries"); code != 404 || body["code"] != "unknown_node" {
		t.Errorf("unknown node: %d %v", code, body)
	}

	if code, body := call("GET", "/v1/admin/dlq?node=other"); code != 200 || body["count"] != 0.0 {
		t.Errorf("dlq?node=other: %d %v", code, body)
	}
	if code, body := call("GET", "/v1/admin/dlq?node=shop"); code != 200 || body["count"] != 1.0 {
		t.Errorf("dlq?node=shop: %d %v", code, body)
	}
	for _, path := range []string{"/v1/admin/dlq?node=nope", "/v1/admin/dlq/replay?node=nope"} {
		method := "GET"
		if strings.Contains(path, "replay") {
			method = "POST"
		}
		if code, body := call(method, path); code != 404 || body["code"] != "unknown_node" {
			t.Errorf("%s %s: %d %v, want 404 unknown_node", method, path, code, body)
		}
	}
	if f.claimHash(failed)["state"] != "forward_failed" {
		t.Fatal("a refused replay changed the claim")
	}
	if code, body := call("POST", "/v1/admin/dlq/replay?node=other"); code != 202 || body["replayed"] != 0.0 {
		t.Errorf("replay of the other node's: %d %v, want none replayed", code, body)
	}
	if code, body := call("POST", "/v1/admin/dlq/replay?node=shop"); code != 202 || body["replayed"] != 1.0 {
		t.Errorf("replay of shop's: %d %v, want 1 replayed", code, body)
	}
}

// The breaker report of a replica that has not reported for a day (gone,
// or restarted under another name) is removed when a replica writes its
// attempts; recent reports stay.
func TestBreakerReportsOfGoneReplicasForgotten(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		ctx := context.Background()
		report := func(replica string, at time.Time) string {
			b, _ := json.Marshal(ReplicaBreaker{Replica: replica, State: BreakerStateOpen, Failures: 3, At: at.UTC()})
			return string(b)
		}
		if err := st.HSet(ctx, breakerKey("shop"), map[string]string{
			"gone":   report("gone", time.Now().Add(-breakerForget-time.Hour)),
			"recent": report("recent", time.Now().Add(-time.Hour)),
		}); err != nil {
			t.Fatal(err)
		}
		s := f.service(func(c *Config) { c.Consumer = "replica-a" })
		run(t, s)
		f.claim("shop")
		waitDeliveries(t, s, "shop", 1)
		eventually(t, 10*time.Second, "the gone replica's report removed", func() bool {
			h, err := st.HGetAll(ctx, breakerKey("shop"))
			if err != nil {
				t.Fatal(err)
			}
			_, gone := h["gone"]
			_, recent := h["recent"]
			_, mine := h["replica-a"]
			if !recent {
				t.Fatalf("a recent report was removed: %v", h)
			}
			return !gone && mine
		})
	})
}
