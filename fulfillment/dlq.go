package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// DeadLetter is an outbox entry that was given up on: past its node's retry
// horizon, for a node that answered 410 Gone, or with nowhere to go.
type DeadLetter struct {
	ID       string            `json:"id"` // the event id (webhook-id)
	Drop     string            `json:"drop"`
	Node     string            `json:"node"`
	Type     string            `json:"type"`
	Claim    string            `json:"claim"`
	Reason   string            `json:"reason"` // horizon | node_gone | no_target
	Last     string            `json:"last,omitempty"`
	Attempts int               `json:"attempts"`
	First    time.Time         `json:"first"`
	At       time.Time         `json:"at"`
	Fields   map[string]string `json:"fields"`
}

// deadLetter gives up on an entry: it is kept in the drop's dead-letter
// hash, its claim becomes forward_failed (and is compensated), and it
// leaves the stream and the retry set. The writes are ordered so that a
// crash in between repeats a step rather than losing one.
func (s *Service) deadLetter(ctx context.Context, it item, t *nodeTarget, reason, last string) {
	now := s.now()
	dl := DeadLetter{ID: it.event(), Drop: it.drop, Node: it.fields["node"], Type: it.fields["type"],
		Claim: it.fields["claim"], Reason: reason, Last: last, Attempts: it.attempts(),
		First: time.UnixMilli(it.first()).UTC(), At: now.UTC(), Fields: it.fields}
	if dl.ID == "" {
		dl.ID = "entry-" + it.entryID
	}
	b, _ := json.Marshal(dl)
	if err := s.backlog.Touch(ctx, it.drop); err != nil {
		s.storeErr(ctx, err, "dead-letter")
		return
	}
	if err := s.st.HSet(ctx, dlqKey(it.drop), map[string]string{dl.ID: string(b)}); err != nil {
		s.storeErr(ctx, err, "dead-letter")
		return
	}
	label := dl.Node
	if t != nil {
		label = t.id
	}
	s.metrics.deadLetters.WithLabelValues(label, reason).Inc()
	s.metrics.attempts.WithLabelValues(label).Observe(float64(dl.Attempts))
	s.log.Error().Str("drop", it.drop).Str("event", dl.ID).Str("node", label).Str("reason", reason).
		Int("attempts", dl.Attempts).Str("last", last).Msg("outbox entry dead-lettered")
	if dl.Type == TypeClaimCreated && dl.Claim != "" {
		_, err := s.Apply(ctx, Transition{Drop: it.drop, Claim: dl.Claim, To: verifier.ClaimForwardFailed,
			Fields: map[string]string{"forward_error": reason}})
		var ill *IllegalTransitionError
		if err != nil && !errors.As(err, &ill) && !errors.Is(err, ErrUnknownClaim) {
			s.storeErr(ctx, err, "forward_failed")
			return
		}
	}
	s.done(ctx, item{drop: it.drop, entryID: it.entryID, fields: it.fields, rec: &retryRecord{}})
}

// DeadLetters lists the dead-lettered entries of every drop, oldest first.
func (s *Service) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	drops, err := s.workDrops(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range drops {
		h, err := s.st.HGetAll(ctx, dlqKey(d.ID))
		if err != nil {
			return nil, err
		}
		for id, js := range h {
			var dl DeadLetter
			if err := json.Unmarshal([]byte(js), &dl); err != nil {
				dl = DeadLetter{ID: id, Drop: d.ID, Reason: "unreadable"}
			}
			out = append(out, dl)
		}
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Replay puts a dead-lettered entry back into its drop's outbox with the
// same event id (so the node still dedupes it) and removes it from the
// dead letters; exactly one of concurrent replays of one entry succeeds.
//
// A claim.created entry whose claim is forward_failed moves the claim back
// to forwarded in the same step (on its timeline), so the node's callbacks
// apply again; if this delivery is given up on too, the claim is
// forward_failed (and compensated) again. An entry whose claim has settled
// is not sent: see [ErrClaimSettled] and settled. Replaying an entry of a
// disabled node enables the node again. Errors: ErrNotFound,
// ErrClaimSettled (wrapped in a *SettledError).
func (s *Service) Replay(ctx context.Context, id string) error {
	var drops []*config.Drop
	if drop, ok := dropOfEvent(id); ok {
		if d, err := s.cfg.Drops.Drop(ctx, drop); err == nil {
			drops = append(drops, d)
		}
	} else {
		// Dead letters keep their drop in the backlog.
		wd, err := s.workDrops(ctx)
		if err != nil {
			return err
		}
		for _, w := range wd {
			drops = append(drops, w.Drop)
		}
	}
	for _, d := range drops {
		js, err := s.st.HGet(ctx, dlqKey(d.ID), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		return s.replay(ctx, d.ID, id, js)
	}
	return fmt.Errorf("%w: dead letter %q", ErrNotFound, id)
}

// SettledError says which state settled a dead letter's claim. It
// matches ErrClaimSettled.
type SettledError struct {
	ID, Claim, State string
	// Compensation is the claim's compensation ("webhook": on its way).
	Compensation string
}

func (e *SettledError) Error() string {
	msg := "fulfillment: dead letter " + e.ID + ": claim " + e.Claim + " is " + e.State
	if e.State == verifier.ClaimForwardFailed && e.Compensation == "webhook" {
		msg += " with its compensation sent to the creator's webhook"
	}
	return msg + "; not sent again"
}

// Is makes errors.Is(err, ErrClaimSettled) hold.
func (e *SettledError) Is(target error) bool { return target == ErrClaimSettled }

// settled reports whether an entry of type typ must not be sent again for
// a claim in state with compensation comp:
//   - claim.created: the claim has ended (picked_up, rejected,
//     pickup_failed, compensated), or it is forward_failed with a
//     claim.compensated webhook queued: the creator may hand out the
//     compensation at any moment, and cannot be asked to take it back.
//   - claim.compensated: the claim is compensated already.
func settled(typ, state, comp string) bool {
	switch typ {
	case TypeClaimCreated:
		switch state {
		case verifier.ClaimPickedUp, verifier.ClaimRejected, verifier.ClaimPickupFailed, verifier.ClaimCompensated:
			return true
		case verifier.ClaimForwardFailed:
			return comp == "webhook"
		}
	case TypeClaimCompensated:
		return state == verifier.ClaimCompensated
	}
	return false
}

func (s *Service) replay(ctx context.Context, drop, id, js string) error {
	var dl DeadLetter
	if err := json.Unmarshal([]byte(js), &dl); err != nil || len(dl.Fields) == 0 {
		return fmt.Errorf("fulfillment: dead letter %q is unreadable", id)
	}
	claim := dl.Fields["claim"]
	if dl.Node != "" && dl.Reason == "node_gone" {
		// Enabling the node is a change of its own: not for a dead letter
		// the script below would refuse. The script checks again.
		h, err := s.st.HGetAll(ctx, claimKey(drop, claim))
		if err != nil {
			return err
		}
		if settled(dl.Fields["type"], h["state"], h["compensation"]) {
			return &SettledError{ID: id, Claim: claim, State: h["state"], Compensation: h["compensation"]}
		}
		if err := s.setDisabled(ctx, dl.Node, false); err != nil {
			return err
		}
	}
	args := []any{id, js, dl.Fields["type"], s.now().UnixMilli(), s.st.Prefix() + verifier.StateChannel, drop, claim}
	for k, v := range dl.Fields {
		args = append(args, k, v)
	}
	if err := s.backlog.Touch(ctx, drop); err != nil {
		return err
	}
	raw, err := s.st.Run(ctx, replayScript,
		[]string{dlqKey(drop), outboxKey(drop), claimKey(drop, claim), historyKey(drop, claim), stateKey(drop)}, args...)
	if err != nil {
		return err
	}
	res, _ := raw.([]any)
	str := func(i int) string {
		if i >= len(res) {
			return ""
		}
		v, _ := res[i].(string)
		return v
	}
	switch str(0) {
	case "replayed":
	case "settled":
		return &SettledError{ID: id, Claim: claim, State: str(1), Compensation: str(2)}
	default:
		return fmt.Errorf("%w: dead letter %q (replayed meanwhile)", ErrNotFound, id)
	}
	ev := s.log.Info().Str("drop", drop).Str("event", id)
	if str(1) == verifier.ClaimForwardFailed {
		ev = ev.Str("claim_state", verifier.ClaimForwarded)
	}
	ev.Msg("dead letter replayed")
	s.heat(drop)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// ReplayReport is what ReplayAll did.
type ReplayReport struct {
	Replayed []string `json:"ids"`
	// Settled are the dead letters left alone: their claims have settled.
	Settled []string `json:"settled"`
}

// ReplayAll replays every dead letter whose claim has not settled, and
// says which it replayed and which it left. A store error stops it; the
// report says what was done until then.
func (s *Service) ReplayAll(ctx context.Context) (ReplayReport, error) {
	return s.ReplayNode(ctx, "")
}

// ReplayNode is ReplayAll for the dead letters of one node ("": every
// node's).
func (s *Service) ReplayNode(ctx context.Context, node string) (ReplayReport, error) {
	rep := ReplayReport{Replayed: []string{}, Settled: []string{}}
	all, err := s.DeadLetters(ctx)
	if err != nil {
		return rep, err
	}
	for _, dl := range all {
		if node != "" && dl.Node != node {
			continue
		}
		err := s.Replay(ctx, dl.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrClaimSettled):
			rep.Settled = append(rep.Settled, dl.ID)
		case err != nil:
			return rep, err
		default:
			rep.Replayed = append(rep.Replayed, dl.ID)
		}
	}
	return rep, nil
}

// dropOfEvent returns the drop of an event id "<claim id>.<what>".
func dropOfEvent(id string) (string, bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", false
	}
	return verifier.DropOfClaim(id[:i])
}

// replayScript moves one dead letter back to the outbox if it is still
// the one that was read and its claim has not settled (see settled); a
// forward_failed claim of a claim.created entry becomes forwarded, with
// replay_pending set (see transitionScript), and the change is announced.
// KEYS: 1 dead letters, 2 outbox, 3 claim, 4 claim history, 5 drop state.
// ARGV: 1 event id, 2 record as read, 3 entry type, 4 now ms, 5 state
// channel, 6 drop, 7 claim id, then the entry's field/value pairs.
// Returns {"replayed", state before}, {"settled", state, compensation} or
// {"gone"}.
var replayScript = store.NewScript("dlq-replay", `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return {'gone'} end
local h = redis.call('HMGET', KEYS[3], 'state', 'compensation')
local st, comp = h[1] or '', h[2] or ''
local ended = {picked_up = true, rejected = true, pickup_failed = true, compensated = true}
if (ARGV[3] == 'claim.created' and (ended[st] or (st == 'forward_failed' and comp == 'webhook'))) or
   (ARGV[3] == 'claim.compensated' and st == 'compensated') then
  return {'settled', st, comp}
end
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[3] == 'claim.created' and st == 'forward_failed' then
  redis.call('HSET', KEYS[3], 'state', 'forwarded', 'forwarded_at', ARGV[4], 'replay_pending', '1')
  redis.call('HDEL', KEYS[3], 'compensation', 'forward_error')
  redis.call('RPUSH', KEYS[4], 'forwarded\t' .. ARGV[4])
  local seq = redis.call('HINCRBY', KEYS[5], 'seq', 1)
  announce(ARGV[5], ARGV[6] .. ' ' .. seq .. ' claim forwarded')
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(fields))
return {'replayed', st}
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if v, ok := tx.HGet(keys[0], argv[0]); !ok || v != argv[1] {
		return []any{"gone"}, nil
	}
	st, _ := tx.HGet(keys[2], "state")
	comp, _ := tx.HGet(keys[2], "compensation")
	if settled(argv[2], st, comp) {
		return []any{"settled", st, comp}, nil
	}
	tx.HDel(keys[0], argv[0])
	if argv[2] == TypeClaimCreated && st == verifier.ClaimForwardFailed {
		tx.HSet(keys[2], "state", verifier.ClaimForwarded, "forwarded_at", argv[3], "replay_pending", "1")
		tx.HDel(keys[2], "compensation", "forward_error")
		tx.RPush(keys[3], verifier.ClaimForwarded+"\t"+argv[3])
		seq := tx.HIncrBy(keys[4], "seq", 1)
		tx.Publish(argv[4], []byte(argv[5]+" "+strconv.FormatInt(seq, 10)+" claim "+verifier.ClaimForwarded))
	}
	fields := make(map[string]string, (len(argv)-7)/2)
	for i := 7; i+1 < len(argv); i += 2 {
		fields[argv[i]] = argv[i+1]
	}
	tx.XAdd(keys[1], fields)
	return []any{"replayed", st}, nil
})
