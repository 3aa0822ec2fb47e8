// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package metrics holds FD2's Prometheus collectors and their label rules. Labels are bounded: project,
// module and route come from manifests the operator controls (requests for unknown projects are counted
// under project="" so a client cannot mint series), code is the HTTP status, tier and result are fixed
// enums. Never a key, user, token or IP.
//
// Collectors are package-level so that series survive config reloads; Register adds them to a registry
// (Caddy makes a new one per config) and ignores prometheus.AlreadyRegisteredError.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets for gateway latencies: the gateway's own overhead lives in the 10 µs – 10 ms range, upstream LLM
// calls in the 100 ms – 2 min range; one set covers both.
var latencyBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05,
	.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120,
}

var (
	// RequestsTotal counts requests that reached dsp_manifest, by outcome.
	RequestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_requests_total",
		Help: "Requests handled by FD2, by project, module, route and status code.",
	}, []string{"project", "module", "route", "code"})

	// RequestDuration is the full request duration as seen by FD2 (streams: until the last byte).
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_request_duration_seconds",
		Help:    "Request duration in FD2 including the upstream, by project and module.",
		Buckets: latencyBuckets,
	}, []string{"project", "module"})

	// Overhead is the time spent in FD2 itself: the request duration minus the time spent waiting on or
	// streaming from the upstream.
	Overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_overhead_seconds",
		Help:    "Time spent in FD2 excluding the upstream, by project.",
		Buckets: latencyBuckets,
	}, []string{"project"})

	// ManifestCache counts manifest lookups by tier (memory, redis, source, last_good) and result.
	ManifestCache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_manifest_cache_total",
		Help: "Manifest lookups by cache tier and result.",
	}, []string{"tier", "result"})

	// ModuleLoad is the time to build a pooled project (route table, proxies) or load a manifest.
	ModuleLoad = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_module_load_seconds",
		Help:    "Time to load a manifest or build a pooled project, by kind (manifest, project).",
		Buckets: latencyBuckets,
	}, []string{"kind"})

	// ActiveRequests is the number of requests in flight in FD2, per project.
	ActiveRequests = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fd2_active_requests",
		Help: "Requests in flight, by project.",
	}, []string{"project"})

	// StageDuration is the time each pipeline stage spends itself (manifest, auth, ratelimit, dispatch),
	// and stage="upstream" the time waiting on or streaming from upstreams.
	StageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_stage_duration_seconds",
		Help:    "Time spent in each FD2 pipeline stage (excluding later stages), and in the upstream.",
		Buckets: latencyBuckets,
	}, []string{"stage"})

	// UpstreamRequests counts calls to HTTP upstreams (proxied routes, RAG and model servers, the JWT
	// service) by the upstream's status code, or "error" / "timeout" when none answered. Inference
	// providers have their own family (fd2_provider_request_duration_seconds, gen_ai_*).
	UpstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_upstream_requests_total",
		Help: "Calls to HTTP upstreams by project, module and the upstream's status code (error/timeout: no answer).",
	}, []string{"project", "module", "code"})

	// UpstreamDuration is an upstream call's whole duration, body streaming included.
	UpstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_upstream_duration_seconds",
		Help:    "HTTP upstream call duration until the last byte, by project and module.",
		Buckets: latencyBuckets,
	}, []string{"project", "module"})

	// UpstreamTTFB is the time from sending the request upstream to its response headers.
	UpstreamTTFB = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_upstream_time_to_first_byte_seconds",
		Help:    "Time from the upstream request to its response headers, by project and module.",
		Buckets: latencyBuckets,
	}, []string{"project", "module"})

	// PoolProjects is the number of compiled projects in the project pool.
	PoolProjects = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fd2_pool_projects",
		Help: "Compiled projects held in the project pool.",
	})

	// BackgroundPanics counts panics recovered in goroutines FD2 starts itself (package dsp/background), by
	// task: manifest_load, manifest_refresh, manifest_invalidation, vault_loop, apikey_revocations, … Any
	// increase is a bug worth an alert: the task stopped (or skipped one round) while the process served on.
	BackgroundPanics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_background_panics_total",
		Help: "Panics recovered in FD2's background goroutines, by task.",
	}, []string{"task"})

	// PoolEvictions counts pool evictions.
	PoolEvictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fd2_pool_evictions_total",
		Help: "Projects evicted from the project pool.",
	})
)

// ManifestAgeDesc describes fd2_manifest_age_seconds, the age of the manifest copy being served per
// project (it grows while a last-good copy is served). It is computed at scrape time from the resolver's
// entries by NewAgeCollector, so it is exact whenever it is read.
var ManifestAgeDesc = prometheus.NewDesc("fd2_manifest_age_seconds",
	"Seconds since the served manifest copy was fetched from (or last confirmed by) its source.",
	[]string{"project"}, nil)

// AgeCollector reports fd2_manifest_age_seconds from a function listing project ages.
type AgeCollector struct {
	Ages func() map[string]float64
}

// Describe implements prometheus.Collector.
func (c AgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ManifestAgeDesc }

// Collect implements prometheus.Collector.
func (c AgeCollector) Collect(ch chan<- prometheus.Metric) {
	for id, age := range c.Ages() {
		ch <- prometheus.MustNewConstMetric(ManifestAgeDesc, prometheus.GaugeValue, age, id)
	}
}

// All returns every FD2 collector.
func All() []prometheus.Collector {
	return append([]prometheus.Collector{RequestsTotal, RequestDuration, Overhead, ManifestCache,
		ModuleLoad, ActiveRequests, PoolProjects, PoolEvictions, StageDuration, BackgroundPanics,
		UpstreamRequests, UpstreamDuration, UpstreamTTFB}, secretCollectors()...)
}

// included are other packages' collectors (inference, rate limits) that Register adds too: the dsp app
// registers FD2's metrics once per config, whichever handlers the config uses, so a manifest's inference
// routes report tokens even when no dsp_openai handler is configured.
var included []prometheus.Collector

// Include adds collectors for Register to register. Call it from init functions only.
func Include(cs ...prometheus.Collector) { included = append(included, cs...) }

// Register registers every collector (All and the Included ones) into reg, ignoring the ones already there.
func Register(reg prometheus.Registerer) error {
	for _, c := range append(All(), included...) {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
