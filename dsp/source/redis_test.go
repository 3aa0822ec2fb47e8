// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"testing"
	"time"
)

func TestRedisTier(t *testing.T) {
	c := newRedis(t)
	ctx := context.Background()
	tier := &RedisTier{Client: c, TTL: time.Minute}
	at := time.Unix(0, 1767225600123456789)

	if _, _, ok, err := tier.Get(ctx, "p1"); ok || err != nil {
		t.Fatalf("Get on an empty cache: ok=%v err=%v", ok, err)
	}
	if err := tier.Set(ctx, "p1", doc("p1", "1"), at); err != nil {
		t.Fatalf("Set: %v", err)
	}
	raw, got, ok, err := tier.Get(ctx, "p1")
	if err != nil || !ok {
		t.Fatalf("Get: ok=%v err=%v", ok, err)
	}
	if string(raw) != string(doc("p1", "1")) || !got.Equal(at) {
		t.Errorf("Get = %q at %v, want the stored bytes at %v", raw, got, at)
	}
	if ttl := c.TTL(ctx, "fd2:manifest:p1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("key TTL = %s, want (0, 1m]", ttl)
	}
	if err := c.Set(ctx, "fd2:manifest:junk", "not an envelope", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := tier.Get(ctx, "junk"); ok || err == nil {
		t.Errorf("Get of a foreign value: ok=%v err=%v, want an error", ok, err)
	}
	if err := tier.Delete(ctx, "p1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, ok, _ := tier.Get(ctx, "p1"); ok {
		t.Error("Get after Delete hit")
	}

	subCtx, cancel := context.WithCancel(ctx)
	msgs := make(chan [2]string, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tier.Subscribe(subCtx, func(inst, id string) { msgs <- [2]string{inst, id} })
	}()
	waitFor(t, "the subscription", func() bool {
		return c.PubSubNumSub(ctx, "fd2:invalidate").Val()["fd2:invalidate"] == 1
	})
	if err := c.Publish(ctx, "fd2:invalidate", "garbage-without-space").Err(); err != nil {
		t.Fatal(err)
	}
	if err := tier.Publish(ctx, "inst-a", "p1"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case m := <-msgs:
		if m != [2]string{"inst-a", "p1"} {
			t.Errorf("message = %v, want [inst-a p1] (malformed messages are skipped)", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no invalidation received")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return after its context ended")
	}
}

func TestRedisTierPrefix(t *testing.T) {
	c := newRedis(t)
	ctx := context.Background()
	tier := &RedisTier{Client: c, Prefix: "tenant1:"}
	if err := tier.Set(ctx, "p1", []byte("{}"), time.Now()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if n := c.Exists(ctx, "tenant1:manifest:p1").Val(); n != 1 {
		t.Errorf("key tenant1:manifest:p1 missing")
	}
	if ttl := c.TTL(ctx, "tenant1:manifest:p1").Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("default TTL = %s, want 5m", ttl)
	}
}
