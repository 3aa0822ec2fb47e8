// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"sort"
	"sync"
	"time"
)

// Breakers is the process-wide registry of circuit-breaker states: the routers FD2 builds (static sites,
// manifest inference modules and ai-proxy routes alike) record every state change here, and the detailed
// health report lists it. It is a package variable because breaker history is worth keeping across the
// routers of several config versions (a reload builds new ones).
var Breakers = NewBreakerRegistry()

// BreakerRegistry records the last known circuit-breaker state of each inference deployment, keyed by
// deployment (the fd2_breaker_state provider and model labels). Only deployments whose breaker changed state at
// least once are known; the others are closed. It is safe for concurrent use and costs one short lock
// per state change, which happens only when a deployment starts or stops failing.
//
// A router's open breaker turns half-open by itself once its open period is over (it then admits the
// next request as a probe), without an event. So the registry keeps the end of the open period and
// reports an open breaker past it as half_open: an open breaker left behind by a config reload, whose
// router is gone, stops counting as open after one open period.
type BreakerRegistry struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu sync.Mutex
	m  map[DeploymentKey]breakerEntry
}

type breakerEntry struct {
	state BreakerState
	since time.Time
	until time.Time // end of the open period; zero unless open
}

// BreakerReport is one deployment's breaker in the health report.
type BreakerReport struct {
	// Deployment is the provider deployment's name.
	Deployment string `json:"deployment"`
	// Model is the upstream model the breaker covers ("*": a wildcard route's models beyond the bound).
	Model string `json:"model"`
	// State is closed, open or half_open.
	State string `json:"state"`
	// Since is when the breaker entered State.
	Since time.Time `json:"since"`
	// RetryAt is when an open breaker admits its next probe request.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// NewBreakerRegistry returns an empty registry.
func NewBreakerRegistry() *BreakerRegistry {
	return &BreakerRegistry{m: map[DeploymentKey]breakerEntry{}}
}

func (r *BreakerRegistry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Record notes that deployment's breaker entered state now; openFor is how long an open breaker rejects
// requests before admitting a probe (ignored for other states; 0 means no end is known).
func (r *BreakerRegistry) Record(deployment DeploymentKey, state BreakerState, openFor time.Duration) {
	now := r.now()
	e := breakerEntry{state: state, since: now}
	if state == BreakerOpen && openFor > 0 {
		e.until = now.Add(openFor)
	}
	r.mu.Lock()
	r.m[deployment] = e
	r.mu.Unlock()
}

// Snapshot lists every known deployment, sorted by name, with its effective state.
func (r *BreakerRegistry) Snapshot() []BreakerReport {
	now := r.now()
	r.mu.Lock()
	out := make([]BreakerReport, 0, len(r.m))
	for k, e := range r.m {
		b := BreakerReport{Deployment: k.Provider, Model: k.Model, State: e.state.String(), Since: e.since.UTC()}
		if e.state == BreakerOpen && !e.until.IsZero() {
			if now.Before(e.until) {
				t := e.until.UTC()
				b.RetryAt = &t
			} else {
				b.State, b.Since = BreakerHalfOpen.String(), e.until.UTC()
			}
		}
		out = append(out, b)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Deployment != out[j].Deployment {
			return out[i].Deployment < out[j].Deployment
		}
		return out[i].Model < out[j].Model
	})
	return out
}
