// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"net/http"
	"testing"
	"time"
)

func TestSetHeaders(t *testing.T) {
	rule := Rule{Policy: "limit-count", Limit: 100, Window: time.Minute}
	tests := []struct {
		name string
		d    Decision
		rule Rule
		want map[string]string // "" means absent
	}{
		{
			name: "allowed", rule: rule,
			d: Decision{Allowed: true, Limit: 100, Remaining: 42, Reset: 12300 * time.Millisecond},
			want: map[string]string{
				"RateLimit-Policy": "100;w=60", "RateLimit": "limit=100, remaining=42, reset=13",
				"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "13", "Retry-After": "",
			},
		},
		{
			name: "rejected rounds retry-after up", rule: rule,
			d: Decision{Limit: 100, Reset: 1500 * time.Millisecond, RetryAfter: 1500 * time.Millisecond},
			want: map[string]string{
				"RateLimit": "limit=100, remaining=0, reset=2", "X-RateLimit-Remaining": "0", "Retry-After": "2",
			},
		},
		{
			name: "rejected retry-after is at least one second", rule: Rule{Algorithm: GCRA, Limit: 10, Window: 500 * time.Millisecond},
			d:    Decision{Limit: 1, Reset: 50 * time.Millisecond, RetryAfter: 50 * time.Millisecond},
			want: map[string]string{"RateLimit-Policy": "10;w=1", "Retry-After": "1", "X-RateLimit-Reset": "1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, tc.d, tc.rule)
			for k, want := range tc.want {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestSetHeadersAllocs: the headers of an admitted request cost one string and one value slice (the
// header map's own growth aside).
func TestSetHeadersAllocs(t *testing.T) {
	h := http.Header{}
	d := Decision{Allowed: true, Limit: 100, Remaining: 42, Reset: 12300 * time.Millisecond}
	rule := Rule{Policy: "limit-count", Limit: 100, Window: time.Minute}
	SetHeaders(h, d, rule) // the map's buckets exist from here on
	if n := testing.AllocsPerRun(100, func() { SetHeaders(h, d, rule) }); n > 2 {
		t.Fatalf("%v allocations per call, want ≤ 2", n)
	}
}
