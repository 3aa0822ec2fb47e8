// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"fmt"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/catalog"
	"github.com/dsp-ai/fd2/inference/responses"
)

// BuildForModule builds the engine of a manifest inference_endpoint module (decoded by
// catalog.DecodeEndpoint): endpoint_url is the provider's base URL, model_name/system_prompt/max_tokens/
// temperature/top_p are defaults the client may override.
func BuildForModule(project string, mod *manifest.Module, store responses.Store) (*inference.Engine, error) {
	ep, err := catalog.DecodeEndpoint(mod.Name, project+"/"+mod.Name, mod.Config)
	if err != nil {
		return nil, err
	}
	p, err := ep.Deployment.Build()
	if err != nil {
		return nil, err
	}
	p = catalog.Extend(p, store)
	router, err := inference.NewRouter([]inference.Route{{Alias: "*", Targets: []inference.Deployment{{Provider: p}}}}, routerOptions(0, 0))
	if err != nil {
		return nil, err
	}
	return &inference.Engine{Backend: router, Hooks: hooks(project, ""), Defaults: ep.Defaults, Responses: responses.ForEngine(store)}, nil
}

// CheckModule reports what BuildForModule would reject in an inference_endpoint module's config,
// naming the field at fault, without building an engine: for a load-time check when a manifest
// version compiles.
func CheckModule(mod *manifest.Module) error {
	ep, err := catalog.DecodeEndpoint(mod.Name, mod.Name, mod.Config)
	if err != nil {
		return err
	}
	return catalog.Check(ep.Deployment.Type, ep.Deployment.Config)
}

// HasAIProxy reports whether a route's plugins make it an inference route.
func HasAIProxy(p manifest.Plugins) bool {
	_, a := p["ai-proxy"]
	_, b := p["ai-proxy-multi"]
	return a || b
}

// BuildForPlugins builds the engine of a route carrying APISIX ai-proxy or ai-proxy-multi (decoded by
// catalog.DecodeAIProxy): each instance is a deployment (APISIX priority: higher first; weight within a
// priority); options.model forces the upstream model; override.endpoint replaces the provider's default
// URL.
func BuildForPlugins(project, routeID string, plugins manifest.Plugins, store responses.Store) (*inference.Engine, error) {
	deps, err := catalog.DecodeAIProxy(project+"/"+routeID, plugins)
	if err != nil {
		return nil, err
	}
	rt := inference.Route{Alias: "*"}
	for _, d := range deps {
		p, err := d.Build()
		if err != nil {
			return nil, fmt.Errorf("building provider %q: %w", d.Config.Name, err)
		}
		p = catalog.Extend(p, store)
		rt.Targets = append(rt.Targets, inference.Deployment{Provider: p, Model: d.Model, Weight: d.Weight, Priority: d.Priority})
	}
	router, err := inference.NewRouter([]inference.Route{rt}, routerOptions(0, 0))
	if err != nil {
		return nil, err
	}
	return &inference.Engine{Backend: router, Hooks: hooks(project, ""), Responses: responses.ForEngine(store)}, nil
}

// CheckPlugins reports what BuildForPlugins would reject in a route's ai-proxy or ai-proxy-multi
// config, naming the plugin, instance and field at fault, without building an engine.
func CheckPlugins(plugins manifest.Plugins) error {
	deps, err := catalog.DecodeAIProxy("", plugins)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if err := catalog.Check(d.Type, d.Config); err != nil {
			return fmt.Errorf("checking provider %q: %w", d.Config.Name, err)
		}
	}
	return nil
}
