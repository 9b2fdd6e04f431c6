package overlay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// CodeSecretKey is the store key of the secret every replica derives claim
// codes from. The first replica to start creates it (SetNX); the others
// read it back, so all show the same code at the same time.
const CodeSecretKey = "overlay:code-secret"

// CodeLen is the length of a claim code: 10 base32 characters, 50 bits.
const CodeLen = 10

// codeEncoding is uppercase base32 without padding: every character is in
// the QR alphanumeric set and reads unambiguously aloud.
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// DropCatalog looks drops up; *verifier.Catalog implements it.
type DropCatalog interface {
	All(creator string) []*config.Drop
	Drop(ctx context.Context, id string) (*config.Drop, error)
}

// StateReader reads a drop's state; *verifier.Verifier implements it.
type StateReader interface {
	State(ctx context.Context, drop string) (verifier.DropState, error)
}

// CodesConfig configures Codes.
type CodesConfig struct {
	Store  store.Store
	Drops  DropCatalog
	States StateReader
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Codes derives the opaque rotating claim codes the QR carries and
// validates them. A drop's code for rotation index i =
// floor(unix time / qr_rotate) is base32(HMAC-SHA256(secret, drop, i)),
// cut to CodeLen characters, so every replica computes the same code for
// the same window without coordination beyond the shared secret.
type Codes struct {
	st     store.Store
	drops  DropCatalog
	states StateReader
	now    func() time.Time

	mu     sync.Mutex
	secret []byte // loaded lazily, so a replica starts while Redis is down
}

// NewCodes returns Codes; the secret is loaded (or created) on first use.
func NewCodes(cfg CodesConfig) (*Codes, error) {
	if cfg.Store == nil || cfg.Drops == nil || cfg.States == nil {
		return nil, errors.New("overlay: CodesConfig needs Store, Drops and States")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Codes{st: cfg.Store, drops: cfg.Drops, states: cfg.States, now: cfg.Now}, nil
}

func (c *Codes) key(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret != nil {
		return c.secret, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if _, err := c.st.SetNX(ctx, CodeSecretKey, hex.EncodeToString(b[:]), 0); err != nil {
		return nil, fmt.Errorf("overlay: code secret: %w", err)
	}
	// Read back whichever secret won, ours or another replica's.
	v, err := c.st.Get(ctx, CodeSecretKey)
	if err != nil {
		return nil, fmt.Errorf("overlay: code secret: %w", err)
	}
	s, err := hex.DecodeString(v)
	if err != nil || len(s) < 16 {
		return nil, fmt.Errorf("overlay: code secret at %q is malformed", CodeSecretKey)
	}
	c.secret = s
	return s, nil
}

// rotation returns a drop's rotation period (at least a second).
func rotation(d *config.Drop) time.Duration {
	if r := d.QRRotate.D(); r >= time.Second {
		return r
	}
	if d.QRRotate.D() > 0 {
		return time.Second
	}
	return config.DefaultQRRotate
}

// window returns the rotation index at t and the times it starts and ends.
func window(d *config.Drop, t time.Time) (idx int64, start, end time.Time) {
	r := rotation(d).Milliseconds()
	idx = t.UnixMilli() / r
	return idx, time.UnixMilli(idx * r).UTC(), time.UnixMilli((idx + 1) * r).UTC()
}

func code(secret []byte, drop string, idx int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(drop))
	var b [9]byte // a zero byte keeps "ab"+1 apart from "a"+"b1"
	binary.BigEndian.PutUint64(b[1:], uint64(idx))
	m.Write(b[:])
	return codeEncoding.EncodeToString(m.Sum(nil))[:CodeLen]
}

// Current returns the drop's code at now and when it rotates out.
func (c *Codes) Current(ctx context.Context, d *config.Drop, now time.Time) (string, time.Time, error) {
	secret, err := c.key(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	idx, _, end := window(d, now)
	return code(secret, d.ID, idx), end, nil
}

// Resolve validates a code scanned at now, as the claim endpoint does. It
// accepts the current code of an open drop, and a previous one until
// scan_grace after it rotated out (the stream delay). It returns the drop
// and the time the code rotated in (became the one shown). Errors:
// ErrUnknownCode, ErrCodeExpired, ErrDropClosed, or a store error.
//
// Codes are compared in constant time against every candidate; the cost
// is one HMAC per drop and code still in its grace period.
func (c *Codes) Resolve(ctx context.Context, s string, now time.Time) (string, time.Time, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != CodeLen {
		return "", time.Time{}, ErrUnknownCode
	}
	secret, err := c.key(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	var (
		found            *config.Drop
		start, end       time.Time
		expired, matched bool
	)
	for _, d := range c.drops.All("") {
		idx, _, _ := window(d, now)
		r := rotation(d)
		// Codes rotated out more than grace ago are checked too (back to
		// one extra window) so that they answer "expired", not "unknown".
		back := int64((d.ScanGrace.D()+r-1)/r) + 1
		for i := idx; i >= idx-back && i >= 0; i-- {
			if subtle.ConstantTimeCompare([]byte(code(secret, d.ID, i)), []byte(s)) == 1 && !matched {
				matched, found = true, d
				start = time.UnixMilli(i * r.Milliseconds()).UTC()
				end = start.Add(r)
				expired = i < idx && now.After(end.Add(d.ScanGrace.D()))
			}
		}
	}
	if !matched {
		return "", time.Time{}, ErrUnknownCode
	}
	st, err := c.states.State(ctx, found.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	switch {
	case st.OpenedAt.IsZero() || !end.After(st.OpenedAt):
		// The drop was not open while this code was current: it was never shown.
		return "", time.Time{}, ErrUnknownCode
	case st.Status == verifier.StatusClosed:
		return found.ID, start, ErrDropClosed
	case expired:
		return found.ID, start, ErrCodeExpired
	case st.Status != verifier.StatusOpen && st.Status != verifier.StatusSoldOut:
		return "", time.Time{}, ErrUnknownCode
	}
	return found.ID, start, nil
}
