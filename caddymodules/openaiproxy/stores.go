// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/inference/responses"
)

// Response stores (the Responses API's responses FD2 keeps) are scoped: one per static site and one per
// manifest project, so that a response id is no key to another project's conversations. They live in the
// dsp app's Redis when it has one, so every instance answers for every response, else in memory. They are
// kept across config reloads: a reload must not forget the responses clients will ask for.

type storeKey struct {
	redis *redis.Client
	scope string
}

var stores sync.Map // storeKey → responses.Store

// storeFor returns the response store of scope under the config of ctx.
func storeFor(ctx caddy.Context, scope string) responses.Store {
	var rc *redis.Client
	if app, err := ctx.AppIfConfigured("dsp"); err == nil && app != nil {
		rc = app.(*gateway.App).RedisClient()
	}
	k := storeKey{rc, scope}
	if s, ok := stores.Load(k); ok {
		return s.(responses.Store)
	}
	var s responses.Store
	if rc != nil {
		s = responses.NewRedisStore(rc, responses.DefaultRedisPrefix+scope+":", responses.DefaultTTL)
	} else {
		s = responses.NewMemoryStore(0, responses.DefaultTTL)
	}
	actual, _ := stores.LoadOrStore(k, s)
	return actual.(responses.Store)
}
