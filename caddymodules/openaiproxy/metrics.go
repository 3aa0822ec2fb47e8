// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/inference"
)

// FD2's own inference metrics. Every model label goes through fd2metrics.Models, so client-chosen model
// names on wildcard routes cannot mint unbounded series.
var (
	tokensTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_tokens_total",
		Help: "LLM tokens by project, provider deployment, model, type (prompt, completion) and source (provider, tokenizer).",
	}, []string{"project", "provider", "model", "type", "source"})
	ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_time_to_first_token_seconds",
		Help:    "Time from request start to the first streamed token (or the full answer), by provider and model.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"provider", "model"})
	providerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fd2_provider_request_duration_seconds",
		Help: "Provider call duration by deployment, upstream model and the provider's own status (429, 500, …; " +
			"502/504 for connection failures and timeouts, 499 when the client went away). Every call counts, " +
			"fallen-back ones included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"provider", "model", "code"})
	breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fd2_breaker_state",
		Help: "Circuit breaker state per deployment (provider and upstream model): 0 closed, 1 open, 2 half-open.",
	}, []string{"provider", "model"})
	providerSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_provider_skipped_total",
		Help: "Deployments a request passed over without calling them, by provider, upstream model and reason " +
			"(circuit_open; rate_limited: resting for the provider's Retry-After after a 429).",
	}, []string{"provider", "model", "reason"})
)

// The same measurements under the OpenTelemetry GenAI semantic conventions (gen-ai-metrics, development
// status), as an OTel Prometheus exporter would name them: dots become underscores, the unit "s" becomes the
// _seconds suffix and the {token} annotation is dropped. Attributes are the conventions' own
// (gen_ai.provider.name holds the well-known provider name, not FD2's deployment name), with the buckets the
// conventions advise. Dashboards built for other OTel-instrumented GenAI clients work on FD2 unchanged.
var (
	genaiOpAttrs = []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}

	genaiTokenUsage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_token_usage",
		Help: "Number of input and output tokens used per GenAI operation (OpenTelemetry gen_ai.client.token.usage).",
		Buckets: []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
			16777216, 67108864},
	}, append(genaiOpAttrs[:3:3], "gen_ai_token_type"))
	genaiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_operation_duration_seconds",
		Help: "GenAI operation duration, FD2 to provider (OpenTelemetry gen_ai.client.operation.duration).",
		Buckets: []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
			40.96, 81.92},
	}, append(genaiOpAttrs[:3:3], "error_type"))
	genaiTTFT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_time_to_first_token_seconds",
		Help: "Time to the first token of successful responses as FD2 serves them (OpenTelemetry gen_ai.server.time_to_first_token).",
		Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
			5.0, 7.5, 10.0},
	}, genaiOpAttrs)
)

var collectors = []prometheus.Collector{tokensTotal, ttft, providerDuration, breakerState, providerSkipped,
	genaiTokenUsage, genaiDuration, genaiTTFT}

func init() { fd2metrics.Include(collectors...) }

// Collectors returns this package's Prometheus collectors (for dashboards' and alerts' validation).
func Collectors() []prometheus.Collector { return collectors }

func registerMetrics(reg prometheus.Registerer) error {
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

var (
	genaiProvider  = inference.GenAIProviderName
	genaiOperation = inference.GenAIOperationName
	genaiErrorType = inference.GenAIErrorType
)

// seriesKey identifies one set of inference series; model is already guarded (fd2metrics.Models), so the
// cache below holds at most as many entries as there may be series.
type seriesKey struct {
	project, provider, kind, model, op string
}

// boundSeries are the series one (project, provider, model, operation) records into, looked up once: a
// request then does one map read instead of hashing eight label sets. Series whose labels vary per call
// (the token source, the status) are bound for their common value and looked up otherwise.
type boundSeries struct {
	promptTokens, completionTokens prometheus.Counter // source="provider"
	usageIn, usageOut              prometheus.Observer
	ttft, genaiTTFT                prometheus.Observer
	duration200, genaiDurationOK   prometheus.Observer
}

// bound maps seriesKey → *boundSeries, copy-on-write: reads are one atomic load and a map lookup (no lock,
// no allocation); a new key copies the map under boundMu, which happens once per series set.
var (
	bound   atomic.Pointer[map[seriesKey]*boundSeries]
	boundMu sync.Mutex
)

func seriesFor(project, provider, kind, model, op string) (*boundSeries, seriesKey) {
	k := seriesKey{project, provider, kind, fd2metrics.Models.Value(model), op}
	if m := bound.Load(); m != nil {
		if b := (*m)[k]; b != nil {
			return b, k
		}
	}
	boundMu.Lock()
	defer boundMu.Unlock()
	old := bound.Load()
	if old != nil {
		if b := (*old)[k]; b != nil {
			return b, k
		}
	}
	gp := genaiProvider(kind)
	b := &boundSeries{
		promptTokens:     tokensTotal.WithLabelValues(project, provider, k.model, "prompt", "provider"),
		completionTokens: tokensTotal.WithLabelValues(project, provider, k.model, "completion", "provider"),
		usageIn:          genaiTokenUsage.WithLabelValues(op, gp, k.model, "input"),
		usageOut:         genaiTokenUsage.WithLabelValues(op, gp, k.model, "output"),
		ttft:             ttft.WithLabelValues(provider, k.model),
		genaiTTFT:        genaiTTFT.WithLabelValues(op, gp, k.model),
		duration200:      providerDuration.WithLabelValues(provider, k.model, "200"),
		genaiDurationOK:  genaiDuration.WithLabelValues(op, gp, k.model, ""),
	}
	next := make(map[seriesKey]*boundSeries, 1+len(ptrOrEmpty(old)))
	for kk, v := range ptrOrEmpty(old) {
		next[kk] = v
	}
	next[k] = b
	bound.Store(&next)
	return b, k
}

func ptrOrEmpty(m *map[seriesKey]*boundSeries) map[seriesKey]*boundSeries {
	if m == nil {
		return nil
	}
	return *m
}

// hooks binds engine events to metrics for one project ("" for static sites) and one endpoint ("" when
// unknown at build time).
func hooks(project, endpoint string) inference.Hooks {
	op := genaiOperation(endpoint)
	project = fd2metrics.Projects.Value(project)
	return inference.Hooks{
		OnUsage: func(provider, kind, model string, u inference.Usage) {
			b, k := seriesFor(project, provider, kind, model, op)
			if u.Source == "" || u.Source == "provider" {
				b.promptTokens.Add(float64(u.PromptTokens))
				b.completionTokens.Add(float64(u.CompletionTokens))
			} else {
				tokensTotal.WithLabelValues(project, provider, k.model, "prompt", u.Source).Add(float64(u.PromptTokens))
				tokensTotal.WithLabelValues(project, provider, k.model, "completion", u.Source).Add(float64(u.CompletionTokens))
			}
			b.usageIn.Observe(float64(u.PromptTokens))
			b.usageOut.Observe(float64(u.CompletionTokens))
		},
		OnFirstToken: func(provider, kind, model string, d time.Duration) {
			b, _ := seriesFor(project, provider, kind, model, op)
			b.ttft.Observe(d.Seconds())
			b.genaiTTFT.Observe(d.Seconds())
		},
		OnProviderDone: func(provider, kind, model string, status int, d time.Duration) {
			if status == http.StatusOK {
				b, _ := seriesFor(project, provider, kind, model, op)
				b.duration200.Observe(d.Seconds())
				b.genaiDurationOK.Observe(d.Seconds())
				return
			}
			recordFailedCall(provider, kind, model, op, status, d)
		},
	}
}

// recordFailedCall records a provider call that failed (the router's attempts) or broke off after it began
// (the engine's end of a response), with the provider's own status.
func recordFailedCall(provider, kind, model, op string, status int, d time.Duration) {
	m := fd2metrics.Models.Value(model)
	providerDuration.WithLabelValues(provider, m, strconv.Itoa(status)).Observe(d.Seconds())
	genaiDuration.WithLabelValues(op, genaiProvider(kind), m, genaiErrorType(status)).Observe(d.Seconds())
}

// noMetricHooks are the hooks of a site whose metrics are off: they do nothing, and the request-scoped
// hooks wrap them.
var noMetricHooks = inference.Hooks{
	OnUsage:        func(string, string, string, inference.Usage) {},
	OnFirstToken:   func(string, string, string, time.Duration) {},
	OnProviderDone: func(string, string, string, int, time.Duration) {},
	OnRouteFailed:  func(string, string, string, int) {},
}
