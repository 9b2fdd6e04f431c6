package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// memorySubscription is a Subscription to a Memory store. Its channel is
// only sent to and closed under the store's subMu, so a publisher never
// sends on a closed channel.
type memorySubscription struct {
	m        *Memory
	channels []string // full names
	ch       chan Message
	closed   bool // guarded by m.subMu
	dropped  atomic.Uint64
}

// Publish implements Store. It never blocks: a subscriber whose buffer is
// full misses the message (counted by Dropped).
func (m *Memory) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	m.publish(m.prefix+channel, msg)
	return nil
}

func (m *Memory) publish(full string, msg []byte) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	subs := m.subs[full]
	if len(subs) == 0 {
		return
	}
	logical := strings.TrimPrefix(full, m.prefix)
	for s := range subs {
		// Each subscriber gets its own copy, as from Redis: neither the
		// publisher nor another subscriber can change what it reads.
		select {
		case s.ch <- Message{Channel: logical, Payload: slices.Clone(msg)}:
		default:
			s.dropped.Add(1)
			m.dropped.Add(1)
		}
	}
}

// Subscribe implements Store.
func (m *Memory) Subscribe(ctx context.Context, channels ...string) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(channels) == 0 {
		return nil, fmt.Errorf("%w: subscribe to no channel", ErrInvalid)
	}
	s := &memorySubscription{m: m, ch: make(chan Message, m.bufSize)}
	for _, c := range channels {
		full := m.prefix + c
		if !slices.Contains(s.channels, full) {
			s.channels = append(s.channels, full)
		}
	}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	// Checked under subMu so Close either sees this subscription or we
	// see the store closed.
	if m.closed.Load() {
		return nil, ErrClosed
	}
	for _, c := range s.channels {
		set := m.subs[c]
		if set == nil {
			set = make(map[*memorySubscription]struct{})
			m.subs[c] = set
		}
		set[s] = struct{}{}
	}
	return s, nil
}

func (s *memorySubscription) C() <-chan Message { return s.ch }

// Dropped returns how many messages this subscription missed because its
// buffer was full.
func (s *memorySubscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C; it is idempotent.
func (s *memorySubscription) Close() error {
	s.m.subMu.Lock()
	defer s.m.subMu.Unlock()
	for _, c := range s.channels {
		if set := s.m.subs[c]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(s.m.subs, c)
			}
		}
	}
	s.closeLocked()
	return nil
}

func (s *memorySubscription) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}
