// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package ratelimit decides whether a request (or a number of units, such as LLM tokens) may pass under a
// rate-limit rule, in memory or exactly across gateway instances that share Redis.
//
// Two algorithms cover the APISIX plugins FD2 replaces:
//
//   - [FixedWindow] counts units per aligned window (windows start at multiples of Rule.Window since the Unix
//     epoch), like limit-count and ai-rate-limiting. Alignment makes every instance agree on which window a
//     request belongs to without coordination, so a shared counter is exact.
//   - [GCRA] is the leaky bucket of limit-req (Rate = Limit per Window, Burst extra) expressed as a theoretical
//     arrival time (TAT), so one number per key is the whole state. Requests above rate+burst are rejected,
//     never delayed: a gateway holding connections open to smooth traffic is a resource-exhaustion risk.
//
// Stores:
//
//   - [MemoryStore] is per process, sharded, allocation free on a warm key (< 200 ns per decision).
//   - [RedisStore] is exact across instances: one decision is one EVALSHA round trip of a Lua script that
//     checks and consumes atomically, and a rejected request consumes nothing.
//   - [Failover] wraps a primary (Redis) with a local fallback for outages: fail open at Limit/Instances per
//     instance, or fail closed with [ErrUnavailable].
//
// Token budgets are charged up front with [Reserve] (from an estimate) and reconciled with
// [Reservation.Settle] once the provider reports usage (on the request's usage meter, plan.Exchange.Usage). Tokens are units here: estimating them and reading usage from OpenAI-shaped responses
// is the inference package's (inference.EstimateTokens, inference.UsageSniffer), so this package knows
// no wire format.
//
// The package never imports Caddy: the dsp_ratelimit module in caddymodules/ratelimit is the glue.
package ratelimit
