package fulfillment

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A node that is down (connection refused) for a while, then back: every
// claim is delivered, with one webhook-id per claim, and the node sees each
// claim once after deduping on webhook-id.
func TestNodeDownThenBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		node.srv.Close() // the recorder is reused below on a new listener
		addr := freeAddr(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", "http://"+addr+"/hook", node.secret))
		const n = 40
		ids := make([]string, n)
		for i := range ids {
			ids[i] = f.claim("shop")
		}
		s := f.service()
		run(t, s)
		time.Sleep(700 * time.Millisecond) // down: attempts fail, the breaker opens
		if got := len(node.deliveries()); got != 0 {
			t.Fatalf("%d deliveries while down", got)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("could not listen on %s again: %v", addr, err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(node.serve))
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)

		eventually(t, 15*time.Second, "every claim forwarded", func() bool {
			for _, id := range ids {
				if f.claimHash(id)["state"] != "forwarded" {
					return false
				}
			}
			return true
		})
		if bad := node.badSignatures(); len(bad) > 0 {
			t.Fatalf("bad signatures: %v", bad)
		}
		byID := map[string]map[string]bool{} // claim → webhook-ids
		seen := map[string]bool{}
		for _, d := range node.deliveries() {
			if seen[d.ID] {
				continue // the node dedupes on webhook-id
			}
			seen[d.ID] = true
			if byID[d.Payload.Claim.ID] == nil {
				byID[d.Payload.Claim.ID] = map[string]bool{}
			}
			byID[d.Payload.Claim.ID][d.ID] = true
			if d.Payload.Type != TypeClaimCreated || d.Payload.Claim.Node != "shop" || d.Payload.Claim.PickupCode == "" {
				t.Errorf("payload %+v", d.Payload)
			}
		}
		if len(byID) != n {
			t.Fatalf("node saw %d distinct claims, want %d", len(byID), n)
		}
		for _, id := range ids {
			if len(byID[id]) != 1 || !byID[id][id+".created"] {
				t.Errorf("claim %s delivered with webhook-ids %v", id, byID[id])
			}
		}
		eventually(t, 5*time.Second, "outbox drained", func() bool {
			p, err := st.OutboxPending(context.Background(), outboxKey(f.drop), Group)
			n, _ := st.Run(context.Background(), cardScript, []string{dueKey(f.drop)})
			return err == nil && p.Count == 0 && n == int64(0)
		})
	})
}

// respondLog records when each attempt came.
type respondLog struct {
	mu sync.Mutex
	at []time.Time
}

func (l *respondLog) add() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, time.Now())
	return len(l.at)
}

func (l *respondLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at...)
}

func TestNodeAnswers(t *testing.T) {
	header := func(k, v string) http.Header { h := http.Header{}; h.Set(k, v); return h }
	for _, tc := range []struct {
		name    string
		answers []int // answers before 200; 0 ends the list
		header  http.Header
		minGap  time.Duration // least time between the first two attempts
	}{
		{name: "500 then ok", answers: []int{500, 500, 500}},
		{name: "302 is a failure", answers: []int{302}, header: header("Location", "http://127.0.0.1:1/")},
		{name: "429 with Retry-After", answers: []int{429}, header: header("Retry-After", "1"), minGap: 900 * time.Millisecond},
		{name: "503 with Retry-After", answers: []int{503}, header: header("Retry-After", "1"), minGap: 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.Redis(t)
			node := newTestNode(t)
			var log respondLog
			node.setRespond(func(*http.Request, int) (int, http.Header) {
				n := log.add()
				if n <= len(tc.answers) {
					return tc.answers[n-1], tc.header
				}
				return 200, nil
			})
			f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
			id := f.claim("shop")
			reg := prometheus.NewRegistry()
			s := f.service(func(c *Config) { c.Registerer = reg })
			run(t, s)
			eventually(t, 10*time.Second, "forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
			at := log.times()
			if len(at) != len(tc.answers)+1 {
				t.Fatalf("%d attempts, want %d", len(at), len(tc.answers)+1)
			}
			if gap := at[1].Sub(at[0]); gap < tc.minGap {
				t.Fatalf("second attempt after %s, want ≥ %s", gap, tc.minGap)
			}
			if got := testutil.ToFloat64(s.metrics.deliveries.WithLabelValues("shop", "ok")); got != 1 {
				t.Fatalf("ok deliveries = %v", got)
			}
			ids := map[string]bool{}
			for _, d := range node.deliveries() {
				ids[d.ID] = true
			}
			if len(ids) != 1 || !ids[id+".created"] {
				t.Fatalf("webhook-ids %v", ids)
			}
		})
	}
}

// 410 Gone disables the node: its claims go to compensation and later ones
// are not sent at all; the alert gauge says so.
func TestNodeGone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		node.setRespond(func(*http.Request, int) (int, http.Header) { return http.StatusGone, nil })
		f := newFixture(t, st, config.Compensation{Kind: "code", CodesFile: codesFile(t, 5)},
			testNodeConfig("shop", node.srv.URL, node.secret))
		first := f.claim("shop")
		s := f.service()
		run(t, s)
		eventually(t, 5*time.Second, "compensated", func() bool { return f.claimHash(first)["state"] == "compensated" })
		second := f.claim("shop")
		eventually(t, 5*time.Second, "second compensated", func() bool { return f.claimHash(second)["state"] == "compensated" })
		if hits := node.hitCount(); hits != 1 {
			t.Fatalf("node hit %d times, want 1", hits)
		}
		if got := testutil.ToFloat64(s.metrics.disabled.WithLabelValues("shop")); got != 1 {
			t.Fatalf("disabled gauge = %v", got)
		}
		h := f.claimHash(first)
		if h["compensation_code"] != "CODE-0001" || h["forward_error"] != "node_gone" {
			t.Fatalf("claim %v", h)
		}
		if got := strings.Join(f.history(first), ","); got != "claimed,forward_failed,compensated" {
			t.Fatalf("history %s", got)
		}
		dls, err := s.DeadLetters(context.Background())
		if err != nil || len(dls) != 2 || dls[0].Reason != "node_gone" {
			t.Fatalf("dead letters %+v %v", dls, err)
		}
	})
}

// Past the horizon an entry is dead-lettered, its claim forward_failed and
// compensated. The viewer holds a compensation code now: a replay (admin
// API) must not send the claim again, so it answers 409 claim_settled, the
// node receives nothing and the dead letter stays listed.
func TestHorizonDeadLetterAndReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		var down sync.Mutex
		failing := true
		node.setRespond(func(*http.Request, int) (int, http.Header) {
			down.Lock()
			defer down.Unlock()
			if failing {
				return 500, nil
			}
			return 200, nil
		})
		nc := testNodeConfig("shop", node.srv.URL, node.secret)
		nc.RetryHorizon = config.Duration(300 * time.Millisecond)
		nc.BreakerFailures = 100
		f := newFixture(t, st, config.Compensation{Kind: "code", CodesFile: codesFile(t, 1)}, nc)
		id := f.claim("shop")
		s := f.service()
		run(t, s)
		eventually(t, 5*time.Second, "compensated", func() bool { return f.claimHash(id)["state"] == "compensated" })
		if got := strings.Join(f.history(id), ","); got != "claimed,forward_failed,compensated" {
			t.Fatalf("history %s", got)
		}
		if node.hitCount() < 2 {
			t.Fatalf("only %d attempts before the horizon", node.hitCount())
		}

		mux := http.NewServeMux()
		for p, h := range s.AdminHandlers() {
			mux.Handle(p, h)
		}
		admin := httptest.NewServer(mux)
		defer admin.Close()
		do := func(method, path, token string) (int, map[string]any) {
			req, _ := http.NewRequest(method, admin.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body
		}
		if code, _ := do("GET", "/v1/admin/dlq", "wrong-token-0123456789"); code != 401 {
			t.Fatalf("wrong token: %d", code)
		}
		if code, _ := do("GET", "/v1/admin/dlq", ""); code != 401 {
			t.Fatalf("no token: %d", code)
		}
		dls, _ := s.DeadLetters(context.Background())
		if len(dls) != 1 || dls[0].ID != id+".created" || dls[0].Reason != "horizon" {
			t.Fatalf("dead letters %+v", dls)
		}
		if code, _ := do("POST", "/v1/admin/dlq/nope.created/replay", s.cfg.AdminToken); code != 404 {
			t.Fatalf("replay unknown: %d", code)
		}
		down.Lock()
		failing = false
		down.Unlock()
		hits := node.hitCount()
		queued, err := st.OutboxLen(context.Background(), outboxKey(f.drop))
		if err != nil {
			t.Fatal(err)
		}
		code, body := do("POST", "/v1/admin/dlq/"+id+".created/replay", s.cfg.AdminToken)
		if code != 409 || body["code"] != "claim_settled" || body["state"] != "compensated" || body["claim"] != id {
			t.Fatalf("replay of a compensated claim: %d %v", code, body)
		}
		code, body = do("POST", "/v1/admin/dlq/replay", s.cfg.AdminToken)
		if settled, _ := body["settled"].([]any); code != 202 || body["replayed"] != 0.0 || len(settled) != 1 || settled[0] != id+".created" {
			t.Fatalf("replay all: %d %v", code, body)
		}
		// Nothing was queued, so nothing can reach the node later either.
		if n, err := st.OutboxLen(context.Background(), outboxKey(f.drop)); err != nil || n != queued {
			t.Fatalf("outbox length %d after the refused replays, was %d (%v)", n, queued, err)
		}
		if n := node.hitCount(); n != hits || len(node.deliveries()) != 0 {
			t.Fatalf("the node was sent the settled claim: %d requests, %d accepted", n-hits, len(node.deliveries()))
		}
		h := f.claimHash(id)
		if h["state"] != "compensated" || h["compensation_code"] != "CODE-0001" {
			t.Fatalf("claim after the refused replay %v", h)
		}
		if got := strings.Join(f.history(id), ","); got != "claimed,forward_failed,compensated" {
			t.Fatalf("history after the refused replay %s", got)
		}
		if dls, _ := s.DeadLetters(context.Background()); len(dls) != 1 {
			t.Fatalf("dead letters after the refused replay %+v", dls)
		}
	})
}

// Entries read by a replica that died are taken over after the idle time.
func TestTakeoverOfDeadReplica(t *testing.T) {
	st := storetest.Redis(t)
	node := newTestNode(t)
	f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
	var ids []string
	for range 10 {
		ids = append(ids, f.claim("shop"))
	}
	// The dead replica read them and never acknowledged.
	ents, err := st.OutboxRead(context.Background(), outboxKey(f.drop), Group, "dead-replica", 100, 0)
	if err != nil || len(ents) != 10 {
		t.Fatalf("read %d %v", len(ents), err)
	}
	s := f.service(func(c *Config) { c.Takeover = 300 * time.Millisecond })
	run(t, s)
	eventually(t, 10*time.Second, "taken over and forwarded", func() bool {
		for _, id := range ids {
			if f.claimHash(id)["state"] != "forwarded" {
				return false
			}
		}
		return true
	})
	if got := len(node.deliveries()); got != 10 {
		t.Fatalf("%d deliveries", got)
	}
}

// A retry leased by a replica that died is attempted by another once the
// lease runs out: retries live in the store, not in a replica.
func TestRetryLeaseOfDeadReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		id := f.claim("shop")
		ctx := context.Background()
		ents, err := st.OutboxRead(ctx, outboxKey(f.drop), Group, "dead-replica", 10, 0)
		if err != nil || len(ents) != 1 {
			t.Fatalf("read %v %v", ents, err)
		}
		// The dead replica failed once, scheduled the retry, acknowledged
		// the entry, leased the retry when due, and died.
		rec := `{"fields":{"type":"claim.created","claim":"` + id + `","event":"` + id + `.created","node":"shop","drop":"` + f.drop + `"},"attempts":1,"first":` +
			strings.SplitN(ents[0].ID, "-", 2)[0] + `,"last":"HTTP 500"}`
		now := time.Now()
		if _, err := st.Run(ctx, scheduleScript, []string{dueKey(f.drop), retryKey(f.drop)}, id+".created", now.UnixMilli(), rec); err != nil {
			t.Fatal(err)
		}
		if err := st.OutboxAck(ctx, outboxKey(f.drop), Group, ents[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Run(ctx, leaseScript, []string{dueKey(f.drop), retryKey(f.drop)}, now.UnixMilli(), now.Add(400*time.Millisecond).UnixMilli(), 10); err != nil {
			t.Fatal(err)
		}
		s := f.service()
		run(t, s)
		time.Sleep(200 * time.Millisecond)
		if n := node.hitCount(); n != 0 {
			t.Fatalf("attempted during the lease: %d", n)
		}
		eventually(t, 5*time.Second, "forwarded after the lease", func() bool { return f.claimHash(id)["state"] == "forwarded" })
		if d := node.deliveries(); len(d) != 1 || d[0].ID != id+".created" {
			t.Fatalf("deliveries %+v", d)
		}
		// The state is stored first, then the retry is removed (a crash in
		// between delivers once more, with the same webhook-id).
		eventually(t, 5*time.Second, "the due-set empty", func() bool {
			n, _ := st.Run(ctx, cardScript, []string{dueKey(f.drop)})
			return n == int64(0)
		})
	})
}

// Pub/sub is fire and forget: a claim whose announcement was lost, on a
// drop the sweeps had found quiet, still reaches its node (the full sweep
// polls quiet drops too).
func TestLostAnnouncementStillForwarded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node := newTestNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, testNodeConfig("shop", node.srv.URL, node.secret))
		f.backlogged() // an earlier claim, long forwarded
		s := f.service()
		run(t, s)
		eventually(t, 5*time.Second, "a sweep to find the drop quiet", func() bool { return s.isQuiet(f.drop) })
		id := f.claimAnnounced("shop", st.Prefix()+"nobody-listens")
		eventually(t, 10*time.Second, "the claim forwarded", func() bool { return f.claimHash(id)["state"] == "forwarded" })
		if d := node.deliveries(); len(d) != 1 || d[0].ID != id+".created" {
			t.Fatalf("deliveries %+v", d)
		}
	})
}

// A claim taken through another replica while this replica's subscription
// was broken (a Redis restart) is forwarded as soon as the subscription
// stands again: its announcement was lost, and the tick here is an hour.
func TestClaimDuringSubscriptionBreakForwarded(t *testing.T) {
	node := newTestNode(t)
	direct := storetest.Redis(t)
	proxy := storetest.NewProxy(t)
	nodeCfg := testNodeConfig("shop", node.srv.URL, node.secret)
	f := newFixture(t, proxy.Redis(t, direct.Prefix()), config.Compensation{Kind: "none"}, nodeCfg)
	other := newFixture(t, direct, config.Compensation{Kind: "none"}, nodeCfg)
	s := f.service(func(c *Config) { c.Tick = time.Hour })
	run(t, s)
	// Forwarded on its announcement: the subscription stands.
	first := f.claim("shop")
	eventually(t, 10*time.Second, "the first claim forwarded", func() bool { return other.claimHash(first)["state"] == "forwarded" })

	proxy.Hold()
	proxy.Sever()
	second := other.claim("shop") // announced to no one here
	time.Sleep(300 * time.Millisecond)
	proxy.Release()
	eventually(t, 10*time.Second, "the claim of the break forwarded", func() bool { return other.claimHash(second)["state"] == "forwarded" })
	// Delivery is at least once: the first claim's entry may be delivered
	// again, with the same webhook-id, when the break cut its
	// acknowledgement; a node keeps the first. Each claim reaches the node,
	// and nothing else does.
	d := node.deliveries()
	ids := map[string]bool{}
	for _, x := range d {
		ids[x.ID] = true
	}
	if len(ids) != 2 || !ids[first+".created"] || !ids[second+".created"] {
		t.Fatalf("deliveries %+v", d)
	}
}
