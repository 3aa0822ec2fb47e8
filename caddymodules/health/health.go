// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package health is the `dsp_health` handler.
package health

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
)

func init() {
	caddy.RegisterModule(HealthHandler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_health", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(HealthHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// HealthHandler is the `dsp_health` handler.
//
//   - GET …/health: liveness, cheap (no I/O): {"service":"fd2","status":"ok"}.
//   - GET …/health?detailed=true: a JSON report of FD2's version and commit, the manifest source (with the
//     duration of its last call), the Redis tier (pinged), every Vault instance of the dsp app (probed with sys/health), the
//     circuit breakers of the inference deployments (gateway.Breakers) and the project pool. Status "ok"
//     (200) when the source answers; "degraded" (200) when the source is failing but cached or last-good
//     manifests are being served, Redis is down, a Vault instance is unhealthy or a breaker is open;
//     "unavailable" (503) when the source is failing and nothing is cached (the refresh loop probes a
//     failed source, so an idle instance's report recovers with it). The Redis ping and the Vault
//     probes run concurrently, each within 1s, so the report takes as long as the slowest of them.
//     It never shows a token, a role or secret id, a secret path or a value.
//   - GET …/status: the original DSP front door's shape, {"service":"dsp-fd2","status","timestamp",
//     "routing_modes":{"apisix":[…],"direct":[…]}}, for existing monitors (FD2 has no APISIX: every
//     project is listed as direct).
//
// Draining: once the server's shutdown is scheduled (the shutdown_delay global option: after SIGTERM, or a
// reload that closes this listener, Caddy keeps serving for that delay with {http.shutting_down} true),
// /health and /health?detailed=true answer 503 {"service":"fd2","status":"shutting_down"}. A load
// balancer's active health check or a Kubernetes readiness probe then takes the instance out of rotation
// while it still serves whatever reaches it, so a rollout drops nothing; without shutdown_delay the
// listener closes at once and requests already on idle keep-alive connections can fail. /status keeps its
// legacy shape.
type HealthHandler struct {
	app *gateway.App
}

// CaddyModule returns the Caddy module information.
func (HealthHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_health", New: func() caddy.Module { return new(HealthHandler) }}
}

// Provision looks up the dsp app.
func (h *HealthHandler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("dsp")
	if err != nil {
		return errors.New("getting dsp app: " + err.Error())
	}
	h.app = appIface.(*gateway.App)
	return nil
}

// ServeHTTP writes the report.
func (h *HealthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	var status int
	var rep any
	switch {
	case strings.HasSuffix(r.URL.Path, "/status"):
		status, rep = h.app.LegacyStatus()
	case shuttingDown(r):
		status, rep = http.StatusServiceUnavailable, map[string]string{"service": "fd2", "status": "shutting_down"}
	case r.URL.Query().Get("detailed") == "true":
		status, rep = h.app.Report(r.Context())
	default:
		status, rep = http.StatusOK, map[string]string{"service": "fd2", "status": "ok"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(rep)
}

// shuttingDown reports whether the server serving r has scheduled its shutdown ({http.shutting_down}).
func shuttingDown(r *http.Request) bool {
	// The placeholder dereferences the request's server: a request prepared without one (a handler driven
	// outside a Caddy server) is never shutting down.
	if srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); srv == nil {
		return false
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return false
	}
	v, _ := repl.Get("http.shutting_down")
	b, _ := v.(bool)
	return b
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_health
func (h *HealthHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(string) error { return d.Errf("dsp_health takes no options") })
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*HealthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*HealthHandler)(nil)
	_ caddyfile.Unmarshaler       = (*HealthHandler)(nil)
)
