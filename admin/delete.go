package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Deleting a drop (DELETE /v1/admin/drops/{id}). Sandbox drops go in any
// state (their claims are tests); a real drop only if it never opened, so
// no real claim is ever lost; drops of the configuration file never (they
// would come back at the next start).
//
// The steps, each safe to repeat:
//  1. One script in the drop's slot checks that it may go and replaces its
//     state with a tombstone, status "deleted": from then on no trigger
//     opens it and no claim is taken (both need an idle or open state).
//  2. The stored definition is removed and the deletion announced: every
//     replica drops it from its catalog (the sync loop repairs a lost
//     announcement), so nothing polls or shows it any more.
//  3. Every other key under its hash tag {d:<drop>} is deleted, by SCAN;
//     then a change of the drop is announced, and overlays that show it
//     let it go.
//  4. resweepAfter later, step 3 again: a replica that had not heard of the
//     deletion yet may have written a key of the drop meanwhile (its
//     forwarder recreates an empty outbox when it polls).
//
// The tombstone expires after tombstoneTTL, once every replica has
// forgotten the drop; creating a drop with the same id removes it at once.
// A replica that lost the announcement polls the drop until its next sync
// and may leave an empty outbox after step 4: it is never read, unless a
// drop with the same id is created.

// resweepAfter is when the keys of a deleted drop are swept again: well
// after every replica had the announcement.
const resweepAfter = 2 * time.Second

// tombstoneTTL is how long a deleted drop's tombstone is kept: past the
// sync period, after which every replica has forgotten the drop.
func (a *Admin) tombstoneTTL() time.Duration { return 2 * a.cfg.Sync }

// deletedStatus is the status of a deleted drop's tombstone.
const deletedStatus = "deleted"

// DeleteDrop deletes d and every key of it on every replica. Errors:
// ErrConfigDrop, ErrDropOpened (a real drop that has opened), store errors.
func (a *Admin) DeleteDrop(ctx context.Context, d *config.Drop) error {
	if _, ok := a.cfg.Config.Drop(d.ID); ok {
		return fmt.Errorf("%w: %q", ErrConfigDrop, d.ID)
	}
	sandbox := "0"
	if d.Sandbox {
		sandbox = "1"
	}
	raw, err := a.st.Run(ctx, tombstoneScript, []string{store.DropKey(d.ID, "state")},
		sandbox, a.tombstoneTTL().Milliseconds())
	var se *store.ScriptError
	if errors.As(err, &se) && se.Code == "drop_opened" {
		return fmt.Errorf("%w: %q", ErrDropOpened, d.ID)
	}
	if err != nil {
		return fmt.Errorf("admin: delete %s: %w", d.ID, err)
	}
	seq, _ := raw.(int64)
	if _, err := a.st.Run(ctx, hdelScript, []string{dropsKey}, d.ID); err != nil {
		return fmt.Errorf("admin: delete %s: %w", d.ID, err)
	}
	a.cfg.Drops.Delete(d.ID)
	a.announce(ctx, d.ID)
	n, err := a.sweep(ctx, d.ID)
	a.cfg.Verifier.Changed(d.ID)
	if err != nil {
		return err
	}
	// Overlays re-read the drop: unknown now, or a tombstone, it is not shown.
	msg := []byte(d.ID + " " + strconv.FormatInt(seq, 10))
	if err := a.st.Publish(ctx, verifier.StateChannel, msg); err != nil {
		a.log.Warn().Err(err).Str("drop", d.ID).Msg("admin: deletion not announced to overlays; they drop it at their next resync")
	}
	a.log.Info().Str("drop", d.ID).Bool("sandbox", d.Sandbox).Int("keys", n).Msg("drop deleted")
	a.resweepLater(d.ID)
	return nil
}

// sweep deletes every key of a deleted drop but its tombstone and returns
// how many it found.
func (a *Admin) sweep(ctx context.Context, drop string) (int, error) {
	state := store.DropKey(drop, "state")
	n := 0
	// The drop's own keys, then those of its stock shards (shards > 1).
	for _, prefix := range []string{store.DropKey(drop), verifier.ShardPrefix(drop)} {
		err := a.st.ScanPrefix(ctx, prefix, func(keys []string) error {
			del := keys[:0]
			for _, k := range keys {
				if k != state {
					del = append(del, k)
				}
			}
			n += len(del)
			return a.st.Del(ctx, del...)
		})
		if err != nil {
			return n, fmt.Errorf("admin: delete the keys of %s: %w", drop, err)
		}
	}
	return n, nil
}

// resweepLater runs step 4 of a deletion in the background, unless the
// drop was created again meanwhile or Shutdown comes first.
func (a *Admin) resweepLater(drop string) {
	if !a.goroutine() {
		return
	}
	go func() {
		defer a.wg.Done()
		t := time.NewTimer(resweepAfter)
		defer t.Stop()
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.st.HGet(ctx, dropsKey, drop); !errors.Is(err, store.ErrNotFound) {
			a.log.Debug().Err(err).Str("drop", drop).Msg("admin: deleted drop created again (or store away): no second sweep")
			return
		}
		if n, err := a.sweep(ctx, drop); err != nil {
			a.log.Warn().Err(err).Str("drop", drop).Msg("admin: second sweep of a deleted drop failed")
		} else {
			a.log.Debug().Str("drop", drop).Int("keys", n).Msg("admin: deleted drop swept again")
		}
	}()
}

// tombstoneScript checks that a drop may be deleted and replaces its state
// with a tombstone.
// KEYS: 1 state hash. ARGV: 1 "1" for a sandbox drop, 2 ttl ms. Returns
// the tombstone's seq, or the error reply "drop_opened" for a real drop
// that has opened.
var tombstoneScript = store.NewScript("admin-drop-tombstone", `
local st = redis.call('HMGET', KEYS[1], 'status', 'opened_at', 'seq')
local status = st[1] or 'idle'
if ARGV[1] ~= '1' and ((tonumber(st[2]) or 0) > 0 or (status ~= 'idle' and status ~= 'deleted')) then
  return redis.error_reply('drop_opened')
end
local seq = (tonumber(st[3]) or 0) + 1
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'status', 'deleted', 'seq', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return seq
`, func(tx store.Tx, keys, argv []string) (any, error) {
	status, ok := tx.HGet(keys[0], "status")
	if !ok {
		status = verifier.StatusIdle
	}
	opened, _ := tx.HGet(keys[0], "opened_at")
	openedAt, _ := strconv.ParseInt(opened, 10, 64)
	if argv[0] != "1" && (openedAt > 0 || (status != verifier.StatusIdle && status != deletedStatus)) {
		return nil, &store.ScriptError{Code: "drop_opened"}
	}
	s, _ := tx.HGet(keys[0], "seq")
	seq, _ := strconv.ParseInt(s, 10, 64)
	seq++
	ttl, _ := strconv.ParseInt(argv[1], 10, 64)
	tx.Del(keys[0])
	tx.HSet(keys[0], "status", deletedStatus, "seq", strconv.FormatInt(seq, 10))
	tx.Expire(keys[0], time.Duration(ttl)*time.Millisecond)
	return seq, nil
})

// hdelScript removes a stored drop. KEYS: 1 admin:drops. ARGV: id.
var hdelScript = store.NewScript("admin-hdel", `
return redis.call('HDEL', KEYS[1], ARGV[1])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	return int64(tx.HDel(keys[0], argv[0])), nil
})

func (a *Admin) deleteDrop(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	if err := a.DeleteDrop(r.Context(), d); err != nil {
		a.dropError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
