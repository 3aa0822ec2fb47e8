// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package dispatch is the `dsp_dispatch` handler, the last stage of the pipeline: it runs the matched
// route's transforms and hands the request to its target — a pooled Caddy reverse proxy for explicit
// routes, the inference module for ai-proxy routes, and for module routes the module type registered for
// the module (dsp.modules.<module_type>).
package dispatch

import (
	"errors"
	"fmt"
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
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/reqbody"
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
//  1. refuses routes that must not be served: a restrictive plugin FD2 does not implement (403),
//     authentication plugins with no stage having authenticated the request (401), limit plugins no stage
//     applied (503) — routes fail closed, never open (a config FD2 could not compile was answered 503 by
//     dsp_manifest already);
//  2. answers CORS preflights of routes with the cors plugin;
//  3. applies request-id, ai-prompt-template and ai-prompt-decorator (which replace the JSON body) and
//     registers cors response headers;
//  4. hands the request to the route's target in the project version's pool: an explicit route's reverse
//     proxy (Caddy's reverse_proxy: weighted nodes, https by default, connect/send/read timeouts, retries;
//     SSE and other unbounded responses are flushed as they arrive; proxy-rewrite and response-rewrite
//     applied), an ai-proxy route's inference engine, or a module route's module.
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
	x := pipeline.ExchangeOf(r)
	if x.Route == nil {
		return fail(http.StatusInternalServerError, "misconfigured", "dsp_dispatch needs dsp_manifest before it in the route")
	}
	t0 := time.Now()
	r, span := pipeline.StartSpan(r, "fd2.dispatch")
	defer func() { span.End() }() // span becomes the upstream span once the upstream call begins
	// upstreamBegins closes the dispatch stage and opens the upstream span, whose trace context is what
	// the upstream receives.
	upstreamBegins := func() {
		now := time.Now()
		x.Stage[plan.StageDispatch] += now.Sub(t0)
		x.UpstreamBegins(now)
		span.End()
		var up trace.Span
		r, up = pipeline.StartSpan(r, "fd2.upstream", attribute.String("fd2.route", x.Route.ID),
			attribute.String("fd2.route_kind", x.Route.Kind.String()))
		span = up
	}
	rt := x.Route
	t := rt.Transforms // dsp_manifest answered a route without a usable plan already
	if t.Denied != "" {
		return fail(http.StatusForbidden, "plugin_unsupported",
			"route "+rt.ID+" uses plugin "+t.Denied+", which FD2 does not enforce; the route is closed")
	}
	if rt.Auth != nil && !x.Authenticated {
		return fail(http.StatusUnauthorized, "authentication_required",
			"route "+rt.ID+" requires "+strings.Join(t.Auth, ", ")+" authentication and the request was not authenticated")
	}
	if len(rt.Limits) > 0 && !x.RateLimited {
		return fail(http.StatusServiceUnavailable, "ratelimit_required",
			"route "+rt.ID+" requires "+strings.Join(t.Limits, ", ")+" and no dsp_ratelimit stage applied it")
	}

	hdr := w.Header()
	if t.RequestID != nil {
		x.SetRequestID(t.RequestID.Apply(r, hdr, x.RequestID()))
	}
	if t.CORS != nil {
		t.CORS.Apply(r, hdr)
		if plugins.IsPreflight(r) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}

	// Body limit: refuse early on a declared length, cut streamed bodies at the limit.
	if r.ContentLength > h.MaxBodySize {
		return fail(http.StatusRequestEntityTooLarge, "request_too_large",
			"request body exceeds "+humanize.IBytes(uint64(h.MaxBodySize)))
	}
	if x.BodyLimit == 0 || h.MaxBodySize < x.BodyLimit {
		x.BodyLimit = h.MaxBodySize // one cap for every later whole read; a body read already kept its own
	}
	var lim *reqbody.Limited
	if _, read := r.Body.(*reqbody.Buffered); !read && r.Body != nil && r.Body != http.NoBody {
		// Streamed to the upstream as it arrives; a body an earlier stage read whole was capped then.
		lim = reqbody.Limit(r.Body, h.MaxBodySize)
		r.Body = lim
	}
	if t.PromptTemplate != nil || t.PromptDecorator != nil {
		if err := h.rewriteBody(r, x, t); err != nil {
			return err
		}
	}

	pooled, err := h.app.Pool().Acquire(x.Project)
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable,
			"project_unavailable", "project "+x.ProjectID+" could not be loaded", err))
	}
	defer pooled.Release()
	switch rt.Target.Kind {
	case plan.TargetModule:
		m, err := pooled.Module(rt.Module)
		if err != nil {
			return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable, "module_unavailable",
				"module "+rt.Module+" is unavailable", err))
		}
		upstreamBegins()
		err = m.Serve(w, r, x)
		return h.bodyCut(err, lim)
	case plan.TargetAIProxy:
		m := pooled.AIProxy(rt.Route)
		if m == nil {
			return fail(http.StatusServiceUnavailable, "route_misconfigured", "route "+rt.ID+" has no usable ai-proxy")
		}
		upstreamBegins()
		return m.Serve(w, r, x)
	}
	proxy := pooled.Target(rt.Route)
	if proxy == nil {
		return fail(http.StatusBadGateway, "no_upstream", "route "+rt.ID+" has no upstream")
	}
	upstreamBegins()
	// Explicit routes forward the whole canonical path, as APISIX does.
	return h.bodyCut(gateway.ServeProxy(proxy, w, r, x, x.Path), lim)
}

// bodyCut turns the error of a target that met the streamed body's cap into the client's 413.
func (h *Handler) bodyCut(err error, lim *reqbody.Limited) error {
	if err != nil && lim != nil && lim.Exceeded() {
		return fail(http.StatusRequestEntityTooLarge, "request_too_large",
			"request body exceeds "+humanize.IBytes(uint64(h.MaxBodySize)))
	}
	return err
}

// rewriteBody applies ai-prompt-template (which replaces the body) and ai-prompt-decorator.
func (h *Handler) rewriteBody(r *http.Request, x *plan.Exchange, t *plugins.Transforms) error {
	body, err := x.Body(r)
	if err != nil {
		return pipeline.BodyError(err)
	}
	if len(body) == 0 {
		return fail(http.StatusBadRequest, "invalid_request", "a JSON request body is required")
	}
	// Each plugin decodes the whole document once and encodes an object: the result needs no validation
	// downstream (reqbody counts the passes; a test holds the pipeline to its budget).
	out := body
	if t.PromptTemplate != nil {
		out, err = t.PromptTemplate.Render(out)
		reqbody.Parsed(r, false)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", err.Error(), err))
		}
	}
	if t.PromptDecorator != nil {
		out, err = t.PromptDecorator.Apply(out)
		reqbody.Parsed(r, false)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", err.Error(), err))
		}
	}
	x.ReplaceBody(r, out, len(out) > 0 && out[0] == '{') // json.Marshal's output: an object starts with '{'

	r.Header.Set("Content-Type", "application/json")
	return nil
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
