// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func rec(owner string) *Record {
	return &Record{Response: json.RawMessage(`{"id":"x"}`), Owner: owner, Created: testNow}
}

func TestMemoryStoreTTL(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: testNow}
	s := newMemoryStore(10, time.Hour, clock.now)
	if err := s.Put(ctx, "a", rec("m")); err != nil {
		t.Fatal(err)
	}
	clock.advance(59 * time.Minute)
	if r, err := s.Get(ctx, "a"); err != nil || r.Owner != "m" {
		t.Fatalf("Get before the TTL: %v, %v", r, err)
	}
	clock.advance(time.Minute)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the TTL: err = %v, want ErrNotFound", err)
	}
	if s.Len() != 0 {
		t.Errorf("an expired record is still held: %d", s.Len())
	}
	_ = s.Put(ctx, "b", rec("m"))
	clock.advance(2 * time.Hour)
	if err := s.Delete(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an expired record: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an absent record: %v, want ErrNotFound", err)
	}
	if NewMemoryStore(0, 0).(*memoryStore).ttl != DefaultTTL || DefaultTTL != 24*time.Hour {
		t.Error("the default TTL is not 24 hours")
	}
}

func TestMemoryStoreEviction(t *testing.T) {
	ctx := context.Background()
	s := newMemoryStore(3, time.Hour, time.Now)
	for _, id := range []string{"a", "b", "c"} {
		_ = s.Put(ctx, id, rec(id))
	}
	if _, err := s.Get(ctx, "a"); err != nil { // a is now the most recently used
		t.Fatal(err)
	}
	_ = s.Put(ctx, "d", rec("d")) // evicts b, the least recently used
	if _, err := s.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b was not evicted: %v", err)
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("%s was evicted: %v", id, err)
		}
	}
	// Replacing a record does not count twice.
	_ = s.Put(ctx, "d", rec("d2"))
	if r, _ := s.Get(ctx, "d"); s.Len() != 3 || r.Owner != "d2" {
		t.Errorf("after replacing d: %d records, owner %q", s.Len(), r.Owner)
	}
	if err := s.Delete(ctx, "d"); err != nil || s.Len() != 2 {
		t.Errorf("Delete: %v, %d left", err, s.Len())
	}
}

func TestMemoryStoreByteBound(t *testing.T) {
	ctx := context.Background()
	s := newMemoryStore(1000, time.Hour, time.Now)
	big := &Record{Response: json.RawMessage(`"` + strings.Repeat("a", MaxRecordBytes-2) + `"`)}
	n := MemoryStoreBytes/MaxRecordBytes + 5
	for i := range n {
		_ = s.Put(ctx, string(rune('A'+i)), big)
	}
	if s.bytes > MemoryStoreBytes || s.Len() >= n {
		t.Errorf("%d records of %d bytes held (%d bytes), bound %d", s.Len(), MaxRecordBytes, s.bytes, MemoryStoreBytes)
	}
	if _, err := s.Get(ctx, "A"); !errors.Is(err, ErrNotFound) {
		t.Error("the oldest record was not evicted")
	}
	if _, err := s.Get(ctx, string(rune('A'+n-1))); err != nil {
		t.Errorf("the newest record was evicted: %v", err)
	}
}

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisStore(t *testing.T) {
	ctx := context.Background()
	c := newRedis(t)
	s := NewRedisStore(c, "", time.Hour)
	want := &Record{Response: json.RawMessage(`{"id":"resp_1","object":"response"}`),
		Conversation: []json.RawMessage{json.RawMessage(`{"type":"message","id":"msg_1","role":"user","content":[]}`), json.RawMessage(`{"b":2}`)},
		Inputs:       1,
		Owner:        "claude", Created: testNow.UTC()}
	if err := s.Put(ctx, "resp_1", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "resp_1")
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("round trip:\n got %s\nwant %s", gb, wb)
	}
	if ttl := c.TTL(ctx, DefaultRedisPrefix+"resp_1").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("key TTL = %v, want the store's hour", ttl)
	}
	if err := s.Delete(ctx, "resp_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an absent record: %v", err)
	}

	// Records expire with their keys.
	short := NewRedisStore(c, "short:", 150*time.Millisecond)
	_ = short.Put(ctx, "r", rec("m"))
	if _, err := short.Get(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := short.Get(ctx, "r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the TTL: %v", err)
	}

	// A store that cannot be reached fails with an error that is not ErrNotFound.
	down := NewRedisStore(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), "", 0)
	if _, err := down.Get(ctx, "x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get from an unreachable Redis: %v", err)
	}
}
