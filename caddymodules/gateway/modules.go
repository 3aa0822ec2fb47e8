// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
)

// ModuleNamespace is the Caddy module namespace of manifest module types: the module_type "rag_service" is
// served by the Caddy module "dsp.modules.rag_service". Third parties add types with xcaddy build --with.
const ModuleNamespace = "dsp.modules"

// ModuleType is what a Caddy module of the dsp.modules namespace implements (see plan.Module and
// docs/modules.md). Caddy's Provisioner, Validator and CleanerUpper and plan.HealthChecker are optional.
type ModuleType interface {
	caddy.Module
	plan.Configurer
	plan.Module
}

// newModuleType returns a fresh, unconfigured instance of the type registered for a module_type; ok is false
// when none is.
func newModuleType(moduleType string) (ModuleType, bool, error) {
	info, err := caddy.GetModule(ModuleNamespace + "." + moduleType)
	if err != nil {
		return nil, false, nil
	}
	mt, ok := info.New().(ModuleType)
	if !ok {
		return nil, true, fmt.Errorf("caddy module %s does not implement the module type interface (Configure and Serve)", info.ID)
	}
	return mt, true, nil
}

// registeredType reports whether a module type is registered: a third-party type (one the Control Tower's
// enum does not list) makes a valid manifest only in a build that serves it.
func registeredType(moduleType string) bool {
	_, err := caddy.GetModule(ModuleNamespace + "." + moduleType)
	return err == nil
}

// checkModule is the compile-time check of a module: is its type registered, and does its config configure.
func checkModule(spec *plan.ModuleSpec) (bool, error) {
	mt, ok, err := newModuleType(spec.Type())
	if !ok || err != nil {
		return ok, err
	}
	return true, mt.Configure(spec)
}

// buildModule builds a module of a pooled project version in the version's context: Configure, then
// Caddy's Provision and Validate. Its Cleanup runs when that context is cancelled.
func buildModule(ctx caddy.Context, spec *plan.ModuleSpec) (plan.Module, error) {
	mt, ok, err := newModuleType(spec.Type())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, plan.ErrModuleTypeUnavailable
	}
	if err := mt.Configure(spec); err != nil {
		return nil, fmt.Errorf("configuring: %w", err)
	}
	if c, ok := mt.(caddy.CleanerUpper); ok {
		// Registered before Provision: Cleanup must also undo a partial Provision (STYLE.md).
		ctx.OnCancel(func() { _ = c.Cleanup() })
	}
	if p, ok := mt.(caddy.Provisioner); ok {
		if err := p.Provision(ctx); err != nil {
			return nil, fmt.Errorf("provisioning: %w", err)
		}
	}
	if v, ok := mt.(caddy.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("validating: %w", err)
		}
	}
	return mt, nil
}

// AIProxy serves the explicit routes that carry APISIX ai-proxy / ai-proxy-multi. Package openaiproxy
// registers it (this package cannot import openaiproxy, which imports it).
type AIProxy interface {
	// Check decodes and validates a route's plugins when its manifest version compiles.
	Check(p manifest.Plugins) error
	// Build makes what serves one route of a pooled project version, in the version's context.
	Build(ctx caddy.Context, project, routeID string, p manifest.Plugins) (plan.Module, error)
}

var aiProxy AIProxy

// RegisterAIProxy installs the ai-proxy implementation; call it from an init function.
func RegisterAIProxy(a AIProxy) { aiProxy = a }

var errNoAIProxy = errors.New("no ai-proxy implementation is registered in this FD2 build")

// CompileProject decodes and compiles a resolved manifest document into its plan, as the dsp app's resolver
// does for every manifest version: module configs are checked against the module types registered in
// this build.
func CompileProject(id string, raw []byte) (*plan.Project, error) {
	o := plan.Options{CheckModule: checkModule, CheckAIProxy: func(p manifest.Plugins) error {
		if aiProxy == nil {
			return errNoAIProxy
		}
		return aiProxy.Check(p)
	}, ExtraType: registeredType}
	return plan.Compile(id, raw, o)
}
