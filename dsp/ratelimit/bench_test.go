// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchRule never rejects, so the benchmark measures the admitted path on one warm key.
var benchRule = Rule{Policy: "limit-count", Limit: 1 << 62, Window: time.Minute}

func BenchmarkMemoryTake(b *testing.B) {
	s := NewMemoryStore(nil)
	ctx := context.Background()
	if _, err := s.Take(ctx, "consumer:alice", benchRule, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Take(ctx, "consumer:alice", benchRule, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryTakeGCRA(b *testing.B) {
	s := NewMemoryStore(nil)
	ctx := context.Background()
	rule := Rule{Policy: "limit-req", Algorithm: GCRA, Limit: 1_000_000, Window: time.Second, Burst: 1 << 40}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Take(ctx, "consumer:alice", rule, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryTakeParallel spreads goroutines over 256 keys, as a gateway spreads consumers over shards.
func BenchmarkMemoryTakeParallel(b *testing.B) {
	s := NewMemoryStore(nil)
	ctx := context.Background()
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = "consumer:" + strconv.Itoa(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := keys[next.Add(1)%int64(len(keys))]
		for pb.Next() {
			if _, err := s.Take(ctx, key, benchRule, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRedisTake(b *testing.B) {
	addr := startRedis(b)
	client, _ := newRedisClient(b, addr)
	s := &RedisStore{Client: client}
	ctx := context.Background()
	if _, err := s.Take(ctx, "consumer:alice", benchRule, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Take(ctx, "consumer:alice", benchRule, 1); err != nil {
			b.Fatal(err)
		}
	}
}
