// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package dispatch is the `dsp_dispatch` handler, the last stage of the pipeline: it runs the matched
// route's transforms and hands the request to its target — a pooled Caddy reverse proxy for upstream, RAG
// and model-server routes.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/openaiproxy"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/broker"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/reqbody"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/inference"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_dispatch", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// Handler is the `dsp_dispatch` handler. For the route dsp_manifest matched it:
//
//  1. refuses routes that must not be served: a plugin config FD2 could not compile (503), a restrictive
//     plugin FD2 does not implement (403), or authentication plugins with no stage having authenticated the
//     request (401) — routes fail closed, never open;
//  2. answers CORS preflights of routes with the cors plugin;
//  3. applies request-id, ai-prompt-template (replaces the JSON body), proxy-rewrite (path, method, Host,
//     headers) and registers response-rewrite and cors response headers;
//  4. proxies to the route's pooled upstream (Caddy's reverse_proxy: weighted nodes, https by default,
//     connect/send/read timeouts, retries; SSE and other unbounded responses are flushed as they arrive).
//
// Module routes strip their /{project}/{module} prefix (and prepend the service URL's path) before
// forwarding. Token-broker routes forward logins to the module's JWT service. inference_endpoint module
// routes and routes with the ai-proxy / ai-proxy-multi plugins are served by the inference module
// (package openaiproxy), after the prompt plugins.
//
// Request bodies are capped at MaxBodySize (413).
type Handler struct {
	// MaxBodySize caps request bodies, in bytes. Default: the dsp app's max_body_size (10 MiB); a larger
	// value cannot raise the cap for bodies an earlier stage read whole (token limits) under the app's.
	// Requests declaring a larger Content-Length are refused before any upstream is contacted; streamed
	// bodies are cut at the limit.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	app    *gateway.App
	logger *zap.Logger
	broker *broker.Broker
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_dispatch", New: func() caddy.Module { return new(Handler) }}
}

// Provision looks up the dsp app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	appIface, err := ctx.App("dsp")
	if err != nil {
		return fmt.Errorf("getting dsp app: %w", err)
	}
	h.app = appIface.(*gateway.App)
	if h.MaxBodySize == 0 {
		h.MaxBodySize = h.app.BodyLimit()
	}
	h.broker = &broker.Broker{}
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.MaxBodySize < 0 {
		return errors.New("max_body_size must not be negative")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (h *Handler) Cleanup() error { return nil }

func fail(status int, code, msg string) error {
	return caddyhttp.Error(status, apierr.New(status, code, msg))
}

// ServeHTTP dispatches the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	st := gateway.RequestFrom(r)
	if st == nil || st.Route == nil {
		return fail(http.StatusInternalServerError, "misconfigured", "dsp_dispatch needs dsp_manifest before it in the route")
	}
	t0 := time.Now()
	r, span := gateway.StartSpan(r, "fd2.dispatch")
	defer func() { span.End() }() // span becomes the upstream span once the upstream call begins
	// upstreamBegins closes the dispatch stage and opens the upstream span, whose trace context is what
	// the upstream receives.
	upstreamBegins := func() {
		now := time.Now()
		st.Stage[gateway.StageDispatch] += now.Sub(t0)
		st.UpstreamBegins(now)
		span.End()
		var up trace.Span
		r, up = gateway.StartSpan(r, "fd2.upstream", attribute.String("fd2.route", st.Route.ID),
			attribute.String("fd2.route_kind", st.Route.Kind.String()))
		span = up
	}
	rt := st.Route
	t := st.Info.Transforms // dsp_manifest answered a route without usable plugins already
	if t.Denied != "" {
		return fail(http.StatusForbidden, "plugin_unsupported",
			"route "+rt.ID+" uses plugin "+t.Denied+", which FD2 does not enforce; the route is closed")
	}
	if len(t.Auth) > 0 && !st.Authenticated {
		return fail(http.StatusUnauthorized, "authentication_required",
			"route "+rt.ID+" requires "+strings.Join(t.Auth, ", ")+" authentication and the request was not authenticated")
	}
	if len(t.Limits) > 0 && !st.RateLimited {
		return fail(http.StatusServiceUnavailable, "ratelimit_required",
			"route "+rt.ID+" requires "+strings.Join(t.Limits, ", ")+" and no dsp_ratelimit stage applied it")
	}

	hdr := w.Header()
	if t.RequestID != nil {
		st.SetRequestID(t.RequestID.Apply(r, hdr, st.RequestID()))
	}
	if t.CORS != nil {
		t.CORS.Apply(r, hdr)
		if plugins.IsPreflight(r) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}

	if rt.Kind == route.KindTokenBroker {
		upstreamBegins()
		return h.tokenBroker(w, r, st)
	}

	// Body limit: refuse early on a declared length, cut streamed bodies at the limit.
	if r.ContentLength > h.MaxBodySize {
		return fail(http.StatusRequestEntityTooLarge, "request_too_large",
			"request body exceeds "+humanize.IBytes(uint64(h.MaxBodySize)))
	}
	var lim *reqbody.Limited
	if _, read := r.Body.(*reqbody.Buffered); !read && r.Body != nil && r.Body != http.NoBody {
		// Streamed to the upstream as it arrives; a body an earlier stage read whole was capped then.
		lim = reqbody.Limit(r.Body, h.MaxBodySize)
		r.Body = lim
	}
	if t.PromptTemplate != nil || t.PromptDecorator != nil {
		if err := h.rewriteBody(r, t); err != nil {
			return err
		}
	}

	switch {
	case rt.Kind == route.KindInference:
		upstreamBegins()
		return h.inference(w, r, st)
	case t.AIProxy:
		upstreamBegins()
		return h.aiProxy(w, r, st)
	case rt.Kind == route.KindUpstream, rt.Kind == route.KindRAG, rt.Kind == route.KindModelServer:
	default:
		return fail(http.StatusNotImplemented, "module_unavailable", "route kind "+rt.Kind.String()+" is not supported")
	}
	if rt.Upstream == nil || len(rt.Upstream.Nodes) == 0 {
		return fail(http.StatusBadGateway, "no_upstream", "route "+rt.ID+" has no upstream")
	}

	// Upstream path: explicit routes forward the canonical path, module routes strip their prefix.
	path := st.Path
	if rt.StripPrefix != "" {
		path = strings.TrimPrefix(path, rt.StripPrefix)
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
		if rt.Upstream.BasePath != "" {
			path = rt.Upstream.BasePath + path
		}
	}
	if pr := t.ProxyRewrite; pr != nil {
		path = pr.Path(r, path)
		pr.ApplyHeaders(r)
	}
	if path != r.URL.Path {
		r.URL.Path = path
		r.URL.RawPath = ""
	}

	pooled, err := h.app.Pool().Acquire(st.Compiled)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable,
			"project_unavailable", "project "+st.Project+" could not be loaded", err))
	}
	defer pooled.Release()
	proxy := pooled.Target(rt)
	if proxy == nil {
		return fail(http.StatusBadGateway, "no_upstream", "route "+rt.ID+" has no usable upstream")
	}
	if t.Response != nil {
		w = &rewriteWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, rr: t.Response}
	}
	upstreamBegins()
	start := time.Now()
	err = proxy.ServeHTTP(w, r, next)
	took := time.Since(start)
	st.Upstream += took
	observeProxied(r, st, err, took)
	if err != nil && lim != nil && lim.Exceeded() {
		return fail(http.StatusRequestEntityTooLarge, "request_too_large",
			"request body exceeds "+humanize.IBytes(uint64(h.MaxBodySize)))
	}
	return err
}

// tokenBroker serves POST /{project}/{jwt_module}/token: the client's {username, password} goes to the
// module's JWT service with the module config as api_key_config (spec §3.6), and the answer comes back as is.
func (h *Handler) tokenBroker(w http.ResponseWriter, r *http.Request, st *gateway.Request) error {
	mod := st.Compiled.Manifest.Module(st.Route.Module)
	if mod == nil {
		return fail(http.StatusNotFound, "module_not_found", "JWT module "+st.Route.Module+" not found in project "+st.Project)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "request_too_large", "token request body is too large")
		}
		return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", "reading request body failed", err))
	}
	start := time.Now()
	res, err := h.broker.Token(r.Context(), mod.Config, body)
	took := time.Since(start)
	st.Upstream += took
	switch {
	case err == nil:
		st.UpstreamStatus = res.Status
		if !st.NoMetrics {
			st.Info.ObserveUpstream(res.Status, 0, took)
		}
	case st.NoMetrics:
	case errors.Is(err, context.DeadlineExceeded) || broker.IsTimeout(err):
		st.Info.ObserveUpstream(-1, 0, took)
	case !errors.Is(err, broker.ErrBadRequest) && !errors.Is(err, broker.ErrNoServiceURL) && !errors.Is(err, broker.ErrInvalidConfig):
		st.Info.ObserveUpstream(0, 0, took)
	}
	switch {
	case errors.Is(err, broker.ErrBadRequest):
		return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request",
			"a JSON body with string username and password is required", err))
	case errors.Is(err, broker.ErrNoServiceURL) || errors.Is(err, broker.ErrInvalidConfig):
		// The original dumped the module config (secrets included) into this message; FD2 does not.
		return caddyhttp.Error(http.StatusInternalServerError, apierr.Wrap(http.StatusInternalServerError, "jwt_service_unconfigured",
			"JWT service URL not configured in module "+st.Route.Module, err))
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || broker.IsTimeout(err)):
		return caddyhttp.Error(http.StatusGatewayTimeout, apierr.Wrap(http.StatusGatewayTimeout, "upstream_timeout", "the JWT service timed out", err))
	case err != nil:
		return caddyhttp.Error(http.StatusBadGateway, apierr.Wrap(http.StatusBadGateway, "upstream_unavailable", "the JWT service is unavailable", err))
	}
	ct := res.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(res.Status)
	_, err = w.Write(res.Body)
	return err
}

// inference serves an inference_endpoint module route: /{project}/{module}/v1/<endpoint>.
func (h *Handler) inference(w http.ResponseWriter, r *http.Request, st *gateway.Request) error {
	mod := st.Compiled.Manifest.Module(st.Route.Module)
	if mod == nil {
		return fail(http.StatusNotFound, "module_not_found", "module "+st.Route.Module+" not found")
	}
	v, err := st.Compiled.Ext("dsp_openai.module."+mod.Name, func(p *gateway.Project) (any, error) {
		return openaiproxy.BuildForModule(p.ID, mod)
	})
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable, "module_misconfigured",
			"inference module "+mod.Name+" is misconfigured", err))
	}
	rest := strings.TrimPrefix(st.Path, st.Route.StripPrefix)
	return openaiproxy.Serve(v.(*inference.Engine), w, r, endpoint(rest), st.Project, h.logger)
}

// aiProxy serves a route carrying APISIX ai-proxy / ai-proxy-multi through the inference module.
func (h *Handler) aiProxy(w http.ResponseWriter, r *http.Request, st *gateway.Request) error {
	v, err := st.Compiled.Ext("dsp_openai.route."+st.Route.ID, func(p *gateway.Project) (any, error) {
		return openaiproxy.BuildForPlugins(p.ID, st.Route.ID, st.Info.Transforms.Raw)
	})
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable, "route_misconfigured",
			"route "+st.Route.ID+" has an unusable ai-proxy configuration", err))
	}
	ep := endpoint(st.Path)
	if !strings.Contains(st.Path, "/v1/") {
		ep = "chat/completions" // APISIX ai-proxy routes any path to the chat endpoint
	}
	return openaiproxy.Serve(v.(*inference.Engine), w, r, ep, st.Project, h.logger)
}

// endpoint is the OpenAI endpoint of a path: what follows "/v1/".
func endpoint(path string) string {
	if i := strings.Index(path, "/v1/"); i >= 0 {
		return path[i+4:]
	}
	return strings.TrimPrefix(path, "/")
}

// rewriteBody applies ai-prompt-template (which replaces the body) and ai-prompt-decorator.
func (h *Handler) rewriteBody(r *http.Request, t *plugins.Transforms) error {
	body, err := reqbody.Read(r, h.MaxBodySize)
	if err != nil {
		return bodyError(err)
	}
	if len(body) == 0 {
		return fail(http.StatusBadRequest, "invalid_request", "a JSON request body is required")
	}
	out := body
	if t.PromptTemplate != nil {
		if out, err = t.PromptTemplate.Render(out); err != nil {
			return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", err.Error(), err))
		}
	}
	if t.PromptDecorator != nil {
		if out, err = t.PromptDecorator.Apply(out); err != nil {
			return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", err.Error(), err))
		}
	}
	reqbody.Replace(r, out)
	r.Header.Set("Content-Type", "application/json")
	return nil
}

// bodyError is the client's answer to a body that could not be read whole: 413 over the cap, else 400.
func bodyError(err error) error {
	var tl *reqbody.TooLargeError
	if errors.As(err, &tl) {
		return fail(http.StatusRequestEntityTooLarge, "request_too_large",
			"request body exceeds "+humanize.IBytes(uint64(tl.Limit)))
	}
	return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", "reading request body failed", err))
}

// rewriteWriter applies response-rewrite to the response headers (and status) when they are written.
// It never buffers: writes and flushes go straight through (Flush via Unwrap).
type rewriteWriter struct {
	*caddyhttp.ResponseWriterWrapper
	rr      *plugins.ResponseRewrite
	written bool
}

func (w *rewriteWriter) WriteHeader(code int) {
	if code < 200 || w.written {
		w.ResponseWriterWrapper.WriteHeader(code)
		return
	}
	w.written = true
	w.rr.Apply(w.Header())
	if w.rr.Status != 0 {
		code = w.rr.Status
	}
	w.ResponseWriterWrapper.WriteHeader(code)
}

func (w *rewriteWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_dispatch {
//		max_body_size <size>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		if name != "max_body_size" {
			return d.Errf("unrecognized subdirective %q", name)
		}
		var err error
		h.MaxBodySize, err = caddyfileopt.Size(d)
		return err
	})
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)

// observeProxied records a reverse-proxied call from what Caddy's reverse_proxy left in the replacer: the
// upstream's status and its time to response headers.
func observeProxied(r *http.Request, st *gateway.Request, err error, took time.Duration) {
	status := 0
	var ttfb time.Duration
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if v, ok := repl.Get("http.reverse_proxy.status_code"); ok {
			status, _ = v.(int)
		}
		if v, ok := repl.Get("http.reverse_proxy.upstream.latency"); ok {
			ttfb, _ = v.(time.Duration)
		}
	}
	if status == 0 {
		var he caddyhttp.HandlerError
		if err != nil && errors.As(err, &he) && he.StatusCode == http.StatusGatewayTimeout {
			status = -1
		}
	} else {
		st.UpstreamStatus = status
	}
	if st.NoMetrics || (status == 0 && err == nil) {
		return // metrics off, or the proxy answered nothing and failed nothing (a handled preflight, say): no upstream call
	}
	st.Info.ObserveUpstream(status, ttfb, took)
}
