package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// streamID is a Redis stream id, "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// parseStreamID accepts "<ms>-<seq>" and "<ms>" (sequence 0), as XACK does.
func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("%w: stream id %q", ErrInvalid, s)
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, fmt.Errorf("%w: stream id %q", ErrInvalid, s)
		}
	}
	return streamID{ms, seq}, nil
}

type streamEntry struct {
	id     streamID
	fields map[string]string
}

// stream is a Redis stream: entries in id order and its consumer groups.
type stream struct {
	entries []streamEntry
	last    streamID
	groups  map[string]*consumerGroup
}

// consumerGroup tracks what was delivered and what is pending (the PEL).
type consumerGroup struct {
	lastDelivered streamID
	pel           []*pendingEntry // in id order
}

type pendingEntry struct {
	id          streamID
	consumer    string
	deliveredAt int64 // unix nanoseconds of the last delivery
	count       int64
}

func (s *stream) find(id streamID) (streamEntry, bool) {
	i := sort.Search(len(s.entries), func(i int) bool { return !s.entries[i].id.less(id) })
	if i < len(s.entries) && s.entries[i].id == id {
		return s.entries[i], true
	}
	return streamEntry{}, false
}

func (g *consumerGroup) pelIndex(id streamID) (int, bool) {
	i := sort.Search(len(g.pel), func(i int) bool { return !g.pel[i].id.less(id) })
	return i, i < len(g.pel) && g.pel[i].id == id
}

func (tx *memTx) xadd(key string, fields map[string]string) (string, error) {
	if len(fields) == 0 {
		return "", fmt.Errorf("%w: XADD without fields", ErrInvalid)
	}
	e, err := tx.create(key, kindStream)
	if err != nil {
		return "", err
	}
	s := e.stream
	id := streamID{ms: uint64(max(tx.now.UnixMilli(), 0))}
	// Ids only grow, even when the clock steps back.
	if !s.last.less(id) {
		id = streamID{s.last.ms, s.last.seq + 1}
	}
	s.last = id
	s.entries = append(s.entries, streamEntry{id: id, fields: maps.Clone(fields)})
	if ch := tx.m.wake[key]; ch != nil {
		close(ch)
		delete(tx.m.wake, key)
	}
	return id.String(), nil
}

// xreadgroup is XREADGROUP ... STREAMS key ">" for one consumer, creating
// the group at "0" (and the stream, as MKSTREAM) when missing.
func (tx *memTx) xreadgroup(key, group, consumer string, count int) ([]Entry, error) {
	e, err := tx.create(key, kindStream)
	if err != nil {
		return nil, err
	}
	s := e.stream
	g := s.groups[group]
	if g == nil {
		g = &consumerGroup{}
		s.groups[group] = g
	}
	i := sort.Search(len(s.entries), func(i int) bool { return g.lastDelivered.less(s.entries[i].id) })
	n := len(s.entries) - i
	if count > 0 && n > count {
		n = count
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]Entry, n)
	for j, se := range s.entries[i : i+n] {
		g.pel = append(g.pel, &pendingEntry{id: se.id, consumer: consumer, deliveredAt: tx.nowNs, count: 1})
		out[j] = Entry{ID: se.id.String(), Fields: maps.Clone(se.fields), Deliveries: 1}
		g.lastDelivered = se.id
	}
	return out, nil
}

// group returns the consumer group, nil when it or the stream is missing.
func (tx *memTx) group(key, group string) (*stream, *consumerGroup, error) {
	e, err := tx.typed(key, kindStream)
	if err != nil || e == nil {
		return nil, nil, err
	}
	return e.stream, e.stream.groups[group], nil
}

// OutboxAdd implements Store.
func (m *Memory) OutboxAdd(ctx context.Context, stream string, fields map[string]string) (string, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	return tx.xadd(m.prefix+stream, fields)
}

// OutboxRead implements Store. While it waits it holds no lock: it parks
// on the stream's wake channel, which the next XAdd (or Close) closes.
func (m *Memory) OutboxRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]Entry, error) {
	key := m.prefix + stream
	var timeout <-chan time.Time
	for {
		tx, err := m.lock(ctx)
		if err != nil {
			return nil, err
		}
		out, err := tx.xreadgroup(key, group, consumer, count)
		if err != nil || len(out) > 0 || block <= 0 {
			m.mu.Unlock()
			return out, err
		}
		wake := m.wake[key]
		if wake == nil {
			wake = make(chan struct{})
			m.wake[key] = wake
		}
		m.mu.Unlock()

		if timeout == nil {
			t := time.NewTimer(block)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake:
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OutboxAck implements Store.
func (m *Memory) OutboxAck(ctx context.Context, stream, group string, ids ...string) error {
	parsed := make([]streamID, len(ids))
	for i, s := range ids {
		id, err := parseStreamID(s)
		if err != nil {
			return err
		}
		parsed[i] = id
	}
	tx, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	_, g, err := tx.group(m.prefix+stream, group)
	if err != nil || g == nil {
		return err
	}
	for _, id := range parsed {
		if i, ok := g.pelIndex(id); ok {
			g.pel = slices.Delete(g.pel, i, i+1)
		}
	}
	return nil
}

// defaultClaimCount is XAUTOCLAIM's default COUNT.
const defaultClaimCount = 100

// OutboxClaim implements Store with XAUTOCLAIM's semantics, scanning the
// whole pending list from the lowest id.
func (m *Memory) OutboxClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]Entry, error) {
	if count <= 0 {
		count = defaultClaimCount
	}
	tx, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	s, g, err := tx.group(m.prefix+stream, group)
	if err != nil || g == nil {
		return nil, err
	}
	var out []Entry
	for _, p := range g.pel {
		if len(out) == count {
			break
		}
		if time.Duration(tx.nowNs-p.deliveredAt) < minIdle {
			continue
		}
		se, ok := s.find(p.id)
		if !ok {
			continue
		}
		p.consumer = consumer
		p.deliveredAt = tx.nowNs
		p.count++
		out = append(out, Entry{ID: p.id.String(), Fields: maps.Clone(se.fields), Deliveries: p.count})
	}
	return out, nil
}

// OutboxPending implements Store.
func (m *Memory) OutboxPending(ctx context.Context, stream, group string) (Pending, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return Pending{}, err
	}
	defer m.mu.Unlock()
	_, g, err := tx.group(m.prefix+stream, group)
	if err != nil || g == nil {
		return Pending{}, err
	}
	var oldest time.Duration
	for _, p := range g.pel {
		oldest = max(oldest, time.Duration(tx.nowNs-p.deliveredAt))
	}
	// Millisecond precision, as XPENDING reports idle times.
	return Pending{Count: int64(len(g.pel)), OldestIdle: oldest.Truncate(time.Millisecond)}, nil
}

// OutboxLen implements Store.
func (m *Memory) OutboxLen(ctx context.Context, stream string) (int64, error) {
	tx, err := m.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	e, err := tx.typed(m.prefix+stream, kindStream)
	if err != nil || e == nil {
		return 0, err
	}
	return int64(len(e.stream.entries)), nil
}
