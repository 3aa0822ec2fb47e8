// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(HealthHandler{})
}

// HealthHandler is the `dsp_health` handler.
//
//   - GET …/health: liveness, cheap (no I/O): {"service":"fd2","status":"ok"}.
//   - GET …/health?detailed=true: a JSON report of the manifest source (with the duration of its last
//     call), the Redis tier (pinged), every Vault instance of the dsp app (probed with sys/health), the
//     circuit breakers of the inference deployments (gateway.Breakers) and the project pool. Status "ok"
//     (200) when the source answers; "degraded" (200) when the source is failing but cached or last-good
//     manifests are being served, Redis is down, a Vault instance is unhealthy or a breaker is open;
//     "unavailable" (503) when the source is failing and nothing is cached. The Redis ping and the Vault
//     probes run concurrently, each within 1s, so the report takes as long as the slowest of them.
//     It never shows a token, a role or secret id, a secret path or a value.
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
	Service   string          `json:"service"`
	Status    string          `json:"status"`
	Timestamp time.Time       `json:"timestamp"`
	Source    sourceReport    `json:"source"`
	Redis     redisReport     `json:"redis"`
	Vaults    []vaultReport   `json:"vaults"`
	Breakers  []BreakerReport `json:"breakers"`
	Pool      poolReport      `json:"pool"`
	Projects  int             `json:"projects"`
}

type sourceReport struct {
	Name        string     `json:"name"`
	Healthy     bool       `json:"healthy"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   *time.Time `json:"last_error,omitempty"`
	Error       string     `json:"error,omitempty"`
	// LatencyMs is the duration of the last source call (no call is made for the report).
	LatencyMs *float64 `json:"latency_ms,omitempty"`
}

type redisReport struct {
	Configured bool   `json:"configured"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	// LatencyMs is the ping's round trip (up to the 1s timeout when Redis does not answer).
	LatencyMs *float64 `json:"latency_ms,omitempty"`
}

// vaultReport is one Vault instance. Error is a fixed phrase: the instance's own error names secret paths.
type vaultReport struct {
	Name string `json:"name"`
	// Healthy: the probe succeeded and the last Vault call did too (secrets.VaultStatus.Healthy).
	Healthy bool `json:"healthy"`
	// Authenticated: the instance has logged in (it is started on first use).
	Authenticated   bool       `json:"authenticated"`
	LatencyMs       float64    `json:"latency_ms"`
	TokenExpiresAt  *time.Time `json:"token_expires_at,omitempty"`
	TokenTTLSeconds *float64   `json:"token_ttl_seconds,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
	Error           string     `json:"error,omitempty"`
}

type poolReport struct {
	Size     int   `json:"size"`
	Projects int   `json:"projects"`
	InFlight int64 `json:"in_flight"`
}

// probeTimeout bounds each live probe of the detailed report.
const probeTimeout = time.Second

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
	if s.LastFetchDuration > 0 {
		rep.Source.LatencyMs = millis(s.LastFetchDuration)
	}
	// Each probe writes its own part of rep.
	var probes []func()
	if rc := a.shared.redis; rc != nil {
		rep.Redis.Configured = true
		probes = append(probes, func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			start := time.Now()
			err := rc.Ping(pctx).Err()
			rep.Redis.LatencyMs = millis(time.Since(start))
			rep.Redis.OK = err == nil
			if err != nil {
				rep.Redis.Error = "ping failed"
			}
		})
	}
	vaults := a.shared.secrets.all()
	rep.Vaults = make([]vaultReport, len(vaults))
	for i, v := range vaults {
		probes = append(probes, func() { rep.Vaults[i] = probeVault(ctx, v) })
	}
	runAll(probes)
	rep.Breakers = Breakers.Snapshot()
	rep.Pool = poolReport{Size: a.pool.Size(), Projects: a.pool.Len(), InFlight: a.pool.InFlight()}
	return rep.summarize(s), rep
}

// summarize sets the report's status from its parts and returns the HTTP status.
func (rep *healthReport) summarize(s source.SourceStatus) int {
	degraded := !s.Healthy || (rep.Redis.Configured && !rep.Redis.OK)
	for _, v := range rep.Vaults {
		degraded = degraded || !v.Healthy
	}
	for _, b := range rep.Breakers {
		degraded = degraded || b.State == BreakerOpen
	}
	switch {
	case !s.Healthy && s.Projects == 0:
		rep.Status = "unavailable"
		return http.StatusServiceUnavailable
	case degraded:
		rep.Status = "degraded"
	default:
		rep.Status = "ok"
	}
	return http.StatusOK
}

// probeVault probes one instance (secrets.Vault.Probe bounds it to 1s) and reports its status, which
// then includes the probe's outcome.
func probeVault(ctx context.Context, v *secrets.Vault) vaultReport {
	d, err := v.Probe(ctx)
	st := v.Status()
	r := vaultReport{Name: st.Name, Healthy: st.Healthy, Authenticated: st.Authenticated, LatencyMs: *millis(d)}
	if !st.TokenExpiry.IsZero() {
		t := st.TokenExpiry.UTC()
		r.TokenExpiresAt = &t
		ttl := st.TokenTTL.Seconds()
		r.TokenTTLSeconds = &ttl
	}
	if !st.LastErrorAt.IsZero() {
		t := st.LastErrorAt.UTC()
		r.LastErrorAt = &t
	}
	switch {
	case err != nil:
		r.Error = "probe failed"
	case !st.Healthy:
		r.Error = "last vault call failed"
	}
	return r
}

// runAll runs fns concurrently and returns when every one has: a report takes as long as its slowest
// probe, not the sum of them.
func runAll(fns []func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(f)
	}
	wg.Wait()
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) *float64 {
	ms := float64(d.Microseconds()) / 1000
	return &ms
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
	return caddyfileopt.Directive(d, func(string) error { return d.Errf("dsp_health takes no options") })
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*HealthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*HealthHandler)(nil)
	_ caddyfile.Unmarshaler       = (*HealthHandler)(nil)
)
