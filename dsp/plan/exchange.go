// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plan

import (
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/reqbody"
	"github.com/dsp-ai/fd2/dsp/source"
)

// Exchange is one request's walk through the pipeline: what the stages share. The first stage creates it
// (dsp_manifest, or the first FD2 stage of a static site) and every later stage fetches it with one typed
// lookup. It is only touched by the request's own goroutine.
type Exchange struct {
	// ProjectID is the project the request was routed to ("" on a static site or before one was found).
	ProjectID string
	// Site is a static site's name (its metrics' and access log's project label); "" on a manifest site.
	Site string
	// Path is the canonical request path "/{project}/…", whatever form (path, header, subdomain) the client
	// used; explicit routes forward it, module routes strip their prefix from it.
	Path string
	// Entry is the manifest snapshot being served (Entry.Stale tells whether it is a last-good copy), and
	// Project its compiled plan.
	Entry   *source.Entry
	Project *Project
	// Route is the matched route's plan (nil on a static site or before a route matched).
	Route *Route

	// Principal is who the auth stage authenticated the request as (nil: no stage did).
	Principal *auth.Principal
	// Authenticated is set by the auth stage once it has applied the route's auth policy. Dispatch refuses
	// a route with an auth policy unless it is set: routes fail closed.
	Authenticated bool
	// RateLimited is set by the rate-limit stage once it has applied the route's limits; dispatch refuses a
	// route with limits unless it is set: a limit is never silently skipped.
	RateLimited bool

	// BodyLimit caps a request body read whole (Body); 0 means reqbody.DefaultLimit.
	BodyLimit int64
	bodyStats *reqbody.Stats

	// Usage is the request's token usage, reported by whoever talked to the provider, read by the limiter
	// (settling token reservations), the metrics and the access log.
	Usage Meter

	// Start is when the first stage began; Stage the time each stage spent itself (excluding later stages
	// and the upstream); Upstream the time spent waiting on or streaming from upstreams; UpstreamStart when
	// the first upstream call began (zero if none did).
	Start         time.Time
	Stage         [NumStages]time.Duration
	Upstream      time.Duration
	UpstreamStart time.Time
	// Retrieval is the time spent fetching documents for retrieval-augmented chat: a call to a backing
	// service, so part of Upstream, and shown apart in Server-Timing and the access log.
	Retrieval time.Duration
	// Overhead is FD2's own time, set when the request ends.
	Overhead time.Duration
	// Status is the response status as written (0 before the headers went out).
	Status int

	// NoMetrics is set when the site's metrics are off: stages record no Prometheus metrics.
	NoMetrics bool
	// TraceParent is the span the stages' spans hang off (the one current when the first stage began).
	TraceParent trace.Span

	// Access-log fields, each filled by the stage that knows it.
	CacheTier      string // the manifest cache tier that answered (source.TierMemory, …)
	LimitResult    string // "allowed", "rejected", "unavailable", "fail_open" or "none"; "" when no stage ran
	UpstreamStatus int    // the status the upstream or provider answered (0: none answered)
	Provider       string // the inference deployment and provider-side model that served the request
	Model          string

	requestID string
}

// Pipeline stages, for Exchange.Stage and fd2_stage_duration_seconds.
const (
	StageManifest = iota
	StageAuth
	StageRateLimit
	StageDispatch
	NumStages
)

// StageNames are the stage label values, by index.
var StageNames = [NumStages]string{"manifest", "auth", "ratelimit", "dispatch"}

// NewExchange starts a request's exchange. requestID is the client's X-Request-Id, used when it is sane.
func NewExchange(now time.Time, requestID string) *Exchange {
	return &Exchange{Start: now, requestID: SanitizeRequestID(requestID)}
}

// Done records that a stage that began at t0 hands over to the next stage now.
func (x *Exchange) Done(stage int, t0 time.Time) { x.Stage[stage] += time.Since(t0) }

// UpstreamBegins marks the start of an upstream call (the first one counts for Server-Timing).
func (x *Exchange) UpstreamBegins(now time.Time) {
	if x.UpstreamStart.IsZero() {
		x.UpstreamStart = now
	}
}

// Consumer is the authenticated consumer's id ("" when none): safe to log, never a key or token.
func (x *Exchange) Consumer() string {
	if x.Principal == nil {
		return ""
	}
	return x.Principal.Consumer
}

// Rest is the request path below the matched module route's prefix ("/v1/chat/completions" of
// "/p/llm/v1/chat/completions"); the whole canonical path for explicit routes.
func (x *Exchange) Rest() string {
	if x.Route == nil || x.Route.StripPrefix == "" {
		return x.Path
	}
	rest := strings.TrimPrefix(x.Path, x.Route.StripPrefix)
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	return rest
}

// Body returns the request body, read whole at most once per request under BodyLimit and shared by every
// stage that needs it (the ones after see the same bytes, or what ReplaceBody put there). Over the cap it
// returns a *reqbody.TooLargeError.
func (x *Exchange) Body(r *http.Request) ([]byte, error) {
	b, err := reqbody.Read(r, x.BodyLimit)
	x.TrackBody(r)
	return b, err
}

// TrackBody notes r's body record after a stage that reads bodies itself (the inference engine) ran.
func (x *Exchange) TrackBody(r *http.Request) {
	if x.bodyStats == nil {
		x.bodyStats = reqbody.StatsOf(r)
	}
}

// BodyStats is what the stages did to the request body — reads from the client, passes over the whole
// JSON document — or nil when none read it whole.
func (x *Exchange) BodyStats() *reqbody.Stats { return x.bodyStats }

// ReplaceBody makes b the request body every later reader sees; object says the caller produced it by
// encoding a JSON object (or parsed it as one), so no later stage validates it again.
func (x *Exchange) ReplaceBody(r *http.Request, b []byte, object bool) {
	if object {
		reqbody.ReplaceObject(r, b)
		return
	}
	reqbody.Replace(r, b)
}

// RequestID returns the request's ID: the client's X-Request-Id when it sent a sane one, else a UUIDv4
// generated on first use (most requests never need one, so it is lazy).
func (x *Exchange) RequestID() string {
	if x.requestID == "" {
		x.requestID = plugins.NewUUID()
	}
	return x.requestID
}

// SetRequestID records an ID chosen by a stage (the request-id plugin keeps the client's).
func (x *Exchange) SetRequestID(id string) { x.requestID = id }

// SanitizeRequestID returns id when it is a sane request id (printable ASCII without quotes, at most 128
// bytes), else "".
func SanitizeRequestID(id string) string {
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

// Meter is a request's token usage. Several provider calls (fallbacks) add up.
//
// It is also where the limiter and an in-process engine agree on who watches the response: the limiter
// sets the completion budget a stream must not outgrow (Limit); an engine that reports the usage and
// enforces that budget itself says so (Claim), and the limiter then passes the response through untouched
// instead of parsing every event a second time. A proxied upstream claims nothing, so its response is
// watched.
type Meter struct {
	u        ratelimit.Usage
	reported bool
	budget   int64
	claimed  bool
}

// Report adds one provider call's usage.
func (m *Meter) Report(u ratelimit.Usage) {
	if !m.reported {
		m.u, m.reported = u, true
		return
	}
	m.u.Prompt += u.Prompt
	m.u.Completion += u.Completion
	m.u.Total += u.Total
}

// Usage returns the usage reported so far and whether any was.
func (m *Meter) Usage() (ratelimit.Usage, bool) { return m.u, m.reported }

// Limit sets the completion tokens a streamed response may carry before it is ended (≤ 0: no limit).
func (m *Meter) Limit(tokens int64) { m.budget = tokens }

// Budget is the completion limit Limit set (0: none).
func (m *Meter) Budget() int64 { return m.budget }

// Claim records that the handler serving the request reports its usage on this meter and enforces Budget
// itself.
func (m *Meter) Claim() { m.claimed = true }

// Claimed reports whether a handler claimed the request's accounting.
func (m *Meter) Claimed() bool { return m.claimed }

// Placeholder serves {dsp.*} from the exchange.
func (x *Exchange) Placeholder(key string) (any, bool) {
	switch key {
	case "dsp.project":
		return x.ProjectID, true
	case "dsp.module":
		if x.Route != nil {
			return x.Route.Module, true
		}
		return "", true
	case "dsp.route":
		if x.Route != nil {
			return x.Route.ID, true
		}
		return "", true
	case "dsp.route_kind":
		if x.Route != nil {
			return x.Route.Kind.String(), true
		}
		return "", true
	case "dsp.consumer":
		return x.Consumer(), true
	case "dsp.subject":
		if x.Principal != nil {
			return x.Principal.Subject, true
		}
		return "", true
	case "dsp.request_id":
		return x.RequestID(), true
	case "dsp.manifest_hash":
		if x.Entry != nil {
			return x.Entry.Hash, true
		}
		return "", true
	case "dsp.manifest_stale":
		return x.Entry != nil && x.Entry.Stale, true
	}
	if name, ok := strings.CutPrefix(key, "dsp.claim."); ok {
		if x.Principal != nil {
			if v, ok := x.Principal.Claim(name); ok {
				return v, true
			}
		}
		return "", true
	}
	return nil, false
}

// MarshalLogObject writes the request's FD2 fields into an access log line. The first stage adds the
// Exchange to the log's extra fields once, as an inline object, so the fields are rendered only when the
// line is written — after every stage has filled them in — and cost nothing when access logs are off.
// Only ids, names, counts and durations: never a key, token, claim value or prompt.
func (x *Exchange) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("dsp_request_id", x.RequestID())
	if p := x.MetricsProject(); p != "" {
		enc.AddString("dsp_project", p)
	}
	if x.Route != nil {
		enc.AddString("dsp_module", x.Route.Module)
		enc.AddString("dsp_route", x.Route.ID)
	}
	if x.CacheTier != "" {
		enc.AddString("dsp_cache", x.CacheTier)
	}
	if c := x.Consumer(); c != "" {
		enc.AddString("dsp_consumer", c)
	}
	if x.LimitResult != "" {
		enc.AddString("dsp_ratelimit", x.LimitResult)
	}
	if x.Provider != "" {
		enc.AddString("dsp_provider", x.Provider)
	}
	if x.Model != "" {
		enc.AddString("dsp_model", x.Model)
	}
	if u, ok := x.Usage.Usage(); ok && (u.Prompt != 0 || u.Completion != 0) {
		enc.AddInt64("dsp_tokens_in", u.Prompt)
		enc.AddInt64("dsp_tokens_out", u.Completion)
	}
	if x.UpstreamStatus != 0 {
		enc.AddInt("dsp_upstream_status", x.UpstreamStatus)
	}
	if x.Upstream > 0 {
		enc.AddFloat64("dsp_upstream_ms", ms(x.Upstream))
	}
	if x.Retrieval > 0 {
		enc.AddFloat64("dsp_retrieval_ms", ms(x.Retrieval))
	}
	if x.Overhead > 0 {
		enc.AddFloat64("dsp_overhead_ms", ms(x.Overhead))
	}
	for i, d := range x.Stage {
		if d > 0 {
			enc.AddFloat64(stageLogKeys[i], ms(d))
		}
	}
	return nil
}

var stageLogKeys = [NumStages]string{"dsp_manifest_ms", "dsp_auth_ms", "dsp_ratelimit_ms", "dsp_dispatch_ms"}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// MetricsProject is the project label of the request's metrics and log line: its project, or on a static
// site the site's name.
func (x *Exchange) MetricsProject() string {
	if x.ProjectID != "" {
		return x.ProjectID
	}
	return x.Site
}
