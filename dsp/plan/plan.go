// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package plan turns a manifest version into what FD2 serves: one immutable, typed plan per route — its
// auth policy, limit policies, transforms and target — with every APISIX plugin decoded exactly once, when
// the version compiles (off the request path). A route whose config does not decode carries the error and
// answers 503 route_misconfigured; the project's other routes serve. It also holds the per-request
// Exchange the pipeline stages share and the Module interface every manifest module type implements.
//
// The package never imports Caddy: the Caddy glue (caddymodules) passes in what only it knows — which
// module types are registered — through Options.
package plan

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/route"
)

// ErrModuleTypeUnavailable marks the routes of a module whose type no module is registered for: they answer
// 501 module_type_unavailable (the Control Tower's enum of types is larger than what one FD2 build serves).
var ErrModuleTypeUnavailable = errors.New("module type unavailable")

// Project is a manifest version compiled for serving. It is built once per version (by the resolver's
// compile hook), is immutable, and is what source.Entry.Value holds.
type Project struct {
	ID       string
	Hash     string
	Manifest *manifest.Manifest
	Table    *route.Table
	// Routes holds the plan of every route of Table.
	Routes map[*route.Route]*Route
	// Consumers are the project's APISIX consumers (nil when they failed to decode: every route with
	// authentication plugins then carries the error).
	Consumers *auth.Consumers
	// Modules are the enabled modules that serve routes, by name, in manifest order in ModuleOrder.
	Modules     map[string]*ModuleSpec
	ModuleOrder []string
	// Warnings are manifest problems that did not stop the project from loading.
	Warnings []string
}

// Route is the plan of one route: what every stage does for a request it matched. It embeds the matched
// route (ID, Module, Kind, Upstream, StripPrefix, …).
type Route struct {
	*route.Route
	Transforms *plugins.Transforms
	// Auth is the route's authentication policy (nil: no authentication plugins).
	Auth *auth.RoutePolicy
	// Limits are the route's limit policies.
	Limits []*ratelimit.Policy
	// Target is who serves the route.
	Target Target
	// Err is set when the route cannot be served as configured: it answers 503 route_misconfigured (501
	// when it wraps ErrModuleTypeUnavailable), and the project's other routes serve.
	Err error
	// Series are the route's metric series.
	Series *metrics.RouteSeries
}

// TargetKind says who serves a route.
type TargetKind uint8

// Target kinds.
const (
	// TargetProxy: an explicit route, proxied to its upstream.
	TargetProxy TargetKind = iota + 1
	// TargetAIProxy: an explicit route with ai-proxy / ai-proxy-multi, served by the inference module.
	TargetAIProxy
	// TargetModule: a module route, served by the module type registered for the module.
	TargetModule
)

// Target is who serves a route.
type Target struct {
	Kind TargetKind
	// Module is the module of a TargetModule route.
	Module *ModuleSpec
}

// Options carry what the compiler cannot know by itself.
type Options struct {
	// CheckModule reports whether a module type is served (registered) and validates the module's config;
	// the error names the field at fault. nil serves every type unchecked.
	CheckModule func(spec *ModuleSpec) (served bool, err error)
	// CheckAIProxy validates a route's ai-proxy / ai-proxy-multi configs. nil accepts them unchecked.
	CheckAIProxy func(p manifest.Plugins) error
	// ExtraType reports whether a module_type outside the Control Tower's enum is served (a third-party
	// module type); the manifest is invalid when it uses one that is not. nil accepts none.
	ExtraType func(moduleType string) bool
}

// Compile decodes a resolved manifest document and compiles every route's plan.
func Compile(id string, raw []byte, o Options) (*Project, error) {
	m, err := manifest.DecodeWith(raw, manifest.DecodeOptions{ExtraType: o.ExtraType})
	if err != nil {
		return nil, err
	}
	tbl, warns, err := route.Compile(id, m)
	if err != nil {
		return nil, fmt.Errorf("compiling routes: %w", err)
	}
	p := &Project{ID: id, Hash: manifest.Hash(raw), Manifest: m, Table: tbl, Warnings: warns,
		Routes: make(map[*route.Route]*Route), Modules: map[string]*ModuleSpec{}}
	consumersErr := p.decodeConsumers()
	for _, rt := range tbl.Routes() {
		pr := &Route{Route: rt}
		pr.Series = metrics.BindRoute(id, rt.Module, rt.ID, rt.Kind != route.KindInference)
		if err := p.compileRoute(pr, o, consumersErr); err != nil {
			pr.Err = err
			if errors.Is(err, ErrModuleTypeUnavailable) {
				p.warnf("route %s: %v (the route answers 501)", rt.ID, err)
			} else {
				p.warnf("route %s: %v (the route answers 503)", rt.ID, err)
			}
		}
		p.Routes[rt] = pr
	}
	return p, nil
}

func (p *Project) warnf(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

func (p *Project) decodeConsumers() error {
	c, err := auth.DecodeConsumers(p.Table.Consumers())
	if err != nil {
		p.warnf("consumers: %v (routes with authentication plugins answer 503)", err)
		return err
	}
	p.Consumers = c
	return nil
}

func (p *Project) compileRoute(pr *Route, o Options, consumersErr error) error {
	rt := pr.Route
	t, w, err := plugins.Compile(rt.Plugins, rt.Globals...)
	for _, s := range w {
		p.warnf("route %s: %s", rt.ID, s)
	}
	if err != nil {
		return err
	}
	pr.Transforms = t
	if len(t.Auth) > 0 {
		if consumersErr != nil {
			return fmt.Errorf("decoding the project's consumers: %w", consumersErr)
		}
		if pr.Auth, err = auth.DecodeRoutePolicy(t.Auth, t.Raw); err != nil {
			return err
		}
	}
	if len(t.Limits) > 0 {
		if pr.Limits, err = ratelimit.RoutePolicies(p.ID, rt.ID, t.Limits, t.Raw); err != nil {
			return err
		}
	}
	switch {
	case rt.Kind == route.KindUpstream && t.AIProxy:
		pr.Target = Target{Kind: TargetAIProxy}
		if o.CheckAIProxy != nil {
			if err := o.CheckAIProxy(t.Raw); err != nil {
				return fmt.Errorf("ai-proxy: %w", err)
			}
		}
	case rt.Kind == route.KindUpstream:
		pr.Target = Target{Kind: TargetProxy}
	default:
		spec, err := p.module(rt, o)
		pr.Target = Target{Kind: TargetModule, Module: spec}
		if err != nil {
			return err
		}
	}
	return nil
}

// module returns the spec of a module route's module, checking the module once for all its routes.
func (p *Project) module(rt *route.Route, o Options) (*ModuleSpec, error) {
	if spec := p.Modules[rt.Module]; spec != nil {
		return spec, spec.Err
	}
	mod := p.Manifest.Module(rt.Module)
	if mod == nil {
		return nil, fmt.Errorf("module %q is not in the manifest", rt.Module)
	}
	spec := &ModuleSpec{Project: p.ID, Module: mod, Upstream: rt.Upstream, project: p}
	p.Modules[mod.Name] = spec
	p.ModuleOrder = append(p.ModuleOrder, mod.Name)
	if o.CheckModule != nil {
		served, err := o.CheckModule(spec)
		switch {
		case !served:
			spec.Err = fmt.Errorf("module %q: no module type %q is registered in this FD2 build: %w", mod.Name, mod.ModuleType, ErrModuleTypeUnavailable)
		case err != nil:
			spec.Err = fmt.Errorf("module %q (%s): %w", mod.Name, mod.ModuleType, err)
		}
	}
	return spec, spec.Err
}

// Routes of a module, for a module type that needs to know them (in table order).
func (p *Project) RoutesOf(module string) []*Route {
	var out []*Route
	for _, rt := range p.Table.Routes() {
		if pr := p.Routes[rt]; pr != nil && pr.Target.Kind == TargetModule && rt.Module == module {
			out = append(out, pr)
		}
	}
	return slices.Clip(out)
}
