// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/dsp/source"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/internal/buildinfo"
)

type healthReport struct {
	Service string `json:"service"`
	// Version and Commit are FD2's (internal/buildinfo), so a rollout can be followed instance by instance.
	Version   string                    `json:"version"`
	Commit    string                    `json:"commit"`
	Status    string                    `json:"status"`
	Timestamp time.Time                 `json:"timestamp"`
	Source    sourceReport              `json:"source"`
	Redis     redisReport               `json:"redis"`
	Vaults    []vaultReport             `json:"vaults"`
	Breakers  []inference.BreakerReport `json:"breakers"`
	Pool      poolReport                `json:"pool"`
	// Modules are the built modules of the pooled project versions (those with a health check, and those
	// that could not be built).
	Modules  []moduleReport `json:"modules"`
	Projects int            `json:"projects"`
}

// moduleReport is one module's health, in fixed words: a module's own error text can name internal
// addresses, so it goes to the log, not the report.
type moduleReport struct {
	Project string `json:"project"`
	Module  string `json:"module"`
	Type    string `json:"type"`
	// State is "ok", "unhealthy" (its health check failed) or "unavailable" (it could not be built).
	State string `json:"state"`
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

// fd2Build is read once: the binary's build information does not change while it runs.
var fd2Build = sync.OnceValue(buildinfo.Read)

// probeTimeout bounds each live probe of the detailed report.
const probeTimeout = time.Second

// Report builds the detailed health report (see the dsp_health handler): the source, Redis, every Vault
// instance, the inference breakers and the pool, with the HTTP status it stands for.
func (a *App) Report(ctx context.Context) (int, any) {
	s := a.resolver.Status()
	build := fd2Build()
	rep := healthReport{Service: "fd2", Version: build.Version, Commit: build.Commit, Timestamp: time.Now().UTC(), Projects: s.Projects}
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
	rep.Modules = a.pool.moduleHealth(ctx, a.logger)
	runAll(probes)
	rep.Breakers = inference.Breakers.Snapshot()
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
		degraded = degraded || b.State == inference.BreakerOpen.String()
	}
	for _, m := range rep.Modules {
		degraded = degraded || m.State != "ok"
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

// LegacyStatus is the original DSP front door's /status answer: every project is listed as direct.
func (a *App) LegacyStatus() (int, any) {
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
