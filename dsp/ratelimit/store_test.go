// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type step struct {
	advance time.Duration // before the Take
	n       int64
	want    Decision
}

type semanticsCase struct {
	name  string
	rule  Rule
	steps []step
}

var (
	fw3  = Rule{Policy: "limit-count", Algorithm: FixedWindow, Limit: 3, Window: time.Second}
	gcra = Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 10, Window: time.Second, Burst: 2} // 100 ms per unit, capacity 3
	ws0  = epoch.UnixMilli()
	ws1  = ws0 + 1000
)

var semanticsCases = []semanticsCase{
	{
		name: "fixed window admits up to the limit then rejects until the window ends",
		rule: fw3,
		steps: []step{
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 2, Reset: time.Second, WindowStart: ws0}},
			{advance: 100 * time.Millisecond, n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 1, Reset: 900 * time.Millisecond, WindowStart: ws0}},
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 900 * time.Millisecond, WindowStart: ws0}},
			{advance: 200 * time.Millisecond, n: 1, want: Decision{Allowed: false, Limit: 3, Remaining: 0, Reset: 700 * time.Millisecond, RetryAfter: 700 * time.Millisecond, WindowStart: ws0}},
			{advance: 700 * time.Millisecond, n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 2, Reset: time.Second, WindowStart: ws1}},
		},
	},
	{
		name: "fixed window rejection consumes nothing",
		rule: fw3,
		steps: []step{
			{n: 2, want: Decision{Allowed: true, Limit: 3, Remaining: 1, Reset: time.Second, WindowStart: ws0}},
			{n: 2, want: Decision{Allowed: false, Limit: 3, Remaining: 1, Reset: time.Second, RetryAfter: time.Second, WindowStart: ws0}},
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: time.Second, WindowStart: ws0}},
		},
	},
	{
		name: "fixed window windows are aligned to the epoch, not to the first request",
		rule: fw3,
		steps: []step{
			{advance: 1750 * time.Millisecond, n: 3, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 250 * time.Millisecond, WindowStart: ws1}},
			{advance: 250 * time.Millisecond, n: 3, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: time.Second, WindowStart: ws1 + 1000}},
		},
	},
	{
		name: "fixed window more units than the limit are never admitted",
		rule: fw3,
		steps: []step{
			{n: 4, want: Decision{Allowed: false, Limit: 3, Remaining: 3, Reset: time.Second, RetryAfter: time.Second, WindowStart: ws0}},
			{n: 3, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: time.Second, WindowStart: ws0}},
		},
	},
	{
		name: "gcra fresh bucket admits burst+1 then one per interval",
		rule: gcra,
		steps: []step{
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 2, Reset: 100 * time.Millisecond}},
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 1, Reset: 200 * time.Millisecond}},
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 300 * time.Millisecond}},
			{n: 1, want: Decision{Allowed: false, Limit: 3, Remaining: 0, Reset: 300 * time.Millisecond, RetryAfter: 100 * time.Millisecond}},
			{advance: 40 * time.Millisecond, n: 1, want: Decision{Allowed: false, Limit: 3, Remaining: 0, Reset: 260 * time.Millisecond, RetryAfter: 60 * time.Millisecond}},
			{advance: 60 * time.Millisecond, n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 300 * time.Millisecond}},
		},
	},
	{
		name: "gcra rejected units consume nothing and the bucket refills",
		rule: gcra,
		steps: []step{
			{n: 2, want: Decision{Allowed: true, Limit: 3, Remaining: 1, Reset: 200 * time.Millisecond}},
			{n: 2, want: Decision{Allowed: false, Limit: 3, Remaining: 1, Reset: 200 * time.Millisecond, RetryAfter: 100 * time.Millisecond}},
			{n: 1, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 300 * time.Millisecond}},
			{advance: time.Hour, n: 3, want: Decision{Allowed: true, Limit: 3, Remaining: 0, Reset: 300 * time.Millisecond}},
		},
	},
	{
		name: "gcra without burst is a strict rate",
		rule: Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 5, Window: time.Second},
		steps: []step{
			{n: 1, want: Decision{Allowed: true, Limit: 1, Remaining: 0, Reset: 200 * time.Millisecond}},
			{advance: 199 * time.Millisecond, n: 1, want: Decision{Allowed: false, Limit: 1, Remaining: 0, Reset: time.Millisecond, RetryAfter: time.Millisecond}},
			{advance: time.Millisecond, n: 1, want: Decision{Allowed: true, Limit: 1, Remaining: 0, Reset: 200 * time.Millisecond}},
		},
	},
}

// storeFactories builds each store on a shared fake clock; the same table runs against all of them so that
// memory and Redis are proven to answer identically.
func storeFactories(t *testing.T) map[string]func(clock *fakeClock) Store {
	addr := startRedis(t)
	client, _ := newRedisClient(t, addr)
	return map[string]func(*fakeClock) Store{
		"memory": func(c *fakeClock) Store { return NewMemoryStore(c.Now) },
		"redis":  func(c *fakeClock) Store { return &RedisStore{Client: client, Prefix: "sem:", Now: c.Now} },
	}
}

func TestStoreSemantics(t *testing.T) {
	for storeName, mk := range storeFactories(t) {
		for i, tc := range semanticsCases {
			t.Run(storeName+"/"+tc.name, func(t *testing.T) {
				clock := newFakeClock()
				s := mk(clock)
				key := fmt.Sprintf("case-%d", i)
				for j, st := range tc.steps {
					clock.Advance(st.advance)
					got, err := s.Take(context.Background(), key, tc.rule, st.n)
					if err != nil {
						t.Fatalf("step %d: Take: %v", j, err)
					}
					if got != st.want {
						t.Errorf("step %d: Take(n=%d) = %+v, want %+v", j, st.n, got, st.want)
					}
				}
			})
		}
	}
}

func TestStoreAdjust(t *testing.T) {
	rule := Rule{Policy: "ai-rate-limiting", Limit: 100, Window: time.Minute}
	tests := []struct {
		name      string
		take      int64
		advance   time.Duration // between Take and Adjust
		delta     int64
		wantAfter int64 // Remaining reported by a Take of 1 after the Adjust, plus that 1
	}{
		{name: "refund", take: 60, delta: -50, wantAfter: 90},
		{name: "charge", take: 10, delta: 30, wantAfter: 60},
		{name: "charge beyond the limit blocks the rest of the window", take: 10, delta: 200, wantAfter: 0},
		{name: "refund below zero clamps or stays consistent", take: 10, delta: -10, wantAfter: 100},
		{name: "expired window is left alone", take: 90, advance: time.Minute, delta: 50, wantAfter: 100},
	}
	for storeName, mk := range storeFactories(t) {
		for i, tc := range tests {
			t.Run(storeName+"/"+tc.name, func(t *testing.T) {
				clock := newFakeClock()
				s := mk(clock)
				key := fmt.Sprintf("adjust-%d", i)
				d, err := s.Take(context.Background(), key, rule, tc.take)
				if err != nil || !d.Allowed {
					t.Fatalf("Take = %+v, %v", d, err)
				}
				clock.Advance(tc.advance)
				if err := s.Adjust(context.Background(), key, rule, d.WindowStart, tc.delta); err != nil {
					t.Fatalf("Adjust: %v", err)
				}
				after, err := s.Take(context.Background(), key, rule, 1)
				if err != nil {
					t.Fatalf("Take after Adjust: %v", err)
				}
				got := after.Remaining
				if after.Allowed {
					got++
				}
				if got != tc.wantAfter {
					t.Errorf("available after Adjust = %d, want %d (decision %+v)", got, tc.wantAfter, after)
				}
			})
		}
	}
}

func TestStoreRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		n    int64
		want error
	}{
		{name: "zero units", rule: fw3, n: 0, want: ErrInvalidUnits},
		{name: "zero limit", rule: Rule{Window: time.Second}, n: 1, want: ErrInvalidRule},
		{name: "zero window", rule: Rule{Limit: 1}, n: 1, want: ErrInvalidRule},
		{name: "sub-millisecond fixed window", rule: Rule{Limit: 1, Window: 1500 * time.Microsecond}, n: 1, want: ErrInvalidRule},
		{name: "negative burst", rule: Rule{Algorithm: GCRA, Limit: 1, Window: time.Second, Burst: -1}, n: 1, want: ErrInvalidRule},
		{name: "gcra rate finer than a microsecond", rule: Rule{Algorithm: GCRA, Limit: 2_000_000, Window: time.Second}, n: 1, want: ErrInvalidRule},
		{name: "unknown algorithm", rule: Rule{Algorithm: 9, Limit: 1, Window: time.Second}, n: 1, want: ErrInvalidRule},
	}
	for storeName, mk := range storeFactories(t) {
		for _, tc := range tests {
			t.Run(storeName+"/"+tc.name, func(t *testing.T) {
				_, err := mk(newFakeClock()).Take(context.Background(), "k", tc.rule, tc.n)
				if !errors.Is(err, tc.want) {
					t.Errorf("Take error = %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestMemoryTakeDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
	}{
		{name: "fixed window", rule: Rule{Policy: "limit-count", Limit: 1 << 40, Window: time.Minute}},
		{name: "gcra", rule: Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 1000, Window: time.Second, Burst: 1 << 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMemoryStore(nil)
			ctx := context.Background()
			key := "consumer:alice"
			if _, err := s.Take(ctx, key, tc.rule, 1); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if d, _ := s.Take(ctx, key, tc.rule, 1); !d.Allowed {
					t.Fatal("rejected")
				}
			})
			if allocs != 0 {
				t.Errorf("allocations per warm Take = %v, want 0", allocs)
			}
		})
	}
}

func TestMemoryStoreSweepsIdleKeys(t *testing.T) {
	clock := newFakeClock()
	s := NewMemoryStore(clock.Now)
	ctx := context.Background()
	fw := Rule{Policy: "limit-count", Limit: 5, Window: time.Second}
	bucket := Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 10, Window: time.Second}
	const keys = 20000
	for i := range keys {
		if _, err := s.Take(ctx, fmt.Sprintf("old-%d", i), fw, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Take(ctx, fmt.Sprintf("old-%d", i), bucket, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Len(); got != 2*keys {
		t.Fatalf("Len = %d, want %d", got, 2*keys)
	}
	// Every window ended and every bucket refilled: inserting new keys collects them incrementally.
	clock.Advance(2 * time.Second)
	// Each shard holds ~625 idle keys and sweeps when it reaches 1024, so 2·keys new keys cross the threshold.
	for i := range 2 * keys {
		if _, err := s.Take(ctx, fmt.Sprintf("new-%d", i), fw, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Len(); got >= 3*keys {
		t.Errorf("Len after inserting %d new keys = %d: idle keys were not collected incrementally", 2*keys, got)
	}
	s.Sweep()
	if got := s.Len(); got != 2*keys {
		t.Errorf("Len after Sweep = %d, want %d live keys", got, keys)
	}
	clock.Advance(time.Second)
	s.Sweep()
	if got := s.Len(); got != 0 {
		t.Errorf("Len after everything expired = %d, want 0", got)
	}
}

func TestMemoryStoreConcurrentExact(t *testing.T) {
	s := NewMemoryStore(newFakeClock().Now)
	rule := Rule{Policy: "limit-count", Limit: 500, Window: time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 16 {
		wg.Go(func() {
			for range 100 {
				d, err := s.Take(context.Background(), "hot", rule, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 500 {
		t.Errorf("admitted = %d, want exactly 500", admitted)
	}
}

func TestAlgorithmString(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Algorithm
		want string
	}{
		{"fixed", FixedWindow, "fixed_window"},
		{"gcra", GCRA, "gcra"},
		{"unknown", 7, "algorithm(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.String(); !strings.EqualFold(got, tc.want) {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
