// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore keeps each record as one JSON string under prefix+id, with Redis expiring it after the TTL,
// so every FD2 instance behind a load balancer can continue any conversation.
type redisStore struct {
	c      redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// DefaultRedisPrefix is the key prefix NewRedisStore uses when given "".
const DefaultRedisPrefix = "fd2:responses:"

// NewRedisStore returns a Store in Redis: records live under prefix+id ("" : DefaultRedisPrefix) for ttl
// (≤ 0: DefaultTTL), so every instance sharing the Redis sees every stored response. The client is the
// caller's and is not closed by the store.
func NewRedisStore(c redis.UniversalClient, prefix string, ttl time.Duration) Store {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &redisStore{c: c, prefix: prefix, ttl: ttl}
}

func (s *redisStore) Get(ctx context.Context, id string) (*Record, error) {
	b, err := s.c.Get(ctx, s.prefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading response %s from redis: %w", id, err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decoding response %s from redis: %w", id, err)
	}
	return &rec, nil
}

func (s *redisStore) Put(ctx context.Context, id string, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding response %s: %w", id, err)
	}
	if err := s.c.Set(ctx, s.prefix+id, b, s.ttl).Err(); err != nil {
		return fmt.Errorf("writing response %s to redis: %w", id, err)
	}
	return nil
}

func (s *redisStore) Delete(ctx context.Context, id string) error {
	n, err := s.c.Del(ctx, s.prefix+id).Result()
	if err != nil {
		return fmt.Errorf("deleting response %s from redis: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
