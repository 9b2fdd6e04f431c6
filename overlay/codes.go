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
	"strconv"
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
//
// A code put on screen is also recorded as issued (Issue): code → drop and
// rotation index, kept for CodeMemory. So a scan of any code the drop
// showed is answered for what it is (expired, or the drop has ended) in
// one read, however long ago it rotated out and however many drops exist.
type Codes struct {
	st     store.Store
	drops  DropCatalog
	states StateReader
	now    func() time.Time

	mu     sync.Mutex
	secret []byte           // loaded lazily, so a replica starts while Redis is down
	issued map[string]int64 // drop → last rotation index recorded by this process

	// known holds issued codes this process has seen (issued or read
	// back): an issued code's drop and index never change, so a claim rush
	// resolves its code without a store read. Two generations bound it.
	knownMu         sync.RWMutex
	known, previous map[string]issuedCode
}

type issuedCode struct {
	drop string
	idx  int64
}

// knownCap bounds each generation of Codes.known.
const knownCap = 4096

func (c *Codes) lookupKnown(s string) (issuedCode, bool) {
	c.knownMu.RLock()
	defer c.knownMu.RUnlock()
	if ic, ok := c.known[s]; ok {
		return ic, true
	}
	ic, ok := c.previous[s]
	return ic, ok
}

func (c *Codes) remember(s string, ic issuedCode) {
	c.knownMu.Lock()
	defer c.knownMu.Unlock()
	if len(c.known) >= knownCap {
		c.previous, c.known = c.known, make(map[string]issuedCode, knownCap)
	}
	c.known[s] = ic
}

// CodeMemory is how long an issued code is remembered after its drop's
// window: until then a scan of it says "expired" or "ended", after it
// "unknown".
const CodeMemory = 7 * 24 * time.Hour

// issuedKey is the store key of an issued code. Codes are random, so
// these keys spread over a cluster's slots.
func issuedKey(code string) string { return "overlay:code:" + code }

// NewCodes returns Codes; the secret is loaded (or created) on first use.
func NewCodes(cfg CodesConfig) (*Codes, error) {
	if cfg.Store == nil || cfg.Drops == nil || cfg.States == nil {
		return nil, errors.New("overlay: CodesConfig needs Store, Drops and States")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Codes{st: cfg.Store, drops: cfg.Drops, states: cfg.States, now: cfg.Now, issued: map[string]int64{},
		known: map[string]issuedCode{}}, nil
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

// Current returns the drop's code at now and when it rotates out. It
// records nothing: use Issue for a code that goes on screen.
func (c *Codes) Current(ctx context.Context, d *config.Drop, now time.Time) (string, time.Time, error) {
	secret, err := c.key(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	idx, _, end := window(d, now)
	return code(secret, d.ID, idx), end, nil
}

// Issue returns the drop's code at now, as Current does, and records it as
// issued, once per rotation per process (Record). A failed record is
// returned with the code: the code still scans while it is current (Resolve
// derives it), only its later "expired" answer is lost, so a caller may
// show it anyway.
func (c *Codes) Issue(ctx context.Context, d *config.Drop, now time.Time) (string, time.Time, error) {
	s, end, err := c.Current(ctx, d, now)
	if err != nil {
		return "", time.Time{}, err
	}
	return s, end, c.Record(ctx, d, now)
}

// Recorded reports whether this process has recorded the drop's code at
// now as issued, without a store call.
func (c *Codes) Recorded(d *config.Drop, now time.Time) bool {
	idx, _, _ := window(d, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued[d.ID] == idx+1 // stored +1, so 0 means none
}

// Record records the drop's code at now as issued, once per rotation per
// process. The record is needed only once the code has rotated out (a
// current code is derived, not looked up), so a caller may put the code
// on screen first and record it after.
func (c *Codes) Record(ctx context.Context, d *config.Drop, now time.Time) error {
	if c.Recorded(d, now) {
		return nil
	}
	s, _, err := c.Current(ctx, d, now)
	if err != nil {
		return err
	}
	idx, _, _ := window(d, now)
	ttl := d.Window.D() + rotation(d) + d.ScanGrace.D() + CodeMemory
	if err := c.st.Set(ctx, issuedKey(s), d.ID+"\t"+strconv.FormatInt(idx, 10), ttl); err != nil {
		return fmt.Errorf("overlay: record issued code of %s: %w", d.ID, err)
	}
	c.mu.Lock()
	c.issued[d.ID] = max(c.issued[d.ID], idx+1)
	c.mu.Unlock()
	c.remember(s, issuedCode{d.ID, idx})
	return nil
}

// Resolve validates a code scanned at now, as the claim endpoint does. It
// accepts the current code of an open drop, and a previous one until
// scan_grace after it rotated out (the stream delay). It returns the drop
// and the time the code rotated in (became the one shown). Errors:
// ErrCodeExpired for any code issued during the drop's opening, past its
// grace; ErrDropClosed for a code of a drop that has ended; ErrUnknownCode
// for a code never issued; or a store error.
func (c *Codes) Resolve(ctx context.Context, s string, now time.Time) (string, time.Time, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != CodeLen {
		return "", time.Time{}, ErrUnknownCode
	}
	secret, err := c.key(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	d, i, ok, err := c.lookupIssued(ctx, secret, s)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		// Not recorded: only a code current or in its grace now can be
		// good (one whose record was lost while the store was away).
		if d, i, ok = c.derive(secret, s, now); !ok {
			return "", time.Time{}, ErrUnknownCode
		}
	}
	r := rotation(d)
	start := time.UnixMilli(i * r.Milliseconds()).UTC()
	end := start.Add(r)
	idx, _, _ := window(d, now)
	expired := i < idx && now.After(end.Add(d.ScanGrace.D()))

	st, err := c.states.State(ctx, d.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	switch {
	case st.OpenedAt.IsZero() || !end.After(st.OpenedAt):
		// The drop was not open while this code was current: it was never shown.
		return "", time.Time{}, ErrUnknownCode
	case st.Status == verifier.StatusClosed:
		return d.ID, start, ErrDropClosed
	case expired:
		return d.ID, start, ErrCodeExpired
	case st.Status != verifier.StatusOpen && st.Status != verifier.StatusSoldOut:
		return "", time.Time{}, ErrUnknownCode
	}
	return d.ID, start, nil
}

// lookupIssued reads the record of an issued code and checks that the code
// is the one the secret derives for it, so a record cannot vouch for a
// code on its own. A record found is kept in memory: it never changes,
// and the crowd that scans a code on screen then costs no store read.
func (c *Codes) lookupIssued(ctx context.Context, secret []byte, s string) (*config.Drop, int64, bool, error) {
	if ic, ok := c.lookupKnown(s); ok {
		d, err := c.drops.Drop(ctx, ic.drop)
		if err == nil {
			return d, ic.idx, true, nil
		}
		if !errors.Is(err, verifier.ErrUnknownDrop) {
			return nil, 0, false, err
		}
		// Deleted since: ask the store, as for a code never seen.
	}
	v, err := c.st.Get(ctx, issuedKey(s))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("overlay: read issued code: %w", err)
	}
	id, n, _ := strings.Cut(v, "\t")
	i, err := strconv.ParseInt(n, 10, 64)
	if err != nil || i < 0 {
		return nil, 0, false, nil
	}
	d, err := c.drops.Drop(ctx, id)
	if errors.Is(err, verifier.ErrUnknownDrop) {
		return nil, 0, false, nil // deleted since
	}
	if err != nil {
		return nil, 0, false, err
	}
	if subtle.ConstantTimeCompare([]byte(code(secret, d.ID, i)), []byte(s)) != 1 {
		return nil, 0, false, nil
	}
	c.remember(s, issuedCode{d.ID, i})
	return d, i, true, nil
}

// derive finds the drop whose code s is at now, or was within its scan
// grace, comparing in constant time against every candidate: one HMAC per
// drop and window.
func (c *Codes) derive(secret []byte, s string, now time.Time) (*config.Drop, int64, bool) {
	var (
		found *config.Drop
		at    int64
	)
	for _, d := range c.drops.All("") {
		idx, _, _ := window(d, now)
		r := rotation(d)
		back := int64((d.ScanGrace.D() + r - 1) / r)
		for i := idx; i >= idx-back && i >= 0; i-- {
			if subtle.ConstantTimeCompare([]byte(code(secret, d.ID, i)), []byte(s)) == 1 && found == nil {
				found, at = d, i
			}
		}
	}
	return found, at, found != nil
}
