// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultCacheEntries is the TokenCache bound when NewTokenCache gets maxEntries <= 0.
	DefaultCacheEntries = 10000
	// DefaultCacheTTL is the longest a verified token stays cached when NewTokenCache gets maxTTL <= 0.
	DefaultCacheTTL = 5 * time.Minute

	// cacheMaxShards bounds lock striping; 64 shards keep two cores from ever meeting on a lock in practice.
	cacheMaxShards = 64
	// cacheMinPerShard keeps small caches in few shards, so that maxEntries is honoured without rounding a
	// 10-entry cache up to 64.
	cacheMinPerShard = 64
	// cacheEvictSample is how many entries a full shard looks at to choose a victim (Redis-style sampled
	// eviction): O(1) per Put, whatever the shard size.
	cacheEvictSample = 8
)

// TokenCache remembers tokens that were verified, so that a token presented again skips signature checks
// and decryption. It is safe for concurrent use.
//
// The key is the SHA-256 of the raw token: the token itself is never stored, so a heap dump of the
// gateway does not hand out bearer credentials. An entry lives until the earlier of the Principal's
// ExpiresAt and its insertion time plus MaxTTL; the MaxTTL bound is what makes a consumer removed from the
// manifest stop working even for tokens that never expire.
//
// Memory is bounded: the cache holds at most maxEntries entries, split evenly over up to 64 shards each
// with its own lock. When a shard is full, Put samples a few of its entries (Go map iteration starts at a
// random place), drops the expired ones or, if none has expired, the one that expires first. That is not
// LRU, but it is O(1), needs no per-hit bookkeeping (so a hit stays read-only and allocation-free), and a
// hot token evicted by accident costs only one more verification.
//
// Invalidate is O(1): it bumps a generation number, entries of an older generation read as misses, and
// each shard clears itself lazily on its next Put. A caller that rotates keys should install the new keys
// first and then call Invalidate; a verification already in flight with the old keys can still store its
// result after Invalidate, for at most MaxTTL.
type TokenCache struct {
	shards   []tokenCacheShard
	mask     uint64
	perShard int
	maxTTL   time.Duration
	now      func() time.Time
	gen      atomic.Uint64
}

type tokenCacheShard struct {
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]tokenCacheEntry
	gen uint64 // generation of the entries in m; a shard behind TokenCache.gen is logically empty
	// RLock writes to the mutex, so neighbouring shards on one cache line would bounce it between cores.
	_ [64 - 24 - 8 - 8]byte
}

type tokenCacheEntry struct {
	p       *Principal
	expires int64 // unix nanoseconds
}

// NewTokenCache returns a cache of at most maxEntries verified tokens (default 10000), each kept at most
// maxTTL (default 5m). now is the clock (default time.Now); tests inject a fake one.
func NewTokenCache(maxEntries int, maxTTL time.Duration, now func() time.Time) *TokenCache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	if maxTTL <= 0 {
		maxTTL = DefaultCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	n := 1
	for n < cacheMaxShards && maxEntries/(n*2) >= cacheMinPerShard {
		n *= 2
	}
	c := &TokenCache{
		shards:   make([]tokenCacheShard, n),
		mask:     uint64(n - 1),
		perShard: maxEntries / n, // rounding down keeps the total within maxEntries
		maxTTL:   maxTTL,
		now:      now,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]tokenCacheEntry)
	}
	return c
}

func (c *TokenCache) shard(sum *[sha256.Size]byte) *tokenCacheShard {
	return &c.shards[uint64(sum[0])&c.mask]
}

// Get returns the Principal cached for token. Expired entries, and entries from before the last
// Invalidate, miss. A hit does not allocate.
func (c *TokenCache) Get(token string) (*Principal, bool) {
	if token == "" {
		return nil, false
	}
	sum := sha256String(token)
	gen := c.gen.Load()
	s := c.shard(&sum)
	s.mu.RLock()
	e, ok := s.m[sum]
	sgen := s.gen
	s.mu.RUnlock()
	if !ok || sgen != gen || c.now().UnixNano() >= e.expires {
		return nil, false
	}
	return e.p, true
}

// Put caches p for token until min(p.ExpiresAt, now+maxTTL). A nil p or one already expired is not
// stored. p must not be modified afterwards.
func (c *TokenCache) Put(token string, p *Principal) {
	if token == "" || p == nil {
		return
	}
	now := c.now()
	exp := now.Add(c.maxTTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	if !exp.After(now) {
		return
	}
	sum := sha256String(token)
	gen := c.gen.Load()
	s := c.shard(&sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case gen < s.gen:
		// An Invalidate happened between our Load and Lock, and a later Put already moved the shard on:
		// this entry belongs to the old generation.
		return
	case gen > s.gen:
		clear(s.m)
		s.gen = gen
	}
	if _, ok := s.m[sum]; !ok && len(s.m) >= c.perShard {
		s.evict(now.UnixNano())
	}
	s.m[sum] = tokenCacheEntry{p: p, expires: exp.UnixNano()}
}

// sha256String hashes s without allocating. sha256.Sum256([]byte(s)) copies s to the heap once it is
// longer than 32 bytes (the compiler cannot prove the hash leaves the slice alone), and tokens are hundreds
// of bytes; feeding the digest through a stack buffer costs a few copies of L1-resident memory instead.
func sha256String(s string) [sha256.Size]byte {
	h := sha256.New()
	var buf [256]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// evict drops expired entries among a small random sample, or else the sampled entry that expires first.
// The caller holds s.mu.
func (s *tokenCacheShard) evict(now int64) {
	var victim [sha256.Size]byte
	victimExp := int64(1<<63 - 1)
	n, dropped := 0, false
	for k, e := range s.m {
		if e.expires <= now {
			delete(s.m, k)
			dropped = true
		} else if e.expires < victimExp {
			victim, victimExp = k, e.expires
		}
		if n++; n >= cacheEvictSample {
			break
		}
	}
	if !dropped && n > 0 {
		delete(s.m, victim)
	}
}

// Invalidate drops every entry, in O(1): call it when signing keys or consumers change.
func (c *TokenCache) Invalidate() {
	c.gen.Add(1)
}

// Len returns the number of live entries (current generation, not expired). It walks every shard, so it
// is meant for tests and metrics, not the request path.
func (c *TokenCache) Len() int {
	gen := c.gen.Load()
	now := c.now().UnixNano()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		if s.gen == gen {
			for _, e := range s.m {
				if e.expires > now {
					n++
				}
			}
		}
		s.mu.RUnlock()
	}
	return n
}
