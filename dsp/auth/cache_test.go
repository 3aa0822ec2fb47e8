// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyTestClock is a settable clock, safe for concurrent use.
type keyTestClock struct{ ns atomic.Int64 }

func newKeyTestClock() *keyTestClock {
	c := &keyTestClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *keyTestClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *keyTestClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// cacheTestToken is shaped like the DSP JWT service's tokens (~600 bytes), so the benchmark hashes a
// realistic length.
var cacheTestToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + strings.Repeat("eyJzdWIiOiJ1c2VyLTEyMyIsImdyb3VwcyI6WyJhIl19", 12) +
	".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

func TestTokenCache(t *testing.T) {
	const maxTTL = 5 * time.Minute
	tests := []struct {
		name    string
		token   string
		p       func(now time.Time) *Principal
		advance time.Duration
		wantHit bool
	}{
		{name: "hit", token: "tok-a", p: func(time.Time) *Principal { return &Principal{Consumer: "a"} }, wantHit: true},
		{name: "no expiry lives until MaxTTL", token: "tok-b", p: func(time.Time) *Principal { return &Principal{Consumer: "b"} },
			advance: maxTTL - time.Second, wantHit: true},
		{name: "no expiry ends at MaxTTL", token: "tok-c", p: func(time.Time) *Principal { return &Principal{Consumer: "c"} },
			advance: maxTTL, wantHit: false},
		{name: "principal expiry before MaxTTL", token: "tok-d",
			p:       func(now time.Time) *Principal { return &Principal{Consumer: "d", ExpiresAt: now.Add(time.Minute)} },
			advance: time.Minute, wantHit: false},
		{name: "principal expiry not reached", token: "tok-e",
			p:       func(now time.Time) *Principal { return &Principal{Consumer: "e", ExpiresAt: now.Add(time.Minute)} },
			advance: time.Minute - time.Nanosecond, wantHit: true},
		{name: "principal expiry after MaxTTL is capped", token: "tok-f",
			p:       func(now time.Time) *Principal { return &Principal{Consumer: "f", ExpiresAt: now.Add(time.Hour)} },
			advance: maxTTL, wantHit: false},
		{name: "already expired is not stored", token: "tok-g",
			p:       func(now time.Time) *Principal { return &Principal{Consumer: "g", ExpiresAt: now.Add(-time.Second)} },
			wantHit: false},
		{name: "nil principal is not stored", token: "tok-h", p: func(time.Time) *Principal { return nil }, wantHit: false},
		{name: "empty token is not stored", token: "", p: func(time.Time) *Principal { return &Principal{} }, wantHit: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newKeyTestClock()
			c := NewTokenCache(0, maxTTL, clk.Now)
			p := tc.p(clk.Now())
			c.Put(tc.token, p)
			clk.Advance(tc.advance)
			got, ok := c.Get(tc.token)
			if ok != tc.wantHit {
				t.Fatalf("Get hit = %v, want %v", ok, tc.wantHit)
			}
			if ok && got != p {
				t.Errorf("Get returned %p, want the stored principal %p", got, p)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.wantHit]; c.Len() != want {
				t.Errorf("Len = %d, want %d", c.Len(), want)
			}
			if _, ok := c.Get(tc.token + "x"); ok {
				t.Error("Get of another token hit")
			}
		})
	}
}

func TestTokenCacheInvalidate(t *testing.T) {
	clk := newKeyTestClock()
	c := NewTokenCache(1000, time.Minute, clk.Now)
	for i := range 200 {
		c.Put(fmt.Sprint("tok-", i), &Principal{Consumer: "x"})
	}
	if c.Len() != 200 {
		t.Fatalf("Len = %d, want 200", c.Len())
	}
	c.Invalidate()
	if n := c.Len(); n != 0 {
		t.Errorf("Len after Invalidate = %d, want 0", n)
	}
	for i := range 200 {
		if _, ok := c.Get(fmt.Sprint("tok-", i)); ok {
			t.Fatalf("token %d hit after Invalidate", i)
		}
	}
	// The cache keeps working after an invalidation, and shards clear lazily on Put.
	c.Put("tok-new", &Principal{Consumer: "new"})
	if p, ok := c.Get("tok-new"); !ok || p.Consumer != "new" {
		t.Errorf("Get after Invalidate+Put = %v, %v", p, ok)
	}
	if n := c.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
		puts       int
		wantMax    int
	}{
		{name: "tiny", maxEntries: 10, puts: 1000, wantMax: 10},
		{name: "medium", maxEntries: 1000, puts: 20000, wantMax: 1000},
		{name: "default", maxEntries: 0, puts: 50000, wantMax: DefaultCacheEntries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newKeyTestClock()
			c := NewTokenCache(tc.maxEntries, time.Hour, clk.Now)
			for i := range tc.puts {
				c.Put(fmt.Sprint("tok-", i), &Principal{})
				clk.Advance(time.Millisecond)
			}
			n := 0
			for i := range c.shards {
				n += len(c.shards[i].m)
			}
			if n > tc.wantMax {
				t.Errorf("cache holds %d entries, want at most %d", n, tc.wantMax)
			}
			if n < tc.wantMax*9/10 {
				t.Errorf("cache holds %d entries, want close to %d (sharding wastes capacity)", n, tc.wantMax)
			}
			// The most recent token survives: eviction only ever removes the sampled victim.
			last := fmt.Sprint("tok-", tc.puts-1)
			if _, ok := c.Get(last); !ok {
				t.Error("the last token put is missing")
			}
		})
	}
}

func TestTokenCacheEvictsExpiredFirst(t *testing.T) {
	clk := newKeyTestClock()
	c := NewTokenCache(8, time.Hour, clk.Now) // one shard of 8
	long := &Principal{ExpiresAt: clk.Now().Add(time.Hour)}
	for i := range 4 {
		c.Put(fmt.Sprint("long-", i), long)
	}
	for i := range 4 {
		c.Put(fmt.Sprint("short-", i), &Principal{ExpiresAt: clk.Now().Add(time.Second)})
	}
	clk.Advance(2 * time.Second)
	c.Put("new", long)
	for i := range 4 {
		if _, ok := c.Get(fmt.Sprint("long-", i)); !ok {
			t.Errorf("long-%d was evicted while expired entries were available", i)
		}
	}
	if len(c.shards[0].m) > 8 {
		t.Errorf("shard holds %d entries, want at most 8", len(c.shards[0].m))
	}
}

func TestTokenCacheStoresOnlyHashes(t *testing.T) {
	c := NewTokenCache(100, time.Minute, nil)
	c.Put(cacheTestToken, &Principal{Consumer: "c"})
	want := sha256.Sum256([]byte(cacheTestToken))
	found := false
	for i := range c.shards {
		for k := range c.shards[i].m {
			found = found || k == want
		}
	}
	if !found {
		t.Error("no entry keyed by sha256(token)")
	}
}

func TestTokenCacheGetAllocs(t *testing.T) {
	c := NewTokenCache(0, time.Minute, nil)
	p := &Principal{Consumer: "c"}
	c.Put(cacheTestToken, p)
	allocs := testing.AllocsPerRun(1000, func() {
		if got, ok := c.Get(cacheTestToken); !ok || got != p {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Errorf("Get hit allocates %.1f times, want 0", allocs)
	}
	missAllocs := testing.AllocsPerRun(1000, func() { c.Get("not cached") })
	if missAllocs != 0 {
		t.Errorf("Get miss allocates %.1f times, want 0", missAllocs)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	c := NewTokenCache(500, time.Minute, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				tok := fmt.Sprint("tok-", (g*7919+i)%1500)
				if p, ok := c.Get(tok); ok && p.Consumer != tok {
					t.Errorf("Get(%s) = principal of %s", tok, p.Consumer)
					return
				}
				c.Put(tok, &Principal{Consumer: tok})
				switch i % 500 {
				case 0:
					c.Invalidate()
				case 250:
					_ = c.Len()
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 500 {
		t.Errorf("Len = %d, want at most 500", n)
	}
}

func BenchmarkTokenCacheHit(b *testing.B) {
	c := NewTokenCache(0, time.Minute, nil)
	for i := range 5000 {
		c.Put(fmt.Sprint(cacheTestToken, i), &Principal{})
	}
	c.Put(cacheTestToken, &Principal{Consumer: "c"})
	b.ReportAllocs()
	b.SetBytes(int64(len(cacheTestToken)))
	for b.Loop() {
		if _, ok := c.Get(cacheTestToken); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkTokenCacheHitParallel(b *testing.B) {
	c := NewTokenCache(0, time.Minute, nil)
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = fmt.Sprint(cacheTestToken, i)
		c.Put(toks[i], &Principal{})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get(toks[i&63]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}
