// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/ragproxy"
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
	spec      *plan.ModuleSpec
	engine    *inference.Engine
	retrieval *ragproxy.Retrieval
	retriever *ragproxy.Retriever
	logger    *zap.Logger
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
	ret, err := moduleRetrieval(spec)
	if err != nil {
		return err
	}
	m.spec, m.retrieval = spec, ret
	return nil
}

// moduleRetrieval reads an inference_endpoint's retrieval source: its `retrieval` member, or the
// shorthand `"rag_service": "<module>"`, which must name a rag_service module of the manifest.
func moduleRetrieval(spec *plan.ModuleSpec) (*ragproxy.Retrieval, error) {
	var c struct {
		Retrieval  *ragproxy.Retrieval `json:"retrieval"`
		RAGService string              `json:"rag_service"`
	}
	if err := spec.Module.DecodeConfig(&c); err != nil {
		return nil, err
	}
	ret := c.Retrieval
	switch {
	case ret != nil && c.RAGService != "":
		return nil, fmt.Errorf("inference_endpoint %q: give either retrieval or rag_service, not both", spec.Name())
	case ret == nil && c.RAGService == "":
		return nil, nil
	case ret == nil:
		ret = &ragproxy.Retrieval{RAG: c.RAGService}
	}
	if ret.RAG == "" {
		return nil, fmt.Errorf("inference_endpoint %q: retrieval.rag (a rag_service module or a RAG service URL) is required", spec.Name())
	}
	if mf := spec.Manifest(); mf != nil && !strings.HasPrefix(ret.RAG, "http://") && !strings.HasPrefix(ret.RAG, "https://") {
		if mod := mf.Module(ret.RAG); mod == nil || mod.ModuleType != manifest.TypeRAGService {
			return nil, fmt.Errorf("inference_endpoint %q: retrieval source %q names no rag_service module of the manifest", spec.Name(), ret.RAG)
		}
	}
	return ret, nil
}

// Provision builds the engine, its response store being the project's.
func (m *EndpointModule) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	e, err := BuildForModule(m.spec.Project, m.spec.Module, storeFor(ctx, "project/"+m.spec.Project))
	if err != nil {
		return err
	}
	m.engine = e
	if m.retrieval != nil {
		if m.retriever, err = m.retrieval.Build(m.spec.Peer); err != nil {
			return fmt.Errorf("inference_endpoint %q: %w", m.spec.Name(), err)
		}
	}
	return nil
}

// Serve answers /{project}/{module}/v1/<endpoint>.
func (m *EndpointModule) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	return ServeRetrieving(m.engine, m.retriever, w, r, endpoint(x.Rest()), x, m.logger)
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
