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
//     state with a tombstone, status "deleted", announced on the state
//     channel: from then on no trigger opens it and no claim is taken
//     (both need an idle or open state), and overlays stop showing it.
//  2. The stored definition is removed and the deletion announced: every
//     replica drops it from its catalog (the sync loop repairs a lost
//     announcement).
//  3. Every other key under its hash tag {d:<drop>} is deleted, by SCAN.
//
// The tombstone expires after tombstoneTTL, once every replica has long
// forgotten the drop; creating a drop with the same id removes it at once.
// A replica that had not heard of the deletion may still write a key of
// the drop after step 3 (a retry record of a claim being forwarded); such
// a key is never read again, unless a drop with the same id is created.

// tombstoneTTL is how long a deleted drop's tombstone is kept: well past
// the sync period, after which every replica has forgotten the drop.
func (a *Admin) tombstoneTTL() time.Duration { return max(2*a.cfg.Sync, time.Minute) }

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
	_, err := a.st.Run(ctx, tombstoneScript, []string{store.DropKey(d.ID, "state")},
		sandbox, a.tombstoneTTL().Milliseconds(), a.st.Prefix()+verifier.StateChannel, d.ID)
	var se *store.ScriptError
	if errors.As(err, &se) && se.Code == "drop_opened" {
		return fmt.Errorf("%w: %q", ErrDropOpened, d.ID)
	}
	if err != nil {
		return fmt.Errorf("admin: delete %s: %w", d.ID, err)
	}
	if _, err := a.st.Run(ctx, hdelScript, []string{dropsKey}, d.ID); err != nil {
		return fmt.Errorf("admin: delete %s: %w", d.ID, err)
	}
	a.cfg.Drops.Delete(d.ID)
	a.announce(ctx, d.ID)
	state := store.DropKey(d.ID, "state")
	n := 0
	err = a.st.ScanPrefix(ctx, store.DropKey(d.ID), func(keys []string) error {
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
		return fmt.Errorf("admin: delete the keys of %s: %w", d.ID, err)
	}
	a.log.Info().Str("drop", d.ID).Bool("sandbox", d.Sandbox).Int("keys", n).Msg("drop deleted")
	return nil
}

// tombstoneScript checks that a drop may be deleted and replaces its state
// with a tombstone, announcing the change.
// KEYS: 1 state hash. ARGV: 1 "1" for a sandbox drop, 2 ttl ms, 3 state
// channel (full name), 4 drop id. Returns the tombstone's seq, or the
// error reply "drop_opened" for a real drop that has opened.
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
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. seq)
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
	tx.Publish(argv[2], []byte(argv[3]+" "+strconv.FormatInt(seq, 10)))
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
