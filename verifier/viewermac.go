package verifier

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// viewerMAC is HMAC-SHA256 under the viewer secret, over parts that each
// end in a zero byte: what signs device cookies and proof-of-work
// challenges and keys viewer hashes.
//
// hmac.New hashes the key's inner and outer pads (two SHA-256 blocks)
// and allocates two digests on every call; a claim page issues a cookie
// per first visit. Instances are kept in a pool instead: crypto/hmac
// saves the pad states on the first Reset and restores them on later
// ones, so a MAC costs only the message's own blocks. Safe for
// concurrent use.
type viewerMAC struct {
	pool sync.Pool
}

type macState struct {
	h   hash.Hash
	msg []byte
	sum []byte
}

// macKeep bounds the message buffer a pooled state keeps: viewer tokens
// may make long messages, which should not stay allocated.
const macKeep = 1 << 10

func newViewerMAC(key []byte) *viewerMAC {
	key = append([]byte(nil), key...)
	m := &viewerMAC{}
	m.pool.New = func() any {
		return &macState{h: hmac.New(sha256.New, key), msg: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
	}
	return m
}

// sum16 returns the first 128 bits of the MAC of parts, each followed by
// a zero byte.
func (m *viewerMAC) sum16(parts ...string) [16]byte {
	s := m.pool.Get().(*macState)
	s.msg = s.msg[:0]
	for _, p := range parts {
		s.msg = append(s.msg, p...)
		s.msg = append(s.msg, 0)
	}
	s.h.Reset()
	s.h.Write(s.msg)
	s.sum = s.h.Sum(s.sum[:0])
	var out [16]byte
	copy(out[:], s.sum)
	if cap(s.msg) > macKeep {
		s.msg = make([]byte, 0, 256)
	}
	m.pool.Put(s)
	return out
}

// equal16 reports, in constant time, whether got is the MAC of parts.
func (m *viewerMAC) equal16(got []byte, parts ...string) bool {
	want := m.sum16(parts...)
	return hmac.Equal(got, want[:])
}
