package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/stdwebhooks"
	"github.com/dropwire/dropwire/verifier"
)

// Drops lists and looks up drop definitions (verifier.Catalog).
type Drops interface {
	All(creator string) []*config.Drop
	Drop(ctx context.Context, id string) (*config.Drop, error)
}

// Receipts signs and verifies claim receipts (verifier.Receipts).
type Receipts interface {
	Sign(ctx context.Context, c *verifier.Claim) (string, error)
	Verify(ctx context.Context, token string) (verifier.ReceiptClaims, error)
}

// Defaults of Config.
const (
	DefaultWorkers         = 16
	DefaultTick            = 250 * time.Millisecond
	DefaultTakeover        = 30 * time.Second
	DefaultSLATick         = time.Second
	DefaultTimeout         = 10 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
	DefaultBatch           = 128
)

// Config configures a Service.
type Config struct {
	Store store.Store
	Drops Drops
	Nodes []config.Node
	// Tiers are the stock tiers: a tier's pickup_sla is its claims'
	// deadline, over the node's, and its max_ready_per_hour paces them
	// (see pace.go). Optional.
	Tiers []config.Tier
	// CampaignOf names a drop's campaign: a tier's max_ready_per_hour is
	// shared by the campaign's drops at a node. Optional.
	CampaignOf func(drop string) (string, bool)
	// CampaignLog, when set, records each claim change of a campaign's
	// drop and the nodes' claim.sale callbacks (*verifier.CampaignLog).
	CampaignLog CampaignLog
	// Receipts, when set, adds the viewer's receipt to claim.created and
	// lets nodes confirm a pickup with it.
	Receipts Receipts
	// Backlog is the index of drops with fulfillment work that the loops
	// go over (verifier.BacklogKey); default one of Store.
	Backlog *verifier.Backlog
	// Consumer names this replica in the consumer group; default random.
	Consumer string
	// Workers is the number of concurrent deliveries of this replica.
	Workers int
	// Tick is how often the outboxes and retry due-sets of hot drops (with
	// a claim or work in the last minute) are polled when no claim
	// announcement wakes the forwarder earlier; every drop's are polled
	// every 8 ticks.
	Tick time.Duration
	// Takeover is how long an entry read by a replica may stay
	// unacknowledged (or a retry leased) before another replica takes it
	// over. It must exceed the longest node timeout.
	Takeover time.Duration
	// SLATick is how often pickup deadlines are checked.
	SLATick time.Duration
	// DedupeTTL is how long callback webhook-ids are remembered (72 h).
	DedupeTTL time.Duration
	// MaxBody limits callback bodies (64 KiB).
	MaxBody int64
	// ResolvePath resolves a compensation codes_file (config.ResolvePath).
	ResolvePath func(string) string
	// AdminToken guards the dead-letter admin API; empty: it answers 401.
	AdminToken string
	// Client sends the webhooks; default: a client for many small POSTs.
	Client     *http.Client
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Service forwards claims, takes callbacks, enforces pickup deadlines and
// compensates. See the package doc.
type Service struct {
	cfg     Config
	st      store.Store
	backlog *verifier.Backlog
	log     zerolog.Logger
	now     func() time.Time
	metrics *metrics
	client  *http.Client

	nodes    map[string]*nodeTarget
	tiers    map[string]*config.Tier
	paced    bool     // a tier has max_ready_per_hour
	webhooks sync.Map // drop → *nodeTarget of its compensation webhook

	disabledMu sync.Mutex
	disabled   map[string]disabledMark

	attempts chan attemptEntry // to the delivery log writer (attempts.go)

	wake  chan struct{}
	hotMu sync.Mutex
	hot   map[string]time.Time // drop → polled every tick until
	dirty map[string]struct{}  // drops announced since the last poll
	quiet map[string]struct{}  // drops the last sweep found without work
	pools sync.Map             // drop → struct{}: its codes_file is loaded

	poolMu     sync.Mutex
	poolLevels map[string]int64 // drop → codes its pool held at the last read (poolCollector)

	runOnce  sync.Once
	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopped  chan struct{}
}

type disabledMark struct {
	on bool
	at time.Time
}

// nodeTarget is where and how one node (or one compensation webhook) is
// called.
type nodeTarget struct {
	id       string // metric label
	node     *config.Node
	url      string
	signer   *stdwebhooks.Signer
	verify   *stdwebhooks.Verifier
	backoff  Backoff
	timeout  time.Duration
	breaker  *breaker
	pickupBy time.Duration
}

// New returns a Service; Run starts its loops.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Drops == nil {
		return nil, errors.New("fulfillment: Store and Drops are required")
	}
	if cfg.Consumer == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Consumer = "replica-" + hex.EncodeToString(b[:])
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Takeover <= 0 {
		cfg.Takeover = DefaultTakeover
	}
	if cfg.SLATick <= 0 {
		cfg.SLATick = DefaultSLATick
	}
	if cfg.DedupeTTL <= 0 {
		cfg.DedupeTTL = config.DefaultDedupeTTL
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = config.DefaultMaxBody
	}
	if cfg.ResolvePath == nil {
		cfg.ResolvePath = func(p string) string { return p }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backlog == nil {
		cfg.Backlog = verifier.NewBacklog(cfg.Store, cfg.Now)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConns:        256,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 5 * time.Second,
			},
			// 3xx is a failure, not something to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, st: cfg.Store, backlog: cfg.Backlog, log: cfg.Logger, now: cfg.Now, metrics: m, client: cfg.Client,
		nodes: make(map[string]*nodeTarget, len(cfg.Nodes)), disabled: make(map[string]disabledMark),
		wake: make(chan struct{}, 1), stopped: make(chan struct{}), attempts: make(chan attemptEntry, attemptQueue),
		hot: make(map[string]time.Time), dirty: make(map[string]struct{}), quiet: make(map[string]struct{}),
		poolLevels: make(map[string]int64)}
	s.tiers = make(map[string]*config.Tier, len(cfg.Tiers))
	for i := range cfg.Tiers {
		t := cfg.Tiers[i]
		s.tiers[t.ID] = &t
		s.paced = s.paced || t.MaxReadyPerHour > 0
	}
	for i := range cfg.Nodes {
		n := cfg.Nodes[i]
		secret := n.Secret
		if secret == "" && n.Hosted() {
			// A hosted node without a secret takes no signed callbacks:
			// one nobody knows refuses them all.
			secret = config.NewWebhookSecret()
			n.Secret = secret
		}
		t, err := s.newTarget(n.ID, n.URL, secret, &n)
		if err != nil {
			return nil, err
		}
		s.nodes[n.ID] = t
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(poolCollector{s}); err != nil {
			return nil, err
		}
		if err := cfg.Registerer.Register(dlqCollector{s}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Service) newTarget(id, url, secret string, n *config.Node) (*nodeTarget, error) {
	signer, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		return nil, fmt.Errorf("fulfillment: %s: secret: %w", id, err)
	}
	t := &nodeTarget{id: id, node: n, url: url, signer: signer, timeout: DefaultTimeout}
	failures, cooldown := DefaultBreakerFailures, DefaultBreakerCooldown
	if n != nil {
		t.verify, err = stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: []string{n.Secret}})
		if err != nil {
			return nil, fmt.Errorf("fulfillment: node %s: %w", n.ID, err)
		}
		t.backoff = Backoff{Base: n.RetryBase.D(), Max: n.RetryMax.D(), Horizon: n.RetryHorizon.D()}
		if n.Timeout > 0 {
			t.timeout = n.Timeout.D()
		}
		if n.BreakerFailures > 0 {
			failures = n.BreakerFailures
		}
		if n.BreakerCooldown > 0 {
			cooldown = n.BreakerCooldown.D()
		}
		t.pickupBy = n.PickupSLA.D()
		if t.pickupBy <= 0 {
			t.pickupBy = config.DefaultPickupSLA
		}
	}
	t.backoff = t.backoff.withDefaults()
	g := s.metrics.breaker.WithLabelValues(id)
	t.breaker = newBreaker(failures, cooldown, func(st int) { g.Set(float64(st)) })
	return t, nil
}

// Consumer returns this replica's consumer name.
func (s *Service) Consumer() string { return s.cfg.Consumer }

// Run starts the forwarder and SLA loops; they run until Shutdown. It
// loads every code-compensated drop's pool first.
func (s *Service) Run() error {
	var err error
	s.runOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
		defer lcancel()
		if err = s.LoadPools(lctx); err != nil {
			s.log.Warn().Err(err).Msg("compensation pools not loaded; retried by the SLA loop")
		}
		err = nil
		// Work stored before the backlog index was kept (an upgrade):
		// indexed once, before the loops that go by the index start.
		ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
		if ierr := s.indexBacklog(ictx); ierr != nil {
			s.log.Warn().Err(ierr).Msg("fulfillment: drops with work stored earlier not all indexed")
		}
		icancel()
		s.startForwarder(ctx)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.slaLoop(ctx) }()
	})
	return err
}

// Shutdown stops the loops and waits for them (and for deliveries in
// flight) until ctx is done. Idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		go func() { s.wg.Wait(); close(s.stopped) }()
	})
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fulfillment: shutdown: %w", ctx.Err())
	}
}

// target returns where an outbox entry goes, or nil if nowhere.
func (s *Service) target(ctx context.Context, drop string, fields map[string]string) *nodeTarget {
	if fields["type"] == TypeClaimCompensated {
		if t, ok := s.webhooks.Load(drop); ok {
			return t.(*nodeTarget)
		}
		d, err := s.cfg.Drops.Drop(ctx, drop)
		if err != nil || d.Compensation.Kind != config.CompensationWebhook || d.Compensation.URL == "" {
			return nil
		}
		t, err := s.newTarget("webhook:"+drop, d.Compensation.URL, d.Compensation.Secret, nil)
		if err != nil {
			s.log.Error().Err(err).Str("drop", drop).Msg("compensation webhook unusable")
			return nil
		}
		act, _ := s.webhooks.LoadOrStore(drop, t)
		return act.(*nodeTarget)
	}
	return s.nodes[fields["node"]]
}

// compensationKind returns the drop's compensation policy.
func (s *Service) compensationKind(ctx context.Context, drop string) string {
	d, err := s.cfg.Drops.Drop(ctx, drop)
	if err != nil {
		return config.CompensationNone
	}
	return d.Compensation.Kind
}

// isDisabled reports whether node answered 410; cached for a second.
func (s *Service) isDisabled(ctx context.Context, node string) bool {
	now := s.now()
	s.disabledMu.Lock()
	m, ok := s.disabled[node]
	s.disabledMu.Unlock()
	if ok && now.Sub(m.at) < time.Second {
		return m.on
	}
	_, err := s.st.Get(ctx, disabledKey(node))
	on := err == nil
	s.disabledMu.Lock()
	s.disabled[node] = disabledMark{on: on, at: now}
	s.disabledMu.Unlock()
	v := 0.0
	if on {
		v = 1
	}
	s.metrics.disabled.WithLabelValues(node).Set(v)
	return on
}

func (s *Service) setDisabled(ctx context.Context, node string, on bool) error {
	var err error
	if on {
		err = s.st.Set(ctx, disabledKey(node), s.now().UTC().Format(time.RFC3339), 0)
	} else {
		err = s.st.Del(ctx, disabledKey(node))
	}
	s.disabledMu.Lock()
	s.disabled[node] = disabledMark{on: on, at: s.now()}
	s.disabledMu.Unlock()
	v := 0.0
	if on {
		v = 1
	}
	s.metrics.disabled.WithLabelValues(node).Set(v)
	return err
}

// CampaignLog records what campaign reports count (*verifier.CampaignLog).
type CampaignLog interface {
	ClaimChanged(ctx context.Context, drop, claim string) error
	RecordSale(ctx context.Context, s verifier.Sale) (verifier.CampaignSale, error)
}

// Apply runs one claim transition with the drop's compensation policy and
// counts it. Errors: ErrUnknownClaim, *IllegalTransitionError, store
// errors.
func (s *Service) Apply(ctx context.Context, t Transition) (Outcome, error) {
	if t.Compensation == "" && failing[t.To] {
		t.Compensation = s.compensationKind(ctx, t.Drop)
	}
	// A transition may add a pickup deadline or an outbox entry.
	if err := s.backlog.Touch(ctx, t.Drop); err != nil {
		return Outcome{}, err
	}
	o, err := transition(ctx, s.st, t, s.now())
	if err != nil {
		return o, err
	}
	s.metrics.transitioned(t.Drop, t.To, o, t.Compensation)
	if o.Result == ResultApplied && t.To == verifier.ClaimPickedUp && !o.CreatedAt.IsZero() && o.CreatedAt.Unix() > 0 {
		s.metrics.pickup.Observe(s.now().Sub(o.CreatedAt).Seconds())
	}
	if o.Result == ResultApplied && s.cfg.CampaignLog != nil {
		// The change stands whatever happens here: a failure costs the
		// campaign's report this change, and is logged.
		if err := s.cfg.CampaignLog.ClaimChanged(ctx, t.Drop, t.Claim); err != nil {
			s.log.Warn().Err(err).Str("drop", t.Drop).Str("claim", t.Claim).Msg("claim change not in the campaign log")
		}
	}
	if o.Result == ResultApplied {
		ev := s.log.Info()
		if failing[t.To] || t.To == verifier.ClaimCompensated {
			ev = s.log.Warn()
		}
		ev.Str("drop", t.Drop).Str("claim", t.Claim).Str("to", t.To).Str("state", o.State).Msg("claim state changed")
	}
	return o, nil
}
