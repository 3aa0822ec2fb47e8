// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/inference"
)

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

// Collectors returns this package's Prometheus collectors (for dashboards' and alerts' validation).
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{tokensTotal, ttft, providerDuration, breakerState}
}

func registerMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{tokensTotal, ttft, providerDuration, breakerState} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// hooks binds engine events to metrics for one project ("" for static sites) and to the request's rate
// limiter sink, if any.
func hooks(project string, sink func() ratelimit.UsageSink) inference.Hooks {
	return inference.Hooks{
		OnUsage: func(provider, kind, model string, u inference.Usage) {
			src := u.Source
			if src == "" {
				src = "provider"
			}
			model = fd2metrics.Models.Value(model)
			tokensTotal.WithLabelValues(project, provider, model, "prompt", src).Add(float64(u.PromptTokens))
			tokensTotal.WithLabelValues(project, provider, model, "completion", src).Add(float64(u.CompletionTokens))
		},
		OnFirstToken: func(provider, model string, d time.Duration) {
			ttft.WithLabelValues(provider, fd2metrics.Models.Value(model)).Observe(d.Seconds())
		},
		OnProviderDone: func(provider, model string, status int, d time.Duration) {
			providerDuration.WithLabelValues(provider, fd2metrics.Models.Value(model), strconv.Itoa(status)).Observe(d.Seconds())
		},
	}
}
