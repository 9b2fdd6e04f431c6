package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/dropwire/dropwire/internal/store"
)

// Overlay connections are counted by each replica's hub; every replica
// writes its counts into one hash each Heartbeat, and readers add up the
// fresh entries, so the dashboard shows overlays connected to any
// replica. The counts are asked of the hub, not gathered from the
// Prometheus registry, whose gathering reads every drop's gauges.
const overlaysKey = "admin:overlays"

type overlayBeat struct {
	At     int64          `json:"at"`
	Counts map[string]int `json:"counts"`
}

// localOverlays returns this replica's counts.
func (a *Admin) localOverlays() map[string]int {
	if a.cfg.Overlays == nil {
		return map[string]int{}
	}
	return a.cfg.Overlays()
}

func (a *Admin) heartbeatLoop(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Heartbeat)
	defer tick.Stop()
	for {
		a.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (a *Admin) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	now := a.now().UnixMilli()
	js, _ := json.Marshal(overlayBeat{At: now, Counts: a.localOverlays()})
	stale := (5 * a.cfg.Heartbeat).Milliseconds()
	if _, err := a.st.Run(ctx, beatScript, []string{overlaysKey}, a.cfg.Replica, string(js), now-stale); err != nil && ctx.Err() == nil {
		a.log.Debug().Err(err).Msg("admin: overlay heartbeat not written")
	}
}

// beatScript writes this replica's entry and drops entries of replicas
// that stopped writing.
// KEYS: 1 admin:overlays. ARGV: replica, entry JSON, stale-before ms.
var beatScript = store.NewScript("admin-overlay-beat", `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], '"at":(%d+)')) or 0
  if at < tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return 0
`, func(tx store.Tx, keys, argv []string) (any, error) {
	tx.HSet(keys[0], argv[0], argv[1])
	before, _ := strconv.ParseInt(argv[2], 10, 64)
	for f, v := range tx.HGetAll(keys[0]) {
		var b overlayBeat
		if json.Unmarshal([]byte(v), &b) != nil || b.At < before {
			tx.HDel(keys[0], f)
		}
	}
	return int64(0), nil
})

// Overlays returns the overlays connected now to every replica, by
// creator. When the store does not answer, it returns this replica's.
func (a *Admin) Overlays(ctx context.Context) map[string]int {
	all, err := a.st.HGetAll(ctx, overlaysKey)
	if err != nil {
		return a.localOverlays()
	}
	out := map[string]int{}
	fresh := a.now().Add(-3 * a.cfg.Heartbeat).UnixMilli()
	for replica, js := range all {
		if replica == a.cfg.Replica {
			continue // this replica's count is read live below
		}
		var b overlayBeat
		if json.Unmarshal([]byte(js), &b) != nil || b.At < fresh {
			continue
		}
		for c, n := range b.Counts {
			out[c] += n
		}
	}
	for c, n := range a.localOverlays() {
		out[c] += n
	}
	return out
}

// CreatorView is one creator as the dashboard shows it.
type CreatorView struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	OverlayURL string `json:"overlay_url"`
	Overlays   int    `json:"overlays_connected"`
	Sources    int    `json:"sources"`
}

func (a *Admin) creators(ctx context.Context) ([]CreatorView, error) {
	counts := a.Overlays(ctx)
	out := make([]CreatorView, 0, len(a.cfg.Config.Creators))
	for _, c := range a.cfg.Config.Creators {
		key, err := a.keys.Current(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		v := CreatorView{ID: c.ID, Name: c.Name, OverlayURL: a.keys.OverlayURL(c.ID, key), Overlays: counts[c.ID]}
		for _, s := range a.cfg.Config.Sources {
			if s.Creator == c.ID {
				v.Sources++
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (a *Admin) listCreators(w http.ResponseWriter, r *http.Request) {
	cs, err := a.creators(r.Context())
	if err != nil {
		a.storeProblem(w, "could not read the creators", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"creators": cs})
}
