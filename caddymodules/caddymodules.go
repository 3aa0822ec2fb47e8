// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package caddymodules registers every FD2 Caddy module. Import it for its side effects:
//
//	import _ "github.com/dsp-ai/fd2/caddymodules"
package caddymodules

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dsp-ai/fd2/caddymodules/openaiproxy"
	"github.com/dsp-ai/fd2/caddymodules/ragproxy"
	"github.com/dsp-ai/fd2/caddymodules/ratelimit"
	"github.com/dsp-ai/fd2/dsp/metrics"

	_ "github.com/dsp-ai/fd2/caddymodules/admin"
	_ "github.com/dsp-ai/fd2/caddymodules/auth"
	_ "github.com/dsp-ai/fd2/caddymodules/devtools"
	_ "github.com/dsp-ai/fd2/caddymodules/dispatch"
	_ "github.com/dsp-ai/fd2/caddymodules/gateway"
	_ "github.com/dsp-ai/fd2/caddymodules/health"
	_ "github.com/dsp-ai/fd2/caddymodules/manifest"
	_ "github.com/dsp-ai/fd2/caddymodules/moduletypes"
	_ "github.com/dsp-ai/fd2/caddymodules/pipeline"
)

// Collectors returns every Prometheus collector FD2 registers (its metric names are what dashboards and
// alert rules may use).
func Collectors() []prometheus.Collector {
	out := append([]prometheus.Collector{}, metrics.All()...)
	out = append(out, metrics.AgeCollector{Ages: func() map[string]float64 { return nil }})
	out = append(out, ratelimit.Collectors()...)
	out = append(out, ragproxy.Collectors()...)
	return append(out, openaiproxy.Collectors()...)
}
