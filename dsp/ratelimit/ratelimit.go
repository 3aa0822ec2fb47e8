// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Algorithm selects how a [Rule] counts.
type Algorithm uint8

const (
	// FixedWindow admits Limit units per window; windows start at multiples of Window since the Unix epoch
	// (as APISIX limit-count), so all instances agree on window boundaries without talking to each other.
	FixedWindow Algorithm = iota
	// GCRA is a leaky bucket (APISIX limit-req): it drains at Limit per Window and holds Burst extra units.
	// Units above rate+burst are rejected, never delayed.
	GCRA
)

// String returns the algorithm's config name.
func (a Algorithm) String() string {
	switch a {
	case FixedWindow:
		return "fixed_window"
	case GCRA:
		return "gcra"
	default:
		return fmt.Sprintf("algorithm(%d)", uint8(a))
	}
}

// Rule is one limit. Stores key their state by (Policy, key) (and the window start for FixedWindow), so the
// caller's key must identify the rule when two rules of the same Policy apply to one subject (for example
// prefix it with the zone or route name); otherwise their counts are shared.
type Rule struct {
	// Policy names the kind of limit. It is part of the store key and is used as a metrics label, so it must
	// come from a small fixed set ("limit-req", "limit-count", "ai-rate-limiting", "consumer", "static").
	Policy string
	// Algorithm is FixedWindow (the zero value) or GCRA.
	Algorithm Algorithm
	// Limit is the number of units per Window (≥ 1). For GCRA it is the drain rate: limit-req's rate r/s is
	// Limit=r, Window=1s.
	Limit int64
	// Window is the counting period. FixedWindow requires a whole number of milliseconds because window
	// starts are shared through Redis as Unix milliseconds.
	Window time.Duration
	// Burst is the number of units a GCRA bucket accepts above the rate (≥ 0); a fresh bucket admits
	// Burst+1 units at once. Ignored by FixedWindow.
	Burst int64
}

// Validate reports whether the rule can be enforced, wrapping ErrInvalidRule.
func (r Rule) Validate() error {
	switch {
	case r.Limit < 1:
		return fmt.Errorf("%w: limit %d must be at least 1", ErrInvalidRule, r.Limit)
	case r.Window <= 0:
		return fmt.Errorf("%w: window %s must be positive", ErrInvalidRule, r.Window)
	}
	switch r.Algorithm {
	case FixedWindow:
		if r.Window%time.Millisecond != 0 {
			return fmt.Errorf("%w: fixed window %s is not a whole number of milliseconds", ErrInvalidRule, r.Window)
		}
	case GCRA:
		if r.Burst < 0 {
			return fmt.Errorf("%w: burst %d must not be negative", ErrInvalidRule, r.Burst)
		}
		// The TAT is kept in microseconds so that it stays exact in Lua's doubles; a finer interval
		// would round to zero and admit everything.
		if r.Window.Microseconds() < r.Limit {
			return fmt.Errorf("%w: rate %d per %s is finer than one unit per microsecond", ErrInvalidRule, r.Limit, r.Window)
		}
	default:
		return fmt.Errorf("%w: unknown algorithm %d", ErrInvalidRule, r.Algorithm)
	}
	return nil
}

// Decision is the outcome of one Take.
type Decision struct {
	// Allowed is true when the units were consumed.
	Allowed bool
	// Limit is the capacity Remaining counts against: Rule.Limit for FixedWindow, Burst+1 for GCRA (the
	// most units a full bucket admits at once).
	Limit int64
	// Remaining is how many units could be taken right now after this decision.
	Remaining int64
	// Reset is the time until the window ends (FixedWindow) or the bucket is full again (GCRA).
	Reset time.Duration
	// RetryAfter, when !Allowed, is how long until the same n units could be admitted (assuming no other
	// traffic). When n exceeds the capacity it can never be admitted and RetryAfter is only a back-off hint.
	RetryAfter time.Duration
	// WindowStart is the Unix millisecond start of the FixedWindow window consumed, which Adjust needs to
	// reconcile the same window later; 0 for GCRA.
	WindowStart int64
	// Degraded is set when a Failover's local fallback decided because the shared store was unavailable
	// (fail-open): the limit was this instance's share, not the fleet's exact count.
	Degraded bool
}

// Store decides and consumes atomically. Implementations are safe for concurrent use.
type Store interface {
	// Take atomically consumes n ≥ 1 units for key under rule, or none if that would exceed the limit.
	Take(ctx context.Context, key string, rule Rule, n int64) (Decision, error)
	// Adjust adds delta (negative = refund) to the FixedWindow bucket that started at windowStart (token
	// reconciliation). It is a no-op for an expired window and for GCRA rules. Callers on the request path
	// log its error at most: a failed reconciliation must never fail a request that was already served.
	Adjust(ctx context.Context, key string, rule Rule, windowStart int64, delta int64) error
}

// fixedWindowStart returns the aligned window start in Unix ms for a time in Unix µs.
func fixedWindowStart(nowUs, windowMs int64) int64 {
	nowMs := floorDiv(nowUs, 1000)
	return nowMs - floorMod(nowMs, windowMs)
}

// fixedDecision builds the decision once the store knows whether n units were admitted and the count of
// the window after the decision. Memory and Redis share it so that they answer identically.
func fixedDecision(allowed bool, count int64, rule Rule, startMs, nowUs int64) Decision {
	d := Decision{
		Allowed:     allowed,
		Limit:       rule.Limit,
		Remaining:   max(rule.Limit-count, 0),
		Reset:       time.Duration((startMs+rule.Window.Milliseconds())*1000-nowUs) * time.Microsecond,
		WindowStart: startMs,
	}
	if !allowed {
		d.RetryAfter = d.Reset
	}
	return d
}

// gcraParams returns the emission interval and the bucket capacity, both in µs.
func gcraParams(rule Rule) (interval, capacity int64) {
	interval = rule.Window.Microseconds() / rule.Limit
	return interval, interval * (rule.Burst + 1)
}

// gcraDecision builds the decision from the TAT after the decision (the stored one when rejected). A unit is
// admitted when the bucket, after adding n·interval, would not exceed capacity: newTAT − capacity ≤ now.
func gcraDecision(allowed bool, tat int64, rule Rule, n, nowUs, interval, capacity int64) Decision {
	used := max(tat-nowUs, 0)
	d := Decision{
		Allowed:   allowed,
		Limit:     rule.Burst + 1,
		Remaining: max((capacity-used)/interval, 0),
		Reset:     time.Duration(used) * time.Microsecond,
	}
	if !allowed {
		d.RetryAfter = time.Duration(max(tat, nowUs)+n*interval-capacity-nowUs) * time.Microsecond
	}
	return d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
