package fulfillment

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// What the admin API shows of each node's deliveries: the delivery log
// (attempts.go) and the replicas' breaker reports, read back.

// Breaker states as the admin API names them.
const (
	BreakerStateClosed   = "closed"
	BreakerStateHalfOpen = "half_open"
	BreakerStateOpen     = "open"
)

var breakerStates = map[int]string{BreakerClosed: BreakerStateClosed, BreakerHalfOpen: BreakerStateHalfOpen,
	BreakerOpen: BreakerStateOpen}

// rank orders breaker states from healthy to failing.
func rank(state string) int {
	switch state {
	case BreakerStateOpen:
		return 2
	case BreakerStateHalfOpen:
		return 1
	}
	return 0
}

// ReplicaBreaker is one replica's breaker of a node, as of its last
// attempt to it (At).
type ReplicaBreaker struct {
	Replica   string     `json:"replica"`
	State     string     `json:"state"`
	Failures  int        `json:"failures"` // consecutive failed attempts
	OpenUntil *time.Time `json:"open_until,omitempty"`
	At        time.Time  `json:"at"`
}

// BreakerView is a node's circuit breaker as the deployment sees it. Each
// replica has its own breaker; the node's reads open while any replica's
// is open, half_open while any lets a probe through (an open breaker past
// its cooldown does, at its next attempt), else closed. Failures and
// OpenUntil are the largest and latest of those replicas. Replicas lists
// each replica that reported in the last 10 minutes or is open.
type BreakerView struct {
	State     string           `json:"state"`
	Failures  int              `json:"failures"`
	OpenUntil *time.Time       `json:"open_until,omitempty"`
	Replicas  []ReplicaBreaker `json:"replicas"`
}

// NodeView is a node's delivery status: its breaker, its last attempts
// (newest first) and how many of its entries are dead letters.
type NodeView struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Region string `json:"region,omitempty"`
	// Hosted: a node without a url; nothing is sent to it.
	Hosted bool `json:"hosted"`
	// Disabled: it answered 410 Gone; nothing is sent until a replay.
	Disabled    bool        `json:"disabled"`
	Breaker     BreakerView `json:"breaker"`
	Attempts    []Attempt   `json:"attempts"`
	DeadLetters int         `json:"dead_letters"`
}

// Deliveries returns the last attempts to node, newest first, at most
// limit (1 to AttemptLogSize). Errors: ErrUnknownNode, store errors.
func (s *Service) Deliveries(ctx context.Context, node string, limit int) ([]Attempt, error) {
	if _, ok := s.nodes[node]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, node)
	}
	as, _, err := s.readLog(ctx, node, limit)
	return as, err
}

// Nodes returns the delivery status of every configured node, in the
// configuration's order, with its last NodeViewAttempts attempts.
func (s *Service) Nodes(ctx context.Context) ([]NodeView, error) {
	dls, err := s.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	dead := map[string]int{}
	for _, dl := range dls {
		dead[dl.Node]++
	}
	now := s.now()
	out := make([]NodeView, 0, len(s.cfg.Nodes))
	for _, n := range s.cfg.Nodes {
		v := NodeView{ID: n.ID, Name: n.Name, Region: n.Region, Hosted: n.URL == "", DeadLetters: dead[n.ID],
			Attempts: []Attempt{}, Breaker: BreakerView{State: BreakerStateClosed, Replicas: []ReplicaBreaker{}}}
		if !v.Hosted {
			as, reports, err := s.readLog(ctx, n.ID, NodeViewAttempts)
			if err != nil {
				return nil, err
			}
			v.Attempts, v.Breaker = as, breakerView(reports, now)
			v.Disabled = s.isDisabled(ctx, n.ID)
		}
		out = append(out, v)
	}
	return out, nil
}

// readLog reads node's last limit attempts (newest first) and its
// replicas' breaker reports in one step.
func (s *Service) readLog(ctx context.Context, node string, limit int) ([]Attempt, map[string]string, error) {
	limit = min(max(limit, 1), AttemptLogSize)
	raw, err := s.st.Run(ctx, readLogScript, []string{attemptsKey(node), breakerKey(node)}, limit)
	if err != nil {
		return nil, nil, err
	}
	parts, _ := raw.([]any)
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("fulfillment: delivery log of %s: unexpected reply", node)
	}
	list, _ := parts[0].([]any)
	out := make([]Attempt, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		js, _ := list[i].(string)
		var a Attempt
		if json.Unmarshal([]byte(js), &a) == nil {
			out = append(out, a)
		}
	}
	flat, _ := parts[1].([]any)
	reports := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		reports[k] = v
	}
	return out, reports, nil
}

// breakerView sums the replicas' breaker reports of a node up at now
// (see BreakerView).
func breakerView(reports map[string]string, now time.Time) BreakerView {
	v := BreakerView{State: BreakerStateClosed, Replicas: []ReplicaBreaker{}}
	for replica, js := range reports {
		var r ReplicaBreaker
		if json.Unmarshal([]byte(js), &r) != nil {
			continue
		}
		r.Replica = replica
		open := r.OpenUntil != nil && now.Before(*r.OpenUntil)
		if !open && now.Sub(r.At) > breakerQuiet {
			continue
		}
		switch {
		case r.State == BreakerStateOpen && !open:
			// Past its cooldown: its next attempt is the probe.
			r.State, r.OpenUntil = BreakerStateHalfOpen, nil
		case r.State != BreakerStateOpen:
			r.OpenUntil = nil
		}
		if rank(r.State) > rank(v.State) {
			v.State = r.State
		}
		v.Failures = max(v.Failures, r.Failures)
		if r.OpenUntil != nil && (v.OpenUntil == nil || r.OpenUntil.After(*v.OpenUntil)) {
			u := *r.OpenUntil
			v.OpenUntil = &u
		}
		v.Replicas = append(v.Replicas, r)
	}
	if v.State != BreakerStateOpen {
		v.OpenUntil = nil
	}
	slices.SortFunc(v.Replicas, func(a, b ReplicaBreaker) int {
		if a.Replica < b.Replica {
			return -1
		}
		if a.Replica > b.Replica {
			return 1
		}
		return 0
	})
	return v
}

// readLogScript returns {the log's last ARGV[1] entries, oldest first,
// the breaker reports as field/value pairs}. KEYS: 1 log, 2 breaker
// reports.
var readLogScript = store.NewScript("fwd-log-read", `
return {redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1), redis.call('HGETALL', KEYS[2])}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	n, _ := strconv.ParseInt(argv[0], 10, 64)
	list := []any{}
	for _, v := range tx.LRange(keys[0], -n, -1) {
		list = append(list, v)
	}
	h := tx.HGetAll(keys[1])
	flat := make([]any, 0, 2*len(h))
	for k, v := range h {
		flat = append(flat, k, v)
	}
	return []any{list, flat}, nil
})
