// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// FailMode chooses what [Failover] does while its primary store is unavailable.
type FailMode uint8

const (
	// FailOpen decides with the local fallback at ceil(Limit/Instances): availability over exactness.
	FailOpen FailMode = iota
	// FailClosed rejects with an error wrapping ErrUnavailable: exactness over availability.
	FailClosed
)

// DefaultProbeInterval is how often a Failover retries a primary it believes is down.
const DefaultProbeInterval = 500 * time.Millisecond

// Failover is a [Store] that uses Primary (Redis) and survives its outages.
//
// Only errors wrapping ErrUnavailable (connection refused, timeouts, deadline exceeded) count as outages;
// any other primary error is returned as is, because failing over on a bug would hide it. After an outage
// is detected, at most one call per ProbeInterval tries the primary again; every other call goes straight
// to the fallback (or fails closed) without touching the network, so a dead Redis is not hammered and
// requests do not each wait for a dial timeout. The first successful probe restores exact limiting.
//
// While failing open, the fallback counts from zero; once the primary is back its own counts (possibly
// lost in a restart) apply again. A Reservation taken on one side and settled on the other is reconciled
// on the side that answers Settle, which at worst misses one window's correction.
type Failover struct {
	// Primary is the exact, shared store. Required.
	Primary Store
	// Fallback decides during an outage in FailOpen mode, normally a MemoryStore. Required for FailOpen.
	Fallback Store
	// Mode is FailOpen (default) or FailClosed.
	Mode FailMode
	// Instances divides Limit (and Burst) in FailOpen so that the fleet as a whole stays near the limit;
	// values below 1 mean 1.
	Instances int
	// OnOutage is called once per transition: true when the primary goes down, false when it is back.
	// Calls are serialised and strictly alternate; keep it quick (log, set a gauge).
	OnOutage func(down bool)
	// ProbeInterval is the minimum time between attempts at a down primary; DefaultProbeInterval when zero.
	ProbeInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	down      atomic.Bool
	nextProbe atomic.Int64 // Unix ns before which a down primary is not tried
	mu        sync.Mutex   // serialises transitions and OnOutage
}

func (f *Failover) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Failover) interval() time.Duration {
	if f.ProbeInterval > 0 {
		return f.ProbeInterval
	}
	return DefaultProbeInterval
}

// usePrimary reports whether this call should try the primary: always when it is up, and for exactly one
// caller per probe interval when it is down.
func (f *Failover) usePrimary() bool {
	if !f.down.Load() {
		return true
	}
	now := f.now().UnixNano()
	next := f.nextProbe.Load()
	return now >= next && f.nextProbe.CompareAndSwap(next, now+int64(f.interval()))
}

func (f *Failover) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if down {
		// Whoever saw the failure pushes the next probe out, including concurrent in-flight failures.
		f.nextProbe.Store(f.now().Add(f.interval()).UnixNano())
	}
	if f.down.Load() == down {
		return
	}
	f.down.Store(down)
	if f.OnOutage != nil {
		f.OnOutage(down)
	}
}

// Down reports whether the primary is currently considered unavailable.
func (f *Failover) Down() bool { return f.down.Load() }

// Take implements [Store].
func (f *Failover) Take(ctx context.Context, key string, rule Rule, n int64) (Decision, error) {
	if f.usePrimary() {
		d, err := f.Primary.Take(ctx, key, rule, n)
		if err == nil {
			if f.down.Load() {
				f.setDown(false)
			}
			return d, nil
		}
		if !errors.Is(err, ErrUnavailable) {
			return Decision{}, err
		}
		f.setDown(true)
		return f.degraded(ctx, key, rule, n, err)
	}
	return f.degraded(ctx, key, rule, n, nil)
}

func (f *Failover) degraded(ctx context.Context, key string, rule Rule, n int64, cause error) (Decision, error) {
	if f.Mode == FailClosed || f.Fallback == nil {
		if cause != nil {
			return Decision{}, cause
		}
		return Decision{}, fmt.Errorf("%w: primary down, retrying at most every %s", ErrUnavailable, f.interval())
	}
	d, err := f.Fallback.Take(ctx, key, f.scale(rule), n)
	d.Degraded = true
	return d, err
}

// scale divides the rule for one instance's share, rounding up so that no instance is left at zero.
func (f *Failover) scale(rule Rule) Rule {
	k := int64(max(f.Instances, 1))
	rule.Limit = (rule.Limit + k - 1) / k
	rule.Burst = (rule.Burst + k - 1) / k
	return rule
}

// Adjust implements [Store], reconciling on whichever side currently decides.
func (f *Failover) Adjust(ctx context.Context, key string, rule Rule, windowStart, delta int64) error {
	if !f.down.Load() {
		err := f.Primary.Adjust(ctx, key, rule, windowStart, delta)
		if errors.Is(err, ErrUnavailable) {
			f.setDown(true)
		}
		return err
	}
	if f.Mode == FailOpen && f.Fallback != nil {
		return f.Fallback.Adjust(ctx, key, f.scale(rule), windowStart, delta)
	}
	return nil
}

var _ Store = (*Failover)(nil)
