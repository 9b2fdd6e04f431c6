package verifier

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
)

// Catalog holds the drop definitions of the configuration, and drops added
// at run time.
type Catalog struct {
	mu    sync.RWMutex
	drops map[string]*config.Drop
}

var _ Drops = (*Catalog)(nil)

// NewCatalog returns a Catalog of drops; the slice is copied.
func NewCatalog(drops []config.Drop) *Catalog {
	c := &Catalog{drops: make(map[string]*config.Drop, len(drops))}
	for i := range drops {
		d := drops[i]
		c.drops[d.ID] = &d
	}
	return c
}

// Drop returns the drop with id, or ErrUnknownDrop.
func (c *Catalog) Drop(_ context.Context, id string) (*config.Drop, error) {
	c.mu.RLock()
	d, ok := c.drops[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDrop, id)
	}
	return d, nil
}

// Put adds or replaces a drop.
func (c *Catalog) Put(d config.Drop) {
	c.mu.Lock()
	c.drops[d.ID] = &d
	c.mu.Unlock()
}

// Delete removes a drop; an unknown id is ignored.
func (c *Catalog) Delete(id string) {
	c.mu.Lock()
	delete(c.drops, id)
	c.mu.Unlock()
}

// Len returns how many drops the catalog holds.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.drops)
}

// All returns every drop of creator ("" for all).
func (c *Catalog) All(creator string) []*config.Drop {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*config.Drop, 0, len(c.drops))
	for _, d := range c.drops {
		if creator == "" || d.Creator == creator {
			out = append(out, d)
		}
	}
	return out
}

// Drop statuses.
const (
	StatusIdle    = "idle"
	StatusOpen    = "open"
	StatusSoldOut = "sold_out"
	StatusClosed  = "closed"
)

// DropState is a drop's lifecycle as stored.
type DropState struct {
	Drop     string
	Status   string
	Moment   string // the moment that opened the drop
	OpenedBy string // its source
	Channel  string // and channel
	OpenedAt time.Time
	ClosesAt time.Time
	ClosedAt time.Time
	Seq      int64 // increases with every change
	// Outside counts the triggers that came outside the drop's campaign
	// run and opened nothing; the last one's time, moment and source.
	Outside       int64
	OutsideAt     time.Time
	OutsideMoment string
	OutsideSource string
}

// State returns the drop's state at now: an open drop past closes_at is
// closed.
func (v *Verifier) State(ctx context.Context, drop string) (DropState, error) {
	h, err := v.st.HGetAll(ctx, store.DropKey(drop, "state"))
	if err != nil {
		return DropState{}, err
	}
	return parseState(drop, h, v.now()), nil
}

func parseState(drop string, h map[string]string, now time.Time) DropState {
	ms := func(f string) time.Time {
		n, err := strconv.ParseInt(h[f], 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(n).UTC()
	}
	s := DropState{
		Drop:     drop,
		Status:   h["status"],
		Moment:   h["moment"],
		OpenedBy: h["opened_by"],
		Channel:  h["channel"],
		OpenedAt: ms("opened_at"),
		ClosesAt: ms("closes_at"),
		ClosedAt: ms("closed_at"),
	}
	s.Seq, _ = strconv.ParseInt(h["seq"], 10, 64)
	s.Outside, _ = strconv.ParseInt(h["outside_n"], 10, 64)
	s.OutsideAt, s.OutsideMoment, s.OutsideSource = ms("outside_at"), h["outside_moment"], h["outside_source"]
	if s.Status == "" {
		s.Status = StatusIdle
	}
	if s.Status == StatusOpen && !s.ClosesAt.IsZero() && !now.Before(s.ClosesAt) {
		s.Status = StatusClosed
	}
	return s
}

// Report is one report of a moment, as kept for corroboration.
type Report struct {
	Source     string
	Channel    string
	EventID    string
	ReceivedAt time.Time
	// Delay after the opening report; negative for reports that did not
	// come after an opening (the opening one, or reports towards a quorum).
	Delay time.Duration
	State string // MomentOpened, MomentCorroboration, ...
}

// Reports returns the reports of a drop's moment in arrival order.
func (v *Verifier) Reports(ctx context.Context, drop, moment string) ([]Report, error) {
	raw, err := v.st.Run(ctx, reportsScript, []string{store.DropKey(drop, "m", moment, "reports")})
	if err != nil {
		return nil, err
	}
	items, _ := raw.([]any)
	out := make([]Report, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		f := strings.Split(s, "\t")
		if len(f) != 6 {
			continue
		}
		recv, _ := strconv.ParseInt(f[3], 10, 64)
		delay, _ := strconv.ParseInt(f[4], 10, 64)
		out = append(out, Report{
			Source: f[0], Channel: f[1], EventID: f[2],
			ReceivedAt: time.UnixMilli(recv).UTC(), Delay: time.Duration(delay) * time.Millisecond, State: f[5],
		})
	}
	return out, nil
}

var reportsScript = store.NewScript("moment-reports",
	`return redis.call('LRANGE', KEYS[1], 0, -1)`,
	func(tx store.Tx, keys, _ []string) (any, error) {
		items := tx.LRange(keys[0], 0, -1)
		out := make([]any, len(items))
		for i, s := range items {
			out[i] = s
		}
		return out, nil
	})
