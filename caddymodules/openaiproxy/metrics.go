// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"errors"
	"strconv"
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
		Name:    "fd2_provider_request_duration_seconds",
		Help:    "Provider call duration by deployment, model and status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"provider", "model", "code"})
	breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fd2_breaker_state",
		Help: "Circuit breaker state per provider deployment: 0 closed, 1 open, 2 half-open.",
	}, []string{"provider"})
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

var collectors = []prometheus.Collector{tokensTotal, ttft, providerDuration, breakerState,
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

// genaiProvider maps FD2's provider kinds to the conventions' well-known gen_ai.provider.name values.
func genaiProvider(kind string) string {
	switch kind {
	case "azure":
		return "azure.ai.openai"
	case "gemini":
		return "gcp.gemini"
	case "":
		return "_OTHER"
	}
	return kind // openai, anthropic, mock
}

// genaiOperation maps an OpenAI endpoint to the conventions' gen_ai.operation.name. Endpoints without a
// well-known operation keep their own (fixed, engine-validated) name; anything else is "other".
func genaiOperation(endpoint string) string {
	switch endpoint {
	case "chat/completions", "responses":
		return "chat"
	case "completions":
		return "text_completion"
	case "embeddings":
		return "embeddings"
	case "images/generations", "images/edits", "images/variations", "audio/speech", "audio/transcriptions",
		"audio/translations", "moderations", "rerank":
		return endpoint
	}
	return "other"
}

// genaiErrorType is the conventions' error.type for a call's status ("" for success).
func genaiErrorType(status int) string {
	switch {
	case status < 400:
		return ""
	case status == 499:
		return "cancelled"
	}
	return strconv.Itoa(status)
}

// hooks binds engine events to metrics for one project ("" for static sites) and one endpoint ("" when
// unknown at build time), and to the request's rate limiter sink, if any.
func hooks(project, endpoint string) inference.Hooks {
	op := genaiOperation(endpoint)
	return inference.Hooks{
		OnUsage: func(provider, kind, model string, u inference.Usage) {
			src := u.Source
			if src == "" {
				src = "provider"
			}
			model = fd2metrics.Models.Value(model)
			tokensTotal.WithLabelValues(project, provider, model, "prompt", src).Add(float64(u.PromptTokens))
			tokensTotal.WithLabelValues(project, provider, model, "completion", src).Add(float64(u.CompletionTokens))
			gp := genaiProvider(kind)
			genaiTokenUsage.WithLabelValues(op, gp, model, "input").Observe(float64(u.PromptTokens))
			genaiTokenUsage.WithLabelValues(op, gp, model, "output").Observe(float64(u.CompletionTokens))
		},
		OnFirstToken: func(provider, kind, model string, d time.Duration) {
			model = fd2metrics.Models.Value(model)
			ttft.WithLabelValues(provider, model).Observe(d.Seconds())
			genaiTTFT.WithLabelValues(op, genaiProvider(kind), model).Observe(d.Seconds())
		},
		OnProviderDone: func(provider, kind, model string, status int, d time.Duration) {
			model = fd2metrics.Models.Value(model)
			providerDuration.WithLabelValues(provider, model, strconv.Itoa(status)).Observe(d.Seconds())
			genaiDuration.WithLabelValues(op, genaiProvider(kind), model, genaiErrorType(status)).Observe(d.Seconds())
		},
	}
}

// noMetricHooks are the hooks of a site whose metrics are off: they do nothing, and the request-scoped
// hooks wrap them.
var noMetricHooks = inference.Hooks{
	OnUsage:        func(string, string, string, inference.Usage) {},
	OnFirstToken:   func(string, string, string, time.Duration) {},
	OnProviderDone: func(string, string, string, int, time.Duration) {},
}
