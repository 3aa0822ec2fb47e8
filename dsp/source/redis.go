// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	defaultRedisPrefix = "fd2:"
	defaultRedisTTL    = 5 * time.Minute
	// envelopeMagic starts every cached value: "FD2M" and a format version, then the fetch time as big-endian
	// unix nanoseconds, then the manifest bytes. A binary header avoids re-encoding the manifest as a JSON
	// string (escaping every quote) on each write.
	envelopeMagic = "FD2\x01"
	envelopeHead  = len(envelopeMagic) + 8
)

// RedisTier is the cache tier shared by every gateway instance, and their invalidation bus. Values live at
// {Prefix}manifest:{id}; invalidations are published on {Prefix}invalidate as "<instanceID> <projectID>".
type RedisTier struct {
	// Client is the Redis client (single node, sentinel or cluster). Required.
	Client redis.UniversalClient
	// Prefix namespaces keys and the channel. Default "fd2:".
	Prefix string
	// TTL is the expiry of cached manifests. Default 5m. It only bounds what a fresh instance may read
	// without asking the source; revalidation rewrites the value.
	TTL time.Duration
}

func (t *RedisTier) prefix() string {
	if t.Prefix == "" {
		return defaultRedisPrefix
	}
	return t.Prefix
}

func (t *RedisTier) key(id string) string { return t.prefix() + "manifest:" + id }
func (t *RedisTier) channel() string      { return t.prefix() + "invalidate" }

// Get returns the cached manifest of id and when the source produced it. ok is false on a miss.
func (t *RedisTier) Get(ctx context.Context, id string) (raw []byte, fetchedAt time.Time, ok bool, err error) {
	b, err := t.Client.Get(ctx, t.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("getting cached manifest %q: %w", id, err)
	}
	if len(b) < envelopeHead || string(b[:len(envelopeMagic)]) != envelopeMagic {
		return nil, time.Time{}, false, fmt.Errorf("decoding cached manifest %q: unknown envelope", id)
	}
	ns := int64(binary.BigEndian.Uint64(b[len(envelopeMagic):envelopeHead]))
	return b[envelopeHead:], time.Unix(0, ns), true, nil
}

// Set caches raw for id with the tier's TTL.
func (t *RedisTier) Set(ctx context.Context, id string, raw []byte, fetchedAt time.Time) error {
	b := make([]byte, envelopeHead+len(raw))
	copy(b, envelopeMagic)
	binary.BigEndian.PutUint64(b[len(envelopeMagic):], uint64(fetchedAt.UnixNano()))
	copy(b[envelopeHead:], raw)
	ttl := t.TTL
	if ttl <= 0 {
		ttl = defaultRedisTTL
	}
	if err := t.Client.Set(ctx, t.key(id), b, ttl).Err(); err != nil {
		return fmt.Errorf("caching manifest %q: %w", id, err)
	}
	return nil
}

// Delete removes the cached manifest of id.
func (t *RedisTier) Delete(ctx context.Context, id string) error {
	if err := t.Client.Del(ctx, t.key(id)).Err(); err != nil {
		return fmt.Errorf("deleting cached manifest %q: %w", id, err)
	}
	return nil
}

// Publish tells the other instances that project id changed.
func (t *RedisTier) Publish(ctx context.Context, instanceID, id string) error {
	if err := t.Client.Publish(ctx, t.channel(), instanceID+" "+id).Err(); err != nil {
		return fmt.Errorf("publishing invalidation of %q: %w", id, err)
	}
	return nil
}

// Subscribe calls fn for every invalidation message until ctx is done. go-redis reconnects and resubscribes
// after a connection loss; messages published while disconnected are lost, so the Resolver's TTL still
// bounds how long an instance can serve a replaced version. fn runs on the subscription goroutine and must
// not block for long.
func (t *RedisTier) Subscribe(ctx context.Context, fn func(instanceID, id string)) {
	ps := t.Client.Subscribe(ctx, t.channel())
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			inst, id, found := strings.Cut(msg.Payload, " ")
			if found && id != "" {
				fn(inst, id)
			}
		}
	}
}
