// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRedisAccuracyAcrossInstances hammers one key from three stores with separate clients (three gateway
// instances) for about three real one-second windows and checks every window admitted exactly its limit.
func TestRedisAccuracyAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for ~3 s of wall time")
	}
	addr := startRedis(t)
	const (
		limit      = 50
		instances  = 3
		goroutines = 64
	)
	tests := []struct {
		name string
		maxN int64 // units per Take drawn from [1, maxN]
	}{
		{name: "requests", maxN: 1},
		{name: "tokens", maxN: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule := Rule{Policy: "limit-count", Limit: limit, Window: time.Second}
			stores := make([]*RedisStore, instances)
			for i := range stores {
				c, _ := newRedisClient(t, addr)
				stores[i] = &RedisStore{Client: c}
			}
			key := "accuracy-" + tc.name
			var mu sync.Mutex
			admitted := map[int64]int64{} // window start → units admitted
			var takes, errs int
			var firstErr error
			// Start right after a window boundary so that windows 2..4 are entirely inside the run.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			deadline := time.Now().Add(3*time.Second + 500*time.Millisecond)
			var wg sync.WaitGroup
			for i := range instances * goroutines {
				s := stores[i%instances]
				wg.Go(func() {
					local := map[int64]int64{}
					n, e := 0, 0
					var first error
					for time.Now().Before(deadline) {
						units := 1 + rand.Int64N(tc.maxN)
						d, err := s.Take(context.Background(), key, rule, units)
						n++
						if err != nil {
							// A client-side timeout under this load (192 clients, race detector, 2 cores) is
							// an outage the store reports as such, not an accuracy error: counted, bounded below.
							var ne net.Error
							if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ne) || !ne.Timeout() {
								t.Errorf("Take: %v", err)
							}
							if first == nil {
								first = err
							}
							e++
							continue
						}
						if d.Allowed {
							local[d.WindowStart] += units
						}
					}
					mu.Lock()
					defer mu.Unlock()
					for w, u := range local {
						admitted[w] += u
					}
					takes += n
					errs += e
					if firstErr == nil {
						firstErr = first
					}
				})
			}
			wg.Wait()
			if errs > 0 {
				t.Logf("%d of %d Takes timed out (first: %v)", errs, takes, firstErr)
			}
			if errs*1000 > takes { // more than 0.1%: the store, not the machine, is failing
				t.Fatalf("%d of %d Takes failed (first: %v)", errs, takes, firstErr)
			}
			windows := slices.Sorted(func(yield func(int64) bool) {
				for w := range admitted {
					if !yield(w) {
						return
					}
				}
			})
			if len(windows) < 3 {
				t.Fatalf("only %d windows seen: %v", len(windows), admitted)
			}
			// The first window may be partial when the goroutines start late in it; the last one is cut
			// by the deadline. Every window is checked against the upper bound.
			for i, w := range windows {
				got := admitted[w]
				if got > limit {
					t.Errorf("window %d admitted %d units, limit %d", w, got, limit)
				}
				full := i > 0 && i < len(windows)-1
				if full && got < limit-tc.maxN+1 {
					t.Errorf("window %d admitted %d units, want at least %d", w, got, limit-tc.maxN+1)
				}
				t.Logf("window %d: %d units admitted", w, got)
			}
			t.Logf("%d Takes from %d goroutines over %d instances", takes, instances*goroutines, instances)
		})
	}
}

// TestRedisOneRoundTripPerTake proves the steady state is one EVALSHA per decision, allowed or not.
func TestRedisOneRoundTripPerTake(t *testing.T) {
	addr := startRedis(t)
	tests := []struct {
		name string
		rule Rule
	}{
		{name: "fixed window", rule: Rule{Policy: "limit-count", Limit: 5, Window: time.Minute}},
		{name: "gcra", rule: Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 5, Window: time.Minute, Burst: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, hook := newRedisClient(t, addr)
			s := &RedisStore{Client: client, Now: newFakeClock().Now}
			ctx := context.Background()
			if _, err := s.Take(ctx, "warm", tc.rule, 1); err != nil {
				t.Fatal(err)
			}
			const takes = 20 // crosses from admitted to rejected
			before := hook.count()
			for range takes {
				if _, err := s.Take(ctx, "rt", tc.rule, 1); err != nil {
					t.Fatal(err)
				}
			}
			cmds := hook.since(before)
			if len(cmds) != takes {
				t.Fatalf("%d commands for %d Takes: %v", len(cmds), takes, cmds)
			}
			for _, c := range cmds {
				if c != "evalsha" {
					t.Fatalf("command %q, want only evalsha: %v", c, cmds)
				}
			}
		})
	}
}

func TestRedisReloadsScriptsAfterFlush(t *testing.T) {
	addr := startRedis(t)
	client, hook := newRedisClient(t, addr)
	s := &RedisStore{Client: client, Now: newFakeClock().Now}
	ctx := context.Background()
	rule := Rule{Policy: "limit-count", Limit: 5, Window: time.Minute}
	if _, err := s.Take(ctx, "k", rule, 1); err != nil {
		t.Fatal(err)
	}
	// A restarted or failed-over Redis has an empty script cache.
	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := hook.count()
	d, err := s.Take(ctx, "k", rule, 1)
	if err != nil {
		t.Fatalf("Take after SCRIPT FLUSH: %v", err)
	}
	if !d.Allowed || d.Remaining != 3 {
		t.Errorf("Take after SCRIPT FLUSH = %+v, want allowed with 3 remaining", d)
	}
	got := hook.since(before)
	want := []string{"evalsha", "script", "script", "script", "evalsha"}
	if !slices.Equal(got, want) {
		t.Errorf("commands = %v, want %v (NOSCRIPT, load, retry once)", got, want)
	}
}

func TestRedisKeysAndTTL(t *testing.T) {
	addr := startRedis(t)
	client, _ := newRedisClient(t, addr)
	clock := newFakeClock()
	ctx := context.Background()
	tests := []struct {
		name    string
		prefix  string
		rule    Rule
		n       int64
		key     string
		value   string
		ttlLow  time.Duration
		ttlHigh time.Duration
	}{
		{
			name: "fixed window key carries the window start and lives window plus slack",
			rule: Rule{Policy: "limit-count", Limit: 10, Window: time.Minute}, n: 3,
			key: fmt.Sprintf("fd2:rl:limit-count:alice:%d", epoch.UnixMilli()), value: "3",
			ttlLow: time.Minute, ttlHigh: time.Minute + fixedWindowSlack,
		},
		{
			name: "gcra key holds the TAT in microseconds and expires when the bucket is full", prefix: "x:",
			rule: Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 10, Window: time.Second, Burst: 5}, n: 2,
			key: "x:limit-req:alice", value: fmt.Sprint(epoch.UnixMicro() + 200_000),
			ttlLow: 150 * time.Millisecond, ttlHigh: 200 * time.Millisecond,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &RedisStore{Client: client, Prefix: tc.prefix, Now: clock.Now}
			if _, err := s.Take(ctx, "alice", tc.rule, tc.n); err != nil {
				t.Fatal(err)
			}
			v, err := client.Get(ctx, tc.key).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", tc.key, err)
			}
			if v != tc.value {
				t.Errorf("value = %q, want %q", v, tc.value)
			}
			ttl, err := client.PTTL(ctx, tc.key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl < tc.ttlLow || ttl > tc.ttlHigh {
				t.Errorf("PTTL = %s, want in [%s, %s]", ttl, tc.ttlLow, tc.ttlHigh)
			}
		})
	}
}

func TestRedisErrorClassification(t *testing.T) {
	addr := startRedis(t)
	client, _ := newRedisClient(t, addr)
	ctx := context.Background()
	rule := Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 10, Window: time.Second}
	if err := client.HSet(ctx, "fd2:rl:limit-req:wrongtype", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	_ = l.Close()
	dead, _ := newRedisClient(t, deadAddr)
	tests := []struct {
		name            string
		store           *RedisStore
		key             string
		wantUnavailable bool
	}{
		{name: "connection refused is an outage", store: &RedisStore{Client: dead}, key: "k", wantUnavailable: true},
		{name: "a script error is not an outage", store: &RedisStore{Client: client}, key: "wrongtype", wantUnavailable: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.store.Take(ctx, tc.key, rule, 1)
			if err == nil {
				t.Fatal("Take succeeded, want an error")
			}
			if got := errors.Is(err, ErrUnavailable); got != tc.wantUnavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.wantUnavailable)
			}
		})
	}
}
