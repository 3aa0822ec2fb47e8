// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"crypto/sha1" //nolint:gosec // SHA-1 is what Redis names scripts by, not a security boundary.
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix namespaces rate-limit keys when RedisStore.Prefix is empty.
const DefaultRedisPrefix = "fd2:rl:"

// fixedWindowSlack keeps a window's key alive past the window's end as seen by this instance. It is the
// clock skew tolerated between instances: one whose clock lags by less than this still adds to the same
// key; one lagging more would recreate an expired key and admit up to another Limit.
const fixedWindowSlack = 2 * time.Second

// fixedWindowScript consumes ARGV[1] units from the window counter KEYS[1] unless that exceeds ARGV[2],
// in which case it gives them back, so that rejected requests consume nothing and the stored count never
// stays above the limit because of rejections. The TTL is set when the key is created (v == n) and covers
// the rest of the window plus slack (ARGV[3] ms). Returns {allowed, count after}.
const fixedWindowScript = `local n = tonumber(ARGV[1])
local v = redis.call('INCRBY', KEYS[1], n)
if v == n then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if v > tonumber(ARGV[2]) then
  v = redis.call('DECRBY', KEYS[1], n)
  return {0, v}
end
return {1, v}`

// gcraScript runs GCRA on the TAT (Unix µs) in KEYS[1]. ARGV: now µs, emission interval µs, capacity µs
// ((burst+1)·interval), n. µs values (~1.8e15) are exact in Lua's doubles, and numbers passed to
// redis.call are formatted with %.17g, so the stored TAT is an exact integer. The key expires when the
// bucket is full again, since a missing key means exactly that. Returns {allowed, TAT after}.
const gcraScript = `local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local tat = now
local v = redis.call('GET', KEYS[1])
if v then
  tat = tonumber(v)
  if tat < now then tat = now end
end
local new = tat + n * interval
if new - capacity > now then return {0, tat} end
redis.call('SET', KEYS[1], new, 'PX', math.ceil((new - now) / 1000))
return {1, new}`

// adjustScript adds ARGV[1] to KEYS[1] only if the key still exists: recreating an expired window would
// leave a counter without TTL.
const adjustScript = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false`

// script is a Lua script run by SHA: one EVALSHA per call in steady state.
type script struct {
	src, sha string
}

func newScript(src string) script {
	sum := sha1.Sum([]byte(src)) //nolint:gosec // See the import.
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}

var (
	fixedWindowLua = newScript(fixedWindowScript)
	gcraLua        = newScript(gcraScript)
	adjustLua      = newScript(adjustScript)
)

// RedisStore is a [Store] shared by every instance using the same Redis: limits are exact across
// instances because each decision is one atomic script.
//
// Each Take is a single EVALSHA round trip. The scripts are loaded with SCRIPT LOAD the first time this
// store uses Redis, and again (followed by one retry) when Redis answers NOSCRIPT after a restart or
// failover.
//
// FixedWindow window starts are computed from this instance's clock (Now), not Redis's TIME, so that
// decisions are reproducible in tests and need no extra round trip. This assumes the instances' clocks
// are synchronised (NTP) to well within fixedWindowSlack (2 s); a skewed instance only shifts when its
// windows begin, it never exceeds a window's count while the window key lives.
//
// Keys: FixedWindow {Prefix}{Policy}:{key}:{windowStartMs}; GCRA {Prefix}{Policy}:{key}.
type RedisStore struct {
	// Client is the shared connection (single node, sentinel or cluster). Required.
	Client redis.UniversalClient
	// Prefix namespaces keys; "fd2:rl:" when empty.
	Prefix string
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	loaded atomic.Bool
}

func (s *RedisStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *RedisStore) key(policy, key string, windowStart int64, fixed bool) string {
	prefix := s.Prefix
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(policy) + len(key) + 22)
	b.WriteString(prefix)
	b.WriteString(policy)
	b.WriteByte(':')
	b.WriteString(key)
	if fixed {
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(windowStart, 10))
	}
	return b.String()
}

// Take implements [Store]. Transport failures wrap [ErrUnavailable].
func (s *RedisStore) Take(ctx context.Context, key string, rule Rule, n int64) (Decision, error) {
	if n < 1 {
		return Decision{}, ErrInvalidUnits
	}
	if err := rule.Validate(); err != nil {
		return Decision{}, err
	}
	nowUs := s.now().UnixMicro()
	if rule.Algorithm == GCRA {
		interval, capacity := gcraParams(rule)
		res, err := s.eval(ctx, gcraLua, s.key(rule.Policy, key, 0, false), nowUs, interval, capacity, n)
		if err != nil {
			return Decision{}, fmt.Errorf("taking %d from redis gcra bucket: %w", n, err)
		}
		allowed, tat, err := pair(res)
		if err != nil {
			return Decision{}, err
		}
		return gcraDecision(allowed, tat, rule, n, nowUs, interval, capacity), nil
	}
	windowMs := rule.Window.Milliseconds()
	start := fixedWindowStart(nowUs, windowMs)
	ttlMs := (start + windowMs) - floorDiv(nowUs, 1000) + fixedWindowSlack.Milliseconds()
	res, err := s.eval(ctx, fixedWindowLua, s.key(rule.Policy, key, start, true), n, rule.Limit, ttlMs)
	if err != nil {
		return Decision{}, fmt.Errorf("taking %d from redis window: %w", n, err)
	}
	allowed, count, err := pair(res)
	if err != nil {
		return Decision{}, err
	}
	return fixedDecision(allowed, count, rule, start, nowUs), nil
}

// Adjust implements [Store] with one INCRBY guarded by EXISTS, so an expired window is left alone.
func (s *RedisStore) Adjust(ctx context.Context, key string, rule Rule, windowStart, delta int64) error {
	if rule.Algorithm != FixedWindow || delta == 0 {
		return nil
	}
	if _, err := s.eval(ctx, adjustLua, s.key(rule.Policy, key, windowStart, true), delta); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("adjusting redis window by %d: %w", delta, err)
	}
	return nil
}

// eval runs sc by SHA, loading the scripts first if this store has not yet, and once more on NOSCRIPT.
func (s *RedisStore) eval(ctx context.Context, sc script, key string, args ...any) (any, error) {
	if !s.loaded.Load() {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
	}
	keys := []string{key}
	res, err := s.Client.EvalSha(ctx, sc.sha, keys, args...).Result()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted or failed over to a replica without the script cache.
		if err := s.load(ctx); err != nil {
			return nil, err
		}
		res, err = s.Client.EvalSha(ctx, sc.sha, keys, args...).Result()
	}
	return res, classify(err)
}

func (s *RedisStore) load(ctx context.Context) error {
	for _, sc := range []script{fixedWindowLua, gcraLua, adjustLua} {
		if err := s.Client.ScriptLoad(ctx, sc.src).Err(); err != nil {
			return fmt.Errorf("loading rate-limit script: %w", classify(err))
		}
	}
	s.loaded.Store(true)
	return nil
}

// classify wraps outage errors with ErrUnavailable. Replies that mean "this node cannot serve now" count as
// outages; any other Redis reply (a script error) is a bug that must surface, not be failed over.
func classify(err error) error {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY"} {
			if redis.HasErrorPrefix(err, p) {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
		return err
	}
	// Everything else comes from the client side of the wire (dial refused, reset, EOF, timeouts, a closed
	// client or pool): only server replies are trusted to be logic errors.
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// pair decodes a script's {allowed, value} reply.
func pair(res any) (bool, int64, error) {
	vals, ok := res.([]any)
	if !ok || len(vals) != 2 {
		return false, 0, fmt.Errorf("decoding rate-limit script reply %v: unexpected shape", res)
	}
	a, ok1 := vals[0].(int64)
	v, ok2 := vals[1].(int64)
	if !ok1 || !ok2 {
		return false, 0, fmt.Errorf("decoding rate-limit script reply %v: unexpected types", res)
	}
	return a == 1, v, nil
}

var _ Store = (*RedisStore)(nil)
