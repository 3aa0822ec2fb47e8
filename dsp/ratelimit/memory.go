// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// memoryShards spreads keys over independent locks so that parallel requests for different keys do not
// contend; a power of two so the shard is a mask of the hash.
const memoryShards = 64

// minSweepLen is the shard size below which idle entries are not collected: sweeping tiny maps costs more
// than the memory it frees.
const minSweepLen = 256

// MemoryStore is a per-process [Store]. It is exact for one instance only; use [RedisStore] to share limits.
//
// Idle keys (a FixedWindow whose window ended, a GCRA bucket that is full again) are collected
// incrementally: when inserting a new key makes a shard twice as large as after its last sweep, that shard
// is swept under its own lock. The cost is amortised O(1) per new key, like slice growth, and needs no
// background goroutine; a store whose key set stops growing keeps its memory until [MemoryStore.Sweep] is
// called (a periodic Sweep from the owner's goroutine is optional, not required for boundedness).
type MemoryStore struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu      sync.Mutex
	m       map[memoryKey]*memoryEntry
	sweepAt int
	// Pad to a cache line so that neighbouring shards' locks do not false-share.
	_ [40]byte
}

// memoryKey is a struct rather than a concatenated string so that a lookup allocates nothing. Entries are
// pointers so that a warm Take hashes the key once (lookup, then update in place) instead of twice.
type memoryKey struct {
	policy, key string
	alg         Algorithm
}

type memoryEntry struct {
	// FixedWindow: window start (Unix ms) and units counted. GCRA: unused.
	start, count int64
	// expires is the Unix µs after which the entry carries no state: the window's end, or the GCRA TAT.
	expires int64
}

// NewMemoryStore returns an empty store reading time from now (time.Now when nil); tests inject a clock.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	m := &MemoryStore{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[memoryKey]*memoryEntry)
		m.shards[i].sweepAt = minSweepLen
	}
	return m
}

func (m *MemoryStore) shard(key string) *memoryShard {
	return &m.shards[maphash.String(m.seed, key)&(memoryShards-1)]
}

// Take implements [Store]. It never returns an error for a valid rule and n ≥ 1.
func (m *MemoryStore) Take(_ context.Context, key string, rule Rule, n int64) (Decision, error) {
	if n < 1 {
		return Decision{}, ErrInvalidUnits
	}
	if err := rule.Validate(); err != nil {
		return Decision{}, err
	}
	nowUs := m.now().UnixMicro()
	k := memoryKey{policy: rule.Policy, key: key, alg: rule.Algorithm}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if rule.Algorithm == GCRA {
		interval, capacity := gcraParams(rule)
		tat := nowUs
		if e != nil {
			tat = max(e.expires, nowUs)
		}
		next := tat + n*interval
		if next-capacity > nowUs {
			return gcraDecision(false, tat, rule, n, nowUs, interval, capacity), nil
		}
		if e == nil {
			e = s.insert(k, nowUs)
		}
		e.expires = next
		return gcraDecision(true, next, rule, n, nowUs, interval, capacity), nil
	}
	windowMs := rule.Window.Milliseconds()
	start := fixedWindowStart(nowUs, windowMs)
	var count int64
	if e != nil && e.start == start {
		count = e.count
	}
	if count+n > rule.Limit {
		return fixedDecision(false, count, rule, start, nowUs), nil
	}
	if e == nil {
		e = s.insert(k, nowUs)
	}
	*e = memoryEntry{start: start, count: count + n, expires: (start + windowMs) * 1000}
	return fixedDecision(true, e.count, rule, start, nowUs), nil
}

// insert adds an empty entry for k and, when that grows the shard past its sweep threshold, first collects
// idle entries.
func (s *memoryShard) insert(k memoryKey, nowUs int64) *memoryEntry {
	if len(s.m) >= s.sweepAt {
		s.sweep(nowUs)
	}
	e := new(memoryEntry)
	s.m[k] = e
	return e
}

func (s *memoryShard) sweep(nowUs int64) {
	before := len(s.m)
	for k, e := range s.m {
		if e.expires <= nowUs {
			delete(s.m, k)
		}
	}
	// Go maps never shrink: after a mass expiry (a burst of one-off keys) copy the survivors so the
	// buckets are released.
	if before >= 4*minSweepLen && len(s.m) < before/4 {
		fresh := make(map[memoryKey]*memoryEntry, len(s.m))
		for k, e := range s.m {
			fresh[k] = e
		}
		s.m = fresh
	}
	s.sweepAt = max(2*len(s.m), minSweepLen)
}

// Adjust implements [Store]: it adds delta to the window that started at windowStart if that is still the
// window held for key, clamping at zero.
func (m *MemoryStore) Adjust(_ context.Context, key string, rule Rule, windowStart, delta int64) error {
	if rule.Algorithm != FixedWindow || delta == 0 {
		return nil
	}
	k := memoryKey{policy: rule.Policy, key: key, alg: rule.Algorithm}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[k]; e != nil && e.start == windowStart {
		e.count = max(e.count+delta, 0)
	}
	return nil
}

// Sweep removes every idle entry now, one shard lock at a time. It is optional (see [MemoryStore]).
func (m *MemoryStore) Sweep() {
	nowUs := m.now().UnixMicro()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(nowUs)
		s.mu.Unlock()
	}
}

// Len returns the number of keys held, idle ones included until swept.
func (m *MemoryStore) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

var _ Store = (*MemoryStore)(nil)
