// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeProvider answers with fn and counts its calls.
type fakeProvider struct {
	name  string
	calls atomic.Int64
	fn    func(ctx context.Context, req *Request) (*Response, error)
}

func (p *fakeProvider) Name() string { return p.name }
func (p *fakeProvider) Kind() string { return "fake" }
func (p *fakeProvider) Do(ctx context.Context, req *Request) (*Response, error) {
	p.calls.Add(1)
	if p.fn == nil {
		return okResponse(), nil
	}
	return p.fn(ctx, req)
}

func okResponse() *Response {
	return &Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}"))}
}

func ok(name string) *fakeProvider { return &fakeProvider{name: name} }

func failing(name string, status int) *fakeProvider {
	return &fakeProvider{name: name, fn: func(context.Context, *Request) (*Response, error) {
		return nil, &ProviderError{Provider: name, Status: status, Message: fmt.Sprintf("%s says %d", name, status),
			Retryable: RetryableStatus(status)}
	}}
}

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleepRecorder records requested waits without waiting.
type sleepRecorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.sleeps = append(s.sleeps, d)
	s.mu.Unlock()
	return ctx.Err()
}

func testOpts(c *fakeClock, s *sleepRecorder) RouterOptions {
	return RouterOptions{Now: c.Now, Sleep: s.Sleep}
}

func chatReq(model string) *Request {
	return &Request{Endpoint: EndpointChat, Method: http.MethodPost, Model: model,
		Body: []byte(`{"model":"` + model + `","messages":[],"x_vendor":{"a":1}}`)}
}

func mustRouter(t *testing.T, routes []Route, opts RouterOptions) *Router {
	t.Helper()
	r, err := NewRouter(routes, opts)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return r
}

func TestRouterResolve(t *testing.T) {
	r := mustRouter(t, []Route{
		{Alias: "gpt-4o", Targets: []Deployment{{Provider: ok("exact")}}},
		{Alias: "gpt-4o*", Targets: []Deployment{{Provider: ok("gpt4o-wild")}}},
		{Alias: "gpt-*", Targets: []Deployment{{Provider: ok("gpt-wild")}}},
		{Alias: "*", Targets: []Deployment{{Provider: ok("catch-all")}}},
		{Alias: "claude", Targets: []Deployment{{Provider: ok("claude")}}},
	}, testOpts(newClock(), &sleepRecorder{}))
	tests := []struct {
		name, model, want string
	}{
		{"exact wins over wildcards", "gpt-4o", "exact"},
		{"longer wildcard wins", "gpt-4o-mini", "gpt4o-wild"},
		{"shorter wildcard", "gpt-3.5-turbo", "gpt-wild"},
		{"catch-all", "llama3", "catch-all"},
		{"other exact", "claude", "claude"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !r.Known(tc.model) {
				t.Fatalf("Known(%q) = false", tc.model)
			}
			_, dep, err := r.Do(context.Background(), tc.model, chatReq(tc.model))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if got := dep.Provider.Name(); got != tc.want {
				t.Errorf("routed to %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := fmt.Sprint(r.ListModels(context.Background())), "[claude gpt-4o]"; got != want {
		t.Errorf("Models() = %s, want %s", got, want)
	}
}

func TestRouterUnknownModel(t *testing.T) {
	r := mustRouter(t, []Route{{Alias: "a*", Targets: []Deployment{{Provider: ok("a")}}}}, RouterOptions{})
	if r.Known("b") {
		t.Error("Known(b) = true")
	}
	_, _, err := r.Do(context.Background(), "b", chatReq("b"))
	if !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("err = %v, want ErrUnknownModel", err)
	}
}

func TestNewRouterValidation(t *testing.T) {
	p := ok("p")
	tests := []struct {
		name    string
		routes  []Route
		wantErr string
	}{
		{"valid", []Route{{Alias: "a", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"b"}},
			{Alias: "b", Targets: []Deployment{{Provider: p}}}}, ""},
		{"duplicate alias", []Route{{Alias: "a", Targets: []Deployment{{Provider: p}}},
			{Alias: "a", Targets: []Deployment{{Provider: p}}}}, "duplicate"},
		{"no targets", []Route{{Alias: "a"}}, "no targets"},
		{"nil provider", []Route{{Alias: "a", Targets: []Deployment{{}}}}, "nil provider"},
		{"negative weight", []Route{{Alias: "a", Targets: []Deployment{{Provider: p, Weight: -1}}}}, "negative weight"},
		{"star in the middle", []Route{{Alias: "a*b", Targets: []Deployment{{Provider: p}}}}, "only allowed at the end"},
		{"unknown fallback", []Route{{Alias: "a", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"zz"}}}, "unknown model"},
		{"self cycle", []Route{{Alias: "a", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"a"}}}, "cycle"},
		{"longer cycle", []Route{
			{Alias: "a", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"b"}},
			{Alias: "b", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"c"}},
			{Alias: "c", Targets: []Deployment{{Provider: p}}, Fallbacks: []string{"a"}},
		}, "cycle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRouter(tc.routes, RouterOptions{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRouter: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRouterWeights(t *testing.T) {
	heavy, light := ok("heavy"), ok("light")
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{
		{Provider: heavy, Weight: 3}, {Provider: light, Weight: 1},
	}}}, testOpts(newClock(), &sleepRecorder{}))
	const n = 4000
	for range n {
		if _, _, err := r.Do(context.Background(), "m", chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	share := float64(heavy.calls.Load()) / n
	// Expected 0.75; the standard deviation over 4000 draws is ≈0.007, so ±0.05 never flakes.
	if share < 0.70 || share > 0.80 {
		t.Errorf("heavy share = %.3f, want ≈0.75", share)
	}
	if heavy.calls.Load()+light.calls.Load() != n {
		t.Errorf("calls = %d + %d, want %d", heavy.calls.Load(), light.calls.Load(), n)
	}
}

func TestRouterPriority(t *testing.T) {
	var mu sync.Mutex
	var order []string
	rec := func(name string, status int) *fakeProvider {
		return &fakeProvider{name: name, fn: func(context.Context, *Request) (*Response, error) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			if status != 200 {
				return nil, &ProviderError{Provider: name, Status: status, Retryable: true}
			}
			return okResponse(), nil
		}}
	}
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{
		{Provider: rec("backup", 200), Priority: 2, Weight: 100},
		{Provider: rec("primary", 503), Priority: 0},
		{Provider: rec("secondary", 503), Priority: 1, Weight: 100},
	}}}, RouterOptions{Now: newClock().Now, Sleep: (&sleepRecorder{}).Sleep, Breaker: BreakerOptions{Disabled: true}})
	for i := range 20 {
		order = nil
		_, dep, err := r.Do(context.Background(), "m", chatReq("m"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(order, ","), "primary,secondary,backup"; got != want {
			t.Fatalf("run %d: order %s, want %s", i, got, want)
		}
		if dep.Provider.Name() != "backup" {
			t.Fatalf("served by %s", dep.Provider.Name())
		}
	}
}

func TestRouterFallback(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantFallback bool
		wantStatus   int
	}{
		{"429", &ProviderError{Status: 429, Retryable: true}, true, 0},
		{"500", &ProviderError{Status: 500, Retryable: true}, true, 0},
		{"503", &ProviderError{Status: 503, Retryable: true}, true, 0},
		{"timeout", &ProviderError{Status: 504, Retryable: true, Cause: context.DeadlineExceeded}, true, 0},
		{"connection error", &ProviderError{Status: 502, Retryable: true, Cause: errors.New("connection refused")}, true, 0},
		{"bare error", errors.New("boom"), true, 0},
		{"400", &ProviderError{Status: 400, Message: "bad"}, false, 400},
		// The provider refused FD2's key: another deployment's key may work.
		{"401", &ProviderError{Status: 401, Message: "key"}, true, 0},
		{"403", &ProviderError{Status: 403, Message: "key"}, true, 0},
		{"404", &ProviderError{Status: 404, Message: "nope"}, false, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := &fakeProvider{name: "primary", fn: func(context.Context, *Request) (*Response, error) { return nil, tc.err }}
			backup := ok("backup")
			var attempts []Attempt
			opts := testOpts(newClock(), &sleepRecorder{})
			opts.OnAttempt = func(a Attempt) { attempts = append(attempts, a) }
			r := mustRouter(t, []Route{
				{Alias: "m", Targets: []Deployment{{Provider: primary}}, Fallbacks: []string{"fb"}},
				{Alias: "fb", Targets: []Deployment{{Provider: backup, Model: "backup-model"}}},
			}, opts)
			resp, dep, err := r.Do(context.Background(), "m", chatReq("m"))
			if tc.wantFallback {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				resp.Body.Close()
				if dep.Provider.Name() != "backup" || backup.calls.Load() != 1 {
					t.Fatalf("served by %s, backup calls %d", dep.Provider.Name(), backup.calls.Load())
				}
				if len(attempts) != 2 || attempts[0].Fallback || !attempts[1].Fallback || attempts[1].Model != "backup-model" {
					t.Fatalf("attempts = %+v", attempts)
				}
				return
			}
			var pe *ProviderError
			if !errors.As(err, &pe) || pe.Status != tc.wantStatus {
				t.Fatalf("err = %v, want *ProviderError %d", err, tc.wantStatus)
			}
			if errors.Is(err, ErrAllFailed) {
				t.Error("a client error must not be reported as ErrAllFailed")
			}
			if backup.calls.Load() != 0 {
				t.Errorf("fallback called %d times for a client error", backup.calls.Load())
			}
		})
	}
}

func TestRouterRetryAfter(t *testing.T) {
	// A 429 moves on at once (the next deployment is not bound by this one's rate limit) and rests the
	// deployment for its Retry-After, without counting against its breaker.
	clock := newClock()
	var calls atomic.Int64
	limited := &fakeProvider{name: "limited", fn: func(context.Context, *Request) (*Response, error) {
		calls.Add(1)
		return nil, &ProviderError{Provider: "limited", Status: 429, Retryable: true, RetryAfter: 1500 * time.Millisecond}
	}}
	s := &sleepRecorder{}
	opts := testOpts(clock, s)
	opts.Breaker.ConsecutiveFailures = 1
	var skips []string
	opts.OnSkip = func(d DeploymentKey, reason string) { skips = append(skips, d.String()+":"+reason) }
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{
		{Provider: limited, Priority: 0}, {Provider: ok("other"), Priority: 1},
	}}}, opts)
	for range 2 {
		if _, _, err := r.Do(context.Background(), "m", chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.sleeps) != 0 || calls.Load() != 1 {
		t.Fatalf("sleeps = %v, calls to the limited deployment = %d; want none and 1", s.sleeps, calls.Load())
	}
	if fmt.Sprint(skips) != "[limited/m:rate_limited]" {
		t.Errorf("skips = %v", skips)
	}
	if st := r.BreakerStates()["limited/m"]; st != BreakerClosed {
		t.Errorf("a 429 opened the breaker: %s", st)
	}
	clock.Advance(1600 * time.Millisecond)
	if _, _, err := r.Do(context.Background(), "m", chatReq("m")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("the deployment was not called again after its Retry-After: %d calls", calls.Load())
	}
}

func TestRouterRateLimitedEverywhere(t *testing.T) {
	clock := newClock()
	limited := func(name string, after time.Duration) *fakeProvider {
		return &fakeProvider{name: name, fn: func(context.Context, *Request) (*Response, error) {
			return nil, &ProviderError{Provider: name, Status: 429, Retryable: true, RetryAfter: after}
		}}
	}
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{
		{Provider: limited("a", 7*time.Second)}, {Provider: limited("b", 3*time.Second), Priority: 1},
	}}}, testOpts(clock, &sleepRecorder{}))
	_, _, err := r.Do(context.Background(), "m", chatReq("m"))
	var pe *ProviderError
	if !errors.Is(err, ErrAllFailed) || !errors.As(err, &pe) || pe.Status != 429 || pe.RetryAfter != 3*time.Second {
		t.Fatalf("err = %v (%+v); want a 429 with the soonest Retry-After, 3s", err, pe)
	}
	// Both rest now: the next request calls nobody and is told when the first is back.
	clock.Advance(time.Second)
	_, _, err = r.Do(context.Background(), "m", chatReq("m"))
	if !errors.As(err, &pe) || pe.Status != 429 || pe.RetryAfter != 2*time.Second || !errors.Is(err, ErrResting) {
		t.Fatalf("err = %v (%+v); want a 429 resting for 2s more", err, pe)
	}
}

func TestRouterBreakerPerDeployment(t *testing.T) {
	// Five failures of one model open that model's breaker only: the provider's other models keep serving.
	clock := newClock()
	p := &fakeProvider{name: "p", fn: func(_ context.Context, req *Request) (*Response, error) {
		if req.Model == "broken" {
			return nil, &ProviderError{Provider: "p", Status: 500, Retryable: true}
		}
		return okResponse(), nil
	}}
	opts := testOpts(clock, &sleepRecorder{})
	opts.MaxAttempts = 1
	r := mustRouter(t, []Route{
		{Alias: "bad", Targets: []Deployment{{Provider: p, Model: "broken"}}},
		{Alias: "good", Targets: []Deployment{{Provider: p, Model: "fine"}}},
		{Alias: "*", Targets: []Deployment{{Provider: p}}},
	}, opts)
	for range 5 {
		_, _, _ = r.Do(context.Background(), "bad", chatReq("bad"))
	}
	st := r.BreakerStates()
	if st["p/broken"] != BreakerOpen || st["p/fine"] != BreakerClosed {
		t.Fatalf("breakers = %v; want p/broken open, p/fine closed", st)
	}
	for _, m := range []string{"good", "other-model"} {
		if _, _, err := r.Do(context.Background(), m, chatReq(m)); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	// Through a wildcard the client's model is the deployment's: "broken" sent by name shares its breaker.
	if _, _, err := r.Do(context.Background(), "broken", chatReq("broken")); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("broken through the wildcard: %v; want the open breaker", err)
	}
}

func TestRouterProviderAuthFailure(t *testing.T) {
	clock := newClock()
	var badCalls atomic.Int64
	bad := &fakeProvider{name: "bad", fn: func(context.Context, *Request) (*Response, error) {
		badCalls.Add(1)
		return nil, &ProviderError{Provider: "bad", Status: 401, Message: "invalid x-api-key"}
	}}
	var states []string
	opts := testOpts(clock, &sleepRecorder{})
	opts.OnBreaker = func(d DeploymentKey, s BreakerState) { states = append(states, d.String()+":"+s.String()) }
	r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: bad, Model: "x"}, {Provider: ok("good"), Priority: 1}}}}, opts)
	for range 3 {
		if _, dep, err := r.Do(context.Background(), "m", chatReq("m")); err != nil || dep.Provider.Name() != "good" {
			t.Fatalf("Do = %v, %v", dep, err)
		}
	}
	if badCalls.Load() != 1 || fmt.Sprint(states) != "[bad/x:open]" {
		t.Fatalf("calls to the deployment with a bad key = %d, breaker changes %v; want 1 and [bad/x:open]", badCalls.Load(), states)
	}
}

func TestRouterBudgetExhausted(t *testing.T) {
	var targets []Deployment
	var providers []*fakeProvider
	for i := range 5 {
		p := failing(fmt.Sprintf("p%d", i), 500+i)
		providers = append(providers, p)
		targets = append(targets, Deployment{Provider: p, Priority: i})
	}
	s := &sleepRecorder{}
	opts := testOpts(newClock(), s)
	opts.BackoffBase, opts.BackoffMax = 100*time.Millisecond, time.Second
	r := mustRouter(t, []Route{{Alias: "m", Targets: targets}}, opts)
	_, dep, err := r.Do(context.Background(), "m", chatReq("m"))
	if !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err = %v, want ErrAllFailed", err)
	}
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Status != 502 || pe.Provider != "p2" {
		t.Fatalf("last cause = %+v, want p2's 502", pe)
	}
	if dep.Provider.Name() != "p2" {
		t.Errorf("deployment = %s, want p2", dep.Provider.Name())
	}
	for i, p := range providers {
		want := int64(0)
		if i < 3 {
			want = 1
		}
		if p.calls.Load() != want {
			t.Errorf("%s called %d times, want %d", p.name, p.calls.Load(), want)
		}
	}
	// Backoff happens between attempts only, with full jitter under the exponential ceiling.
	if len(s.sleeps) != 2 || s.sleeps[0] >= 100*time.Millisecond || s.sleeps[1] >= 200*time.Millisecond {
		t.Errorf("sleeps = %v, want 2 under 100ms and 200ms", s.sleeps)
	}
}

func TestRouterModelRewrite(t *testing.T) {
	tests := []struct {
		name, depModel, wantBody, wantModel string
	}{
		{"mapped", "provider-m", `{"model":"provider-m","messages":[],"x_vendor":{"a":1}}`, "provider-m"},
		{"unchanged", "", `{"model":"client-m","messages":[],"x_vendor":{"a":1}}`, "client-m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *Request
			p := &fakeProvider{name: "p", fn: func(_ context.Context, req *Request) (*Response, error) {
				got = req
				return okResponse(), nil
			}}
			r := mustRouter(t, []Route{{Alias: "client-m", Targets: []Deployment{{Provider: p, Model: tc.depModel}}}}, RouterOptions{})
			orig := chatReq("client-m")
			origBody := string(orig.Body)
			if _, _, err := r.Do(context.Background(), "client-m", orig); err != nil {
				t.Fatal(err)
			}
			if string(got.Body) != tc.wantBody || got.Model != tc.wantModel {
				t.Errorf("sent model %q body %s, want %q %s", got.Model, got.Body, tc.wantModel, tc.wantBody)
			}
			if string(orig.Body) != origBody || orig.Model != "client-m" {
				t.Error("the caller's request was modified")
			}
		})
	}
}

func TestRouterUnsupported(t *testing.T) {
	unsupported := func(name string) *fakeProvider {
		return &fakeProvider{name: name, fn: func(context.Context, *Request) (*Response, error) { return nil, ErrUnsupported }}
	}
	t.Run("next deployment serves", func(t *testing.T) {
		u := unsupported("u")
		s := &sleepRecorder{}
		opts := testOpts(newClock(), s)
		opts.MaxAttempts = 1
		opts.Breaker.ConsecutiveFailures = 1
		r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: u}, {Provider: ok("o"), Priority: 1}}}}, opts)
		for range 3 {
			_, dep, err := r.Do(context.Background(), "m", chatReq("m"))
			if err != nil || dep.Provider.Name() != "o" {
				t.Fatalf("Do = %v, %v", dep, err)
			}
		}
		if st := r.BreakerStates()["u/m"]; st != BreakerClosed {
			t.Errorf("unsupported deployment's breaker %s, want closed", st)
		}
		if len(s.sleeps) != 0 {
			t.Errorf("slept %v before a deployment that made no call", s.sleeps)
		}
	})
	t.Run("none supports", func(t *testing.T) {
		r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: unsupported("a")}, {Provider: unsupported("b")}}}}, RouterOptions{})
		_, _, err := r.Do(context.Background(), "m", chatReq("m"))
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
}

func TestRouterBodyReaderAttemptedOnce(t *testing.T) {
	a, b := failing("a", 503), ok("b")
	r := mustRouter(t, []Route{{Alias: "whisper", Targets: []Deployment{{Provider: a}, {Provider: b, Priority: 1}}}},
		testOpts(newClock(), &sleepRecorder{}))
	req := &Request{Endpoint: EndpointTranscription, Method: http.MethodPost, Model: "whisper",
		BodyReader: bytes.NewReader([]byte("--x--")), ContentType: "multipart/form-data; boundary=x"}
	_, _, err := r.Do(context.Background(), "whisper", req)
	if !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err = %v, want ErrAllFailed", err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 0 {
		t.Errorf("calls a=%d b=%d, want 1 and 0", a.calls.Load(), b.calls.Load())
	}
}

func TestRouterContextCancellation(t *testing.T) {
	t.Run("during backoff", func(t *testing.T) {
		a, b := failing("a", 503), ok("b")
		opts := RouterOptions{BackoffBase: time.Hour, BackoffMax: time.Hour} // the real, ctx-aware sleep
		r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: a}, {Provider: b, Priority: 1}}}}, opts)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := r.Do(ctx, "m", chatReq("m"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if time.Since(start) > 5*time.Second || b.calls.Load() != 0 {
			t.Errorf("took %v, b called %d times", time.Since(start), b.calls.Load())
		}
	})
	t.Run("during a call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		a := &fakeProvider{name: "a", fn: func(ctx context.Context, _ *Request) (*Response, error) {
			cancel()
			<-ctx.Done()
			return nil, &ProviderError{Status: 502, Retryable: true, Cause: ctx.Err()}
		}}
		b := ok("b")
		opts := testOpts(newClock(), &sleepRecorder{})
		opts.Breaker.ConsecutiveFailures = 1
		r := mustRouter(t, []Route{{Alias: "m", Targets: []Deployment{{Provider: a}, {Provider: b, Priority: 1}}}}, opts)
		_, _, err := r.Do(ctx, "m", chatReq("m"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		if b.calls.Load() != 0 {
			t.Error("retried after cancellation")
		}
		if st := r.BreakerStates()["a/m"]; st != BreakerClosed {
			t.Errorf("a client cancellation opened the breaker: %s", st)
		}
	})
}

func TestRouterModelLists(t *testing.T) {
	clock := newClock()
	var lists atomic.Int64
	listing := &fakeProvider{name: "listing", fn: func(_ context.Context, req *Request) (*Response, error) {
		if req.Endpoint != EndpointModels {
			return okResponse(), nil
		}
		lists.Add(1)
		return &Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(
			`{"object":"list","data":[{"id":"llama-3-8b"},{"id":"llama-3-70b"},{"id":"mistral-7b"},{"id":"exact"}]}`))}, nil
	}}
	mute := failing("mute", 404) // cannot list its models
	r := mustRouter(t, []Route{
		{Alias: "exact", Targets: []Deployment{{Provider: listing, Model: "x"}}},
		{Alias: "llama-*", Targets: []Deployment{{Provider: listing}}},
		{Alias: "fixed-*", Targets: []Deployment{{Provider: listing, Model: "mistral-7b"}}},
		{Alias: "other-*", Targets: []Deployment{{Provider: mute}}},
	}, testOpts(clock, &sleepRecorder{}))
	ctx := context.Background()
	if got, want := fmt.Sprint(r.ListModels(ctx)), "[exact llama-3-70b llama-3-8b]"; got != want {
		t.Errorf("ListModels = %s; want %s", got, want)
	}
	for id, want := range map[string]bool{
		"exact": true, "llama-3-8b": true, "llama-4-nope": false, // listed, or not, by the wildcard's provider
		"fixed-anything": true, // a wildcard mapped to one model serves any name
		"other-thing":    true, // its provider cannot list: the wildcard is taken at its word
		"nothing":        false,
	} {
		if got := r.HasModel(ctx, id); got != want {
			t.Errorf("HasModel(%q) = %v; want %v", id, got, want)
		}
	}
	if lists.Load() != 1 {
		t.Errorf("the provider was asked for its models %d times within a minute; want once", lists.Load())
	}
	clock.Advance(61 * time.Second)
	r.ListModels(ctx)
	if lists.Load() != 2 {
		t.Errorf("the list was not refreshed after a minute: %d fetches", lists.Load())
	}
}

func TestRouterModelless(t *testing.T) {
	ctx := context.Background()
	// Without a default provider nor a "*" route, a call naming no model has nowhere to go.
	r := mustRouter(t, []Route{{Alias: "gpt-4o", Targets: []Deployment{{Provider: ok("a")}}}}, RouterOptions{})
	if _, _, err := r.Do(ctx, "", chatReq("")); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("err = %v; want ErrUnknownModel", err)
	}
	// The default provider serves it, and is no model of the list.
	r = mustRouter(t, []Route{
		{Alias: "gpt-4o", Targets: []Deployment{{Provider: ok("a")}}},
		{Alias: ModellessAlias, Targets: []Deployment{{Provider: ok("files")}}},
		{Alias: "*", Targets: []Deployment{{Provider: ok("any")}}},
	}, RouterOptions{})
	if _, dep, err := r.Do(ctx, "", chatReq("")); err != nil || dep.Provider.Name() != "files" {
		t.Fatalf("Do(\"\") = %v, %v; want the default provider", dep.Provider, err)
	}
	if got := fmt.Sprint(r.ListModels(ctx)); got != "[gpt-4o]" {
		t.Errorf("ListModels = %s", got)
	}
	if r.HasModel(ctx, "") {
		t.Error(`HasModel("") = true`)
	}
}
