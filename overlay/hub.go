package overlay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// Defaults of HubConfig.
const (
	DefaultWriteTimeout = 5 * time.Second
	DefaultPingInterval = 10 * time.Second
	DefaultPongWait     = 30 * time.Second
	DefaultLinger       = 6 * time.Second
	DefaultResync       = 10 * time.Second
	DefaultStoreTimeout = 2 * time.Second
)

// HubConfig configures a Hub. Zero durations get the defaults above.
type HubConfig struct {
	Store  store.Store
	Drops  DropCatalog
	States StateReader
	Codes  *Codes
	// PublicURL is the base of claim URLs: <PublicURL>/c/<code>.
	PublicURL string
	// Keys returns a creator's overlay keys, false for an unknown creator.
	// It must do the same work for an unknown creator as for a known one
	// (admin.KeyRing.Keys does): the time of a refusal must not tell them
	// apart.
	Keys   func(creator string) ([]string, bool)
	Logger zerolog.Logger
	// Registerer receives the hub's metrics; nil: not registered.
	Registerer prometheus.Registerer

	// WriteTimeout bounds one frame write; a connection that exceeds it is
	// dropped as a slow client.
	WriteTimeout time.Duration
	// PingInterval paces protocol pings and {"type":"ping"} messages.
	PingInterval time.Duration
	// PongWait is how long a silent peer is kept (> PingInterval).
	PongWait time.Duration
	// Linger is how long "closed" or "sold_out" is shown before idle.
	Linger time.Duration
	// Resync re-reads the state of every creator with overlays this often,
	// repairing what pub/sub lost while Redis was unreachable.
	Resync time.Duration
	// StoreTimeout bounds the store reads of one rebuild.
	StoreTimeout time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Hub fans drop state out to overlay connections. See the package doc.
type Hub struct {
	cfg     HubConfig
	log     zerolog.Logger
	metrics *metrics
	cancel  context.CancelFunc
	pubURL  string

	mu       sync.Mutex
	closed   bool
	creators map[string]*creatorHub
	wg       sync.WaitGroup // every goroutine the hub started or admitted

	// keep is how long an ended drop stays in the live index: the longest
	// a creator's closing message may show.
	keep      time.Duration
	live      *liveIndex
	qrs       *qrCache
	qrEncodes atomic.Int64 // QR codes encoded by this process

	shutdownOnce sync.Once
	shutdownDone chan struct{}
}

// creatorHub is one creator's overlays and the state they show. mu
// serialises rebuilds, so frames leave in seq order.
type creatorHub struct {
	id string

	mu    sync.Mutex
	conns map[*conn]struct{}
	// watched is when the creator's overlays on this replica last went
	// from none to some: a frame only measures capture → overlay for a
	// moment that opened while an overlay was already connected.
	watched time.Time
	loaded  bool
	drops   map[string]*dropView
	state   *State // last state sent; nil before the first
	// settings are the creator's overlay settings, read with the view.
	settings Settings
	seq      int64
	timer    *time.Timer
	// prepare encodes the next code of the drop on screen ahead of its
	// rotation; replaced whenever the state is built.
	prepare *time.Timer
}

// dropView is what the hub knows of one drop of a creator.
type dropView struct {
	drop      *config.Drop
	st        verifier.DropState
	left      int64
	total     int64
	soldOutAt time.Time // when this hub first saw it sold out
	// framed is the opening moment whose first open frame this hub has
	// recorded (FrameKey).
	framed string
	// recording is set while its claim code's record is out.
	recording bool
}

// NewHub returns a running Hub: it subscribes to verifier.StateChannel in
// the background (retrying while the store does not answer).
func NewHub(cfg HubConfig) (*Hub, error) {
	if cfg.Store == nil || cfg.Drops == nil || cfg.States == nil || cfg.Codes == nil || cfg.Keys == nil {
		return nil, errors.New("overlay: HubConfig needs Store, Drops, States, Codes and Keys")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.PingInterval, DefaultPingInterval)
	def(&cfg.PongWait, DefaultPongWait)
	def(&cfg.Linger, DefaultLinger)
	def(&cfg.Resync, DefaultResync)
	def(&cfg.StoreTimeout, DefaultStoreTimeout)
	if cfg.PongWait <= cfg.PingInterval {
		return nil, fmt.Errorf("overlay: PongWait %v must exceed PingInterval %v", cfg.PongWait, cfg.PingInterval)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:          cfg,
		log:          cfg.Logger,
		metrics:      m,
		cancel:       cancel,
		pubURL:       strings.TrimRight(cfg.PublicURL, "/"),
		creators:     make(map[string]*creatorHub),
		live:         newLiveIndex(),
		keep:         max(cfg.Linger, MaxMessageSeconds*time.Second),
		shutdownDone: make(chan struct{}),
	}
	h.qrs = newQRCache(func() {
		h.qrEncodes.Add(1)
		m.qrEncoded.Inc()
	})
	h.wg.Add(1)
	go h.run(ctx)
	return h, nil
}

// Shutdown closes every overlay connection and waits for the hub's
// goroutines, or for ctx. It is idempotent; later calls wait for the first.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.shutdownOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		creators := make([]*creatorHub, 0, len(h.creators))
		for _, c := range h.creators {
			creators = append(creators, c)
		}
		h.mu.Unlock()
		h.cancel()
		var conns []*conn
		for _, c := range creators {
			c.mu.Lock()
			c.stopTimers()
			for cn := range c.conns {
				conns = append(conns, cn)
			}
			c.mu.Unlock()
		}
		for _, cn := range conns {
			cn.goAway()
		}
		go func() {
			h.wg.Wait()
			close(h.shutdownDone)
		}()
	})
	select {
	case <-h.shutdownDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("overlay: shutdown: %w", ctx.Err())
	}
}

// Connected returns how many overlays of creator are connected to this
// replica.
func (h *Hub) Connected(creator string) int {
	h.mu.Lock()
	c := h.creators[creator]
	h.mu.Unlock()
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Overlays returns how many overlays of each creator are connected to
// this replica, creators with none left out: its cost follows the
// creators on air, not those configured.
func (h *Hub) Overlays() map[string]int {
	h.mu.Lock()
	cs := make([]*creatorHub, 0, len(h.creators))
	for _, c := range h.creators {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	out := make(map[string]int, len(cs))
	for _, c := range cs {
		c.mu.Lock()
		if n := len(c.conns); n > 0 {
			out[c.id] = n
		}
		c.mu.Unlock()
	}
	return out
}

// goroutine admits one more goroutine unless the hub is shutting down.
func (h *Hub) goroutine() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) creator(id string) *creatorHub {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.creators[id]
	if c == nil {
		c = &creatorHub{id: id, conns: make(map[*conn]struct{})}
		h.creators[id] = c
	}
	return c
}

// run owns the pub/sub subscription. The periodic resync has a goroutine
// of its own: reading the live drops of thousands of creators takes a
// while, and announcements must not wait behind it.
func (h *Hub) run(ctx context.Context) {
	defer h.wg.Done()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		resync := time.NewTicker(h.cfg.Resync)
		defer resync.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-resync.C:
				h.resyncAll()
			}
		}
	}()
	store.Follow(ctx, h.cfg.Store, verifier.StateChannel, func(err error, retryIn time.Duration) {
		h.log.Warn().Err(err).Dur("retry_in", retryIn).Msg("overlay: cannot subscribe to drop state; retrying")
	}, func(sub store.Subscription) {
		// Whatever changed while we were not subscribed is read now.
		h.surveyAll()
		h.reloadAll()
		h.consume(ctx, sub)
	})
}

// maxAnnouncements bounds the announcements taken together.
const maxAnnouncements = 256

func (h *Hub) consume(ctx context.Context, sub store.Subscription) {
	batch := make([]string, 0, maxAnnouncements)
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-sub.C():
			if !ok {
				return
			}
			// Whatever queued up meanwhile (a fan-out to many overlays
			// takes milliseconds, a claim rush announces every claim) is
			// taken with it: conflate, don't fall behind.
			batch = append(batch[:0], string(m.Payload))
			batch, ok = drain(sub.C(), batch)
			h.changed(batch...)
			if !ok {
				return
			}
		}
	}
}

// drain appends to batch the messages ch holds now, up to
// maxAnnouncements in all; ok is false when ch is closed.
func drain(ch <-chan store.Message, batch []string) (_ []string, ok bool) {
	for len(batch) < maxAnnouncements {
		select {
		case m, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, string(m.Payload))
		default:
			return batch, true
		}
	}
	return batch, true
}

// announced is one announcement and the drop it names.
type announced struct {
	a verifier.Announcement
	d *config.Drop
}

// creatorBatch is the announcements of one creator's drops.
type creatorBatch struct {
	c  *creatorHub
	as []announced
}

// changed brings the creators of the announced drops up to date, in the
// order of the announcements: each creator once for the process, whatever
// the number of overlays or of its announcements, so the overlays get one
// frame with the latest state. An opening or a claim carries what changed
// and needs no store read; anything else is read back.
func (h *Hub) changed(payloads ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	var batches []creatorBatch // few: a batch is mostly one creator's
	for _, p := range payloads {
		a := verifier.ParseAnnouncement(p)
		if a.Kind == verifier.AnnouncedClaimState {
			continue
		}
		if a.Kind == verifier.AnnouncedSettings {
			h.settingsChanged(ctx, a.Creator)
			continue
		}
		d, err := h.cfg.Drops.Drop(ctx, a.Drop)
		if err != nil {
			// A drop this replica does not know yet (the resync reads
			// it once the catalog has it), or one just deleted: an
			// overlay that shows it lets it go.
			h.forget(ctx, a.Drop)
			h.live.announcedUnknown(a.Drop, h.cfg.Now())
			continue
		}
		// Whoever watches this creator later reads this drop, and only
		// the drops noted so.
		switch {
		case a.Kind == verifier.AnnouncedOpen && !a.ClosesAt.IsZero():
			h.live.mark(d.Creator, d.ID, a.ClosesAt.Add(h.keep))
		case a.Kind == verifier.AnnouncedClaim:
			h.live.touch(d.Creator, d.ID)
		default:
			h.live.mark(d.Creator, d.ID, time.Time{})
		}
		h.mu.Lock()
		c := h.creators[d.Creator]
		h.mu.Unlock()
		if c == nil {
			continue
		}
		i := slices.IndexFunc(batches, func(b creatorBatch) bool { return b.c == c })
		if i < 0 {
			i = len(batches)
			batches = append(batches, creatorBatch{c: c})
		}
		batches[i].as = append(batches[i].as, announced{a, d})
	}
	for _, b := range batches {
		h.applyAll(ctx, b.c, b.as)
	}
}

// forget removes drop from every creator's view, and sends the creators
// that had it their state without it.
func (h *Hub) forget(ctx context.Context, drop string) {
	h.live.forget(drop)
	h.mu.Lock()
	cs := make([]*creatorHub, 0, len(h.creators))
	for _, c := range h.creators {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		if _, ok := c.drops[drop]; ok && c.loaded {
			delete(c.drops, drop)
			h.publishLocked(ctx, c, h.cfg.Now())
		}
		c.mu.Unlock()
	}
}

// settingsChanged reads creator's overlay settings again and sends its
// overlays on this replica the state with them, if any are connected.
func (h *Hub) settingsChanged(ctx context.Context, creator string) {
	h.mu.Lock()
	c := h.creators[creator]
	h.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || len(c.conns) == 0 {
		return // read with the view when someone connects
	}
	set, err := ReadSettings(ctx, h.cfg.Store, creator)
	if err != nil {
		h.log.Warn().Err(err).Str("creator", creator).Msg("overlay: cannot read overlay settings; the resync retries")
		return
	}
	c.settings = set
	h.publishLocked(ctx, c, h.cfg.Now())
}

// applyAll applies a creator's announcements in order and then sends its
// state once.
func (h *Hub) applyAll(ctx context.Context, c *creatorHub, as []announced) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for _, x := range as {
		v := c.drops[x.a.Drop]
		if v == nil && x.a.Kind == verifier.AnnouncedOpen && c.loaded {
			// A drop opening, not in the view (only live drops are): its
			// announcement carries its whole state, nothing to read.
			v = &dropView{drop: x.d}
			v.setDrop(x.d)
			c.drops[x.a.Drop] = v
		}
		if c.loaded && v != nil && len(c.conns) > 0 && h.apply(v, x.d, x.a) {
			changed = true
			continue
		}
		if h.refreshLocked(ctx, c, x.a.Drop) {
			changed = true
		}
	}
	// Not loaded: nobody watches, or a read failed and a rebuild is
	// scheduled; either way there is nothing right to show now.
	if changed && c.loaded {
		h.publishLocked(ctx, c, h.cfg.Now())
	}
}

// apply updates v from a, reporting false when a does not carry enough
// and the drop must be read back.
func (h *Hub) apply(v *dropView, d *config.Drop, a verifier.Announcement) bool {
	if a.Kind != verifier.AnnouncedChange && a.Seq <= v.st.Seq {
		return true // the view is already newer (a resync read it)
	}
	switch a.Kind {
	case verifier.AnnouncedOpen:
		if a.Left < 0 && d.ShardCount() > 1 {
			return false // the opening cannot see a sharded drop's stock: read it
		}
		v.setDrop(d)
		v.st = verifier.DropState{Drop: d.ID, Status: verifier.StatusOpen, Moment: a.Moment,
			OpenedAt: a.OpenedAt, ClosesAt: a.ClosesAt, Seq: a.Seq}
		v.left = v.total
		if a.Left >= 0 {
			v.left = a.Left
		}
	case verifier.AnnouncedClaim:
		// Only an open drop is claimed; a view that does not know it open
		// missed the opening.
		if v.st.Status != verifier.StatusOpen {
			return false
		}
		v.setDrop(d)
		v.st.Seq = a.Seq
		v.left = a.Left
	default:
		return false
	}
	if v.left == 0 && v.soldOutAt.IsZero() {
		v.soldOutAt = h.cfg.Now()
	}
	return true
}

// setDrop sets v's definition and the total it offers.
func (v *dropView) setDrop(d *config.Drop) {
	v.drop = d
	v.total = 0
	for _, l := range d.Stock {
		v.total += int64(l.Qty)
	}
}

// resyncAll is the periodic resync: the live index is brought up to date
// (see live.go), then every creator with overlays reads its live drops
// again, repairing what pub/sub lost.
func (h *Hub) resyncAll() {
	h.surveyChanges()
	h.settleUnknown(h.live.prune(h.cfg.Now()))
	h.reloadAll()
}

// reloadAll reads the live drops of every creator with overlays again.
func (h *Hub) reloadAll() {
	h.mu.Lock()
	cs := make([]*creatorHub, 0, len(h.creators))
	for _, c := range h.creators {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
		c.mu.Lock()
		c.loaded = false
		h.rebuildLocked(ctx, c, "")
		c.mu.Unlock()
		cancel()
	}
}

// tick is the creator's timer: the QR rotates, a window ends, or a closing
// message has been shown long enough.
func (h *Hub) tick(c *creatorHub) {
	if !h.goroutine() {
		return
	}
	defer h.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	h.rebuildLocked(ctx, c, "")
}

// rebuildLocked brings c's view up to date (reading its live drops when
// not loaded, else only reload), builds the state and, when it shows
// something new, sends it to every connection. c.mu is held.
func (h *Hub) rebuildLocked(ctx context.Context, c *creatorHub, reload string) {
	if h.refreshLocked(ctx, c, reload) {
		h.publishLocked(ctx, c, h.cfg.Now())
	}
}

// refreshLocked brings c's view up to date, reading its live drops (see
// live.go) when not loaded, else only reload. It reports false when there
// is nothing to send: nobody watches, reload is unknown, or a read failed
// (a rebuild is then scheduled). c.mu is held.
func (h *Hub) refreshLocked(ctx context.Context, c *creatorHub, reload string) bool {
	if len(c.conns) == 0 {
		// Nobody watches: forget, and read afresh when someone connects.
		c.loaded, c.drops, c.state = false, nil, nil
		c.stopTimers()
		return false
	}
	now := h.cfg.Now()
	if !c.loaded {
		set, err := ReadSettings(ctx, h.cfg.Store, c.id)
		if err != nil {
			h.log.Warn().Err(err).Str("creator", c.id).Msg("overlay: cannot read overlay settings; keeping what is shown")
			h.schedule(c, now.Add(time.Second))
			return false
		}
		c.settings = set
		live := h.live.of(c.id, now)
		drops := make(map[string]*dropView, len(live))
		for _, id := range live {
			d, err := h.cfg.Drops.Drop(ctx, id)
			if err != nil || d.Creator != c.id {
				h.live.remove(c.id, id) // deleted since
				continue
			}
			v := &dropView{drop: d}
			if old := c.drops[d.ID]; old != nil {
				v.soldOutAt, v.framed = old.soldOutAt, old.framed
			}
			if err := h.load(ctx, v, now); err != nil {
				h.log.Warn().Err(err).Str("creator", c.id).Msg("overlay: cannot read drop state; keeping what is shown")
				h.schedule(c, now.Add(time.Second))
				return false
			}
			until := showsUntil(v.st, c.settings.linger(h.cfg.Linger))
			if until.IsZero() || !now.Before(until) {
				h.live.remove(c.id, id)
				continue
			}
			h.live.mark(c.id, id, until)
			drops[d.ID] = v
		}
		c.drops, c.loaded = drops, true
	} else if reload != "" {
		// The definition too may have changed (stock added).
		d, err := h.cfg.Drops.Drop(ctx, reload)
		if err != nil {
			return false
		}
		v := c.drops[reload]
		if v == nil {
			v = &dropView{}
			c.drops[reload] = v
		}
		v.drop = d
		if err := h.load(ctx, v, now); err != nil {
			h.log.Warn().Err(err).Str("drop", reload).Msg("overlay: cannot read drop state")
			c.loaded = false
			h.schedule(c, now.Add(time.Second))
			return false
		}
	}
	return true
}

// publishLocked builds c's state from its views and, when it shows
// something new, sends it to every connection. c.mu is held.
func (h *Hub) publishLocked(ctx context.Context, c *creatorHub, now time.Time) {
	st, next := h.build(ctx, c, now)
	h.schedule(c, next)
	if st.Status == StatusOpen && st.QR != nil {
		// After the frames, which wait for no store call.
		defer h.recordShown(c, c.drops[st.Drop.ID], now)
	}
	if c.state != nil && c.state.same(st) {
		return
	}
	c.seq = max(c.seq+1, now.UnixMilli())
	st.Seq = c.seq
	c.state = st
	f := textFrame(st.encode())
	for cn := range c.conns {
		cn.send(f)
	}
}

// FrameKey is where the first overlay frame showing a moment's drop open is
// recorded (unix ms, by whichever replica sent one first): with the
// moment's opened_at it gives the capture → overlay latency.
func FrameKey(drop, moment string) string { return store.DropKey(drop, "m", moment, "frame_at") }

// frameTTL keeps the record as long as the moment's other keys.
const frameTTL = 72 * time.Hour

// recordShown records, in the background, what a frame showing v open
// needs kept: its claim code as issued (Codes.Record), which a scan needs
// only once the code has rotated out, and the first frame of its opening
// moment, once per hub, if it opened while c had an overlay connected.
// The next change need not wait for the round trips. A failed code record is retried a second later by a rebuild.
// c.mu is held.
func (h *Hub) recordShown(c *creatorHub, v *dropView, now time.Time) {
	if v == nil {
		return
	}
	code := !v.recording && !h.cfg.Codes.Recorded(v.drop, now)
	frame := v.st.Moment != "" && v.framed != v.st.Moment
	if frame && (c.watched.IsZero() || c.watched.After(v.st.OpenedAt)) {
		// Only a moment that opened while c had an overlay connected
		// counts: the first frame to an overlay that connects later
		// measures when it connected, not how fast the moment reached
		// the stream.
		v.framed, frame = v.st.Moment, false
	}
	if (!code && !frame) || !h.goroutine() {
		return
	}
	d, at := v.drop, strconv.FormatInt(now.UnixMilli(), 10)
	key := ""
	if frame {
		v.framed = v.st.Moment
		key = FrameKey(d.ID, v.st.Moment)
	}
	v.recording = code
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
		defer cancel()
		if code {
			err := h.cfg.Codes.Record(ctx, d, now)
			c.mu.Lock()
			v.recording = false
			if err != nil && c.loaded {
				h.log.Warn().Err(err).Str("drop", d.ID).Msg("overlay: claim code not recorded; retrying")
				h.schedule(c, h.cfg.Now().Add(time.Second))
			}
			c.mu.Unlock()
		}
		if key != "" {
			if _, err := h.cfg.Store.SetNX(ctx, key, at, frameTTL); err != nil {
				h.log.Warn().Err(err).Str("drop", d.ID).Msg("overlay: cannot record the first open frame")
			}
		}
	}()
}

// load reads a drop's state and, when it is open, its stock.
func (h *Hub) load(ctx context.Context, v *dropView, now time.Time) error {
	st, err := h.cfg.States.State(ctx, v.drop.ID)
	if err != nil {
		return err
	}
	v.st = st
	v.setDrop(v.drop)
	v.left = v.total
	if st.Status != verifier.StatusOpen {
		return nil
	}
	left, ok, err := readStock(ctx, h.cfg.Store, v.drop)
	if err != nil {
		return err
	}
	if ok {
		v.left = left
	}
	if v.left == 0 && v.soldOutAt.IsZero() {
		v.soldOutAt = now
	}
	return nil
}

// readStock sums the drop's stock (fields "<node>:<sku>", every shard of
// a sharded drop); ok is false when a one-shard drop's hash does not
// exist yet (no claim so far: all stock left).
func readStock(ctx context.Context, st store.Store, d *config.Drop) (int64, bool, error) {
	h, err := verifier.StockHash(ctx, st, d)
	if err != nil || len(h) == 0 {
		return 0, false, err
	}
	var left int64
	for _, v := range h {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			left += n
		}
	}
	return left, true, nil
}

// build chooses what c shows at now: the open drop (not sold out) that
// goes first (see onTopOf); else the drop that most recently closed or sold
// out, for Linger; else nothing. It returns the state (Seq unset) and when
// it must be rebuilt at the latest. Drops that can show nothing any more
// leave c's view and the live index.
func (h *Hub) build(ctx context.Context, c *creatorHub, now time.Time) (*State, time.Time) {
	var open, ending *dropView
	var endingAt time.Time
	linger := c.settings.linger(h.cfg.Linger)
	for id, v := range c.drops {
		if until := showsUntil(v.st, linger); until.IsZero() || !now.Before(until) {
			delete(c.drops, id)
			h.live.remove(c.id, id)
			continue
		}
		end, isOpen := v.ends(now)
		if isOpen {
			if open == nil || v.onTopOf(open) {
				open = v
			}
			continue
		}
		if !end.IsZero() && now.Before(end.Add(linger)) && (ending == nil || end.After(endingAt)) {
			ending, endingAt = v, end
		}
	}
	st := &State{V: ProtocolVersion, Type: "state", ServerTime: Time{now}, Status: StatusIdle, Settings: c.settings.wire()}
	switch {
	case open != nil:
		d := open.drop
		closes := Time{open.st.ClosesAt}
		st.Status = StatusOpen
		st.Drop = &DropInfo{ID: d.ID, Title: d.Title, OpenedAt: Time{open.st.OpenedAt}}
		st.ClosesAt = &closes
		st.Stock = &Stock{Left: open.left, Total: open.total}
		next := open.st.ClosesAt
		// Recorded as issued after the frame has left (publishLocked):
		// a current code scans without its record.
		code, rotates, err := h.cfg.Codes.Current(ctx, d, now)
		if err != nil {
			h.log.Warn().Err(err).Str("drop", d.ID).Msg("overlay: no claim code; QR hidden")
			return st, now.Add(time.Second)
		}
		url := h.pubURL + "/c/" + code
		qr, err := h.qrs.get(url)
		if err != nil {
			h.log.Error().Err(err).Str("drop", d.ID).Msg("overlay: QR does not encode")
		} else {
			st.QR = &QR{Size: qr.size, Modules: qr.modules, RotatesAt: Time{rotates}, url: url}
			h.prepareNext(ctx, c, d, now, rotates)
		}
		if rotates.Before(next) {
			next = rotates
		}
		return st, next
	case ending != nil:
		d := ending.drop
		st.Status = StatusClosed
		if ending.st.Status == verifier.StatusOpen && now.Before(ending.st.ClosesAt) {
			st.Status = StatusSoldOut
		}
		closes := Time{ending.st.ClosesAt}
		st.Drop = &DropInfo{ID: d.ID, Title: d.Title, OpenedAt: Time{ending.st.OpenedAt}}
		st.ClosesAt = &closes
		st.Stock = &Stock{Left: ending.left, Total: ending.total}
		next := endingAt.Add(linger)
		// A sold-out drop still closes; show "closed" is not needed, but
		// its window end is a change worth a rebuild.
		return st, next
	}
	return st, time.Time{}
}

// onTopOf reports whether v goes on stream rather than w, both open: a real
// drop before a sandbox one, so that a test never hides a live drop (the
// admin API refuses such a test, but a real drop may open meanwhile);
// else the most recently opened.
func (v *dropView) onTopOf(w *dropView) bool {
	if v.drop.Sandbox != w.drop.Sandbox {
		return !v.drop.Sandbox
	}
	return v.st.OpenedAt.After(w.st.OpenedAt)
}

// ends reports whether v is open at now (and not sold out) and, if not,
// when it stopped being so (zero: never opened).
func (v *dropView) ends(now time.Time) (time.Time, bool) {
	switch v.st.Status {
	case verifier.StatusOpen:
		if !v.st.ClosesAt.IsZero() && !now.Before(v.st.ClosesAt) {
			return v.st.ClosesAt, false
		}
		if v.left <= 0 && v.total > 0 {
			return v.soldOutAt, false
		}
		return time.Time{}, true
	case verifier.StatusClosed:
		if !v.st.ClosedAt.IsZero() {
			return v.st.ClosedAt, false
		}
		return v.st.ClosesAt, false
	}
	return time.Time{}, false
}

// schedule arms c's timer for at (zero: disarm).
func (h *Hub) schedule(c *creatorHub, at time.Time) {
	if c.timer != nil {
		c.timer.Stop()
	}
	if at.IsZero() {
		return
	}
	d := at.Sub(h.cfg.Now())
	if d < 0 {
		d = 0
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(d, func() { h.tick(c) })
		return
	}
	c.timer.Reset(d)
}

// prepareNext arranges for the QR of d's next code, the one it shows
// from at, to be encoded before at, so that the rotation sends its frame
// without encoding. It is encoded at a random moment in the first three
// quarters of the time left, so that the drops of many creators, which
// rotate at the same instants, do not all encode at once; and only if d
// is still on screen then (a drop replaced sooner costs nothing). Once per
// process per code. c.mu is held.
func (h *Hub) prepareNext(ctx context.Context, c *creatorHub, d *config.Drop, now, at time.Time) {
	code, _, err := h.cfg.Codes.Current(ctx, d, at)
	if err != nil {
		return
	}
	url := h.pubURL + "/c/" + code
	if c.prepare != nil {
		c.prepare.Stop()
	}
	if h.qrs.has(url) {
		return
	}
	wait := time.Duration(0)
	if left := at.Sub(now) * 3 / 4; left > 0 {
		wait = rand.N(left)
	}
	c.prepare = time.AfterFunc(wait, func() {
		if !h.goroutine() {
			return
		}
		defer h.wg.Done()
		_, _ = h.qrs.get(url)
	})
}

// stopTimers stops c's timers. c.mu is held.
func (c *creatorHub) stopTimers() {
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.prepare != nil {
		c.prepare.Stop()
	}
}

// attach registers cn and sends it the current state, reading it first
// when nobody of that creator was connected.
func (h *Hub) attach(c *creatorHub, cn *conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked under c.mu, so Shutdown, which collects connections under
	// c.mu after setting closed, either sees cn or refuses it here.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.wg.Add(2) // cn's reader and writer
	h.mu.Unlock()
	if len(c.conns) == 0 {
		c.watched = h.cfg.Now()
	}
	c.conns[cn] = struct{}{}
	h.metrics.connected.WithLabelValues(c.id).Inc()
	if !c.loaded {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.StoreTimeout)
		h.rebuildLocked(ctx, c, "")
		cancel()
	}
	if !cn.primed && c.state != nil {
		// The last state, with this moment's server time: the page derives
		// its clock offset from it.
		st := *c.state
		st.ServerTime = Time{h.cfg.Now()}
		cn.send(textFrame(st.encode()))
	}
	return nil
}

// detach forgets cn.
func (h *Hub) detach(c *creatorHub, cn *conn) {
	c.mu.Lock()
	if _, ok := c.conns[cn]; ok {
		delete(c.conns, cn)
		h.metrics.connected.WithLabelValues(c.id).Dec()
	}
	if len(c.conns) == 0 {
		c.stopTimers()
		c.loaded, c.drops, c.state, c.watched = false, nil, nil, time.Time{}
	}
	c.mu.Unlock()
}

// broadcast sends msg to every overlay of creator as it is (tests and
// benchmarks drive the fan-out with it).
func (h *Hub) broadcast(creator string, msg []byte) {
	c := h.creator(creator)
	m := textFrame(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cn := range c.conns {
		cn.send(m)
	}
}
