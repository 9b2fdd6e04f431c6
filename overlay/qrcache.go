package overlay

import (
	"sync"
)

// maxQRCache bounds the encoded QR codes kept (about 200 bytes each); when
// it is reached the cache starts afresh, as old codes are never shown
// again.
const maxQRCache = 4096

// qrSymbol is a claim URL encoded as frames carry it.
type qrSymbol struct {
	size    int
	modules string
}

// qrEntry is one code's symbol, encoded once per process: whoever asks
// while it is being encoded waits for that encoding.
type qrEntry struct {
	ready chan struct{}
	sym   qrSymbol
	err   error
}

// qrCache holds the QR symbols of the codes shown or coming. A code is
// encoded when it goes on screen, or just before (the next code of a drop
// on screen), never for a drop that is not open.
type qrCache struct {
	mu      sync.Mutex
	entries map[string]*qrEntry // claim URL → symbol
	encoded func()              // counts one encoding
}

func newQRCache(encoded func()) *qrCache {
	return &qrCache{entries: make(map[string]*qrEntry), encoded: encoded}
}

// get returns url's symbol, encoding it unless it is cached or being
// encoded.
func (q *qrCache) get(url string) (qrSymbol, error) {
	e, mine := q.entry(url)
	if mine {
		q.encode(url, e)
	}
	<-e.ready
	return e.sym, e.err
}

// has reports whether url is cached or being encoded.
func (q *qrCache) has(url string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.entries[url]
	return ok
}

// entry returns url's entry, creating it when there is none: mine then
// says that the caller must encode it.
func (q *qrCache) entry(url string) (e *qrEntry, mine bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[url]; e != nil {
		return e, false
	}
	if len(q.entries) >= maxQRCache {
		clear(q.entries) // old codes are never shown again
	}
	e = &qrEntry{ready: make(chan struct{})}
	q.entries[url] = e
	return e, true
}

func (q *qrCache) encode(url string, e *qrEntry) {
	defer close(e.ready)
	q.encoded()
	e.sym.size, e.sym.modules, e.err = QRModules(url)
	if e.err != nil {
		q.mu.Lock()
		if q.entries[url] == e {
			delete(q.entries, url) // a later call tries again
		}
		q.mu.Unlock()
	}
}
