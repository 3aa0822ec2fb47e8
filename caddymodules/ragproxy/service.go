// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/upstream"
	"github.com/dsp-ai/fd2/rag"
)

func init() {
	caddy.RegisterModule(RAGService{})
}

// RAGService (`dsp.modules.rag_service`) fronts the DSP RAG service at /{project}/{module}/… (and the
// legacy /{project}/rag/{module}/…): RAG2's API under its /api/v1 prefix and its OpenAI-compatible chat at
// its root, with the module's defaults applied, the caller's metadata_filter claim enforced and RAG2's
// errors mapped back to honest statuses (package rag).
type RAGService struct {
	spec  *plan.ModuleSpec
	svc   *rag.Service
	proxy *gateway.Upstream
}

// CaddyModule returns the Caddy module information.
func (RAGService) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + "." + manifest.TypeRAGService, New: func() caddy.Module { return new(RAGService) }}
}

// Configure decodes and checks the config (the platform's schema: unknown fields are allowed).
func (m *RAGService) Configure(spec *plan.ModuleSpec) error {
	cfg, err := rag.DecodeServiceConfig(spec.Module.Config)
	if err != nil {
		return err
	}
	svc, err := rag.NewService(cfg, basePath(spec))
	if err != nil {
		return err
	}
	m.spec, m.svc = spec, svc
	return nil
}

// basePath is the path of the module's service_url ("" when it has none usable: the route then answers 502).
func basePath(spec *plan.ModuleSpec) string {
	if spec.Upstream == nil {
		return ""
	}
	return spec.Upstream.BasePath
}

// Provision builds the proxy in the project version's context (closed with it).
func (m *RAGService) Provision(ctx caddy.Context) error {
	p, err := provisionProxy(ctx, m.spec)
	m.proxy = p
	return err
}

func provisionProxy(ctx caddy.Context, spec *plan.ModuleSpec) (*gateway.Upstream, error) {
	up := spec.Upstream
	if up == nil || len(up.Nodes) == 0 {
		return nil, nil
	}
	p, err := gateway.UpstreamFor(ctx, up)
	if err != nil {
		return nil, fmt.Errorf("provisioning the proxy to %s: %w", spec.Name(), err)
	}
	return p, nil
}

// Serve answers one request below the module's prefix.
func (m *RAGService) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	if m.proxy == nil {
		return noUpstream(x)
	}
	return serveService(m.svc, w, r, x, x.Rest(), m.spec.Name(), func(w http.ResponseWriter, r *http.Request, path string) error {
		return gateway.ServeProxy(m.proxy, w, r, x, path)
	})
}

func noUpstream(x *plan.Exchange) error {
	id := ""
	if x.Route != nil {
		id = x.Route.ID
	}
	return caddyhttp.Error(http.StatusBadGateway, apierr.New(http.StatusBadGateway, "no_upstream", "route "+id+" has no upstream"))
}

// forwardFunc sends the (rewritten) request to the service at path and writes its answer to w.
type forwardFunc func(w http.ResponseWriter, r *http.Request, path string) error

// serveService is the RAG front, for a module route and for dsp_rag alike; module labels the
// first-token metric ("" on a static site).
func serveService(svc *rag.Service, w http.ResponseWriter, r *http.Request, x *plan.Exchange, rest string,
	module string, forward forwardFunc) error {
	call, aerr := svc.Resolve(r.Method, rest)
	if aerr != nil {
		if aerr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", strings.Join(call.Allow, ", "))
		}
		return caddyhttp.Error(aerr.Status, aerr)
	}
	claim, err := claimFilter(x.Principal)
	if err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	switch call.Op {
	case rag.OpQuery, rag.OpRetrieve, rag.OpChat:
		body, err := x.Body(r)
		if err != nil {
			return pipeline.BodyError(err)
		}
		out, aerr := svc.Rewrite(call.Op, body, claim)
		if aerr != nil {
			return caddyhttp.Error(aerr.Status, aerr)
		}
		x.ReplaceBody(r, out, true)
		r.Header.Set("Content-Type", "application/json")
	case rag.OpModels, rag.OpHealth:
	default:
		if claim != nil {
			// Uploads, document listings and configurations cannot be narrowed by a filter: a caller whose
			// credential confines it to some documents must not list, read or change the others.
			return caddyhttp.Error(http.StatusForbidden, apierr.New(http.StatusForbidden, "filter_restricted",
				"this credential is limited by a "+FilterClaim+" claim; document and configuration management is not available to it"))
		}
	}
	if call.Idempotent {
		r = r.WithContext(upstream.Idempotent(r.Context()))
	}
	sw := newServiceWriter(w)
	if call.Op == rag.OpChat && !x.NoMetrics {
		var fc rag.FirstContent
		sw.onWrite = func(b []byte) {
			if fc.Feed(b) {
				serviceTTFT.WithLabelValues(x.MetricsProject(), module).Observe(time.Since(x.Start).Seconds())
				sw.onWrite = nil
			}
		}
	}
	err = forward(sw, r, call.Path)
	if status, held, failed := sw.failed(); failed && err == nil {
		ae := rag.MapError(status, held)
		return caddyhttp.Error(ae.Status, ae)
	}
	return err
}

// Interface guards.
var (
	_ gateway.ModuleType = (*RAGService)(nil)
	_ caddy.Provisioner  = (*RAGService)(nil)
)
