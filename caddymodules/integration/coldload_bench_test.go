// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
	"github.com/dsp-ai/fd2/internal/ragservice"
)

// BenchmarkColdProjectLoad measures a project's cold load, the issue-17 target "module load < 1 s": the
// first request of a project FD2 has never seen costs the manifest fetch from the Control Tower double
// over HTTP, its normalisation and resolution, the compile of every route and the build of every module
// (an explicit route with plugins, an inference endpoint with a provider, a RAG module with its proxy and a
// retrieval-augmented endpoint, a model server), on top of the request itself. It reports the p50 and max
// of the first requests of 40 projects against the p50 of warm requests to the same route, one request at
// a time. Run it with -benchtime 1x (make bench does).
func BenchmarkColdProjectLoad(b *testing.B) {
	llm := startFakeLLM(b, fakellm.Options{})
	_, rag := startRAGService(b, ragservice.Options{GenerationDelay: -1})
	dir := b.TempDir()
	const projects = 40
	// Each iteration measures projects FD2 has never seen: it writes them to the Control Tower's directory
	// under names of its own first.
	writeProjects := func(iter int) {
		for i := range projects {
			id := fmt.Sprintf("cold%d-%02d", iter, i)
			doc := strings.Replace(demoDoc(id, hostOf(llm)), `    {"module_type": "inference_endpoint", "name": "assistant", "config": {"model_name": "x"}}`,
				`    {"module_type": "inference_endpoint", "name": "assistant", "config": {"endpoint_url": "`+llm.URL+`/v1", "model_name": "fake-gpt"}},
    {"module_type": "rag_service", "name": "kb", "config": {"service_url": "`+rag.URL+`", "configuration_name": "demo-kb"}},
    {"module_type": "inference_endpoint", "name": "rag-assistant", "config": {"endpoint_url": "`+llm.URL+`/v1", "model_name": "fake-gpt", "rag_service": "kb"}}`, 1)
			if !strings.Contains(doc, `"rag-assistant"`) {
				b.Fatal("the demo manifest changed: the cold-load manifest lost its modules")
			}
			writeManifest(b, dir, id, doc)
		}
	}
	ct := httptest.NewServer(controltower.New(dir, controltower.Options{}))
	b.Cleanup(ct.Close)
	f := startFD2Info(b, fmt.Sprintf("manifests control_tower %s {\n refresh 1h\n }", ct.URL), fullPipeline)
	for iter := 0; b.Loop(); iter++ {
		b.StopTimer()
		writeProjects(iter)
		b.StartTimer()
		var cold, warm []time.Duration
		for i := range projects {
			url := f.url(fmt.Sprintf("/cold%d-%02d/echo/x", iter, i))
			t0 := time.Now()
			expectStatus(b, do(b, "GET", url, ""), 200)
			cold = append(cold, time.Since(t0))
			for range 5 {
				t0 = time.Now()
				expectStatus(b, do(b, "GET", url, ""), 200)
				warm = append(warm, time.Since(t0))
			}
		}
		slices.Sort(cold)
		slices.Sort(warm)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(ms(cold[len(cold)/2]), "cold-p50-ms")
		b.ReportMetric(ms(cold[len(cold)-1]), "cold-max-ms")
		b.ReportMetric(ms(warm[len(warm)/2]), "warm-p50-ms")
		b.Logf("a project's first request: p50 %.2f ms, max %.2f ms; warm p50 %.3f ms (%d projects, each 10 explicit routes and 4 modules)",
			ms(cold[len(cold)/2]), ms(cold[len(cold)-1]), ms(warm[len(warm)/2]), projects)
	}
}
