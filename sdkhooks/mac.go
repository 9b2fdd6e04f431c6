package sdkhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// maxPooledBuffer keeps one huge request from pinning a huge buffer.
const maxPooledBuffer = 64 << 10

// macKey is one HMAC-SHA256 secret (of a twitch-eventsub source) with a
// pool of keyed states, so that the hot path neither re-derives the HMAC
// pads nor allocates.
type macKey struct {
	pool sync.Pool
}

// macState is a reusable HMAC computation and its scratch buffers.
type macState struct {
	h      hash.Hash
	prefix []byte
	sum    [sha256.Size]byte
	hex    [2 * sha256.Size]byte
	cmpHex [2 * sha256.Size]byte
}

func newMACKey(key []byte) *macKey {
	key = append([]byte(nil), key...)
	m := &macKey{}
	m.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key)}
	}
	return m
}

func (m *macKey) get() *macState { return m.pool.Get().(*macState) }

func (m *macKey) put(st *macState) {
	if cap(st.prefix) > maxPooledBuffer {
		st.prefix = nil
	}
	m.pool.Put(st)
}
