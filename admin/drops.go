package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Store layout of the admin API.
//
//	admin:drops              drop id → stored DropSpec (JSON): drops created
//	                         or changed through the API
//	admin:drops (channel)    "<drop id>" announces a stored drop
//	admin:overlay-keys:<c>   creator's rotated overlay keys (JSON)
//	admin:overlays           replica → this replica's overlay counts (JSON)
const (
	dropsKey     = "admin:drops"
	dropsChannel = "admin:drops"
)

// DropSpec is a drop as the admin API reads and writes it: the YAML key
// names of the configuration, durations as strings ("2h", "20s").
type DropSpec struct {
	ID      string `json:"id"`
	Creator string `json:"creator"`
	Title   string `json:"title,omitempty"`
	// Description and Image are what the claim page shows of the reward
	// (config keys description, image).
	Description  string `json:"description,omitempty"`
	Image        string `json:"image,omitempty"`
	Window       string `json:"window,omitempty"`
	QRRotate     string `json:"qr_rotate,omitempty"`
	ScanGrace    string `json:"scan_grace,omitempty"`
	Quorum       int    `json:"quorum,omitempty"`
	QuorumWindow string `json:"quorum_window,omitempty"`
	PerViewer    int    `json:"per_viewer,omitempty"`
	Identity     string `json:"identity,omitempty"`
	// Shards is the config key shards: 1..64 hash slots for the stock.
	Shards       *int             `json:"shards,omitempty"`
	Stock        []StockSpec      `json:"stock"`
	Compensation CompensationSpec `json:"compensation"`
	// Sandbox marks a test drop made by POST /v1/admin/drops/{id}/test.
	Sandbox bool `json:"sandbox,omitempty"`
	// Source is "config" for drops of the file, "api" for stored ones.
	Source string `json:"source,omitempty"`
}

// StockSpec is one stock line.
type StockSpec struct {
	Node string `json:"node"`
	SKU  string `json:"sku"`
	Tier string `json:"tier,omitempty"`
	Qty  int    `json:"qty"`
}

// CompensationSpec is a drop's compensation policy. Secret is accepted and
// stored, never returned.
type CompensationSpec struct {
	Kind      string `json:"kind,omitempty"`
	CodesFile string `json:"codes_file,omitempty"`
	URL       string `json:"url,omitempty"`
	Secret    string `json:"secret,omitempty"`
	// Value is what one compensation costs (config key
	// compensation.value), summed in campaign reports.
	Value *MoneySpec `json:"value,omitempty"`
}

// MoneySpec is an amount of money: amount a decimal with at most 2
// decimals (a JSON number or string; always a string out), currency an
// ISO 4217 code.
type MoneySpec struct {
	Amount   DecimalText `json:"amount"`
	Currency string      `json:"currency"`
}

// DecimalText is a decimal kept as written, from a JSON number or string,
// so that "2.50" stays 2.50; the configuration's checks judge it.
type DecimalText string

// UnmarshalJSON takes a JSON number or string.
func (d *DecimalText) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = DecimalText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("amount must be a number or a decimal string")
	}
	*d = DecimalText(n)
	return nil
}

func moneySpec(m config.Money) *MoneySpec {
	if m.IsZero() {
		return nil
	}
	return &MoneySpec{Amount: DecimalText(m.Amount), Currency: m.Currency}
}

func (m *MoneySpec) money() config.Money {
	if m == nil {
		return config.Money{}
	}
	return config.Money{Amount: string(m.Amount), Currency: m.Currency}
}

// specOf renders d; withSecret keeps the compensation secret (storage).
func specOf(d *config.Drop, withSecret bool) DropSpec {
	s := DropSpec{
		ID: d.ID, Creator: d.Creator, Title: d.Title, Description: d.Description, Image: d.Image,
		Window: d.Window.String(), QRRotate: d.QRRotate.String(), ScanGrace: d.ScanGrace.String(),
		Quorum: d.Quorum, QuorumWindow: d.QuorumWindow.String(), PerViewer: d.PerViewer, Identity: d.Identity,
		Shards: d.Shards, Stock: make([]StockSpec, len(d.Stock)),
		Compensation: CompensationSpec{Kind: d.Compensation.Kind, CodesFile: d.Compensation.CodesFile,
			URL: d.Compensation.URL, Value: moneySpec(d.Compensation.Value)},
	}
	if withSecret {
		s.Compensation.Secret = d.Compensation.Secret
	}
	for i, l := range d.Stock {
		s.Stock[i] = StockSpec{Node: l.Node, SKU: l.SKU, Tier: l.Tier, Qty: l.Qty}
	}
	return s
}

// drop turns s into a drop definition; durations are parsed, defaults
// are left to config.CheckDrop.
func (s DropSpec) drop() (config.Drop, error) {
	d := config.Drop{ID: s.ID, Creator: s.Creator, Title: s.Title, Description: s.Description, Image: s.Image, Quorum: s.Quorum,
		PerViewer: s.PerViewer, Identity: s.Identity, Shards: s.Shards, Sandbox: s.Sandbox,
		Compensation: config.Compensation{Kind: s.Compensation.Kind, CodesFile: s.Compensation.CodesFile,
			URL: s.Compensation.URL, Secret: s.Compensation.Secret, Value: s.Compensation.Value.money()}}
	for _, f := range []struct {
		name string
		in   string
		out  *config.Duration
	}{{"window", s.Window, &d.Window}, {"qr_rotate", s.QRRotate, &d.QRRotate},
		{"scan_grace", s.ScanGrace, &d.ScanGrace}, {"quorum_window", s.QuorumWindow, &d.QuorumWindow}} {
		if f.in == "" {
			continue
		}
		v, err := time.ParseDuration(f.in)
		if err != nil || v <= 0 {
			return d, fmt.Errorf("%w: %s: %q is not a positive duration like 20s or 2h", ErrInvalidDrop, f.name, clip(f.in))
		}
		*f.out = config.Duration(v)
	}
	for _, l := range s.Stock {
		d.Stock = append(d.Stock, config.StockLine{Node: l.Node, SKU: l.SKU, Tier: l.Tier, Qty: l.Qty})
	}
	return d, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// CreateDrop validates d, stores it (refusing an id in use on any
// replica), initialises its stock, adds it to the catalog and announces
// it. Errors: ErrInvalidDrop (wrapping the *config.Error), ErrDropExists,
// store errors.
func (a *Admin) CreateDrop(ctx context.Context, spec DropSpec) (*config.Drop, error) {
	if !config.ValidID(spec.ID) {
		return nil, fmt.Errorf("%w: id %q: use at most 64 letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalidDrop, clip(spec.ID))
	}
	d, err := spec.drop()
	if err != nil {
		return nil, err
	}
	if err := a.cfg.Config.CheckDrop(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDrop, err)
	}
	codesFile, err := a.codesFile(&d)
	if err != nil {
		return nil, err
	}
	if _, err := a.cfg.Drops.Drop(ctx, d.ID); err == nil {
		return nil, fmt.Errorf("%w: %q", ErrDropExists, d.ID)
	}
	stored := specOf(&d, true)
	stored.Sandbox, stored.Source = spec.Sandbox, "api"
	js, _ := json.Marshal(stored)
	raw, err := a.st.Run(ctx, hsetnxScript, []string{dropsKey}, d.ID, string(js))
	if err != nil {
		return nil, fmt.Errorf("admin: store drop %s: %w", d.ID, err)
	}
	if n, _ := raw.(int64); n == 0 {
		return nil, fmt.Errorf("%w: %q", ErrDropExists, d.ID)
	}
	// A second step in the drop's own slot (Redis Cluster); if it fails,
	// the first claim initialises the stock the same way. It also removes
	// the tombstone of a deleted drop of the same id (see DeleteDrop).
	args := make([]any, 0, 2*len(d.Stock))
	for _, l := range d.Stock {
		if d.ShardCount() == 1 {
			args = append(args, l.Node+":"+l.SKU, l.Qty)
		}
	}
	if _, err := a.st.Run(ctx, stockInitScript, []string{store.DropKey(d.ID, "stock"), store.DropKey(d.ID, "state")}, args...); err != nil {
		a.log.Warn().Err(err).Str("drop", d.ID).Msg("admin: stock not initialised; the first claim will")
	}
	if err := verifier.InitShardStock(ctx, a.st, &d); err != nil {
		a.log.Warn().Err(err).Str("drop", d.ID).Msg("admin: stock shards not initialised; the first claims will")
	}
	if codesFile != "" && a.cfg.Pools != nil {
		if n, err := a.cfg.Pools.LoadPool(ctx, d.ID, codesFile); err != nil {
			a.log.Warn().Err(err).Str("drop", d.ID).Msg("admin: compensation codes not loaded yet; the pool loader retries")
		} else {
			a.log.Info().Str("drop", d.ID).Int("codes", n).Msg("compensation code pool loaded")
		}
	}
	a.cfg.Drops.Put(d)
	// A drop of a deleted one's id may have left a tombstone in a cache.
	a.cfg.Verifier.Changed(d.ID)
	a.announce(ctx, d.ID)
	a.log.Info().Str("drop", d.ID).Str("creator", d.Creator).Bool("sandbox", spec.Sandbox).Msg("drop created")
	return &d, nil
}

// codesFile checks the codes_file of a drop created through the API: a
// relative path inside the configuration's directory (the API must not
// read whatever file the server can) that holds valid codes. It returns
// the resolved path, "" when the drop has none. Errors: ErrInvalidDrop
// wrapping a *config.Error that names the field.
func (a *Admin) codesFile(d *config.Drop) (string, error) {
	name := d.Compensation.CodesFile
	if d.Compensation.Kind != config.CompensationCode || name == "" {
		return "", nil
	}
	fail := func(msg string) (string, error) {
		return "", fmt.Errorf("%w: %w", ErrInvalidDrop, &config.Error{Problems: []config.Problem{
			{Path: "drop.compensation.codes_file", Msg: msg}}})
	}
	if !filepath.IsLocal(name) {
		return fail("must be a relative path inside the configuration file's directory (not absolute, no ..); " +
			"or leave it out and upload the codes with PUT /v1/admin/drops/{id}/compensation-codes")
	}
	path := a.cfg.Config.ResolvePath(name)
	if _, err := config.ReadCodes(path); err != nil {
		return fail(config.CodesProblem(name, err))
	}
	return path, nil
}

// hsetnxScript stores a drop unless its id is taken.
// KEYS: 1 admin:drops. ARGV: id, spec JSON. Returns 1 stored, 0 taken.
var hsetnxScript = store.NewScript("admin-hsetnx", `
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if _, ok := tx.HGet(keys[0], argv[0]); ok {
		return int64(0), nil
	}
	tx.HSet(keys[0], argv[0], argv[1])
	return int64(1), nil
})

// stockInitScript writes the quantity of every stock line that has no
// count yet, as verifier.Claims.InitStock does, and removes the tombstone
// of a deleted drop of the same id.
// KEYS: 1 stock hash, 2 state hash. ARGV: field, qty, field, qty, ...
var stockInitScript = store.NewScript("admin-stock-init", `
if redis.call('HGET', KEYS[2], 'status') == 'deleted' then redis.call('DEL', KEYS[2]) end
for i = 1, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 0
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if st, _ := tx.HGet(keys[1], "status"); st == deletedStatus {
		tx.Del(keys[1])
	}
	for i := 0; i+1 < len(argv); i += 2 {
		if _, ok := tx.HGet(keys[0], argv[i]); !ok {
			tx.HSet(keys[0], argv[i], argv[i+1])
		}
	}
	return int64(0), nil
})

// announce tells every replica (this one included) to re-read a stored
// drop; a lost message is repaired by the sync loop.
func (a *Admin) announce(ctx context.Context, id string) {
	if err := a.st.Publish(ctx, dropsChannel, []byte(id)); err != nil {
		a.log.Warn().Err(err).Str("drop", id).Msg("admin: drop not announced; other replicas see it within the sync period")
	}
}

// loadDrops puts every stored drop into the catalog, and takes out the
// API drops no longer stored (deleted on another replica).
func (a *Admin) loadDrops(ctx context.Context) error {
	// Only drops in the catalog before the read may go: one created
	// meanwhile was stored before it was put in the catalog.
	before := a.cfg.Drops.All("")
	all, err := a.st.HGetAll(ctx, dropsKey)
	if err != nil {
		return err
	}
	for id, js := range all {
		a.putStored(ctx, id, js)
	}
	for _, d := range before {
		if _, stored := all[d.ID]; !stored {
			a.forget(d.ID)
		}
	}
	return nil
}

// forget takes a deleted drop out of the catalog; drops of the
// configuration file stay.
func (a *Admin) forget(id string) {
	if _, ok := a.cfg.Config.Drop(id); ok {
		return
	}
	if _, err := a.cfg.Drops.Drop(context.Background(), id); err != nil {
		return
	}
	a.cfg.Drops.Delete(id)
	a.log.Info().Str("drop", id).Msg("admin: drop deleted on another replica")
}

// putStored adds one stored drop to the catalog unless the catalog has
// the same definition already.
func (a *Admin) putStored(ctx context.Context, id, js string) {
	var spec DropSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		a.log.Error().Err(err).Str("drop", id).Msg("admin: stored drop unreadable")
		return
	}
	d, err := spec.drop()
	if err == nil {
		d.ApplyDefaults()
	}
	if err != nil {
		a.log.Error().Err(err).Str("drop", id).Msg("admin: stored drop invalid")
		return
	}
	if old, err := a.cfg.Drops.Drop(ctx, id); err == nil && sameDrop(old, &d) {
		return
	}
	a.cfg.Drops.Put(d)
}

func sameDrop(a, b *config.Drop) bool {
	return a.ID == b.ID && a.Creator == b.Creator && a.Title == b.Title && a.Description == b.Description &&
		a.Image == b.Image && a.Window == b.Window &&
		a.QRRotate == b.QRRotate && a.ScanGrace == b.ScanGrace && a.Quorum == b.Quorum &&
		a.QuorumWindow == b.QuorumWindow && a.PerViewer == b.PerViewer && a.Identity == b.Identity &&
		slices.Equal(a.Stock, b.Stock) && a.Compensation == b.Compensation && a.Sandbox == b.Sandbox
}

// isSandbox reports whether a stored drop is a test drop.
func (a *Admin) sandboxes(ctx context.Context) map[string]bool {
	all, err := a.st.HGetAll(ctx, dropsKey)
	out := make(map[string]bool)
	if err != nil {
		return out
	}
	for id, js := range all {
		if strings.Contains(js, `"sandbox":true`) {
			out[id] = true
		}
	}
	return out
}

// syncLoop follows announcements and re-reads every stored drop each Sync.
func (a *Admin) syncLoop(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Sync)
	defer tick.Stop()
	store.Follow(ctx, a.st, dropsChannel, nil, func(sub store.Subscription) {
		// Catch up on what was announced before (or while not) subscribed.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := a.loadDrops(rctx); err != nil {
			a.log.Warn().Err(err).Msg("admin: drop sync failed")
		}
		cancel()
		a.follow(ctx, sub, tick.C)
	})
}

func (a *Admin) follow(ctx context.Context, sub store.Subscription, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := a.loadDrops(rctx); err != nil {
				a.log.Warn().Err(err).Msg("admin: drop sync failed")
			}
			cancel()
		case m, ok := <-sub.C():
			if !ok {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			js, err := a.st.HGet(rctx, dropsKey, string(m.Payload))
			switch {
			case err == nil:
				a.putStored(rctx, string(m.Payload), js)
			case errors.Is(err, store.ErrNotFound):
				a.forget(string(m.Payload))
			}
			cancel()
		}
	}
}

// DropView is a drop with its state, as the API lists it.
type DropView struct {
	DropSpec
	// Compensation replaces DropSpec's in the JSON: the policy and, for
	// kind code, its pool.
	Compensation CompensationView `json:"compensation"`
	Status       string           `json:"status"`
	OpenedAt     *time.Time       `json:"opened_at,omitempty"`
	ClosesAt     *time.Time       `json:"closes_at,omitempty"`
	ClosedAt     *time.Time       `json:"closed_at,omitempty"`
	Moment       string           `json:"moment,omitempty"`
	Left         int64            `json:"stock_left"`
	Total        int64            `json:"stock_total"`
	// OutsideWindow is set once a trigger came outside the drop's
	// campaign run: it opened nothing.
	OutsideWindow *OutsideView `json:"outside_window,omitempty"`
}

// OutsideView counts the triggers that came outside a campaign's run, and
// names the last one.
type OutsideView struct {
	Count  int64     `json:"count"`
	LastAt time.Time `json:"last_at"`
	Moment string    `json:"moment"`
	Source string    `json:"source"`
}

// CompensationView is a drop's compensation policy as the API shows it;
// for kind code also the codes left in its pool, and Low while they are
// fewer than 10 % of its stock (the dashboard warns).
type CompensationView struct {
	Kind      string     `json:"kind,omitempty"`
	CodesFile string     `json:"codes_file,omitempty"`
	URL       string     `json:"url,omitempty"`
	Value     *MoneySpec `json:"value,omitempty"`
	PoolLeft  *int64     `json:"pool_left,omitempty"`
	Low       bool       `json:"low,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *Admin) view(ctx context.Context, d *config.Drop, stored map[string]bool) (DropView, error) {
	st, err := a.cfg.Verifier.State(ctx, d.ID)
	if err != nil {
		return DropView{}, err
	}
	v := DropView{DropSpec: specOf(d, false), Status: st.Status, OpenedAt: timePtr(st.OpenedAt),
		ClosesAt: timePtr(st.ClosesAt), ClosedAt: timePtr(st.ClosedAt), Moment: st.Moment}
	if st.Outside > 0 {
		v.OutsideWindow = &OutsideView{Count: st.Outside, LastAt: st.OutsideAt, Moment: st.OutsideMoment, Source: st.OutsideSource}
	}
	v.Source = "config"
	if _, ok := a.cfg.Config.Drop(d.ID); !ok {
		v.Source = "api"
	}
	v.Sandbox = d.Sandbox || stored[d.ID]
	c := d.Compensation
	v.Compensation = CompensationView{Kind: c.Kind, CodesFile: c.CodesFile, URL: c.URL, Value: moneySpec(c.Value)}
	if c.Kind == config.CompensationCode && a.cfg.Pools != nil {
		left, low, err := a.cfg.Pools.PoolStatus(ctx, d)
		if err != nil {
			return DropView{}, err
		}
		v.Compensation.PoolLeft, v.Compensation.Low = &left, low
	}
	lines, err := a.stockLeft(ctx, d)
	if err != nil {
		return DropView{}, err
	}
	for _, l := range lines {
		v.Left += max(l.Left, 0)
		v.Total += l.Total
	}
	if st.Status == verifier.StatusOpen && v.Left == 0 && v.Total > 0 {
		v.Status = verifier.StatusSoldOut
	}
	return v, nil
}

// StockLine is what is left of one stock line.
type StockLine struct {
	Node  string `json:"node"`
	SKU   string `json:"sku"`
	Left  int64  `json:"left"`
	Total int64  `json:"total"`
}

// stockLeft reads the drop's stock hash ("<node>:<sku>" → left; a line
// without a count has all its stock left), as verifier.Claims keeps it.
func (a *Admin) stockLeft(ctx context.Context, d *config.Drop) ([]StockLine, error) {
	h, err := verifier.StockHash(ctx, a.st, d)
	if err != nil {
		return nil, err
	}
	out := make([]StockLine, len(d.Stock))
	for i, l := range d.Stock {
		out[i] = StockLine{Node: l.Node, SKU: l.SKU, Left: int64(l.Qty), Total: int64(l.Qty)}
		if v, ok := h[l.Node+":"+l.SKU]; ok {
			out[i].Left, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out, nil
}

// drops returns the catalog's drops, newest definitions first by id.
func (a *Admin) allDrops() []*config.Drop {
	all := a.cfg.Drops.All("")
	slices.SortFunc(all, func(x, y *config.Drop) int { return strings.Compare(x.ID, y.ID) })
	return all
}

func (a *Admin) listDrops(w http.ResponseWriter, r *http.Request) {
	stored := a.sandboxes(r.Context())
	out := []DropView{}
	for _, d := range a.allDrops() {
		if c := r.URL.Query().Get("creator"); c != "" && d.Creator != c {
			continue
		}
		v, err := a.view(r.Context(), d, stored)
		if err != nil {
			a.storeProblem(w, "could not read the drops", err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"drops": out})
}

func (a *Admin) createDrop(w http.ResponseWriter, r *http.Request) {
	var spec DropSpec
	if p := decode(w, r, &spec); p != nil {
		problem.Write(w, p)
		return
	}
	spec.Sandbox = false
	d, err := a.CreateDrop(r.Context(), spec)
	if err != nil {
		a.dropError(w, err)
		return
	}
	v, err := a.view(r.Context(), d, nil)
	if err != nil {
		a.storeProblem(w, "drop created; could not read its state", err)
		return
	}
	w.Header().Set("Location", "/v1/admin/drops/"+d.ID)
	writeJSON(w, http.StatusCreated, v)
}

// dropError answers the errors of drop operations.
func (a *Admin) dropError(w http.ResponseWriter, err error) {
	var ce *config.Error
	var live *LiveError
	switch {
	case errors.As(err, &ce):
		problems := make([]map[string]string, 0, len(ce.Problems))
		for _, p := range ce.Problems {
			problems = append(problems, map[string]string{"path": p.Path, "message": p.Msg})
		}
		problem.Write(w, problem.New(http.StatusUnprocessableEntity, "invalid_drop", ce.Error()).With("problems", problems))
	case errors.Is(err, ErrInvalidDrop):
		problem.Respond(w, http.StatusUnprocessableEntity, "invalid_drop", strings.TrimPrefix(err.Error(), "admin: invalid drop: "))
	case errors.Is(err, ErrDropExists):
		problem.Respond(w, http.StatusConflict, "drop_exists", "a drop with this id exists already")
	case errors.Is(err, ErrUnknownDrop), errors.Is(err, verifier.ErrUnknownDrop):
		problem.Respond(w, http.StatusNotFound, "unknown_drop", "no drop with this id")
	case errors.As(err, &live):
		name := live.Drop.Title
		if name == "" {
			name = live.Drop.ID
		}
		p := problem.New(http.StatusConflict, "drop_live", fmt.Sprintf("%q is live on stream: close it, or wait until it ends, before testing", name))
		problem.Write(w, p.With("drop", map[string]any{"id": live.Drop.ID, "title": live.Drop.Title,
			"status": live.Drop.Status, "closes_at": live.Drop.ClosesAt}))
	case errors.Is(err, ErrConfigDrop):
		problem.Respond(w, http.StatusConflict, "config_drop", "this drop is defined in the configuration file: remove it there")
	case errors.Is(err, ErrDropOpened):
		problem.Respond(w, http.StatusConflict, "drop_opened", "this drop has opened and its claims are real: only sandbox drops and drops that never opened can be deleted")
	case errors.Is(err, ErrNoSigningSource):
		problem.Respond(w, http.StatusConflict, "no_signing_source", "the creator has no standard or jwt source with a secret to sign a test trigger")
	default:
		a.storeProblem(w, "drop operation failed", err)
	}
}

func (a *Admin) lookup(w http.ResponseWriter, r *http.Request) (*config.Drop, bool) {
	d, err := a.cfg.Drops.Drop(r.Context(), r.PathValue("id"))
	if err != nil {
		// Created a moment ago on another replica, before its announcement
		// arrived here: read the stored drops instead of answering 404.
		if a.loadDrops(r.Context()) == nil {
			d, err = a.cfg.Drops.Drop(r.Context(), r.PathValue("id"))
		}
	}
	if err != nil {
		problem.Respond(w, http.StatusNotFound, "unknown_drop", "no drop with this id")
		return nil, false
	}
	return d, true
}

func (a *Admin) getDrop(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	v, err := a.view(r.Context(), d, a.sandboxes(r.Context()))
	if err != nil {
		a.storeProblem(w, "could not read the drop", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// closeDrop closes an open drop through the verifier (a drop.close from
// the "admin" source), so every overlay and replica sees it as it would a
// capture SDK's.
func (a *Admin) closeDrop(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	id := "admin-close-" + strconv.FormatInt(a.now().UnixNano(), 36)
	res, err := a.cfg.Verifier.Ingest(r.Context(), verifier.Source{ID: "admin", Creator: d.Creator},
		verifier.Event{ID: id, Type: verifier.TypeDropClose, Drop: d.ID, Channel: "admin"})
	if err != nil {
		a.storeProblem(w, "could not close the drop", err)
		return
	}
	if res.Moment == nil || res.Moment.State != verifier.MomentClosed {
		problem.Respond(w, http.StatusConflict, "not_open", "the drop is not open: nothing to close")
		return
	}
	a.log.Info().Str("drop", d.ID).Msg("drop closed by admin")
	a.getDrop(w, r)
}

type stockBody struct {
	Node string `json:"node"`
	SKU  string `json:"sku"`
	Tier string `json:"tier,omitempty"`
	Qty  int    `json:"qty"`
}

// addStock adds qty units to a stock line (a new line when the drop has
// none for node/sku): the stored definition's total and the live count,
// in one step that first fixes a count the store does not have yet.
func (a *Admin) addStock(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	var b stockBody
	if p := decode(w, r, &b); p != nil {
		problem.Write(w, p)
		return
	}
	if b.Qty <= 0 || b.Qty > 1_000_000 {
		problem.Respond(w, http.StatusUnprocessableEntity, "invalid_stock", "qty must be between 1 and 1000000")
		return
	}
	nd := *d
	nd.Stock = slices.Clone(d.Stock)
	old := 0
	found := false
	for i := range nd.Stock {
		if nd.Stock[i].Node == b.Node && nd.Stock[i].SKU == b.SKU {
			old = nd.Stock[i].Qty
			nd.Stock[i].Qty += b.Qty
			found = true
		}
	}
	if !found {
		nd.Stock = append(nd.Stock, config.StockLine{Node: b.Node, SKU: b.SKU, Tier: b.Tier, Qty: b.Qty})
	}
	if err := a.cfg.Config.CheckDrop(&nd); err != nil {
		a.dropError(w, fmt.Errorf("%w: %w", ErrInvalidDrop, err))
		return
	}
	stored := specOf(&nd, true)
	stored.Sandbox, stored.Source = d.Sandbox, "api"
	js, _ := json.Marshal(stored)
	field := b.Node + ":" + b.SKU
	// The live count first: units are claimable once it is written. The
	// definition (the total shown) is in another slot on Redis Cluster.
	for i, n := 0, d.ShardCount(); i < n; i++ {
		key, was, add := store.DropKey(d.ID, "stock"), old, b.Qty
		if n > 1 {
			key, was, add = verifier.ShardKey(d.ID, i, "stock"), verifier.ShardShare(old, n, i), verifier.ShardShare(b.Qty, n, i)
		}
		if add == 0 {
			continue
		}
		if _, err := a.st.Run(r.Context(), addStockScript, []string{key}, field, was, add); err != nil {
			a.storeProblem(w, "could not add stock", err)
			return
		}
	}
	if err := a.st.HSet(r.Context(), dropsKey, map[string]string{d.ID: string(js)}); err != nil {
		a.storeProblem(w, "stock added; the new total is not stored yet", err)
		return
	}
	a.cfg.Drops.Put(nd)
	a.cfg.Verifier.Changed(d.ID)
	a.announce(r.Context(), d.ID)
	// Overlays and the sold-out flags of every replica re-read the drop.
	_ = a.st.Publish(r.Context(), verifier.StateChannel, []byte(d.ID+" 0"))
	a.log.Info().Str("drop", d.ID).Str("node", b.Node).Str("sku", b.SKU).Int("qty", b.Qty).Msg("stock added")
	a.getDrop(w, r)
}

// addStockScript fixes the line's count at its old configured quantity
// if the store has none yet (as a first claim would), then adds the units.
// KEYS: 1 stock hash. ARGV: field, old qty, add. Returns the new count.
var addStockScript = store.NewScript("admin-add-stock", `
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
`, func(tx store.Tx, keys, argv []string) (any, error) {
	if _, ok := tx.HGet(keys[0], argv[0]); !ok {
		tx.HSet(keys[0], argv[0], argv[1])
	}
	n, _ := strconv.ParseInt(argv[2], 10, 64)
	return tx.HIncrBy(keys[0], argv[0], n), nil
})
