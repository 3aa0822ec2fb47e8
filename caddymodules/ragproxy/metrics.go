// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"github.com/prometheus/client_golang/prometheus"

	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
)

var (
	retrievalDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fd2_rag_retrieval_duration_seconds",
		Help: "Retrieval for retrieval-augmented chat at the gateway, by project, retrieval source (a rag_service " +
			"module or a URL's host) and outcome (ok, error).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"project", "source", "outcome"})
	serviceTTFT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fd2_rag_time_to_first_token_seconds",
		Help: "Time from the request to the first content chunk of a RAG service's chat stream, by project and " +
			"module. RAG2 generates the whole answer before it streams, so this is its generation time.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"project", "module"})
)

func init() { fd2metrics.Include(Collectors()...) }

// Collectors are the RAG module's collectors (for dashboards' checks of metric names).
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{retrievalDuration, serviceTTFT}
}
