package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	for _, d := range s.cfg.Drops.All("") {
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
// Replaying an entry of a disabled node enables the node again. Errors:
// ErrNotFound.
func (s *Service) Replay(ctx context.Context, id string) error {
	drops := s.cfg.Drops.All("")
	if drop, ok := dropOfEvent(id); ok {
		drops = nil
		if d, err := s.cfg.Drops.Drop(ctx, drop); err == nil {
			drops = append(drops, d)
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

func (s *Service) replay(ctx context.Context, drop, id, js string) error {
	var dl DeadLetter
	if err := json.Unmarshal([]byte(js), &dl); err != nil || len(dl.Fields) == 0 {
		return fmt.Errorf("fulfillment: dead letter %q is unreadable", id)
	}
	if dl.Node != "" && dl.Reason == "node_gone" {
		if err := s.setDisabled(ctx, dl.Node, false); err != nil {
			return err
		}
	}
	args := []any{id, js}
	for k, v := range dl.Fields {
		args = append(args, k, v)
	}
	n, err := s.st.Run(ctx, replayScript, []string{dlqKey(drop), outboxKey(drop)}, args...)
	if err != nil {
		return err
	}
	if n != int64(1) {
		return fmt.Errorf("%w: dead letter %q (replayed meanwhile)", ErrNotFound, id)
	}
	s.log.Info().Str("drop", drop).Str("event", id).Msg("dead letter replayed")
	s.heat(drop)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// ReplayAll replays every dead letter and returns how many.
func (s *Service) ReplayAll(ctx context.Context) (int, error) {
	all, err := s.DeadLetters(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, dl := range all {
		err := s.Replay(ctx, dl.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
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
// the one that was read. KEYS: 1 dead letters, 2 outbox. ARGV: event id,
// record as read, then the entry's field/value pairs.
var replayScript = store.NewScript("dlq-replay", `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(fields))
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if v, ok := tx.HGet(keys[0], argv[0]); !ok || v != argv[1] {
		return int64(0), nil
	}
	tx.HDel(keys[0], argv[0])
	fields := make(map[string]string, (len(argv)-2)/2)
	for i := 2; i+1 < len(argv); i += 2 {
		fields[argv[i]] = argv[i+1]
	}
	tx.XAdd(keys[1], fields)
	return int64(1), nil
})
