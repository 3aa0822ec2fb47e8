// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"sync/atomic"
)

// Reservation is a Take of an estimated number of units (LLM tokens) that is corrected once the real
// number is known. Token limits cannot wait for the response before deciding, so the request is charged
// its estimate up front and the difference is refunded or charged to the same window afterwards.
type Reservation struct {
	store       Store
	key         string
	rule        Rule
	windowStart int64
	reserved    int64
	settled     atomic.Bool
}

// Reserve takes n units and returns the reservation to settle. When the decision is a rejection (or an
// error) nothing was consumed and the reservation is nil; Settle on a nil reservation is a no-op.
func Reserve(ctx context.Context, s Store, key string, rule Rule, n int64) (Decision, *Reservation, error) {
	d, err := s.Take(ctx, key, rule, n)
	if err != nil || !d.Allowed {
		return d, nil, err
	}
	return d, &Reservation{store: s, key: key, rule: rule, windowStart: d.WindowStart, reserved: n}, nil
}

// Reserved returns the number of units taken.
func (r *Reservation) Reserved() int64 {
	if r == nil {
		return 0
	}
	return r.reserved
}

// Settle charges actual−reserved units to the window the reservation was taken from (a refund when
// negative; a negative actual counts as 0). Only the first call has an effect, so deferred and explicit
// settlement can coexist. A window that already ended is left alone. The error is for logging only.
func (r *Reservation) Settle(ctx context.Context, actual int64) error {
	if r == nil || !r.settled.CompareAndSwap(false, true) {
		return nil
	}
	delta := max(actual, 0) - r.reserved
	if delta == 0 {
		return nil
	}
	return r.store.Adjust(ctx, r.key, r.rule, r.windowStart, delta)
}
