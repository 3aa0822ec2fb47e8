// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

func newRedis(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing redis url: %w", err)
	}
	return redis.NewClient(opts), nil
}
