package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/internal/store"
)

// KeyRingConfig configures a KeyRing.
type KeyRingConfig struct {
	Store  store.Store
	Config *config.Config
	// Grace is how long a rotated-out key keeps working; default
	// DefaultKeyGrace.
	Grace time.Duration
	Now   func() time.Time
}

// KeyRing answers which overlay keys open a creator's overlay: the keys of
// the configuration until the first rotation; after it, the newest key
// from the store and the previous ones until their grace ends. Keys is
// the overlay hub's key lookup (overlay.HubConfig.Keys).
type KeyRing struct {
	cfg KeyRingConfig

	mu   sync.Mutex
	last map[string][]string // last answer read from the store, by creator
}

// keySet is a creator's stored overlay keys.
type keySet struct {
	Current   string       `json:"current"`
	RotatedAt int64        `json:"rotated_at"`
	Previous  []retiredKey `json:"previous"`
}

type retiredKey struct {
	Key   string `json:"key"`
	Until int64  `json:"until"` // ms
}

// NewKeyRing returns a KeyRing.
func NewKeyRing(cfg KeyRingConfig) *KeyRing {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultKeyGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &KeyRing{cfg: cfg, last: make(map[string][]string)}
}

func keysKey(creator string) string { return "admin:overlay-keys:" + creator }

// noCreator stands in for an unknown creator in Keys: no creator has this
// id (ids start with a letter or digit), so its stored keys never exist.
const noCreator = "-"

// Keys returns the keys that open creator's overlay now, false for an
// unknown creator. When the store does not answer it returns its last
// answer (or the configured keys), so overlays reconnect through a store
// outage.
//
// An unknown creator costs what a known one does, so that the time of a
// refusal does not tell whether a creator exists: the same store read
// (of noCreator's keys), the same fallback through the last answers.
func (k *KeyRing) Keys(creator string) ([]string, bool) {
	c, known := k.cfg.Config.Creator(creator)
	id, keys := noCreator, []string(nil)
	if known {
		id, keys = creator, c.OverlayKeys
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	set, err := k.read(ctx, id)
	if err == nil && set != nil {
		keys = set.valid(k.cfg.Now())
	}
	k.mu.Lock()
	if err != nil {
		if last, seen := k.last[id]; seen {
			keys = last
		}
	} else {
		k.last[id] = keys
	}
	k.mu.Unlock()
	if !known {
		return nil, false
	}
	return keys, true
}

// Current returns the key new overlay URLs should carry.
func (k *KeyRing) Current(ctx context.Context, creator string) (string, error) {
	c, ok := k.cfg.Config.Creator(creator)
	if !ok {
		return "", ErrUnknownCreator
	}
	set, err := k.read(ctx, creator)
	if err != nil {
		return "", err
	}
	if set != nil {
		return set.Current, nil
	}
	if len(c.OverlayKeys) == 0 {
		return "", nil
	}
	return c.OverlayKeys[0], nil
}

func (k *KeyRing) read(ctx context.Context, creator string) (*keySet, error) {
	js, err := k.cfg.Store.Get(ctx, keysKey(creator))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var set keySet
	if err := json.Unmarshal([]byte(js), &set); err != nil {
		return nil, fmt.Errorf("admin: overlay keys of %s: %w", creator, err)
	}
	return &set, nil
}

func (s *keySet) valid(now time.Time) []string {
	keys := []string{s.Current}
	for _, p := range s.Previous {
		if now.UnixMilli() < p.Until {
			keys = append(keys, p.Key)
		}
	}
	return keys
}

// Rotation is the answer to a rotation.
type Rotation struct {
	Creator      string    `json:"creator"`
	Key          string    `json:"key"`
	OverlayURL   string    `json:"overlay_url"`
	OldKeysUntil time.Time `json:"old_keys_until"`
}

// Rotate makes a new key current; the keys valid now stay valid for the
// grace period. Concurrent rotations on several replicas: the last write
// wins and the loser's key still works for the grace period only if it was
// read — rotate from one place at a time.
func (k *KeyRing) Rotate(ctx context.Context, creator string) (Rotation, error) {
	c, ok := k.cfg.Config.Creator(creator)
	if !ok {
		return Rotation{}, ErrUnknownCreator
	}
	set, err := k.read(ctx, creator)
	if err != nil {
		return Rotation{}, err
	}
	now := k.cfg.Now()
	until := now.Add(k.cfg.Grace).UnixMilli()
	var old []string
	next := &keySet{Current: rand.Text(), RotatedAt: now.UnixMilli()}
	if set == nil {
		old = c.OverlayKeys
	} else {
		old = []string{set.Current}
		for _, p := range set.Previous {
			if now.UnixMilli() < p.Until {
				next.Previous = append(next.Previous, p)
			}
		}
	}
	for _, o := range old {
		next.Previous = append(next.Previous, retiredKey{Key: o, Until: until})
	}
	js, _ := json.Marshal(next)
	if err := k.cfg.Store.Set(ctx, keysKey(creator), string(js), 0); err != nil {
		return Rotation{}, err
	}
	return Rotation{Creator: creator, Key: next.Current, OverlayURL: k.OverlayURL(creator, next.Current),
		OldKeysUntil: time.UnixMilli(until).UTC()}, nil
}

// OverlayURL is the OBS browser-source URL of creator with key.
func (k *KeyRing) OverlayURL(creator, key string) string {
	return strings.TrimRight(k.cfg.Config.PublicURL, "/") + "/overlay/" + url.PathEscape(creator) + "?key=" + url.QueryEscape(key)
}

func (a *Admin) rotateKey(w http.ResponseWriter, r *http.Request) {
	rot, err := a.keys.Rotate(r.Context(), r.PathValue("creator"))
	switch {
	case errors.Is(err, ErrUnknownCreator):
		problem.Respond(w, http.StatusNotFound, "unknown_creator", "no creator with this id")
	case err != nil:
		a.storeProblem(w, "could not rotate the overlay key", err)
	default:
		a.log.Info().Str("creator", rot.Creator).Time("old_keys_until", rot.OldKeysUntil).Msg("overlay key rotated")
		writeJSON(w, http.StatusOK, rot)
	}
}
