// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestReservationSettle(t *testing.T) {
	rule := Rule{Policy: "ai-rate-limiting", Limit: 1000, Window: time.Minute}
	tests := []struct {
		name          string
		reserve       int64
		settle        []int64 // successive Settle calls; only the first counts
		wantAvailable int64
	}{
		{name: "refund an overestimate", reserve: 500, settle: []int64{120}, wantAvailable: 880},
		{name: "charge an underestimate", reserve: 100, settle: []int64{700}, wantAvailable: 300},
		{name: "exact estimate changes nothing", reserve: 100, settle: []int64{100}, wantAvailable: 900},
		{name: "settle is idempotent", reserve: 500, settle: []int64{100, 900, 0}, wantAvailable: 900},
		{name: "negative actual counts as zero", reserve: 300, settle: []int64{-5}, wantAvailable: 1000},
	}
	for storeName, mk := range storeFactories(t) {
		for i, tc := range tests {
			t.Run(storeName+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := mk(newFakeClock())
				key := fmt.Sprintf("reserve-%d", i)
				d, r, err := Reserve(ctx, s, key, rule, tc.reserve)
				if err != nil || !d.Allowed || r == nil {
					t.Fatalf("Reserve = %+v, %v, %v", d, r, err)
				}
				if r.Reserved() != tc.reserve {
					t.Errorf("Reserved() = %d, want %d", r.Reserved(), tc.reserve)
				}
				for _, actual := range tc.settle {
					if err := r.Settle(ctx, actual); err != nil {
						t.Fatalf("Settle(%d): %v", actual, err)
					}
				}
				after, err := s.Take(ctx, key, rule, 1)
				if err != nil || !after.Allowed {
					t.Fatalf("Take after Settle = %+v, %v", after, err)
				}
				if got := after.Remaining + 1; got != tc.wantAvailable {
					t.Errorf("available after Settle = %d, want %d", got, tc.wantAvailable)
				}
			})
		}
	}
}

func TestReserveRejectedHasNoReservation(t *testing.T) {
	s := NewMemoryStore(newFakeClock().Now)
	rule := Rule{Policy: "ai-rate-limiting", Limit: 10, Window: time.Minute}
	d, r, err := Reserve(context.Background(), s, "k", rule, 11)
	if err != nil || d.Allowed || r != nil {
		t.Fatalf("Reserve over the limit = %+v, %v, %v; want a rejection without reservation", d, r, err)
	}
	// A nil reservation settles as a no-op so callers can defer Settle unconditionally.
	if err := r.Settle(context.Background(), 5); err != nil || r.Reserved() != 0 {
		t.Errorf("nil Settle = %v, Reserved = %d", err, r.Reserved())
	}
}
