// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBreakerStateString(t *testing.T) {
	for s, want := range map[BreakerState]string{BreakerClosed: "closed", BreakerOpen: "open", BreakerHalfOpen: "half_open", 9: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

// TestBreakerRecovery drives a deployment that fails every call, then recovers, through the router.
func TestBreakerRecovery(t *testing.T) {
	clock := newClock()
	var healthy atomic.Bool
	p := &fakeProvider{name: "p", fn: func(context.Context, *Request) (*Response, error) {
		if healthy.Load() {
			return okResponse(), nil
		}
		return nil, &ProviderError{Provider: "p", Status: 500, Retryable: true}
	}}
	var mu sync.Mutex
	var transitions []string
	opts := testOpts(clock, &sleepRecorder{})
	opts.MaxAttempts = 1
	opts.OnBreaker = func(d DeploymentKey, s BreakerState) {
		mu.Lock()
		transitions = append(transitions, d.Provider+":"+s.String())
		mu.Unlock()
	}
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: p}}}}, opts)
	do := func() error { _, _, err := r.Do(context.Background(), "m", chatReq("m")); return err }

	for i := range 5 { // the default ConsecutiveFailures
		if st := r.BreakerStates()["p/m"]; st != BreakerClosed {
			t.Fatalf("after %d failures: %s, want closed", i, st)
		}
		if err := do(); !errors.Is(err, ErrAllFailed) {
			t.Fatalf("err = %v", err)
		}
	}
	if st := r.BreakerStates()["p/m"]; st != BreakerOpen {
		t.Fatalf("after 5 failures: %s, want open", st)
	}
	// Open: fail fast with a 503, without calling the provider.
	err := do()
	var pe *ProviderError
	if !errors.Is(err, ErrAllFailed) || !errors.As(err, &pe) || pe.Status != 503 || p.calls.Load() != 5 {
		t.Fatalf("open breaker: err %v, calls %d", err, p.calls.Load())
	}
	clock.Advance(29 * time.Second)
	if do(); p.calls.Load() != 5 {
		t.Fatal("called before OpenFor elapsed")
	}
	// After OpenFor: a failing probe reopens for another OpenFor.
	clock.Advance(time.Second)
	if err := do(); !errors.As(err, &pe) || pe.Status != 500 || p.calls.Load() != 6 {
		t.Fatalf("probe: err %v, calls %d", err, p.calls.Load())
	}
	if st := r.BreakerStates()["p/m"]; st != BreakerOpen {
		t.Fatalf("after a failed probe: %s, want open", st)
	}
	clock.Advance(30 * time.Second)
	healthy.Store(true)
	if err := do(); err != nil {
		t.Fatalf("successful probe: %v", err)
	}
	if st := r.BreakerStates()["p/m"]; st != BreakerClosed {
		t.Fatalf("after a successful probe: %s, want closed", st)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "[p:open p:half_open p:open p:half_open p:closed]"
	if fmt.Sprint(transitions) != want {
		t.Errorf("transitions = %v, want %s", transitions, want)
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	tests := []struct {
		name     string
		pattern  []bool // true = failure
		step     time.Duration
		wantOpen bool
	}{
		{"50% over 10 calls opens", alternate(10, false), time.Second, true},
		{"56% over 9 calls is below MinRequests", alternate(9, true), time.Second, false},
		{"40% stays closed", repeat([]bool{true, false, false, true, false}, 4), time.Second, false},
		{"old calls leave the window", alternate(10, false), 5 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			opts := BreakerOptions{}
			opts.setDefaults()
			b := &breaker{key: DeploymentKey{"b", "m"}, opts: &opts}
			for _, fail := range tc.pattern {
				adm := b.allow(clock.Now())
				if !adm.ok {
					break
				}
				b.record(adm, !fail, clock.Now())
				clock.Advance(tc.step)
			}
			if got := b.current() == BreakerOpen; got != tc.wantOpen {
				t.Errorf("open = %v, want %v", got, tc.wantOpen)
			}
		})
	}
}

// alternate returns n outcomes alternating failure and success, starting with a failure if failFirst.
func alternate(n int, failFirst bool) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = (i%2 == 0) == failFirst
	}
	return out
}

func repeat(p []bool, n int) []bool {
	var out []bool
	for range n {
		out = append(out, p...)
	}
	return out
}

// TestBreakerSingleProbe checks that a half-open breaker lets exactly one request through at a time,
// with concurrent requests through the router.
func TestBreakerSingleProbe(t *testing.T) {
	clock := newClock()
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	var failing atomic.Bool
	failing.Store(true)
	p := &fakeProvider{name: "p", fn: func(context.Context, *Request) (*Response, error) {
		if failing.Load() {
			return nil, &ProviderError{Status: 503, Retryable: true}
		}
		entered <- struct{}{}
		<-release
		return okResponse(), nil
	}}
	opts := testOpts(clock, &sleepRecorder{})
	opts.MaxAttempts = 1
	opts.Breaker.ConsecutiveFailures = 1
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: p}}}}, opts)
	if _, _, err := r.Do(context.Background(), "m", chatReq("m")); err == nil {
		t.Fatal("want a failure")
	}
	failing.Store(false)
	clock.Advance(30 * time.Second)

	const n = 20
	var wg sync.WaitGroup
	var succeeded, rejected atomic.Int64
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, _, err := r.Do(context.Background(), "m", chatReq("m"))
			var pe *ProviderError
			switch {
			case err == nil:
				succeeded.Add(1)
			case errors.As(err, &pe) && pe.Status == 503:
				rejected.Add(1)
			default:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	close(start)
	<-entered // the probe is in flight
	// Everyone but the probe must be turned away while it is in flight.
	deadline := time.Now().Add(5 * time.Second)
	for rejected.Load() < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := rejected.Load(); got != n-1 {
		t.Fatalf("rejected %d while probing, want %d", got, n-1)
	}
	if st := r.BreakerStates()["p/m"]; st != BreakerHalfOpen {
		t.Errorf("state during probe %s, want half_open", st)
	}
	close(release)
	wg.Wait()
	if succeeded.Load() != 1 || p.calls.Load() != 2 {
		t.Errorf("succeeded %d, calls %d; want 1 and 2", succeeded.Load(), p.calls.Load())
	}
	if st := r.BreakerStates()["p/m"]; st != BreakerClosed {
		t.Errorf("after the probe: %s, want closed", st)
	}
}

func TestBreakerSkipsOpenDeployment(t *testing.T) {
	clock := newClock()
	bad, good := failing("bad", 503), ok("good")
	opts := testOpts(clock, &sleepRecorder{})
	opts.Breaker.ConsecutiveFailures = 1
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: bad}, {Provider: good, Priority: 1}}}}, opts)
	for range 3 {
		_, dep, err := r.Do(context.Background(), "m", chatReq("m"))
		if err != nil || dep.Provider.Name() != "good" {
			t.Fatalf("Do = %v, %v", dep, err)
		}
	}
	if bad.calls.Load() != 1 {
		t.Errorf("open deployment called %d times, want 1", bad.calls.Load())
	}
}

func TestBreakerDisabled(t *testing.T) {
	p := failing("p", 503)
	opts := testOpts(newClock(), &sleepRecorder{})
	opts.MaxAttempts = 1
	opts.Breaker = BreakerOptions{Disabled: true, ConsecutiveFailures: 1}
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: p}}}}, opts)
	for range 5 {
		r.Do(context.Background(), "m", chatReq("m"))
	}
	if p.calls.Load() != 5 {
		t.Errorf("calls = %d, want 5", p.calls.Load())
	}
}
