// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(HealthHandler{})
}

// HealthHandler is the `dsp_health` handler.
//
//   - GET …/health: liveness, cheap (no I/O): {"service":"fd2","status":"ok"}.
//   - GET …/health?detailed=true: a JSON report of the manifest source, the Redis tier (pinged) and the
//     project pool. Status "ok" (200) when the source answers; "degraded" (200) when the source is failing
//     but cached or last-good manifests are being served, or Redis is down; "unavailable" (503) when the
//     source is failing and nothing is cached.
//   - GET …/status: the original DSP front door's shape, {"service":"dsp-fd2","status","timestamp",
//     "routing_modes":{"apisix":[…],"direct":[…]}}, for existing monitors (FD2 has no APISIX: every
//     project is listed as direct).
type HealthHandler struct {
	app *App
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
	h.app = appIface.(*App)
	return nil
}

type healthReport struct {
	Service   string       `json:"service"`
	Status    string       `json:"status"`
	Timestamp time.Time    `json:"timestamp"`
	Source    sourceReport `json:"source"`
	Redis     redisReport  `json:"redis"`
	Pool      poolReport   `json:"pool"`
	Projects  int          `json:"projects"`
}

type sourceReport struct {
	Name        string     `json:"name"`
	Healthy     bool       `json:"healthy"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   *time.Time `json:"last_error,omitempty"`
	Error       string     `json:"error,omitempty"`
}

type redisReport struct {
	Configured bool   `json:"configured"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
}

type poolReport struct {
	Size     int   `json:"size"`
	Projects int   `json:"projects"`
	InFlight int64 `json:"in_flight"`
}

// Report builds the health report.
func (a *App) Report(ctx context.Context) (int, any) {
	s := a.resolver.Status()
	rep := healthReport{Service: "fd2", Timestamp: time.Now().UTC(), Projects: s.Projects}
	rep.Source = sourceReport{Name: a.srcName, Healthy: s.Healthy, Error: s.LastErr}
	if !s.LastSuccess.IsZero() {
		t := s.LastSuccess.UTC()
		rep.Source.LastSuccess = &t
	}
	if !s.LastError.IsZero() {
		t := s.LastError.UTC()
		rep.Source.LastError = &t
	}
	if rc := a.shared.redis; rc != nil {
		rep.Redis.Configured = true
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rc.Ping(pctx).Err()
		cancel()
		rep.Redis.OK = err == nil
		if err != nil {
			rep.Redis.Error = "ping failed"
		}
	}
	rep.Pool = poolReport{Size: a.pool.Size(), Projects: a.pool.Len(), InFlight: a.pool.InFlight()}
	status := http.StatusOK
	switch {
	case !s.Healthy && s.Projects == 0:
		rep.Status, status = "unavailable", http.StatusServiceUnavailable
	case !s.Healthy || (rep.Redis.Configured && !rep.Redis.OK):
		rep.Status = "degraded"
	default:
		rep.Status = "ok"
	}
	return status, rep
}

// ServeHTTP writes the report.
func (h *HealthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	var status int
	var rep any
	switch {
	case strings.HasSuffix(r.URL.Path, "/status"):
		status, rep = h.app.legacyStatus()
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

func (a *App) legacyStatus() (int, any) {
	s := a.resolver.Status()
	ids := []string{}
	for _, e := range a.resolver.Snapshot() {
		ids = append(ids, e.ID)
	}
	state := "healthy"
	if !s.Healthy && s.Projects == 0 {
		state = "unhealthy"
	}
	return http.StatusOK, map[string]any{
		"service": "dsp-fd2", "status": state, "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"routing_modes": map[string][]string{"apisix": {}, "direct": ids},
	}
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_health
func (h *HealthHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("dsp_health takes no options")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*HealthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*HealthHandler)(nil)
	_ caddyfile.Unmarshaler       = (*HealthHandler)(nil)
)
