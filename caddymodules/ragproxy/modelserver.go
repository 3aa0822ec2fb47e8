// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/upstream"
	"github.com/dsp-ai/fd2/rag/modelserver"
)

func init() {
	caddy.RegisterModule(ModelServer{})
}

// ModelServer (`dsp.modules.model_server`) fronts the DSP model server at /{project}/{module}/… (and the
// legacy /{project}/models/{module}/…): embeddings, rerank, classify and health under its /api/v1/models
// prefix with the module's default models applied and its available models enforced, plus OpenAI's
// /v1/embeddings and /v1/models translated, so OpenAI SDKs embed through it (package rag/modelserver).
type ModelServer struct {
	spec  *plan.ModuleSpec
	srv   *modelserver.Server
	proxy *gateway.Upstream
}

// CaddyModule returns the Caddy module information.
func (ModelServer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + "." + manifest.TypeModelServer, New: func() caddy.Module { return new(ModelServer) }}
}

// Configure decodes and checks the config (the platform's schema: unknown fields are allowed).
func (m *ModelServer) Configure(spec *plan.ModuleSpec) error {
	cfg, err := modelserver.DecodeConfig(spec.Module.Config)
	if err != nil {
		return err
	}
	srv, err := modelserver.New(cfg, basePath(spec))
	if err != nil {
		return err
	}
	m.spec, m.srv = spec, srv
	return nil
}

// Provision builds the proxy in the project version's context (closed with it).
func (m *ModelServer) Provision(ctx caddy.Context) error {
	p, err := provisionProxy(ctx, m.spec)
	m.proxy = p
	return err
}

// maxEmbeddingsAnswer bounds a model server answer translated to OpenAI's shape (2048 texts of 1024
// dimensions is about 20 MiB of JSON).
const maxEmbeddingsAnswer = 64 << 20

// Serve answers one request below the module's prefix.
func (m *ModelServer) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	call, aerr := m.srv.Resolve(r.Method, x.Rest())
	if aerr != nil {
		if aerr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", m.srv.Allow(x.Rest()))
		}
		return caddyhttp.Error(aerr.Status, aerr)
	}
	if call.Op == modelserver.OpModelsOpenAI {
		return writeJSON(w, http.StatusOK, m.srv.ModelsOpenAI())
	}
	if m.proxy == nil {
		return noUpstream(x)
	}
	if call.Idempotent {
		r = r.WithContext(upstream.Idempotent(r.Context()))
	}
	forward := func(w http.ResponseWriter, r *http.Request) error {
		return gateway.ServeProxy(m.proxy, w, r, x, call.Path)
	}
	switch call.Op {
	case modelserver.OpEmbeddingsOpenAI:
		return m.serveOpenAIEmbeddings(w, r, x, forward)
	case modelserver.OpEmbeddings, modelserver.OpRerank, modelserver.OpClassify:
		body, err := x.Body(r)
		if err != nil {
			return pipeline.BodyError(err)
		}
		out, aerr := m.srv.Rewrite(call.Op, body)
		if aerr != nil {
			return caddyhttp.Error(aerr.Status, aerr)
		}
		x.ReplaceBody(r, out, true)
		r.Header.Set("Content-Type", "application/json")
	}
	sw := newServiceWriter(w)
	err := forward(sw, r)
	if status, held, failed := sw.failed(); failed && err == nil {
		ae := modelserver.MapError(status, held)
		return caddyhttp.Error(ae.Status, ae)
	}
	return err
}

// serveOpenAIEmbeddings translates OpenAI's embeddings request to the model server's and its answer back,
// reporting the input tokens on the exchange's meter (token limits count them).
func (m *ModelServer) serveOpenAIEmbeddings(w http.ResponseWriter, r *http.Request, x *plan.Exchange,
	forward func(http.ResponseWriter, *http.Request) error) error {
	x.Usage.Claim() // reported here, from the request: the model server's answer carries no usage
	body, err := x.Body(r)
	if err != nil {
		return pipeline.BodyError(err)
	}
	up, meta, aerr := m.srv.EmbeddingsRequest(body)
	if aerr != nil {
		return caddyhttp.Error(aerr.Status, aerr)
	}
	x.ReplaceBody(r, up, true)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Del("Accept-Encoding") // the answer is read here, not passed on
	cw := newCaptureWriter(maxEmbeddingsAnswer)
	if err := forward(cw, r); err != nil {
		return err
	}
	if cw.status >= 400 {
		ae := modelserver.MapError(cw.status, cw.body)
		return caddyhttp.Error(ae.Status, ae)
	}
	if cw.overflow {
		return caddyhttp.Error(http.StatusBadGateway, apierr.New(http.StatusBadGateway, "upstream_error",
			"the model server's answer exceeds "+strconv.Itoa(maxEmbeddingsAnswer>>20)+" MiB"))
	}
	out, aerr := modelserver.EmbeddingsResponse(cw.body, meta, nil)
	if aerr != nil {
		return caddyhttp.Error(aerr.Status, aerr)
	}
	prompt := gjson.GetBytes(out, "usage.prompt_tokens").Int()
	x.Usage.Report(ratelimit.Usage{Prompt: prompt, Total: prompt})
	return writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// Interface guards.
var (
	_ gateway.ModuleType = (*ModelServer)(nil)
	_ caddy.Provisioner  = (*ModelServer)(nil)
)
