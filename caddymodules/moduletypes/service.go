// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package moduletypes

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
)

func init() {
	caddy.RegisterModule(RAGService{})
	caddy.RegisterModule(ModelServer{})
}

// RAGService (`dsp.modules.rag_service`) forwards /{project}/{module}/… (and the legacy
// /{project}/rag/{module}/…) to the module's service_url, the DSP RAG service.
type RAGService struct{ serviceProxy }

// CaddyModule returns the Caddy module information.
func (RAGService) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + "." + manifest.TypeRAGService, New: func() caddy.Module { return new(RAGService) }}
}

// Configure decodes the config. The platform owns this schema (FD2 reads a few of its fields), so unknown
// fields are allowed.
func (m *RAGService) Configure(spec *plan.ModuleSpec) error {
	var c manifest.RAGServiceConfig
	return m.configure(spec, &c)
}

// ModelServer (`dsp.modules.model_server`) forwards /{project}/{module}/… (and the legacy
// /{project}/models/{module}/…) to the module's service_url.
type ModelServer struct{ serviceProxy }

// CaddyModule returns the Caddy module information.
func (ModelServer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + "." + manifest.TypeModelServer, New: func() caddy.Module { return new(ModelServer) }}
}

// Configure decodes the config (the platform's schema: unknown fields are allowed).
func (m *ModelServer) Configure(spec *plan.ModuleSpec) error {
	var c manifest.ModelServerConfig
	return m.configure(spec, &c)
}

// serviceProxy is a pooled reverse proxy to a module's service.
type serviceProxy struct {
	spec  *plan.ModuleSpec
	proxy *gateway.Upstream
}

func (s *serviceProxy) configure(spec *plan.ModuleSpec, cfg any) error {
	if err := spec.Module.DecodeConfig(cfg); err != nil {
		return err
	}
	s.spec = spec
	return nil
}

// Provision builds the proxy in the project version's context (cleaned up with it). A module without a
// usable service_url (a manifest warning) has none and answers 502.
func (s *serviceProxy) Provision(ctx caddy.Context) error {
	if up := s.spec.Upstream; up != nil && len(up.Nodes) > 0 {
		p, err := gateway.UpstreamFor(ctx, up)
		if err != nil {
			return fmt.Errorf("provisioning the proxy to %s: %w", s.spec.Name(), err)
		}
		s.proxy = p
	}
	return nil
}

// Serve forwards the request below the module's prefix, behind the service URL's own path.
func (s *serviceProxy) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	if s.proxy == nil {
		return caddyhttp.Error(http.StatusBadGateway, apierr.New(http.StatusBadGateway, "no_upstream", "route "+x.Route.ID+" has no upstream"))
	}
	return gateway.ServeProxy(s.proxy, w, r, x, s.spec.Upstream.BasePath+x.Rest())
}

// Interface guards.
var (
	_ gateway.ModuleType = (*RAGService)(nil)
	_ gateway.ModuleType = (*ModelServer)(nil)
	_ caddy.Provisioner  = (*RAGService)(nil)
)
