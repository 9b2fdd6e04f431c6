package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// The delivery log: every attempt to a node, kept per node in the store so
// that the dashboard of any replica shows the attempts of every replica
// (any replica may deliver any entry). Each replica also reports its
// circuit breaker of the node with each attempt: breakers live in the
// replicas' memory, and the deployment's view of a node's breaker is the
// sum of those reports (see BreakerView).
//
// The log is written off the delivery path: a worker hands the attempt
// to this replica's log writer through a bounded queue and goes on; the
// writer sends what has queued up in one script per node. A full queue
// drops attempts from the log (counted in
// dropwire_fulfillment_attempt_log_dropped_total), never a delivery.

// Delivery log sizes.
const (
	// AttemptLogSize is how many attempts a node's log keeps, newest.
	AttemptLogSize = 100
	// NodeViewAttempts is how many attempts Nodes returns per node.
	NodeViewAttempts = 10
	// attemptLogTTL: the log of a node nothing was sent to for this long
	// (a node removed from the configuration) goes.
	attemptLogTTL = 7 * 24 * time.Hour
	attemptQueue  = 1024 // attempts waiting for the writer
	attemptBatch  = 128  // attempts the writer takes at once
	// attemptWrite bounds one write of the log, shutdown included.
	attemptWrite = 5 * time.Second
	// breakerQuiet: a replica that reported no attempt to a node for this
	// long, and whose breaker is not open, is left out of the node's
	// breaker (it may be gone); breakerForget: its report is removed.
	breakerQuiet  = 10 * time.Minute
	breakerForget = 24 * time.Hour
	breakerSweep  = time.Hour
)

// Attempt is one delivery attempt to a node.
type Attempt struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"` // webhook-id
	Type    string    `json:"type"`
	Drop    string    `json:"drop"`
	Claim   string    `json:"claim"`
	Attempt int       `json:"attempt"` // 1 for the first attempt of the event
	// Status is the node's HTTP status; nil when it gave none (Result
	// timeout or error).
	Status *int `json:"status"`
	// Result: ok, http_<status>, gone (410), timeout or error: the
	// results of dropwire_fulfillment_deliveries_total, with a timeout
	// told apart from other errors.
	Result    string `json:"result"`
	Error     string `json:"error,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	// NextRetryAt is when the attempt scheduled the next one; absent
	// after a success, and when it was the last (DeadLettered).
	NextRetryAt  *time.Time `json:"next_retry_at,omitempty"`
	DeadLettered bool       `json:"dead_lettered,omitempty"`
	Replica      string     `json:"replica"` // the replica that made it
}

// attemptEntry is an attempt waiting for the writer, with its node's
// breaker in this replica right after it.
type attemptEntry struct {
	node    string
	attempt Attempt
	breaker breakerSnapshot
}

// logAttempt queues a for the log of t's node; a full queue drops it.
func (s *Service) logAttempt(t *nodeTarget, a Attempt) {
	if t.node == nil {
		return // a compensation webhook: not a node
	}
	a.Replica = s.cfg.Consumer
	select {
	case s.attempts <- attemptEntry{node: t.id, attempt: a, breaker: t.breaker.snapshot()}:
	default:
		s.metrics.attemptLogDropped.Inc()
	}
}

// attempted builds the log entry of one attempt of it, made at at and
// answered with status (0: none) or err after latency.
func attempted(it item, t *nodeTarget, at time.Time, status int, err error, latency time.Duration) Attempt {
	a := Attempt{At: at.UTC(), Event: it.event(), Type: it.fields["type"], Drop: it.drop, Claim: it.fields["claim"],
		Attempt: it.attempts() + 1, LatencyMS: latency.Milliseconds()}
	switch {
	case err != nil:
		a.Result, a.Error = attemptError(err, t.timeout)
	case status >= 200 && status < 300:
		a.Result = "ok"
	case status == 410:
		a.Result = "gone"
	default:
		a.Result = "http_" + strconv.Itoa(status)
	}
	if err == nil {
		a.Status = &status
	}
	return a
}

// attemptError says why an attempt got no answer, without the node's URL
// (which may carry a token of the node's).
func attemptError(err error, timeout time.Duration) (result, msg string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout", "no answer within " + timeout.String()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return "error", oe.Op + ": " + oe.Err.Error()
	}
	return "error", err.Error()
}

// scheduled sets what the attempt led to: the next attempt at next, or
// none and a dead letter.
func (a *Attempt) scheduled(next time.Time, dead bool) {
	if !next.IsZero() {
		n := next.UTC()
		a.NextRetryAt = &n
	}
	a.DeadLettered = dead
}

// writeAttempts is the log writer: it writes what queued up, a batch at a
// time, until q is closed (after the workers stopped), so the attempts of
// a shutdown are written too.
func (s *Service) writeAttempts(q <-chan attemptEntry) {
	batch := make([]attemptEntry, 0, attemptBatch)
	swept := map[string]time.Time{}
	for e := range q {
		batch = append(batch[:0], e)
	more:
		for len(batch) < attemptBatch {
			select {
			case e, ok := <-q:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		s.flushAttempts(batch, swept)
	}
}

// flushAttempts writes a batch: one script per node, its attempts in
// order and its breaker as of the last of them.
func (s *Service) flushAttempts(batch []attemptEntry, swept map[string]time.Time) {
	var order []string
	byNode := map[string][]attemptEntry{}
	for _, e := range batch {
		if _, ok := byNode[e.node]; !ok {
			order = append(order, e.node)
		}
		byNode[e.node] = append(byNode[e.node], e)
	}
	now := s.now()
	for _, node := range order {
		es := byNode[node]
		last := es[len(es)-1].breaker
		rep := ReplicaBreaker{Replica: s.cfg.Consumer, State: breakerStates[last.State], Failures: last.Failures, At: now.UTC()}
		if !last.OpenUntil.IsZero() {
			u := last.OpenUntil.UTC()
			rep.OpenUntil = &u
		}
		rb, _ := json.Marshal(rep)
		args := make([]any, 0, 4+len(es))
		args = append(args, AttemptLogSize, attemptLogTTL.Milliseconds(), s.cfg.Consumer, string(rb))
		for _, e := range es {
			b, _ := json.Marshal(e.attempt)
			args = append(args, string(b))
		}
		ctx, cancel := context.WithTimeout(context.Background(), attemptWrite)
		_, err := s.st.Run(ctx, logAttemptsScript, []string{attemptsKey(node), breakerKey(node)}, args...)
		if err == nil && now.Sub(swept[node]) >= breakerSweep {
			swept[node] = now
			err = s.sweepBreakers(ctx, node, now)
		}
		cancel()
		if err != nil {
			s.metrics.attemptLogDropped.Add(float64(len(es)))
			s.log.Warn().Err(err).Str("node", node).Int("attempts", len(es)).Msg("fulfillment: delivery log not written")
		}
	}
}

// sweepBreakers removes the breaker reports of replicas that have not
// reported for breakerForget: replicas gone, or restarted under a new
// name.
func (s *Service) sweepBreakers(ctx context.Context, node string, now time.Time) error {
	h, err := s.st.HGetAll(ctx, breakerKey(node))
	if err != nil {
		return err
	}
	var gone []any
	for replica, js := range h {
		var r ReplicaBreaker
		if json.Unmarshal([]byte(js), &r) != nil || now.Sub(r.At) > breakerForget {
			gone = append(gone, replica)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	_, err = s.st.Run(ctx, hdelScript, []string{breakerKey(node)}, gone...)
	return err
}

// logAttemptsScript appends attempts to a node's log, keeps its newest
// ARGV[1], and stores this replica's breaker report.
// KEYS: 1 log, 2 breaker reports. ARGV: 1 size, 2 ttl ms, 3 replica,
// 4 its report, then the attempts, oldest first.
var logAttemptsScript = store.NewScript("fwd-log", `
redis.call('RPUSH', KEYS[1], unpack(ARGV, 5))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	size, _ := strconv.ParseInt(argv[0], 10, 64)
	ttl, _ := strconv.ParseInt(argv[1], 10, 64)
	tx.RPush(keys[0], argv[4:]...)
	for tx.LLen(keys[0]) > size {
		tx.LPop(keys[0])
	}
	tx.Expire(keys[0], time.Duration(ttl)*time.Millisecond)
	tx.HSet(keys[1], argv[2], argv[3])
	tx.Expire(keys[1], time.Duration(ttl)*time.Millisecond)
	return int64(1), nil
})

// hdelScript removes fields of a hash. KEYS: 1 hash. ARGV: the fields.
var hdelScript = store.NewScript("hdel", `return redis.call('HDEL', KEYS[1], unpack(ARGV))`,
	func(tx store.Tx, keys, argv []string) (any, error) { return int64(tx.HDel(keys[0], argv...)), nil })
