package admin

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
)

// Stats are a drop's numbers as the dashboard shows them.
type Stats struct {
	Drop   string      `json:"drop"`
	Status string      `json:"status"`
	Claims int         `json:"claims"`
	Left   int64       `json:"stock_left"`
	Total  int64       `json:"stock_total"`
	Stock  []StockLine `json:"stock"`
	// Funnel counts claims that reached each state (or a later one).
	Funnel Funnel `json:"funnel"`
	// RedemptionRate is picked_up / claims (0 without claims).
	RedemptionRate float64 `json:"redemption_rate"`
	// Pickup time (claim → picked_up) percentiles; null without pickups.
	PickupP50MS *int64     `json:"pickup_p50_ms"`
	PickupP95MS *int64     `json:"pickup_p95_ms"`
	Timeline    Timeline   `json:"timeline"`
	Moment      *MomentLag `json:"moment,omitempty"`
	// Missing names numbers the store holds no data for yet.
	Missing []string `json:"missing,omitempty"`
}

// Funnel is the pickup funnel and the claims that left it.
type Funnel struct {
	Claimed       int `json:"claimed"`
	Forwarded     int `json:"forwarded"`
	Accepted      int `json:"accepted"`
	Ready         int `json:"ready"`
	PickedUp      int `json:"picked_up"`
	Rejected      int `json:"rejected"`
	PickupFailed  int `json:"pickup_failed"`
	ForwardFailed int `json:"forward_failed"`
	Compensated   int `json:"compensated"`
}

// Timeline is claims over time: Counts[i] claims in [Start+i*Bucket,
// Start+(i+1)*Bucket).
type Timeline struct {
	Start    *time.Time `json:"start,omitempty"`
	BucketMS int64      `json:"bucket_ms"`
	Counts   []int      `json:"counts"`
}

// MomentLag is the opening moment's latencies.
type MomentLag struct {
	ID       string    `json:"id"`
	OpenedAt time.Time `json:"opened_at"`
	OpenedBy string    `json:"opened_by"`
	Channel  string    `json:"channel"`
	// FrameLatencyMS is capture (the opening report's arrival) to the first
	// overlay frame showing the drop open; null unless an overlay was
	// connected when the moment opened (one that connects later would
	// measure when it connected, not the moment's way to the stream).
	FrameLatencyMS *int64 `json:"frame_latency_ms"`
	// Corroboration is the delay of later reports of the moment, by channel.
	Corroboration []ChannelDelay `json:"corroboration"`
}

// ChannelDelay summarises the corroborating reports of one channel.
type ChannelDelay struct {
	Channel string `json:"channel"`
	Reports int    `json:"reports"`
	P50MS   int64  `json:"p50_ms"`
	MaxMS   int64  `json:"max_ms"`
}

type claimRow struct {
	state   string
	created int64
	history map[string]int64 // state → first time entered
}

// claimsBatch is how many claims one read script reads.
const claimsBatch = 200

// readClaims reads every claim of a drop: the pickup hash indexes them
// ("<node>:<code>" → claim id, written with each claim).
func (a *Admin) readClaims(ctx context.Context, drop string) ([]claimRow, error) {
	idx, err := a.st.HGetAll(ctx, store.DropKey(drop, "pickup"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(idx))
	for _, id := range idx {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	rows := make([]claimRow, 0, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), claimsBatch)
		keys := make([]string, 0, 2*n)
		for _, id := range ids[:n] {
			keys = append(keys, store.DropKey(drop, "claim", id), store.DropKey(drop, "claim", id, "history"))
		}
		ids = ids[n:]
		raw, err := a.st.Run(ctx, claimsReadScript, keys)
		if err != nil {
			return nil, err
		}
		items, _ := raw.([]any)
		for i := 0; i+2 < len(items); i += 3 {
			st, _ := items[i].(string)
			created, _ := items[i+1].(string)
			if st == "" {
				continue // expired
			}
			row := claimRow{state: st, history: map[string]int64{}}
			row.created, _ = strconv.ParseInt(created, 10, 64)
			hist, _ := items[i+2].([]any)
			for _, h := range hist {
				s, _ := h.(string)
				name, at, _ := strings.Cut(s, "\t")
				ms, _ := strconv.ParseInt(at, 10, 64)
				if _, seen := row.history[name]; !seen {
					row.history[name] = ms
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// claimsReadScript reads state, created_at and history of many claims of
// one drop. KEYS: claim hash, history list, per claim. Returns {state,
// created_at, {history...}} per claim, flattened.
var claimsReadScript = store.NewScript("admin-claims-read", `
local out = {}
for i = 1, #KEYS, 2 do
  local h = redis.call('HMGET', KEYS[i], 'state', 'created_at')
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or ''
  out[#out + 1] = redis.call('LRANGE', KEYS[i + 1], 0, -1)
end
return out
`, func(tx store.Tx, keys, _ []string) (any, error) {
	out := make([]any, 0, len(keys)/2*3)
	for i := 0; i+1 < len(keys); i += 2 {
		st, _ := tx.HGet(keys[i], "state")
		created, _ := tx.HGet(keys[i], "created_at")
		items := tx.LRange(keys[i+1], 0, -1)
		hist := make([]any, len(items))
		for j, s := range items {
			hist[j] = s
		}
		out = append(out, st, created, hist)
	}
	return out, nil
})

// reached: a claim reached a funnel step when its history holds the step
// or any state that can only come after it.
var reached = map[string][]string{
	verifier.ClaimForwarded: {verifier.ClaimForwarded, verifier.ClaimAccepted, verifier.ClaimRejected,
		verifier.ClaimReady, verifier.ClaimPickedUp, verifier.ClaimPickupFailed},
	verifier.ClaimAccepted: {verifier.ClaimAccepted, verifier.ClaimReady, verifier.ClaimPickedUp},
	verifier.ClaimReady:    {verifier.ClaimReady, verifier.ClaimPickedUp},
}

func (r claimRow) has(states ...string) bool {
	for _, s := range states {
		if _, ok := r.history[s]; ok || r.state == s {
			return true
		}
	}
	return false
}

// DropStats computes a drop's stats from what the store holds.
func (a *Admin) DropStats(ctx context.Context, d *config.Drop) (Stats, error) {
	v, err := a.view(ctx, d, nil)
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Drop: d.ID, Status: v.Status, Left: v.Left, Total: v.Total}
	if s.Stock, err = a.stockLeft(ctx, d); err != nil {
		return Stats{}, err
	}
	rows, err := a.readClaims(ctx, d.ID)
	if err != nil {
		return Stats{}, err
	}
	s.Claims = len(rows)
	var pickups []int64
	var created []int64
	for _, r := range rows {
		f := &s.Funnel
		f.Claimed++
		created = append(created, r.created)
		if r.has(reached[verifier.ClaimForwarded]...) {
			f.Forwarded++
		}
		if r.has(reached[verifier.ClaimAccepted]...) {
			f.Accepted++
		}
		if r.has(reached[verifier.ClaimReady]...) {
			f.Ready++
		}
		if at, ok := r.history[verifier.ClaimPickedUp]; ok {
			f.PickedUp++
			pickups = append(pickups, at-r.created)
		} else if r.state == verifier.ClaimPickedUp {
			f.PickedUp++
		}
		for st, n := range map[string]*int{verifier.ClaimRejected: &f.Rejected, verifier.ClaimPickupFailed: &f.PickupFailed,
			verifier.ClaimForwardFailed: &f.ForwardFailed, verifier.ClaimCompensated: &f.Compensated} {
			if r.has(st) {
				*n++
			}
		}
	}
	if s.Claims > 0 {
		s.RedemptionRate = float64(s.Funnel.PickedUp) / float64(s.Claims)
	}
	if len(pickups) > 0 {
		slices.Sort(pickups)
		p50, p95 := percentile(pickups, 0.50), percentile(pickups, 0.95)
		s.PickupP50MS, s.PickupP95MS = &p50, &p95
	}
	st, err := a.cfg.Verifier.State(ctx, d.ID)
	if err != nil {
		return Stats{}, err
	}
	s.Timeline = timeline(created, st.OpenedAt, a.now())
	if st.Moment != "" {
		m, missing, err := a.momentLag(ctx, d.ID, st)
		if err != nil {
			return Stats{}, err
		}
		s.Moment, s.Missing = m, missing
	}
	return s, nil
}

func (a *Admin) momentLag(ctx context.Context, drop string, st verifier.DropState) (*MomentLag, []string, error) {
	m := &MomentLag{ID: st.Moment, OpenedAt: st.OpenedAt, OpenedBy: st.OpenedBy, Channel: st.Channel,
		Corroboration: []ChannelDelay{}}
	var missing []string
	v, err := a.st.Get(ctx, overlay.FrameKey(drop, st.Moment))
	switch {
	case errors.Is(err, store.ErrNotFound):
		missing = append(missing, "moment.frame_latency_ms: no overlay was connected when this moment opened")
	case err != nil:
		return nil, nil, err
	default:
		if at, perr := strconv.ParseInt(v, 10, 64); perr == nil {
			lat := at - st.OpenedAt.UnixMilli()
			m.FrameLatencyMS = &lat
		}
	}
	reports, err := a.cfg.Verifier.Reports(ctx, drop, st.Moment)
	if err != nil {
		return nil, nil, err
	}
	by := map[string][]int64{}
	for _, r := range reports {
		if r.State == verifier.MomentCorroboration && r.Delay >= 0 {
			by[r.Channel] = append(by[r.Channel], r.Delay.Milliseconds())
		}
	}
	for ch, ds := range by {
		slices.Sort(ds)
		m.Corroboration = append(m.Corroboration, ChannelDelay{Channel: ch, Reports: len(ds),
			P50MS: percentile(ds, 0.5), MaxMS: ds[len(ds)-1]})
	}
	slices.SortFunc(m.Corroboration, func(x, y ChannelDelay) int { return strings.Compare(x.Channel, y.Channel) })
	return m, missing, nil
}

// percentile of sorted values, nearest rank.
func percentile(sorted []int64, p float64) int64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// niceBuckets are the bucket widths a timeline chooses from.
var niceBuckets = []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// timeline buckets claim times into at most 40 bars from the opening (or
// the first claim) to now or the last claim.
func timeline(created []int64, opened, now time.Time) Timeline {
	if len(created) == 0 && opened.IsZero() {
		return Timeline{BucketMS: 0, Counts: []int{}}
	}
	start := opened.UnixMilli()
	end := now.UnixMilli()
	for _, c := range created {
		if opened.IsZero() || c < start {
			start = c
		}
		end = max(end, c)
	}
	if opened.IsZero() && len(created) > 0 {
		start = slices.Min(created)
	}
	span := time.Duration(end-start+1) * time.Millisecond
	bucket := niceBuckets[len(niceBuckets)-1]
	for _, b := range niceBuckets {
		if span/b < 40 {
			bucket = b
			break
		}
	}
	n := int(span/bucket) + 1
	n = min(n, 400)
	counts := make([]int, n)
	for _, c := range created {
		i := int(time.Duration(c-start) * time.Millisecond / bucket)
		counts[min(max(i, 0), n-1)]++
	}
	t := time.UnixMilli(start).UTC()
	return Timeline{Start: &t, BucketMS: bucket.Milliseconds(), Counts: counts}
}

func (a *Admin) dropStats(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	s, err := a.DropStats(r.Context(), d)
	if err != nil {
		a.storeProblem(w, "could not read the stats", err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// overview is the dashboard's one poll: creators (overlay URL and
// connected overlays) and every drop with its stats.
func (a *Admin) overview(w http.ResponseWriter, r *http.Request) {
	cs, err := a.creators(r.Context())
	if err != nil {
		a.storeProblem(w, "could not read the creators", err)
		return
	}
	stored := a.sandboxes(r.Context())
	type dropOut struct {
		DropView
		Stats Stats `json:"stats"`
	}
	drops := []dropOut{}
	for _, d := range a.allDrops() {
		v, err := a.view(r.Context(), d, stored)
		if err != nil {
			a.storeProblem(w, "could not read the drops", err)
			return
		}
		s, err := a.DropStats(r.Context(), d)
		if err != nil {
			a.storeProblem(w, "could not read the stats", err)
			return
		}
		drops = append(drops, dropOut{DropView: v, Stats: s})
	}
	nodes := make([]map[string]string, 0, len(a.cfg.Config.Nodes))
	for _, n := range a.cfg.Config.Nodes {
		nodes = append(nodes, map[string]string{"id": n.ID, "name": n.Name, "region": n.Region})
	}
	writeJSON(w, http.StatusOK, map[string]any{"creators": cs, "drops": drops, "nodes": nodes,
		"server_time": a.now().UTC()})
}
