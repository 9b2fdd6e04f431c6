package verifier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// StateChannel is the pub/sub channel (logical name) on which every drop
// state change is announced as "<drop> <seq>".
const StateChannel = "drop-state"

// Drops looks up drop definitions.
type Drops interface {
	Drop(ctx context.Context, id string) (*config.Drop, error)
}

// Config configures a Verifier.
type Config struct {
	Store  store.Store
	Drops  Drops
	Logger zerolog.Logger
	// DedupeTTL is how long an event id is remembered; default 72 h.
	DedupeTTL time.Duration
	// Registerer receives the verifier's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Campaigns, when set, finds a drop's campaign: a trigger outside the
	// campaign's run opens nothing.
	Campaigns Campaigns
}

// Verifier ingests verified capture events. See the package doc.
type Verifier struct {
	st        store.Store
	drops     Drops
	log       zerolog.Logger
	dedupeTTL time.Duration
	now       func() time.Time
	channel   string // full name of StateChannel
	metrics   *metrics
	campaigns Campaigns

	changeMu sync.Mutex
	onChange []func(drop string) // see OnChange
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Store == nil || cfg.Drops == nil {
		return nil, errors.New("verifier: Store and Drops are required")
	}
	if cfg.DedupeTTL <= 0 {
		cfg.DedupeTTL = 72 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Verifier{
		st:        cfg.Store,
		drops:     cfg.Drops,
		log:       cfg.Logger,
		dedupeTTL: cfg.DedupeTTL,
		now:       cfg.Now,
		channel:   cfg.Store.Prefix() + StateChannel,
		metrics:   m,
		campaigns: cfg.Campaigns,
	}, nil
}

// Ingest applies one verified event: see the package doc. Errors: ErrUnknownDrop,
// ErrForbiddenDrop, *RateLimitError, ErrInvalidEvent, and store errors
// (errors.Is(err, store.ErrUnavailable) when the store does not answer; the
// event then had no effect and the sender should retry).
func (v *Verifier) Ingest(ctx context.Context, src Source, ev Event) (Result, error) {
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = v.now()
	}
	if ev.ID == "" {
		return Result{}, fmt.Errorf("%w: no event id", ErrInvalidEvent)
	}
	if ev.Moment == "" {
		ev.Moment = ev.ID
	}
	var (
		keys []string
		args []any
		drop *config.Drop
	)
	nowMS := ev.ReceivedAt.UnixMilli()
	switch ev.Type {
	case TypeDropTrigger, TypeDropClose:
		if ev.Drop == "" {
			return Result{}, fmt.Errorf("%w: %s needs a drop", ErrInvalidEvent, ev.Type)
		}
		d, err := v.drops.Drop(ctx, ev.Drop)
		if err != nil {
			return Result{}, err
		}
		if d.Creator != src.Creator {
			return Result{}, ErrForbiddenDrop
		}
		drop = d
		keys = []string{
			store.DropKey(d.ID, "ev", src.ID, ev.ID),
			store.DropKey(d.ID, "state"),
			store.DropKey(d.ID, "m", ev.Moment, "sources"),
			store.DropKey(d.ID, "m", ev.Moment, "reports"),
			store.DropKey(d.ID, "stock"),
		}
		args = []any{nowMS, v.dedupeTTL.Milliseconds(), ev.Type, ev.Moment, src.ID, ev.Channel, ev.ID,
			max(d.Quorum, 1), d.QuorumWindow.D().Milliseconds(), d.Window.D().Milliseconds(),
			src.Rate, max(src.Burst, 1), int64(1000), v.channel, d.ID, v.dedupeTTL.Milliseconds(), "0"}
		if ev.Type == TypeDropTrigger && outsideCampaign(v.campaigns, d.ID, ev.ReceivedAt) {
			args[16] = "1"
		}
	case TypeStreamOnline, TypeStreamOffline:
		// Not a drop's business: dedupe and rate-limit in the source's slot.
		tag := "{s:" + src.ID + "}"
		keys = []string{tag + ":ev:" + ev.ID, tag + ":state", tag + ":sources", tag + ":reports", tag + ":stock"}
		args = []any{nowMS, v.dedupeTTL.Milliseconds(), ev.Type, ev.Moment, src.ID, ev.Channel, ev.ID,
			1, 0, 0, src.Rate, max(src.Burst, 1), int64(1000), v.channel, "", v.dedupeTTL.Milliseconds(), "0"}
	default:
		return Result{}, fmt.Errorf("%w: type %q", ErrInvalidEvent, ev.Type)
	}

	raw, err := v.st.Run(ctx, ingestScript, keys, args...)
	if err != nil {
		var se *store.ScriptError
		if errors.As(err, &se) {
			if ms, ok := strings.CutPrefix(se.Code, "rate_limited:"); ok {
				n, _ := strconv.ParseInt(ms, 10, 64)
				v.metrics.rejected(src.ID, "rate_limited")
				return Result{}, &RateLimitError{RetryAfter: time.Duration(n) * time.Millisecond}
			}
		}
		v.metrics.rejected(src.ID, "store_unavailable")
		return Result{}, fmt.Errorf("verifier: ingest %s/%s: %w", src.ID, ev.ID, err)
	}
	res, err := decodeIngest(raw)
	if err != nil {
		return Result{}, err
	}
	if drop != nil {
		res.Moment.ID = ev.Moment
		res.Moment.Drop = drop.ID
		if res.Moment.State == MomentPending || res.Moment.State == MomentOpened {
			res.Moment.Quorum = max(drop.Quorum, 1)
		}
		if res.Moment.State == MomentOutsideWindow {
			res.Moment.OpenedAt, res.Moment.ClosesAt = nil, nil
			v.log.Info().Str("drop", drop.ID).Str("moment", ev.Moment).Str("source", src.ID).
				Msg("trigger outside the campaign's run: recorded, nothing opened")
		}
	} else {
		res.Moment = nil
	}
	v.metrics.observe(src.ID, ev, res, v.now().Sub(ev.ReceivedAt))
	if drop != nil && res.Status == StatusAccepted &&
		(res.Moment.State == MomentOpened || res.Moment.State == MomentClosed) {
		v.Changed(drop.ID)
	}
	if res.Moment != nil && res.Moment.State == MomentOpened {
		v.log.Info().Str("drop", drop.ID).Str("moment", ev.Moment).Str("source", src.ID).
			Str("channel", ev.Channel).Time("closes_at", *res.Moment.ClosesAt).Msg("drop opened")
	}
	return res, nil
}

func decodeIngest(raw any) (Result, error) {
	a, ok := raw.([]any)
	if !ok || len(a) != 7 {
		return Result{}, fmt.Errorf("verifier: unexpected ingest reply %v", raw)
	}
	str := func(i int) string { s, _ := a[i].(string); return s }
	num := func(i int) int64 { n, _ := a[i].(int64); return n }
	res := Result{Status: str(0), Moment: &Moment{State: str(1), Sources: int(num(2))}}
	if res.Status == StatusDuplicate {
		res.Moment.State = ""
	}
	if t := num(3); t > 0 {
		at := time.UnixMilli(t).UTC()
		res.Moment.OpenedAt = &at
	}
	if t := num(4); t > 0 {
		at := time.UnixMilli(t).UTC()
		res.Moment.ClosesAt = &at
	}
	if d := num(5); d >= 0 {
		res.Moment.DelayMS = &d
	}
	return res, nil
}

// Reject counts an event refused before ingest (reason: its problem code),
// so rejections and acceptances share one metric.
func (v *Verifier) Reject(source, reason string) { v.metrics.rejected(source, reason) }
