// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"sync"
	"time"
)

// BreakerState is the state of a deployment's circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets every request through (the healthy state).
	BreakerClosed BreakerState = iota
	// BreakerOpen rejects every request until BreakerOptions.OpenFor has passed.
	BreakerOpen
	// BreakerHalfOpen admits one probe request at a time; its success closes the breaker, its failure
	// opens it again.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	default:
		return "unknown"
	}
}

// BreakerOptions configures the circuit breaker kept for each deployment: a provider and one of its
// upstream models (DeploymentKey), so a model failing on a provider does not block the provider's healthy
// models, and two routes sending the same model to the same provider share one breaker. 5xx answers,
// timeouts and connection errors count as failures; a 429 is a rate signal, not a failure (the deployment
// rests for its Retry-After instead); a 401 or 403 (the provider refused FD2's credential) opens the breaker
// at once; a client's own 4xx error proves the deployment is answering.
type BreakerOptions struct {
	// Disabled turns circuit breaking off: every deployment is always tried.
	Disabled bool
	// ConsecutiveFailures opens the breaker after that many failures in a row. Default 5.
	ConsecutiveFailures int
	// FailureRatio opens the breaker when the share of failures over Window reaches it, once at least
	// MinRequests calls were made in the window. Default 0.5.
	FailureRatio float64
	// MinRequests is the number of calls in Window below which FailureRatio is not applied, so that a
	// single early failure does not open the breaker. Default 10.
	MinRequests int
	// Window is the sliding window over which FailureRatio is computed. Default 30s.
	Window time.Duration
	// OpenFor is how long an open breaker rejects requests before admitting a probe. Default 30s.
	OpenFor time.Duration
}

func (o *BreakerOptions) setDefaults() {
	if o.ConsecutiveFailures <= 0 {
		o.ConsecutiveFailures = 5
	}
	if o.FailureRatio <= 0 {
		o.FailureRatio = 0.5
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 10
	}
	if o.Window <= 0 {
		o.Window = 30 * time.Second
	}
	if o.OpenFor <= 0 {
		o.OpenFor = 30 * time.Second
	}
}

// breakerBuckets is the number of slots of the sliding window; the window slides in steps of
// Window/breakerBuckets, which is precise enough for a ratio and keeps memory constant.
const breakerBuckets = 10

type bucket struct {
	epoch         int64 // index of the Window/breakerBuckets slice of time this slot counts
	total, failed int
}

// breaker is one deployment's circuit breaker. Each breaker has its own mutex, held for a few
// arithmetic operations only, and the router's breaker map is immutable after NewRouter, so
// requests to different deployments never contend.
type breaker struct {
	key      DeploymentKey
	opts     *BreakerOptions
	onChange func(DeploymentKey, BreakerState)

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	buckets     [breakerBuckets]bucket
	openUntil   time.Time
	probing     bool // a half-open probe is in flight
	// restUntil is the end of a provider's Retry-After after a 429: the deployment is not called before,
	// whatever the breaker's state, and it does not count as failing.
	restUntil time.Time
}

// admission is the breaker's answer to allow.
type admission struct {
	ok    bool
	probe bool // the caller holds the half-open probe and must report its outcome
	// resting is set on a refusal because of a 429's Retry-After (not an open breaker); wait is how much
	// of it is left.
	resting bool
	wait    time.Duration
}

// allow reports whether a request may be sent now. In half-open state only one caller gets the probe;
// the others are rejected as if the breaker were open, so a recovering deployment is not flooded.
func (b *breaker) allow(now time.Time) admission {
	b.mu.Lock()
	if now.Before(b.restUntil) {
		wait := b.restUntil.Sub(now)
		b.mu.Unlock()
		return admission{resting: true, wait: wait}
	}
	if b.opts.Disabled {
		b.mu.Unlock()
		return admission{ok: true}
	}
	var changed bool
	defer func() {
		b.mu.Unlock()
		if changed {
			b.notify(BreakerHalfOpen)
		}
	}()
	switch b.state {
	case BreakerClosed:
		return admission{ok: true}
	case BreakerOpen:
		if now.Before(b.openUntil) {
			return admission{}
		}
		b.state = BreakerHalfOpen
		changed = true
		b.probing = true
		return admission{ok: true, probe: true}
	default: // half-open
		if b.probing {
			return admission{}
		}
		b.probing = true
		return admission{ok: true, probe: true}
	}
}

// record reports the outcome of a request admitted by allow.
func (b *breaker) record(a admission, success bool, now time.Time) {
	if b.opts.Disabled {
		return
	}
	b.mu.Lock()
	newState := b.state
	switch {
	case a.probe:
		b.probing = false
		if success {
			newState = BreakerClosed
		} else {
			newState = BreakerOpen
		}
	case b.state != BreakerClosed:
		// A request admitted while closed finished after the breaker changed state: the outcome is
		// stale and must not decide the probe's fate.
	case success:
		b.consecutive = 0
		b.count(now, false)
	default:
		b.consecutive++
		total, failed := b.count(now, true)
		if b.consecutive >= b.opts.ConsecutiveFailures ||
			(total >= b.opts.MinRequests && float64(failed) >= b.opts.FailureRatio*float64(total)) {
			newState = BreakerOpen
		}
	}
	changed := newState != b.state
	if changed {
		b.state = newState
		if newState == BreakerOpen {
			b.openUntil = now.Add(b.opts.OpenFor)
		}
		// A fresh start: the failures that opened the breaker must not reopen it right after it closes.
		b.consecutive = 0
		b.buckets = [breakerBuckets]bucket{}
	}
	b.mu.Unlock()
	if changed {
		b.notify(newState)
	}
}

// rest gives back a request's admission after a 429: the deployment is not called for d (its Retry-After;
// MaxRest at most), and the answer counts neither for nor against its health.
func (b *breaker) rest(a admission, d time.Duration, now time.Time) {
	d = min(d, MaxRest)
	b.mu.Lock()
	if a.probe {
		b.probing = false
	}
	if until := now.Add(d); until.After(b.restUntil) {
		b.restUntil = until
	}
	b.mu.Unlock()
}

// MaxRest bounds how long a provider's Retry-After keeps a deployment out of rotation, so that a bogus
// value (a day) cannot take it out for good.
const MaxRest = 5 * time.Minute

// trip opens the breaker at once: the provider refused FD2's own credential (401, 403), which no retry
// will mend until an operator fixes the key.
func (b *breaker) trip(a admission, now time.Time) {
	if b.opts.Disabled {
		return
	}
	b.mu.Lock()
	if a.probe {
		b.probing = false
	}
	changed := b.state != BreakerOpen
	b.state = BreakerOpen
	b.openUntil = now.Add(b.opts.OpenFor)
	b.consecutive = 0
	b.buckets = [breakerBuckets]bucket{}
	b.mu.Unlock()
	if changed {
		b.notify(BreakerOpen)
	}
}

// release gives back an admission whose outcome says nothing about the deployment's health (the
// endpoint is unsupported, or the client went away).
func (b *breaker) release(a admission) {
	if !a.probe || b.opts.Disabled {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// count adds a call to the sliding window and returns the window's totals. b.mu must be held.
func (b *breaker) count(now time.Time, failed bool) (total, failures int) {
	width := int64(b.opts.Window) / breakerBuckets
	if width <= 0 {
		width = 1
	}
	epoch := now.UnixNano() / width
	slot := &b.buckets[((epoch%breakerBuckets)+breakerBuckets)%breakerBuckets]
	if slot.epoch != epoch {
		*slot = bucket{epoch: epoch}
	}
	slot.total++
	if failed {
		slot.failed++
	}
	for i := range b.buckets {
		if bk := b.buckets[i]; bk.epoch > epoch-breakerBuckets && bk.epoch <= epoch {
			total += bk.total
			failures += bk.failed
		}
	}
	return total, failures
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *breaker) notify(s BreakerState) {
	if b.onChange != nil {
		b.onChange(b.key, s)
	}
}
