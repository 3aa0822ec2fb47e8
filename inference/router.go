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
	"sync"
	"sync/atomic"
	"time"
)

// ModellessAlias is the alias of the route serving calls that name no model: a site's default provider.
const ModellessAlias = ""

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
	// Provider performs the calls. Its Name and the upstream model key the deployment's circuit breaker.
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
	// over a shorter one. The empty alias (ModellessAlias) serves calls that name no model (files,
	// batches, GET /v1/responses/{id}); without it they go to a "*" route, if any.
	Alias string
	// Targets are the deployments serving the alias.
	Targets []Deployment
	// Fallbacks are other aliases whose deployments are tried, in order, after this route's targets
	// failed retryably. Fallback routes' own fallbacks are followed too (depth first, each route once).
	Fallbacks []string
}

// DeploymentKey names one deployment for its circuit breaker, metrics and the health report: a provider
// and the model it is called with.
type DeploymentKey struct {
	Provider string // Provider.Name()
	Model    string // provider-side model; "*" for the overflow breaker of a wildcard route
}

func (k DeploymentKey) String() string { return k.Provider + "/" + k.Model }

// Attempt describes one provider call, for metrics and debug logs.
type Attempt struct {
	Deployment string        // Provider.Name()
	Kind       string        // Provider.Kind()
	Endpoint   string        // Request.Endpoint
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
	// [0, min(BackoffMax, BackoffBase·2^(n-1))). Defaults 100ms and 2s. There is no wait after a 429: the
	// next deployment is not bound by the previous one's rate limit, and the one that answered 429 rests
	// for its Retry-After (see BreakerOptions).
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
	OnBreaker func(d DeploymentKey, state BreakerState)
	// OnSkip, if set, is called for every deployment a request passed over without calling it: its breaker
	// is open (reason "circuit_open") or it is resting after a 429 (reason "rate_limited").
	OnSkip func(d DeploymentKey, reason string)
}

// Reasons given to OnSkip.
const (
	SkipCircuitOpen = "circuit_open"
	SkipRateLimited = "rate_limited"
)

// Router picks deployments for a model and retries across them. It is safe for concurrent use and
// immutable after NewRouter, apart from breaker state; build a new one on config reload.
type Router struct {
	opts      RouterOptions
	exact     map[string]*Route
	wildcards []*Route // longest prefix first
	routes    map[string]*Route
	// breakers holds the deployments known when the router was built (targets naming their model);
	// dynamic holds those of targets that send the client's model (wildcards), made on first use.
	breakers map[DeploymentKey]*breaker
	dynamic  sync.Map // DeploymentKey → *breaker
	nDynamic atomic.Int64
	// modelLists caches each wildcard provider's own model list (models.go).
	modelLists sync.Map // provider name → *modelList
}

// maxDynamicBreakers bounds the breakers made for client-chosen model names; past it, a provider's further
// models share one breaker ("provider/*"), so a client cannot grow the router's memory without end.
const maxDynamicBreakers = 1024

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
		breakers: make(map[DeploymentKey]*breaker),
	}
	for i := range routes {
		// Copy so later changes to the caller's slices cannot race with requests.
		rt := routes[i]
		rt.Targets = slices.Clone(rt.Targets)
		rt.Fallbacks = slices.Clone(rt.Fallbacks)
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
			if d.Model != "" {
				k := DeploymentKey{d.Provider.Name(), d.Model}
				if _, ok := r.breakers[k]; !ok {
					r.breakers[k] = r.newBreaker(k)
				}
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

// BreakerStates returns the current breaker state of every deployment, keyed by DeploymentKey.String().
func (r *Router) BreakerStates() map[string]BreakerState {
	out := make(map[string]BreakerState, len(r.breakers))
	for k, b := range r.breakers {
		out[k.String()] = b.current()
	}
	r.dynamic.Range(func(k, b any) bool {
		out[k.(DeploymentKey).String()] = b.(*breaker).current()
		return true
	})
	return out
}

func (r *Router) newBreaker(k DeploymentKey) *breaker {
	return &breaker{key: k, opts: &r.opts.Breaker, onChange: r.opts.OnBreaker}
}

// breaker returns the breaker of provider p called with the upstream model.
func (r *Router) breaker(p string, model string) *breaker {
	k := DeploymentKey{p, model}
	if b := r.breakers[k]; b != nil {
		return b
	}
	if b, ok := r.dynamic.Load(k); ok {
		return b.(*breaker)
	}
	if r.nDynamic.Load() >= maxDynamicBreakers {
		k.Model = "*"
	} else {
		r.nDynamic.Add(1)
	}
	b, _ := r.dynamic.LoadOrStore(k, r.newBreaker(k))
	return b.(*breaker)
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
// weighted order, skipping deployments whose breaker is open or which rest after a 429, then the fallback
// routes' deployments, within RouterOptions.MaxAttempts calls. It returns the response with the deployment
// that produced it.
//
// A non-retryable *ProviderError (the client's own 4xx) is returned at once. A 401 or 403 (the provider
// refused FD2's credential) opens that deployment's breaker and moves on, as a 429 rests it for its
// Retry-After. When every call failed, the error wraps ErrAllFailed and the last *ProviderError (errors.As
// finds it), whose RetryAfter is, after 429s, the soonest any deployment asked for. When no deployment
// could be called, it wraps ErrAllFailed and a synthetic *ProviderError: 429 with the soonest end of the
// rests if some deployment was resting, else 503 (every breaker open). A request with a BodyReader is
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
		skipped     string        // provider of the first deployment passed over
		rested      bool          // some deployment was passed over because of a 429
		retryAfter  time.Duration // soonest end of a 429's rest
		unsupported bool
	)
	soonest := func(d time.Duration) {
		if d > 0 && (retryAfter == 0 || d < retryAfter) {
			retryAfter = d
		}
	}
	for _, c := range r.plan(rt) {
		if attempts >= budget {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, lastDep, fmt.Errorf("routing %q: %w", model, err)
		}
		upstream := c.dep.Model
		if upstream == "" {
			upstream = model
		}
		b := r.breaker(c.dep.Provider.Name(), upstream)
		adm := b.allow(r.opts.Now())
		if !adm.ok {
			if skipped == "" {
				skipped = c.dep.Provider.Name()
			}
			reason := SkipCircuitOpen
			if adm.resting {
				rested, reason = true, SkipRateLimited
				soonest(adm.wait)
			}
			if r.opts.OnSkip != nil {
				r.opts.OnSkip(b.key, reason)
			}
			continue
		}
		if attempts > 0 && last != nil && last.Status != http.StatusTooManyRequests {
			// After a 429 the next deployment is not bound by this one's rate limit: no wait.
			if err := r.backoff(ctx, attempts); err != nil {
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
			Deployment: c.dep.Provider.Name(), Kind: c.dep.Provider.Kind(), Endpoint: preq.Endpoint, Model: preq.Model,
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
		switch {
		case pe.Status == http.StatusTooManyRequests:
			b.rest(adm, pe.RetryAfter, r.opts.Now())
			soonest(pe.RetryAfter)
		case ProviderAuthFailed(pe):
			b.trip(adm, r.opts.Now())
		case !pe.Retryable:
			// The deployment answered: it is healthy, the request is at fault.
			b.record(adm, true, r.opts.Now())
			return nil, c.dep, fmt.Errorf("routing %q: %w", model, pe)
		default:
			b.record(adm, false, r.opts.Now())
		}
		last = pe
	}
	switch {
	case last != nil:
		if last.Status == http.StatusTooManyRequests && retryAfter != last.RetryAfter {
			out := *last
			out.RetryAfter = retryAfter
			last = &out
		}
		return nil, lastDep, fmt.Errorf("%w: %w", ErrAllFailed, last)
	case rested:
		return nil, lastDep, fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{
			Provider: skipped, Status: http.StatusTooManyRequests, Type: "rate_limit_error",
			Message: "every deployment of this model is rate limited", RetryAfter: retryAfter, Retryable: true,
			Cause: ErrResting,
		})
	case skipped != "":
		return nil, lastDep, fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{
			Provider: skipped, Status: http.StatusServiceUnavailable, Type: "api_error",
			Message: "all deployments are unavailable (circuit open)", Retryable: true, Cause: ErrCircuitOpen,
		})
	case unsupported:
		return nil, lastDep, fmt.Errorf("routing %q to %s: %w", model, req.Endpoint, ErrUnsupported)
	default:
		return nil, lastDep, ErrAllFailed
	}
}

// Causes of the error a request gets when no provider was called: every deployment's breaker was open
// (ErrCircuitOpen), or some rested after a 429 and the others' breakers were open (ErrResting).
var (
	ErrCircuitOpen = errors.New("circuit open")
	ErrResting     = errors.New("every deployment is resting after a 429")
)

// ProviderAuthFailed reports whether a provider refused FD2's own credential for it.
func ProviderAuthFailed(pe *ProviderError) bool {
	return pe.Status == http.StatusUnauthorized || pe.Status == http.StatusForbidden
}

// backoff waits before attempt n+1 after a failure other than a 429.
func (r *Router) backoff(ctx context.Context, n int) error {
	ceil := r.opts.BackoffMax
	if shift := n - 1; shift < 30 && r.opts.BackoffBase<<shift < ceil {
		ceil = r.opts.BackoffBase << shift
	}
	return r.opts.Sleep(ctx, rand.N(ceil)) // full jitter (AWS architecture blog, "Exponential Backoff and Jitter")
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
