// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package moduletest runs a manifest module type against a manifest without Caddy, for the type's unit
// tests (docs/modules.md, "Testing"). It does what FD2 does with a manifest version, minus the server:
//
//   - Compile compiles the manifest with plan.Compile, checking every module of a type the test names by
//     calling its Configure — so a bad config shows up as it would in FD2: in the project's Warnings and as
//     the module's routes' Err (503 route_misconfigured), with the other routes serving;
//   - it then builds each module as the project pool does — a fresh instance, Configure — but does NOT call
//     Provision, Validate or Cleanup: a module type that needs Caddy provisioning (a reverse proxy, an app,
//     a usage pool) is tested through a real Caddy instead (caddytest, or the example module's pipeline
//     test);
//   - Serve matches a request with the compiled route table, fills a plan.Exchange as dsp_manifest and the
//     later stages would (ProjectID, Path, Project, Route, the principal, the body cap, Authenticated and
//     RateLimited: the earlier stages are taken to have passed), and calls the module's Serve. An error the
//     module returns is rendered as FD2 renders it, into the same recorder.
//
// The package never imports Caddy, so it can live beside the Caddy-free libraries; a module type's tests
// use it from the type's own package.
package moduletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plan"
)

// Type is an instance of a module type: what a Caddy module of the dsp.modules namespace is, minus
// caddy.Module (gateway.ModuleType is a Type).
type Type interface {
	plan.Configurer
	plan.Module
}

// Types maps a module_type to a constructor of fresh, unconfigured instances: for a Caddy module type
// `func() moduletest.Type { return new(MyType) }`, what its CaddyModule().New returns. A type listed here
// may be outside the Control Tower's enum, as a type registered in an FD2 build may.
type Types map[string]func() Type

// Project is a compiled manifest version with its modules built. Its embedded plan.Project has the
// Warnings, the route plans (Routes: each with its Err) and the module specs (Modules: each with its Err).
type Project struct {
	*plan.Project
	types   Types
	modules map[string]built
}

type built struct {
	m   plan.Module
	err error
}

// Compile compiles a resolved manifest document for project id (id "" takes the manifest's project_id)
// and builds its modules. Modules whose type types does not name are left unbuilt and their routes answer
// 501, as in an FD2 build without the type. The error is the manifest's own (invalid JSON, a missing
// project_id, an unknown module_type): a module's bad config is not an error here, see Project.Warnings.
func Compile(id string, manifestJSON []byte, types Types) (*Project, error) {
	check := func(spec *plan.ModuleSpec) (bool, error) {
		newType, ok := types[spec.Type()]
		if !ok {
			return false, nil
		}
		return true, newType().Configure(spec)
	}
	extra := func(moduleType string) bool { _, ok := types[moduleType]; return ok }
	if id == "" {
		// plan.Compile keys the project (and its metric series) by the id it is given, as FD2 does by the
		// id from the request path; the manifest's own project_id stands in for it here.
		var doc struct {
			ProjectID string `json:"project_id"`
		}
		_ = json.Unmarshal(manifestJSON, &doc) // a broken document fails in plan.Compile, with its reason
		id = doc.ProjectID
	}
	proj, err := plan.Compile(id, manifestJSON, plan.Options{CheckModule: check, ExtraType: extra})
	if err != nil {
		return nil, fmt.Errorf("compiling the manifest: %w", err)
	}
	p := &Project{Project: proj, types: types, modules: make(map[string]built, len(proj.ModuleOrder))}
	for _, name := range proj.ModuleOrder {
		spec := proj.Modules[name]
		if spec.Err != nil {
			p.modules[name] = built{err: spec.Err}
			continue
		}
		// A fresh instance, as the pool builds one per project version: nothing the compile-time check's
		// Configure did may leak into the served module.
		m := types[spec.Type()]()
		if err := m.Configure(spec); err != nil {
			p.modules[name] = built{err: fmt.Errorf("building module %q (%s): configuring: %w", name, spec.Type(), err)}
			continue
		}
		p.modules[name] = built{m: m}
	}
	return p, nil
}

// Module returns the built module named name, or why it could not be built.
func (p *Project) Module(name string) (plan.Module, error) {
	b, ok := p.modules[name]
	if !ok {
		return nil, fmt.Errorf("module %q is not served by this project version", name)
	}
	return b.m, b.err
}

// Match returns the plan of the route a request with this method and canonical path (/{project}/…)
// matches, or nil; its Err says whether it can serve.
func (p *Project) Match(method, path string) *plan.Route {
	r := httptest.NewRequest(method, path, nil)
	if rt := p.Table.Match(r, r.URL.Path); rt != nil {
		return p.Routes[rt]
	}
	return nil
}

// Health calls the health check of every built module that has one (plan.HealthChecker), and reports the
// modules that could not be built with their error, as /health?detailed=true does.
func (p *Project) Health(ctx context.Context) map[string]error {
	out := map[string]error{}
	for name, b := range p.modules {
		if b.err != nil {
			out[name] = b.err
			continue
		}
		if hc, ok := b.m.(plan.HealthChecker); ok {
			out[name] = hc.Health(ctx)
		}
	}
	return out
}

// Option adjusts the exchange of one Serve call.
type Option func(*plan.Exchange)

// WithPrincipal serves the request as authenticated by principal (what dsp_auth would have set).
func WithPrincipal(principal *auth.Principal) Option {
	return func(x *plan.Exchange) { x.Principal = principal }
}

// WithBodyLimit sets the cap of a body read whole (x.Body); the default is the dsp app's, 10 MiB.
func WithBodyLimit(n int64) Option {
	return func(x *plan.Exchange) { x.BodyLimit = n }
}

// DefaultBodyLimit is the dsp app's default max_body_size, the cap Serve applies unless WithBodyLimit
// says otherwise.
const DefaultBodyLimit = 10 << 20

// Result is one served request.
type Result struct {
	// ResponseRecorder holds what the client would get: the module's response, or the error it returned
	// rendered as FD2 renders it.
	*httptest.ResponseRecorder
	// Exchange is the request's exchange as Serve left it (usage, upstream status, …).
	Exchange *plan.Exchange
	// Err is what the module's Serve returned; nil when it answered itself. It is also nil when the request
	// never reached the module (no route, a misconfigured route): the recorder then holds FD2's answer.
	Err error
}

// Serve serves r through the route it matches, as FD2 does once the earlier stages have passed. r's
// path is the canonical one, /{project}/{module}/…. Only module routes are served: a request for an
// explicit (proxy or ai-proxy) route gets a 500 and an Err saying so.
//
// Error rendering follows FD2's: a route that does not match answers 404 route_not_found; a route whose
// module type is not in Types answers 501 module_type_unavailable; a route whose config failed to compile
// 503 route_misconfigured; a module that could not be built 503 module_unavailable. An error returned by
// Serve is rendered from the *apierr.Error it carries (its status, type, code and message: the convention
// is caddyhttp.Error(status, apierr.New(status, …)) with the same status); any other error renders as a
// generic 500. Modules that return a caddyhttp.Error with a status but no *apierr.Error should check
// Result.Err themselves: FD2 answers those with the HandlerError's status and a generic message.
func (p *Project) Serve(r *http.Request, opts ...Option) *Result {
	x := plan.NewExchange(time.Now(), r.Header.Get("X-Request-Id"))
	x.ProjectID, x.Path, x.Project = p.ID, r.URL.Path, p.Project
	x.BodyLimit = DefaultBodyLimit
	x.Authenticated, x.RateLimited = true, true
	for _, o := range opts {
		o(x)
	}
	res := &Result{ResponseRecorder: httptest.NewRecorder(), Exchange: x}
	answer := func(ae *apierr.Error) *Result {
		res.Header().Set("X-Request-Id", x.RequestID())
		ae.Write(res.ResponseRecorder, x.RequestID())
		return res
	}
	rt := p.Table.Match(r, x.Path)
	if rt == nil {
		return answer(apierr.New(http.StatusNotFound, "route_not_found",
			"no route of project "+strconv.Quote(p.ID)+" matches "+r.Method+" "+x.Path))
	}
	pr := p.Routes[rt]
	x.Route = pr
	switch {
	case pr.Err != nil && errors.Is(pr.Err, plan.ErrModuleTypeUnavailable):
		return answer(apierr.Wrap(http.StatusNotImplemented, "module_type_unavailable",
			"module "+rt.Module+" has a module type this gateway does not serve", pr.Err))
	case pr.Err != nil:
		return answer(apierr.Wrap(http.StatusServiceUnavailable, "route_misconfigured", "route "+rt.ID+" is misconfigured", pr.Err))
	case pr.Target.Kind != plan.TargetModule:
		res.Err = fmt.Errorf("route %s is not a module route: moduletest serves module routes only", rt.ID)
		return answer(apierr.New(http.StatusInternalServerError, "internal_error", res.Err.Error()))
	}
	m, err := p.Module(rt.Module)
	if err != nil {
		return answer(apierr.Wrap(http.StatusServiceUnavailable, "module_unavailable", "module "+rt.Module+" is unavailable", err))
	}
	w := &tracker{ResponseWriter: res.ResponseRecorder}
	res.Err = m.Serve(w, r, x)
	if res.Err != nil && !w.wrote {
		// FD2 renders the error only while nothing has gone out; after that the client keeps what it got.
		answer(apierr.FromError(0, res.Err))
	}
	x.Status = res.Code
	return res
}

// tracker notes whether the module started its response.
type tracker struct {
	http.ResponseWriter
	wrote bool
}

func (t *tracker) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *tracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Flush lets a streaming module flush through http.NewResponseController, as it would in FD2.
func (t *tracker) Flush() {
	t.wrote = true
	t.ResponseWriter.(http.Flusher).Flush()
}

// Unwrap exposes the recorder to http.ResponseController.
func (t *tracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }
