// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/dsp/source"
)

// VarKey is the caddyhttp var under which dsp_manifest stores the request's *Request. Later stages
// (dsp_auth, dsp_ratelimit, dsp_dispatch) read it with RequestFrom.
const VarKey = "dsp_request"

// Request is the typed per-request state the pipeline stages share. dsp_manifest creates it; each later
// stage reads it and fills in what it owns. It is only touched by the request's own goroutine.
type Request struct {
	// Project is the project id the request was routed to.
	Project string
	// Entry is the manifest snapshot being served (Entry.Stale tells whether it is a last-good copy).
	Entry *source.Entry
	// Compiled is Entry's compiled project.
	Compiled *Project
	// Route is the matched route and Info its compiled plugins.
	Route *route.Route
	Info  *RouteInfo
	// Path is the canonical request path "/{project}/…", whatever form (path, header, subdomain) the client
	// used; explicit routes forward it, module routes strip their prefix from it.
	Path string
	// Start is when dsp_manifest began handling the request.
	Start time.Time
	// Upstream accumulates time spent waiting on or streaming from upstreams (for fd2_overhead_seconds).
	Upstream time.Duration
	// UpstreamStart is when the first upstream call began (zero if none did); the response headers'
	// Server-Timing splits the time to first byte there.
	UpstreamStart time.Time
	// Stage is the time each pipeline stage spent itself (excluding later stages and the upstream).
	Stage [NumStages]time.Duration
	// Authenticated is set by the auth stage when it has authenticated the request for this route. Dispatch
	// refuses a route with authentication plugins unless it is set: routes fail closed.
	Authenticated bool
	// RateLimited is set by the rate-limit stage once it has applied the route's limits. Dispatch refuses a
	// route whose manifest asks for limits unless it is set: a limit is never silently skipped.
	RateLimited bool
	// Consumer is the authenticated consumer's id (for {dsp.consumer}); never a key or token.
	Consumer string
	// Principal is who the auth stage authenticated the request as (nil when no stage did).
	Principal *auth.Principal

	// NoMetrics is set when the site's dsp_manifest has `metrics off`: stages record no Prometheus metrics
	// for this request.
	NoMetrics bool

	// Fields for the access log (see MarshalLogObject); each stage fills in what it knows.

	// CacheTier is the manifest cache tier that answered (source.TierMemory, …).
	CacheTier string
	// LimitResult is the rate-limit stage's verdict: "allowed", "rejected", "unavailable" or "none" (no
	// policy applied); empty when the stage did not run.
	LimitResult string
	// UpstreamStatus is the status the upstream or provider answered (0: none answered).
	UpstreamStatus int
	// Provider and Model name the inference deployment and provider-side model that served the request;
	// TokensIn and TokensOut its usage.
	Provider, Model     string
	TokensIn, TokensOut int64

	requestID   string
	traceParent trace.Span
	overhead    time.Duration   // set when the request ends
	rec         *statusRecorder // the response as dsp_manifest sees it (nil before a route matched)
}

// Pipeline stages, for Request.Stage and fd2_stage_duration_seconds.
const (
	StageManifest = iota
	StageAuth
	StageRateLimit
	StageDispatch
	NumStages
)

// StageNames are the stage label values, by index.
var StageNames = [NumStages]string{"manifest", "auth", "ratelimit", "dispatch"}

// Done records that a stage that began at t0 hands over to the next stage now.
func (st *Request) Done(stage int, t0 time.Time) {
	st.Stage[stage] += time.Since(t0)
}

// UpstreamBegins marks the start of an upstream call (the first one counts for Server-Timing).
func (st *Request) UpstreamBegins(now time.Time) {
	if st.UpstreamStart.IsZero() {
		st.UpstreamStart = now
	}
}

// RequestFrom returns the pipeline state of r, or nil when dsp_manifest has not run.
func RequestFrom(r *http.Request) *Request {
	st, _ := caddyhttp.GetVar(r.Context(), VarKey).(*Request)
	return st
}

// RequestID returns the request's ID: the client's X-Request-Id when it sent a sane one, else a UUIDv4
// generated on first use (most requests never need one, so it is lazy).
func (st *Request) RequestID() string {
	if st.requestID == "" {
		st.requestID = plugins.NewUUID()
	}
	return st.requestID
}

// SetRequestID records an ID chosen by a stage (the request-id plugin keeps the client's).
func (st *Request) SetRequestID(id string) { st.requestID = id }

// placeholder serves {dsp.*}.
func (st *Request) placeholder(key string) (any, bool) {
	switch key {
	case "dsp.project":
		return st.Project, true
	case "dsp.module":
		if st.Route != nil {
			return st.Route.Module, true
		}
		return "", true
	case "dsp.route":
		if st.Route != nil {
			return st.Route.ID, true
		}
		return "", true
	case "dsp.route_kind":
		if st.Route != nil {
			return st.Route.Kind.String(), true
		}
		return "", true
	case "dsp.consumer":
		return st.Consumer, true
	case "dsp.subject":
		if st.Principal != nil {
			return st.Principal.Subject, true
		}
		return "", true
	case "dsp.request_id":
		return st.RequestID(), true
	case "dsp.manifest_hash":
		if st.Entry != nil {
			return st.Entry.Hash, true
		}
		return "", true
	case "dsp.manifest_stale":
		return st.Entry != nil && st.Entry.Stale, true
	}
	if name, ok := strings.CutPrefix(key, "dsp.claim."); ok {
		if st.Principal != nil {
			if v, ok := st.Principal.Claim(name); ok {
				return v, true
			}
		}
		return "", true
	}
	return nil, false
}

func sanitizeRequestID(id string) string {
	if id == "" || len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return ""
		}
	}
	return id
}

// MarshalLogObject writes the request's FD2 fields into Caddy's access log line. dsp_manifest adds the
// Request to the log's extra fields once, as an inline object, so the fields are rendered only when the
// line is written — after every stage has filled them in — and cost nothing when access logs are off.
// Only ids, names, counts and durations: never a key, token, claim value or prompt.
func (st *Request) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("dsp_request_id", st.RequestID())
	if st.Project != "" {
		enc.AddString("dsp_project", st.Project)
	}
	if st.Route != nil {
		enc.AddString("dsp_module", st.Route.Module)
		enc.AddString("dsp_route", st.Route.ID)
	}
	if st.CacheTier != "" {
		enc.AddString("dsp_cache", st.CacheTier)
	}
	if st.Consumer != "" {
		enc.AddString("dsp_consumer", st.Consumer)
	}
	if st.LimitResult != "" {
		enc.AddString("dsp_ratelimit", st.LimitResult)
	}
	if st.Provider != "" {
		enc.AddString("dsp_provider", st.Provider)
	}
	if st.Model != "" {
		enc.AddString("dsp_model", st.Model)
	}
	if st.TokensIn != 0 || st.TokensOut != 0 {
		enc.AddInt64("dsp_tokens_in", st.TokensIn)
		enc.AddInt64("dsp_tokens_out", st.TokensOut)
	}
	if st.UpstreamStatus != 0 {
		enc.AddInt("dsp_upstream_status", st.UpstreamStatus)
	}
	if st.Upstream > 0 {
		enc.AddFloat64("dsp_upstream_ms", ms(st.Upstream))
	}
	if st.overhead > 0 {
		enc.AddFloat64("dsp_overhead_ms", ms(st.overhead))
	}
	for i, d := range st.Stage {
		if d > 0 {
			enc.AddFloat64(stageLogKeys[i], ms(d))
		}
	}
	return nil
}

var stageLogKeys = [NumStages]string{"dsp_manifest_ms", "dsp_auth_ms", "dsp_ratelimit_ms", "dsp_dispatch_ms"}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
