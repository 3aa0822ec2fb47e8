// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/dsp/background"
)

const (
	// DefaultKeyCacheTTL is how long a RedisStore trusts a record it read. Revocation must take effect on
	// every instance within one second; pub/sub makes it immediate, and this TTL is the bound when a
	// message is lost (a subscription reconnecting, or Start not called). Half a second leaves the other
	// half for the Redis round trip and scheduling; it costs one GET per key and instance every 500 ms.
	DefaultKeyCacheTTL = 500 * time.Millisecond
	// DefaultKeyCacheSize bounds the records a RedisStore keeps in process.
	DefaultKeyCacheSize = 10000
)

// RedisStore keeps API keys in Redis, shared by every gateway instance.
//
// Layout: each record is JSON at {Prefix}apikey:{id}; the set {Prefix}apikeys indexes the ids for List.
// Revocations are published on {Prefix}apikey-revoked with the id as payload. Keys are never given a Redis
// TTL: expired and revoked records stay for audit, and Lookup rejects them.
//
// Lookup keeps the records it read (and the ids it did not find) in a bounded in-process cache for
// CacheTTL, so a warm Lookup makes no Redis round trip. Revoke drops the id from the local cache and
// publishes it; Start subscribes every instance to that channel, which drops the id from its cache as
// well. Together they meet the requirement that a revocation takes effect on every instance within one
// second: immediately while pub/sub is connected, and within CacheTTL (500 ms by default) otherwise. A
// new key becomes usable everywhere within CacheTTL, since an unknown id is cached as a miss.
//
// Only Revoke modifies a stored record (read, set revoked, write); two concurrent Revokes of one key both
// write revoked, so no transaction is needed. All commands are single-key, so a cluster client works.
type RedisStore struct {
	// Client is the Redis client (single node, sentinel or cluster). Required.
	Client redis.UniversalClient
	// Prefix namespaces keys and the channel. Default "fd2:".
	Prefix string
	// Now is the clock for expiry and for the cache TTL. Default time.Now.
	Now func() time.Time
	// CacheTTL is how long a looked-up record is trusted without asking Redis. Default 500ms. A value of a
	// second or more keeps the one-second revocation bound only while the Start subscription is connected.
	CacheTTL time.Duration
	// CacheSize bounds the in-process cache; when it is full an arbitrary entry is dropped. Default 10000.
	CacheSize int

	mu    sync.RWMutex
	cache map[string]apiKeyCached
	// epoch is bumped by every revocation seen. A Lookup that read Redis before a revocation and finishes
	// after it must not put the stale record back into the cache: it compares the epoch it started with.
	epoch atomic.Uint64
}

type apiKeyCached struct {
	e       *apiKeyEntry // nil: no such id
	fetched int64        // unix nanoseconds, by Now
}

func (s *RedisStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *RedisStore) prefix() string {
	if s.Prefix == "" {
		return apiKeyRedisPrefix
	}
	return s.Prefix
}

const apiKeyRedisPrefix = "fd2:"

func (s *RedisStore) recordKey(id string) string { return s.prefix() + "apikey:" + id }
func (s *RedisStore) indexKey() string           { return s.prefix() + "apikeys" }
func (s *RedisStore) channel() string            { return s.prefix() + "apikey-revoked" }

func (s *RedisStore) ttl() time.Duration {
	if s.CacheTTL > 0 {
		return s.CacheTTL
	}
	return DefaultKeyCacheTTL
}

// Lookup implements KeyStore. A Redis failure is returned wrapped, not as ErrKeyInvalid: the caller
// should answer 503 rather than tell a valid user their key is wrong.
func (s *RedisStore) Lookup(ctx context.Context, presented string) (*APIKey, error) {
	id, ok := ParseAPIKey(presented)
	if !ok {
		return nil, ErrKeyInvalid
	}
	now := s.now()
	s.mu.RLock()
	c, hit := s.cache[id]
	s.mu.RUnlock()
	if hit && now.UnixNano()-c.fetched < int64(s.ttl()) {
		return verifyAPIKey(c.e, presented, now)
	}
	epoch := s.epoch.Load()
	e, err := s.fetch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("looking up api key %s: %w", id, err)
	}
	s.remember(id, e, now, epoch)
	return verifyAPIKey(e, presented, now)
}

// fetch reads the record of id; nil, nil when there is none.
func (s *RedisStore) fetch(ctx context.Context, id string) (*apiKeyEntry, error) {
	b, err := s.Client.Get(ctx, s.recordKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeAPIKeyRecord(id, b)
}

func decodeAPIKeyRecord(id string, b []byte) (*apiKeyEntry, error) {
	var rec APIKey
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decoding record: %w", err)
	}
	if rec.ID != id {
		return nil, fmt.Errorf("decoding record: it holds id %q", rec.ID)
	}
	return newAPIKeyEntry(rec)
}

// remember caches e for id unless a revocation was seen since epoch.
func (s *RedisStore) remember(id string, e *apiKeyEntry, now time.Time, epoch uint64) {
	size := s.CacheSize
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch.Load() != epoch {
		return
	}
	if s.cache == nil {
		s.cache = make(map[string]apiKeyCached)
	}
	if _, ok := s.cache[id]; !ok && len(s.cache) >= size {
		for k := range s.cache { // map iteration starts at a random entry
			delete(s.cache, k)
			break
		}
	}
	// Clone: id is a substring of the presented key, and keeping it would keep the secret in memory.
	s.cache[strings.Clone(id)] = apiKeyCached{e: e, fetched: now.UnixNano()}
}

// forget drops id from the cache and stops in-flight lookups from caching what they read.
func (s *RedisStore) forget(id string) {
	s.mu.Lock()
	s.epoch.Add(1)
	delete(s.cache, id)
	s.mu.Unlock()
}

// Create implements KeyStore. A zero CreatedAt is set to Now.
func (s *RedisStore) Create(ctx context.Context, rec APIKey) error {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now().UTC()
	}
	if _, err := validateNewAPIKey(rec); err != nil {
		return fmt.Errorf("creating api key: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("creating api key %s: encoding: %w", rec.ID, err)
	}
	ok, err := s.Client.SetNX(ctx, s.recordKey(rec.ID), b, 0).Result()
	if err != nil {
		return fmt.Errorf("creating api key %s: %w", rec.ID, err)
	}
	if !ok {
		return fmt.Errorf("creating api key %s: %w", rec.ID, ErrKeyExists)
	}
	if err := s.Client.SAdd(ctx, s.indexKey(), rec.ID).Err(); err != nil {
		return fmt.Errorf("creating api key %s: indexing: %w", rec.ID, err)
	}
	// This instance may have cached the id as unknown; the others notice within CacheTTL.
	s.forget(rec.ID)
	return nil
}

// Revoke implements KeyStore. It publishes the revocation even when the key was already revoked, so
// retrying a Revoke whose publish failed reaches the other instances.
func (s *RedisStore) Revoke(ctx context.Context, id string) error {
	key := s.recordKey(id)
	b, err := s.Client.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("revoking api key %s: %w", id, ErrKeyNotFound)
	}
	if err != nil {
		return fmt.Errorf("revoking api key %s: %w", id, err)
	}
	var rec map[string]any
	// The record is edited as a map so that fields written by a newer version survive.
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("revoking api key %s: decoding record: %w", id, err)
	}
	if rec["revoked"] != true {
		rec["revoked"] = true
		nb, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("revoking api key %s: encoding record: %w", id, err)
		}
		if err := s.Client.Set(ctx, key, nb, redis.KeepTTL).Err(); err != nil {
			return fmt.Errorf("revoking api key %s: %w", id, err)
		}
	}
	s.forget(id)
	if err := s.Client.Publish(ctx, s.channel(), id).Err(); err != nil {
		return fmt.Errorf("revoking api key %s: publishing: %w", id, err)
	}
	return nil
}

// List implements KeyStore, sorted by creation time then id. Index entries without a record are skipped.
func (s *RedisStore) List(ctx context.Context) ([]APIKey, error) {
	ids, err := s.Client.SMembers(ctx, s.indexKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	// One GET per id in a pipeline rather than MGET: a cluster client splits a pipeline by slot, while an
	// MGET across slots fails.
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.recordKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	out := make([]APIKey, 0, len(ids))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing api keys: %w", err)
		}
		e, err := decodeAPIKeyRecord(ids[i], b)
		if err != nil {
			return nil, fmt.Errorf("listing api key %s: %w", ids[i], err)
		}
		out = append(out, e.rec)
	}
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Start subscribes to revocations and drops revoked ids from this instance's cache until ctx is done. It
// returns once the subscription is confirmed, so a revocation published after Start returns is seen.
// go-redis reconnects and resubscribes after a connection loss; messages published meanwhile are lost,
// and CacheTTL bounds how long a revoked key can still pass.
func (s *RedisStore) Start(ctx context.Context) error {
	ps := s.Client.Subscribe(ctx, s.channel())
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return fmt.Errorf("subscribing to %s: %w", s.channel(), err)
	}
	ch := ps.Channel()
	background.Go(nil, "apikey_revocations", func() {
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				s.forget(msg.Payload)
			}
		}
	})
	return nil
}

var _ KeyStore = (*RedisStore)(nil)
