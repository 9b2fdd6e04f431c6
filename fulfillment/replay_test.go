package fulfillment

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// switchableNode is a test node that answers 500 while down.
func switchableNode(t *testing.T) (*testNode, func(down bool)) {
	t.Helper()
	node := newTestNode(t)
	var mu sync.Mutex
	isDown := true
	node.setRespond(func(*http.Request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if isDown {
			return 500, nil
		}
		return 200, nil
	})
	return node, func(down bool) { mu.Lock(); isDown = down; mu.Unlock() }
}

// deadNode is a node config that gives up after a few hundred
// milliseconds and never opens its breaker.
func deadNode(node *testNode) config.Node {
	nc := testNodeConfig("shop", node.srv.URL, node.secret)
	nc.RetryHorizon = config.Duration(300 * time.Millisecond)
	nc.BreakerFailures = 100
	return nc
}

// A node down past its retry horizon leaves a claim forward_failed (no
// compensation). Once it is back, a replay moves the claim back to
// forwarded (on its timeline) and sends it with the same webhook-id; the
// node's callbacks then apply as for any claim, the delivery gives the
// claim its pickup deadline, and the claim ends picked_up.
func TestReplayRevivesForwardFailedClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node, setDown := switchableNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "none"}, deadNode(node))
		id := f.claim("shop")
		s := f.service()
		run(t, s)
		ctx := context.Background()
		eventually(t, 5*time.Second, "forward_failed", func() bool { return f.claimHash(id)["state"] == "forward_failed" })

		setDown(false)
		if err := s.Replay(ctx, id+".created"); err != nil {
			t.Fatalf("replay: %v", err)
		}
		if got := strings.Join(f.history(id), ","); !strings.HasPrefix(got, "claimed,forward_failed,forwarded") {
			t.Fatalf("history after replay %s", got)
		}
		eventually(t, 5*time.Second, "replayed delivery", func() bool { return len(node.deliveries()) == 1 })
		if d := node.deliveries()[0]; d.ID != id+".created" || d.Payload.Claim.ID != id {
			t.Fatalf("replayed with webhook-id %q for claim %q", d.ID, d.Payload.Claim.ID)
		}
		eventually(t, 5*time.Second, "pickup deadline", func() bool {
			_, ok := zscore(t, st, slaKey(f.drop), id)
			return ok
		})
		if h := f.claimHash(id); h["state"] != "forwarded" || h["replay_pending"] != "" || h["compensation"] != "" {
			t.Fatalf("claim after the replayed delivery %v", h)
		}
		// Delivered: forward_failed is behind it again, as for any claim.
		var ill *IllegalTransitionError
		if _, err := s.Apply(ctx, Transition{Drop: f.drop, Claim: id, To: "forward_failed"}); !errors.As(err, &ill) {
			t.Fatalf("forwarded → forward_failed after the delivery: %v", err)
		}

		url := callbackServer(t, s) + "/v1/fulfillment/shop/events"
		send := func(eventID string, body []byte) answer {
			return post(t, url, signStandard(node.secret, eventID, time.Now(), body), body)
		}
		if r := send("cb-1", callbackBody("claim.accepted", id, nil)); r.Status != 202 || r.Result != "applied" || r.State != "accepted" {
			t.Fatalf("accepted after replay: %+v", r)
		}
		if r := send("cb-2", callbackBody("claim.picked_up", id, nil)); r.Status != 202 || r.State != "picked_up" {
			t.Fatalf("picked_up after replay: %+v", r)
		}
		if got := strings.Join(f.history(id), ","); got != "claimed,forward_failed,forwarded,accepted,picked_up" {
			t.Fatalf("history %s", got)
		}
		if _, ok := zscore(t, st, slaKey(f.drop), id); ok {
			t.Fatal("a picked-up claim still has a pickup deadline")
		}
		if dls, err := s.DeadLetters(ctx); err != nil || len(dls) != 0 {
			t.Fatalf("dead letters %+v %v", dls, err)
		}
		// A picked-up claim has settled: its dead letter (were there one
		// again) is not replayed.
		if !settled(TypeClaimCreated, f.claimHash(id)["state"], "") {
			t.Fatal("picked_up is not settled")
		}
	})
}

// A replay while the node is still down: the claim is forwarded (replay
// pending) until the delivery is given up on again, then forward_failed
// again and compensated by the drop's policy, so it always finishes.
func TestReplayWhileNodeStillDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node, _ := switchableNode(t)
		f := newFixture(t, st, config.Compensation{Kind: "code", CodesFile: codesFile(t, 1)}, deadNode(node))
		s := f.service()
		run(t, s)
		ctx := context.Background()
		// The only code goes to a first claim, so the second one stays
		// forward_failed with an empty pool: replayable.
		first := f.claim("shop")
		eventually(t, 5*time.Second, "first compensated", func() bool { return f.claimHash(first)["state"] == "compensated" })
		id := f.claim("shop")
		eventually(t, 5*time.Second, "forward_failed", func() bool { return f.claimHash(id)["state"] == "forward_failed" })
		if h := f.claimHash(id); h["compensation"] != "pool_empty" {
			t.Fatalf("claim %v", h)
		}
		if added, left, err := s.AddCodes(ctx, f.drop, []string{"LATE-1"}); err != nil || added != 1 || left != 1 {
			t.Fatalf("add codes: %d %d %v", added, left, err)
		}
		if err := s.Replay(ctx, id+".created"); err != nil {
			t.Fatalf("replay: %v", err)
		}
		eventually(t, 5*time.Second, "given up on again", func() bool { return f.claimHash(id)["state"] == "compensated" })
		if got := strings.Join(f.history(id), ","); got != "claimed,forward_failed,forwarded,forward_failed,compensated" {
			t.Fatalf("history %s", got)
		}
		if h := f.claimHash(id); h["compensation_code"] != "LATE-1" || h["replay_pending"] != "" {
			t.Fatalf("claim %v", h)
		}
		// Settled now: the new dead letter is listed and not replayed.
		err := s.Replay(ctx, id+".created")
		var se *SettledError
		if !errors.As(err, &se) || !errors.Is(err, ErrClaimSettled) || se.State != "compensated" {
			t.Fatalf("replay of the compensated claim: %v", err)
		}
		rep, err := s.ReplayAll(ctx)
		if err != nil || len(rep.Replayed) != 0 || len(rep.Settled) != 2 {
			t.Fatalf("replay all: %+v %v", rep, err)
		}
		if len(node.deliveries()) != 0 {
			t.Fatalf("the node accepted %d deliveries while down", len(node.deliveries()))
		}
	})
}

// Compensation kind webhook: a forward_failed claim whose claim.compensated
// is queued for the creator's webhook has settled (the creator may hand
// out the compensation any moment); replaying its claim.created is
// refused and changes nothing.
func TestReplayWithWebhookCompensationPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		node, _ := switchableNode(t)
		creator, _ := switchableNode(t) // down throughout: the compensation stays queued
		comp := config.Compensation{Kind: "webhook", URL: creator.srv.URL, Secret: creator.secret}
		f := newFixture(t, st, comp, deadNode(node))
		id := f.claim("shop")
		s := f.service()
		run(t, s)
		ctx := context.Background()
		eventually(t, 5*time.Second, "forward_failed", func() bool { return f.claimHash(id)["state"] == "forward_failed" })
		if h := f.claimHash(id); h["compensation"] != "webhook" {
			t.Fatalf("claim %v", h)
		}
		err := s.Replay(ctx, id+".created")
		if !errors.Is(err, ErrClaimSettled) {
			t.Fatalf("replay with the compensation on its way: %v", err)
		}
		if got := strings.Join(f.history(id), ","); got != "claimed,forward_failed" {
			t.Fatalf("history %s", got)
		}
		if h := f.claimHash(id); h["state"] != "forward_failed" || h["compensation"] != "webhook" {
			t.Fatalf("claim after the refused replay %v", h)
		}
	})
}

func zscore(t *testing.T, st store.Store, key, member string) (float64, bool) {
	t.Helper()
	raw, err := st.Run(context.Background(), zscoreScript, []string{key}, member)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := raw.(string)
	if !ok || s == "" {
		return 0, false
	}
	return parseFloat(s), true
}

var zscoreScript = store.NewScript("test-zscore", `return redis.call('ZSCORE', KEYS[1], ARGV[1]) or ''`,
	func(tx store.Tx, keys, argv []string) (any, error) {
		s, ok := tx.ZScore(keys[0], argv[0])
		if !ok {
			return "", nil
		}
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	})
