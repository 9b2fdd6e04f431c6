package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/nodekit"
)

// errNoClaim is a claim id (or pickup code) the node does not hold.
var errNoClaim = errors.New("no such claim")

// nodeClaim is one claim the standalone node holds, as its local API
// shows it.
type nodeClaim struct {
	ID         string    `json:"id"`
	Drop       string    `json:"drop"`
	SKU        string    `json:"sku"`
	Tier       string    `json:"tier,omitempty"`
	PickupCode string    `json:"pickup_code"`
	PickupBy   time.Time `json:"pickup_by,omitzero"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	Sandbox    bool      `json:"sandbox,omitempty"`
	Receipt    string    `json:"receipt,omitempty"`
	// State is the claim's state as Dropwire last reported it: forwarded
	// when it arrived, then what each callback's answer said.
	State      string          `json:"state"`
	Locker     *nodekit.Locker `json:"locker,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// nodeClaims holds the claims in memory and, with a file, writes every
// change through to it (so a restart keeps them). Safe for concurrent
// use.
type nodeClaims struct {
	file string

	mu     sync.Mutex
	claims map[string]*nodeClaim
	order  []string // ids, oldest first
}

// stateFile is the JSON of the file.
type stateFile struct {
	Claims []*nodeClaim `json:"claims"`
}

// openNodeClaims loads file when it exists; "" keeps everything in memory.
func openNodeClaims(file string) (*nodeClaims, error) {
	c := &nodeClaims{file: file, claims: map[string]*nodeClaim{}}
	if file == "" {
		return c, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, cl := range s.Claims {
		if cl == nil || cl.ID == "" || c.claims[cl.ID] != nil {
			continue
		}
		c.claims[cl.ID] = cl
		c.order = append(c.order, cl.ID)
	}
	return c, nil
}

// add keeps a claim that arrived; false when it was there already (a
// webhook retry).
func (c *nodeClaims) add(ev nodekit.Event, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claims[ev.Claim.ID] != nil {
		return false, nil
	}
	cl := ev.Claim
	c.claims[cl.ID] = &nodeClaim{ID: cl.ID, Drop: cl.Drop, SKU: cl.SKU, Tier: cl.Tier, PickupCode: cl.PickupCode,
		PickupBy: cl.PickupBy, CreatedAt: cl.CreatedAt, Sandbox: cl.Sandbox, Receipt: ev.Receipt,
		State: "forwarded", ReceivedAt: now, UpdatedAt: now}
	c.order = append(c.order, cl.ID)
	if err := c.saveLocked(); err != nil {
		// Not kept: Dropwire gets no 2xx and sends it again.
		delete(c.claims, cl.ID)
		c.order = c.order[:len(c.order)-1]
		return false, err
	}
	return true, nil
}

// get returns a copy of claim id.
func (c *nodeClaims) get(id string) (nodeClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.claims[id]
	if cl == nil {
		return nodeClaim{}, errNoClaim
	}
	return *cl, nil
}

// byPickupCode returns the claim with this pickup code (case and
// separators aside).
func (c *nodeClaims) byPickupCode(code string) (nodeClaim, error) {
	code = normalizeCode(code)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range slices.Backward(c.order) {
		if cl := c.claims[id]; normalizeCode(cl.PickupCode) == code {
			return *cl, nil
		}
	}
	return nodeClaim{}, errNoClaim
}

func normalizeCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

// list returns the claims, newest first, of the given states (all when
// none).
func (c *nodeClaims) list(states ...string) []nodeClaim {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []nodeClaim{}
	for _, id := range slices.Backward(c.order) {
		if cl := c.claims[id]; len(states) == 0 || slices.Contains(states, cl.State) {
			out = append(out, *cl)
		}
	}
	return out
}

// update applies what Dropwire answered to a callback.
func (c *nodeClaims) update(id string, now time.Time, fn func(*nodeClaim)) (nodeClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.claims[id]
	if cl == nil {
		return nodeClaim{}, errNoClaim
	}
	before := *cl
	fn(cl)
	cl.UpdatedAt = now
	if err := c.saveLocked(); err != nil {
		*cl = before
		return nodeClaim{}, err
	}
	return *cl, nil
}

// saveLocked writes every claim to the file: a temporary file renamed
// over it, so a crash leaves the old or the new one, never half.
func (c *nodeClaims) saveLocked() error {
	if c.file == "" {
		return nil
	}
	s := stateFile{Claims: make([]*nodeClaim, 0, len(c.order))}
	for _, id := range c.order {
		s.Claims = append(s.Claims, c.claims[id])
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.file), ".dropwire-node-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.file)
}
