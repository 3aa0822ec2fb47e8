// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Router errors, for errors.Is.
var (
	// ErrUnknownModel is returned for a model no route's alias matches (the client gets 404).
	ErrUnknownModel = errors.New("unknown model")
	// ErrAllFailed is returned when no deployment answered successfully within the retry budget. The
	// error also wraps the last *ProviderError, whose status and message are the ones to report.
	ErrAllFailed = errors.New("all deployments failed")
)

// Deployment is one provider serving a route.
type Deployment struct {
	// Provider performs the calls. Its Name keys the deployment's circuit breaker.
	Provider Provider
	// Model is the provider-side model written into the request body; "" sends the client's model
	// unchanged (useful behind wildcard aliases).
	Model string
	// Weight is the deployment's relative share of traffic among deployments of equal Priority.
	// Default 1.
	Weight int
	// Priority orders deployments: lower numbers are tried first, and a higher number is only used
	// when every deployment of lower numbers failed or is unavailable. APISIX's ai-proxy-multi tries
	// higher numbers first; the Caddy glue converts, so this library has one convention only.
	Priority int
}

// Route maps a client-facing model name to deployments.
type Route struct {
	// Alias is the model name clients use. A trailing "*" makes it a prefix wildcard ("gpt-4o*"), and
	// "*" alone matches every model. An exact alias wins over wildcards, and a longer wildcard prefix
	// over a shorter one.
	Alias string
	// Targets are the deployments serving the alias.
	Targets []Deployment
	// Fallbacks are other aliases whose deployments are tried, in order, after this route's targets
	// failed retryably. Fallback routes' own fallbacks are followed too (depth first, each route once).
	Fallbacks []string
}

// Attempt describes one provider call, for metrics and debug logs.
type Attempt struct {
	Deployment string        // Provider.Name()
	Kind       string        // Provider.Kind()
	Model      string        // provider-side model
	Status     int           // HTTP status: the response's, the *ProviderError's, or 0 for other errors
	Err        error         // nil on success
	Duration   time.Duration // until Provider.Do returned (response headers, for streams)
	Fallback   bool          // the deployment belongs to a fallback route
}

// RouterOptions configures retries, backoff and circuit breaking. The zero value is usable.
type RouterOptions struct {
	// MaxAttempts is the number of provider calls one request may make, across the route's targets and
	// its fallbacks. Default 3. Calls refused by ErrUnsupported or skipped by an open breaker do not count.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the wait between attempts: full jitter, a random duration in
	// [0, min(BackoffMax, BackoffBase·2^(n-1))). Defaults 100ms and 2s. A provider's Retry-After
	// replaces it when it is at most BackoffMax; a longer one makes the router move on at once, since
	// the next deployment is not bound by the previous one's rate limit.
	BackoffBase, BackoffMax time.Duration
	// Breaker configures the circuit breaker of each deployment.
	Breaker BreakerOptions
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Sleep waits between attempts (default: a timer that returns ctx's error when ctx is done first).
	Sleep func(ctx context.Context, d time.Duration) error
	// OnAttempt, if set, is called after every provider call, synchronously: it must be quick.
	OnAttempt func(a Attempt)
	// OnBreaker, if set, is called when a deployment's breaker changes state, synchronously and outside
	// the breaker's lock.
	OnBreaker func(deployment string, state BreakerState)
}

// Router picks deployments for a model and retries across them. It is safe for concurrent use and
// immutable after NewRouter, apart from breaker state; build a new one on config reload.
type Router struct {
	opts      RouterOptions
	exact     map[string]*Route
	wildcards []*Route // longest prefix first
	routes    map[string]*Route
	breakers  map[string]*breaker
}

// NewRouter validates routes and builds a router: aliases must be unique and non-empty, every route
// needs targets with a provider, fallbacks must name existing aliases and must not form a cycle.
func NewRouter(routes []Route, opts RouterOptions) (*Router, error) {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	opts.Breaker.setDefaults()
	r := &Router{
		opts:     opts,
		exact:    make(map[string]*Route),
		routes:   make(map[string]*Route, len(routes)),
		breakers: make(map[string]*breaker),
	}
	for i := range routes {
		// Copy so later changes to the caller's slices cannot race with requests.
		rt := routes[i]
		rt.Targets = slices.Clone(rt.Targets)
		rt.Fallbacks = slices.Clone(rt.Fallbacks)
		if rt.Alias == "" {
			return nil, fmt.Errorf("route %d: empty alias", i)
		}
		if _, dup := r.routes[rt.Alias]; dup {
			return nil, fmt.Errorf("route %q: duplicate alias", rt.Alias)
		}
		if len(rt.Targets) == 0 {
			return nil, fmt.Errorf("route %q: no targets", rt.Alias)
		}
		for j := range rt.Targets {
			d := &rt.Targets[j]
			if d.Provider == nil {
				return nil, fmt.Errorf("route %q: target %d: nil provider", rt.Alias, j)
			}
			if d.Weight < 0 {
				return nil, fmt.Errorf("route %q: target %d: negative weight %d", rt.Alias, j, d.Weight)
			}
			if d.Weight == 0 {
				d.Weight = 1
			}
			name := d.Provider.Name()
			if _, ok := r.breakers[name]; !ok {
				r.breakers[name] = &breaker{name: name, opts: &r.opts.Breaker, onChange: opts.OnBreaker}
			}
		}
		r.routes[rt.Alias] = &rt
		if prefix, ok := strings.CutSuffix(rt.Alias, "*"); ok && !strings.Contains(prefix, "*") {
			r.wildcards = append(r.wildcards, &rt)
		} else if strings.Contains(rt.Alias, "*") {
			return nil, fmt.Errorf("route %q: \"*\" is only allowed at the end of an alias", rt.Alias)
		} else {
			r.exact[rt.Alias] = &rt
		}
	}
	slices.SortStableFunc(r.wildcards, func(a, b *Route) int { return cmp.Compare(len(b.Alias), len(a.Alias)) })
	for _, rt := range r.routes {
		for _, fb := range rt.Fallbacks {
			if _, ok := r.routes[fb]; !ok {
				return nil, fmt.Errorf("route %q: fallback %q: %w", rt.Alias, fb, ErrUnknownModel)
			}
		}
	}
	// Reject cycles: a fallback chain that loops would still terminate (each route is visited once per
	// request) but is certainly a configuration mistake.
	const (
		unvisited = iota
		inProgress
		done
	)
	mark := make(map[string]int, len(r.routes))
	var visit func(alias string, path []string) error
	visit = func(alias string, path []string) error {
		switch mark[alias] {
		case inProgress:
			return fmt.Errorf("fallback cycle: %s", strings.Join(append(path, alias), " -> "))
		case done:
			return nil
		}
		mark[alias] = inProgress
		for _, fb := range r.routes[alias].Fallbacks {
			if err := visit(fb, append(path, alias)); err != nil {
				return err
			}
		}
		mark[alias] = done
		return nil
	}
	aliases := make([]string, 0, len(r.routes))
	for a := range r.routes {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases) // deterministic error messages
	for _, a := range aliases {
		if err := visit(a, nil); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Models returns the exact aliases, sorted, for GET /v1/models. Wildcard aliases are not listed: they
// are not model names.
func (r *Router) Models() []string {
	out := make([]string, 0, len(r.exact))
	for a := range r.exact {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Known reports whether some route serves model.
func (r *Router) Known(model string) bool { return r.resolve(model) != nil }

func (r *Router) resolve(model string) *Route {
	if rt, ok := r.exact[model]; ok {
		return rt
	}
	for _, rt := range r.wildcards {
		if strings.HasPrefix(model, rt.Alias[:len(rt.Alias)-1]) {
			return rt
		}
	}
	return nil
}

// BreakerStates returns the current breaker state of every deployment, keyed by Provider.Name().
func (r *Router) BreakerStates() map[string]BreakerState {
	out := make(map[string]BreakerState, len(r.breakers))
	for name, b := range r.breakers {
		out[name] = b.current()
	}
	return out
}

type candidate struct {
	dep      Deployment
	fallback bool
}

// plan lists the deployments to try, in order: the route's targets, then each fallback route's.
func (r *Router) plan(rt *Route) []candidate {
	var out []candidate
	seen := map[string]bool{}
	var add func(rt *Route, fallback bool)
	add = func(rt *Route, fallback bool) {
		if seen[rt.Alias] {
			return
		}
		seen[rt.Alias] = true
		for _, d := range orderTargets(rt.Targets) {
			out = append(out, candidate{dep: d, fallback: fallback})
		}
		for _, fb := range rt.Fallbacks {
			add(r.routes[fb], true)
		}
	}
	add(rt, false)
	return out
}

// orderTargets sorts deployments by ascending Priority and, within a priority, in weighted random
// order: the first pick is proportional to weight, and so is each next pick among those left
// (sampling without replacement). Random rather than smooth weighted round robin, because smooth
// needs shared mutable state per route, while independent draws give the same long-run shares
// and let the retry order spread load too.
func orderTargets(targets []Deployment) []Deployment {
	out := slices.Clone(targets)
	slices.SortStableFunc(out, func(a, b Deployment) int { return cmp.Compare(a.Priority, b.Priority) })
	for start := 0; start < len(out); {
		end := start + 1
		for end < len(out) && out[end].Priority == out[start].Priority {
			end++
		}
		group := out[start:end]
		for i := 0; i < len(group)-1; i++ {
			total := 0
			for _, d := range group[i:] {
				total += d.Weight
			}
			n := rand.IntN(total)
			for j := i; j < len(group); j++ {
				if n < group[j].Weight {
					group[i], group[j] = group[j], group[i]
					break
				}
				n -= group[j].Weight
			}
		}
		start = end
	}
	return out
}

// Do sends req for the client's model to the route's deployments until one succeeds: in priority and
// weighted order, skipping deployments whose breaker is open, then the fallback routes' deployments,
// within RouterOptions.MaxAttempts calls. It returns the response with the deployment that produced it.
//
// A non-retryable *ProviderError (the client's own 4xx) is returned at once. When every call failed,
// the error wraps ErrAllFailed and the last *ProviderError (errors.As finds it); when every deployment's
// breaker is open it wraps ErrAllFailed and a 503 *ProviderError. A request with a BodyReader is
// attempted once, since its body cannot be replayed. On error, the Deployment returned is the last one
// tried (zero if none).
func (r *Router) Do(ctx context.Context, model string, req *Request) (*Response, Deployment, error) {
	rt := r.resolve(model)
	if rt == nil {
		return nil, Deployment{}, fmt.Errorf("routing %q: %w", model, ErrUnknownModel)
	}
	budget := r.opts.MaxAttempts
	if req.BodyReader != nil {
		budget = 1
	}
	var (
		attempts    int
		last        *ProviderError
		lastDep     Deployment
		skippedOpen bool
		unsupported bool
	)
	for _, c := range r.plan(rt) {
		if attempts >= budget {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, lastDep, fmt.Errorf("routing %q: %w", model, err)
		}
		b := r.breakers[c.dep.Provider.Name()]
		adm := b.allow(r.opts.Now())
		if !adm.ok {
			skippedOpen = true
			continue
		}
		if attempts > 0 && last != nil {
			if err := r.backoff(ctx, attempts, last); err != nil {
				b.release(adm)
				return nil, lastDep, fmt.Errorf("routing %q: %w", model, err)
			}
		}
		preq, err := prepare(req, model, c.dep)
		if err != nil {
			b.release(adm)
			return nil, c.dep, fmt.Errorf("routing %q: %w", model, err)
		}
		actx, span := startAttempt(ctx, preq, c.dep)
		start := r.opts.Now()
		resp, err := c.dep.Provider.Do(actx, preq)
		a := Attempt{
			Deployment: c.dep.Provider.Name(), Kind: c.dep.Provider.Kind(), Model: preq.Model,
			Err: err, Duration: r.opts.Now().Sub(start), Fallback: c.fallback,
		}
		var pe *ProviderError
		switch {
		case err == nil:
			a.Status = resp.Status
		case errors.As(err, &pe):
			a.Status = pe.Status
		}
		endAttempt(span, resp, a.Status, err)
		if r.opts.OnAttempt != nil {
			r.opts.OnAttempt(a)
		}
		if err == nil {
			b.record(adm, true, r.opts.Now())
			return resp, c.dep, nil
		}
		if errors.Is(err, ErrUnsupported) {
			b.release(adm)
			unsupported = true
			continue
		}
		attempts++
		lastDep = c.dep
		if ctx.Err() != nil {
			// The client went away: the failure says nothing about the deployment.
			b.release(adm)
			return nil, lastDep, fmt.Errorf("routing %q: %w", model, ctx.Err())
		}
		if pe == nil {
			// Providers should return *ProviderError, but a bare error is still a failed call that
			// another deployment may not repeat.
			pe = &ProviderError{
				Provider: c.dep.Provider.Name(), Status: http.StatusBadGateway, Type: "api_error",
				Message: "provider call failed", Retryable: true, Cause: err,
			}
		}
		if !pe.Retryable {
			// The deployment answered: it is healthy, the request is at fault.
			b.record(adm, true, r.opts.Now())
			return nil, c.dep, fmt.Errorf("routing %q: %w", model, pe)
		}
		b.record(adm, false, r.opts.Now())
		last = pe
	}
	switch {
	case last != nil:
		return nil, lastDep, fmt.Errorf("%w: %w", ErrAllFailed, last)
	case skippedOpen:
		return nil, lastDep, fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{
			Provider: rt.Alias, Status: http.StatusServiceUnavailable, Type: "api_error",
			Message: "all deployments are unavailable (circuit open)", Retryable: true,
		})
	case unsupported:
		return nil, lastDep, fmt.Errorf("routing %q to %s: %w", model, req.Endpoint, ErrUnsupported)
	default:
		return nil, lastDep, ErrAllFailed
	}
}

// backoff waits before attempt n+1 after the failure last.
func (r *Router) backoff(ctx context.Context, n int, last *ProviderError) error {
	var d time.Duration
	switch {
	case last.RetryAfter > r.opts.BackoffMax:
		return nil // moving on to a deployment not bound by this one's Retry-After
	case last.RetryAfter > 0:
		d = last.RetryAfter
	default:
		ceil := r.opts.BackoffMax
		if shift := n - 1; shift < 30 && r.opts.BackoffBase<<shift < ceil {
			ceil = r.opts.BackoffBase << shift
		}
		d = rand.N(ceil) // full jitter (AWS architecture blog, "Exponential Backoff and Jitter")
	}
	return r.opts.Sleep(ctx, d)
}

// prepare clones req for one deployment, rewriting the model when the deployment maps it.
func prepare(req *Request, model string, d Deployment) (*Request, error) {
	out := *req
	out.Header = req.Header.Clone()
	if out.Model == "" {
		out.Model = model
	}
	if d.Model != "" {
		out.Model = d.Model
		// Multipart bodies (BodyReader) carry the model as a form field that cannot be edited
		// without buffering; providers read Request.Model for those.
		if len(req.Body) > 0 {
			set := SetModel
			if req.bodyObject {
				set = setValidModel
			}
			body, err := set(req.Body, d.Model)
			if err != nil {
				return nil, fmt.Errorf("rewriting model for %s: %w", d.Provider.Name(), err)
			}
			out.Body = body
		}
	}
	return &out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
