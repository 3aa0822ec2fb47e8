// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package manifest is the `dsp_manifest` handler, the first stage of the manifest pipeline.
package manifest

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(ManifestHandler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_manifest", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(ManifestHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// ManifestHandler is the `dsp_manifest` handler, the first stage of the pipeline. It finds the request's
// project, resolves its manifest through the dsp app (memory → Redis → source → last-good), matches a route
// and publishes the result for the later stages (the request's plan.Exchange, see ExchangeOf) and for the
// config (placeholders). It also records the request metrics, since it sees every request end to end.
//
// The project comes from, in order:
//  1. the header X-Project-Module: <project>/<module> (the request path is then relative to the module);
//  2. the Host, when HostSuffix is set and the Host is <project><HostSuffix> (the path is then relative to
//     the project);
//  3. the first path segment (/{project}/…, the normal form);
//  4. the header X-Project-Id when the path is "/" (the original front door's fallback).
//
// Every form is turned into the canonical path /{project}/… before matching, so that one route table
// serves them all.
//
// Placeholders set:
//
//	| placeholder              | value                                              |
//	|--------------------------|----------------------------------------------------|
//	| {dsp.project}            | project id                                         |
//	| {dsp.module}             | module owning the matched route                    |
//	| {dsp.route}              | route id, "<module>/<route>" or "<module>"          |
//	| {dsp.route_kind}         | upstream, inference, rag, model_server, token_broker |
//	| {dsp.consumer}           | authenticated consumer id (set by dsp_auth)        |
//	| {dsp.request_id}         | request id (client's X-Request-Id or a UUIDv4)     |
//	| {dsp.manifest_hash}      | hash of the manifest version served                |
//	| {dsp.manifest_stale}     | true when a last-good copy is served               |
type ManifestHandler struct {
	// HostSuffix enables the subdomain form: a request to <project><HostSuffix> (e.g. HostSuffix
	// ".api.example.com") is routed to <project>. Default: off.
	HostSuffix string `json:"host_suffix,omitempty"`

	// ProjectHeaders enables the X-Project-Module and X-Project-Id header forms. Default true.
	ProjectHeaders *bool `json:"project_headers,omitempty"`

	// ServerTiming adds `Server-Timing` (fd2 overhead, each stage, the upstream's time to first byte) and
	// `X-FD2-Overhead-Ms` to every response, computed when the response headers are written. Default true.
	ServerTiming *bool `json:"server_timing,omitempty"`

	// Metrics records FD2's per-request Prometheus metrics for this site's requests (fd2_requests_total,
	// stage, upstream, token, GenAI and rate-limit families). Default true; off measures what they cost
	// (BenchmarkInstrumentationCost) or silences a site nobody watches.
	Metrics *bool `json:"metrics,omitempty"`

	app     *gateway.App
	logger  *zap.Logger
	headers bool
	timing  bool
	metrics bool
}

// CaddyModule returns the Caddy module information.
func (ManifestHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_manifest", New: func() caddy.Module { return new(ManifestHandler) }}
}

// Provision looks up the dsp app.
func (h *ManifestHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	appIface, err := ctx.App("dsp")
	if err != nil {
		return errors.New("getting dsp app: " + err.Error())
	}
	h.app = appIface.(*gateway.App)
	h.headers = h.ProjectHeaders == nil || *h.ProjectHeaders
	h.timing = h.ServerTiming == nil || *h.ServerTiming
	h.metrics = h.Metrics == nil || *h.Metrics
	h.HostSuffix = strings.ToLower(h.HostSuffix)
	return nil
}

// Validate checks the configuration.
func (h *ManifestHandler) Validate() error {
	if h.HostSuffix != "" && !strings.HasPrefix(h.HostSuffix, ".") {
		return errors.New("host_suffix must start with a dot")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (h *ManifestHandler) Cleanup() error { return nil }

// ServeHTTP resolves and matches, then runs the rest of the pipeline.
func (h *ManifestHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	x := pipeline.ExchangeOf(r)
	x.NoMetrics = !h.metrics
	x.BodyLimit = h.app.BodyLimit()

	project, path := h.projectOf(r)
	x.ProjectID, x.Path = project, path
	r, span := pipeline.StartSpan(r, "fd2.manifest")
	defer span.End() // ended early on the success path, below; End is idempotent
	if project == "" {
		return h.finish(w, r, x, apierr.New(http.StatusNotFound, "project_not_found", "no project in the request path"))
	}
	entry, tier, err := h.app.Resolver().GetTier(r.Context(), project)
	x.CacheTier = tier
	if err != nil {
		switch {
		case errors.Is(err, source.ErrNotFound):
			err = apierr.Wrap(http.StatusNotFound, "project_not_found", "project "+strconv.Quote(project)+" not found", err)
		case r.Context().Err() != nil:
			err = apierr.Wrap(499, "client_closed_request", "client closed the request", err)
		default:
			err = apierr.Wrap(http.StatusServiceUnavailable, "manifest_unavailable",
				"the manifest of project "+strconv.Quote(project)+" is unavailable", err)
		}
		x.ProjectID = "" // unknown projects must not mint metric series
		return h.finish(w, r, x, err.(*apierr.Error))
	}
	x.Entry = entry
	if entry.Err != nil {
		return h.finish(w, r, x, apierr.Wrap(http.StatusServiceUnavailable,
			"manifest_invalid", "the manifest of project "+strconv.Quote(project)+" is invalid", entry.Err))
	}
	proj, _ := entry.Value.(*plan.Project)
	if proj == nil {
		return h.finish(w, r, x, apierr.New(http.StatusInternalServerError, "internal_error", "manifest snapshot has no compiled project"))
	}
	x.Project = proj
	rt := proj.Table.Match(r, path)
	if rt == nil && plugins.IsPreflight(r) {
		// A CORS preflight is an OPTIONS request for a route that usually allows only POST: match it with the
		// method it announces, and let dispatch answer it when the route has the cors plugin.
		orig := r.Method
		r.Method = r.Header.Get("Access-Control-Request-Method")
		rt = proj.Table.Match(r, path)
		r.Method = orig
		if rt != nil {
			if pr := proj.Routes[rt]; pr == nil || pr.Transforms == nil || pr.Transforms.CORS == nil {
				rt = nil
			}
		}
	}
	if rt == nil {
		return h.finish(w, r, x, apierr.New(http.StatusNotFound, "route_not_found",
			"no route of project "+strconv.Quote(project)+" matches "+r.Method+" "+path))
	}
	pr := proj.Routes[rt]
	if pr == nil {
		pr = &plan.Route{Route: rt, Err: errors.New("route has no plan"), Series: metrics.BindRoute(project, rt.Module, rt.ID, false)}
	}
	x.Route = pr
	if pr.Err != nil {
		// One state for a route that cannot be served as configured, answered here, so that every later
		// stage may rely on a usable plan. The error was logged and listed when the version compiled.
		if errors.Is(pr.Err, plan.ErrModuleTypeUnavailable) {
			return h.finish(w, r, x, apierr.Wrap(http.StatusNotImplemented, "module_type_unavailable",
				"module "+rt.Module+" has a module type this gateway does not serve", pr.Err))
		}
		return h.finish(w, r, x, apierr.Wrap(http.StatusServiceUnavailable, "route_misconfigured",
			"route "+rt.ID+" is misconfigured", pr.Err))
	}
	if c := h.logger.Check(zapcore.DebugLevel, "route matched"); c != nil {
		c.Write(zap.String("project", project), zap.String("route", rt.ID), zap.String("kind", rt.Kind.String()),
			zap.String("manifest_hash", entry.Hash), zap.Bool("stale", entry.Stale), zap.String("request_id", x.RequestID()))
	}

	rec := pipeline.NewRecorder(w, x, h.timing)
	x.Done(plan.StageManifest, x.Start)
	span.SetAttributes(attribute.String("fd2.project", project), attribute.String("fd2.route", rt.ID),
		attribute.String("fd2.route_kind", rt.Kind.String()), attribute.Bool("fd2.manifest_stale", entry.Stale))
	span.End()
	return pipeline.ServeObserved(rec, r, x, next.ServeHTTP, pr.Series, h.logger)
}

// serveRoute runs the later stages for a matched route and accounts for the request however it ends.
// finish records and answers a request that ended in dsp_manifest itself.
func (h *ManifestHandler) finish(w http.ResponseWriter, r *http.Request, x *plan.Exchange, ae *apierr.Error) error {
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		c.Write(zap.String("project", x.ProjectID), zap.Int("status", ae.Status), zap.Error(ae),
			zap.String("request_id", x.RequestID()))
	}
	pipeline.Observe(x, nil, ae.Status)
	return pipeline.Respond(w, r, caddyhttp.Error(ae.Status, ae), h.logger)
}

// projectOf extracts the project and the canonical path (see route.Locator); the project is "" when the
// request names none or an invalid one.
func (h *ManifestHandler) projectOf(r *http.Request) (string, string) {
	l := route.Locator{HostSuffix: h.HostSuffix, Headers: h.headers}
	var pm, id string
	if h.headers {
		pm, id = r.Header.Get("X-Project-Module"), r.Header.Get("X-Project-Id")
	}
	return l.Locate(r.URL.Path, r.Host, pm, id)
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_manifest {
//		host_suffix     <.suffix>
//		project_headers on|off
//		server_timing   on|off
//		metrics         on|off
//	}
func (h *ManifestHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		var dst **bool
		switch name {
		case "host_suffix":
			return caddyfileopt.Args(d, &h.HostSuffix)
		case "project_headers":
			dst = &h.ProjectHeaders
		case "server_timing":
			dst = &h.ServerTiming
		case "metrics":
			dst = &h.Metrics
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		on, err := caddyfileopt.OnOff(d)
		if err != nil {
			return err
		}
		*dst = &on
		return nil
	})
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*ManifestHandler)(nil)
	_ caddy.Validator             = (*ManifestHandler)(nil)
	_ caddy.CleanerUpper          = (*ManifestHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ManifestHandler)(nil)
	_ caddyfile.Unmarshaler       = (*ManifestHandler)(nil)
)
