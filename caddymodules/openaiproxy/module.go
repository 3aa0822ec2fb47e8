// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/inference"
)

func init() {
	caddy.RegisterModule(EndpointModule{})
	gateway.RegisterAIProxy(aiProxy{})
}

// EndpointModule (`dsp.modules.inference_endpoint`) serves a manifest inference_endpoint module: the
// OpenAI API at /{project}/{module}/v1/…, over the provider its config names (endpoint_url is the
// provider's base URL; model_name, system_prompt, max_tokens, temperature and top_p are defaults the client
// may override).
type EndpointModule struct {
	spec   *plan.ModuleSpec
	engine *inference.Engine
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (EndpointModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + ".inference_endpoint", New: func() caddy.Module { return new(EndpointModule) }}
}

// Configure decodes and validates the module's config (no connection is opened).
func (m *EndpointModule) Configure(spec *plan.ModuleSpec) error {
	if err := CheckModule(spec.Module); err != nil {
		return err
	}
	m.spec = spec
	return nil
}

// Provision builds the engine, its response store being the project's.
func (m *EndpointModule) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	e, err := BuildForModule(m.spec.Project, m.spec.Module, storeFor(ctx, "project/"+m.spec.Project))
	if err != nil {
		return err
	}
	m.engine = e
	return nil
}

// Serve answers /{project}/{module}/v1/<endpoint>.
func (m *EndpointModule) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	return Serve(m.engine, w, r, endpoint(x.Rest()), x, m.logger)
}

// endpoint is the OpenAI endpoint of a path: what follows "/v1/".
func endpoint(path string) string {
	if i := strings.Index(path, "/v1/"); i >= 0 {
		return path[i+4:]
	}
	return strings.TrimPrefix(path, "/")
}

// aiProxy serves explicit routes carrying APISIX ai-proxy / ai-proxy-multi.
type aiProxy struct{}

func (aiProxy) Check(p manifest.Plugins) error {
	_, err := BuildForPlugins("", "", p, nil)
	return err
}

func (aiProxy) Build(ctx caddy.Context, project, routeID string, p manifest.Plugins) (plan.Module, error) {
	e, err := BuildForPlugins(project, routeID, p, storeFor(ctx, "project/"+project))
	if err != nil {
		return nil, err
	}
	return &aiProxyRoute{engine: e, logger: caddy.Log().Named("dsp.ai_proxy")}, nil
}

type aiProxyRoute struct {
	engine *inference.Engine
	logger *zap.Logger
}

func (a *aiProxyRoute) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	ep := endpoint(x.Path)
	if !strings.Contains(x.Path, "/v1/") {
		ep = "chat/completions" // APISIX ai-proxy routes any path to the chat endpoint
	}
	return Serve(a.engine, w, r, ep, x, a.logger)
}

// Interface guards.
var (
	_ gateway.ModuleType = (*EndpointModule)(nil)
	_ caddy.Provisioner  = (*EndpointModule)(nil)
)
