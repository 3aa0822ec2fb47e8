// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/internal/fakellm"
	"github.com/dsp-ai/fd2/internal/ragservice"
)

// BenchmarkRAGLatency measures the issue-16 figures in one run, one request at a time, the variants
// interleaved so that machine noise hits them alike:
//   - a retrieve straight to the RAG double, through Caddy's own reverse_proxy (the baseline of one proxy
//     hop) and through FD2's rag_service module (the whole pipeline, defaults applied, the body rewritten,
//     the answer passed back): the p50 latency each adds;
//   - a streamed chat on the same fake provider through a plain inference_endpoint and through one with
//     retrieval (rag_service reference): time to first token of each, and the retrieval time FD2 reports
//     in Server-Timing, shown apart.
//
// It asserts only that every request succeeded; run it with -benchtime 1x (make bench does).
func BenchmarkRAGLatency(b *testing.B) {
	_, ragSrv := startRAGService(b, ragservice.Options{GenerationDelay: -1})
	llm := startFakeLLM(b, fakellm.Options{})
	dir := b.TempDir()
	writeManifest(b, dir, "bench", `{"project_id":"bench","project_name":"b","modules":[
	  {"module_type":"rag_service","name":"kb","config":{"service_url":"`+ragSrv.URL+`","configuration_name":"demo-kb","default_k":3}},
	  {"module_type":"inference_endpoint","name":"plain","config":{"endpoint_url":"`+llm.URL+`/v1","model_name":"fake-gpt"}},
	  {"module_type":"inference_endpoint","name":"rag","config":{"endpoint_url":"`+llm.URL+`/v1","model_name":"fake-gpt","rag_service":"kb"}}]}`)
	plainPort := freePort(b)
	f := startFD2Info(b, "manifests file "+dir, fullPipeline+fmt.Sprintf(`
:%d {
	reverse_proxy %s
}
`, plainPort, hostOf(ragSrv)))
	waitListening(b, plainPort)
	plainURL := fmt.Sprintf("http://127.0.0.1:%d/api/v1/retrieve", plainPort)
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()

	const n = 300
	retrieve := `{"query":"How many vacation days do employees get?","configuration_name":"demo-kb","k":3}`
	chat := `{"stream":true,"messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`
	var direct, viaCaddy, viaFD2, ttftPlain, ttftRAG, retrieval []time.Duration
	post := func(url, body string) (time.Duration, time.Duration, *http.Response) {
		t0 := time.Now()
		res, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%s: %v %v", url, err, res)
		}
		// Time to the first content chunk of a stream (the first body byte of anything else).
		first := time.Duration(0)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if first == 0 && (strings.Contains(sc.Text(), `"content":"`) || !strings.HasPrefix(sc.Text(), "data:")) {
				first = time.Since(t0)
			}
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return first, time.Since(t0), res
	}
	for range b.N {
		for i := range n {
			// The order rotates so that no variant always follows another.
			for k := range 5 {
				switch (i + k) % 5 {
				case 4:
					_, d, _ := post(plainURL, retrieve)
					viaCaddy = append(viaCaddy, d)
				case 0:
					_, d, _ := post(ragSrv.URL+"/api/v1/retrieve", retrieve)
					direct = append(direct, d)
				case 1:
					_, d, _ := post(f.url("/bench/kb/retrieve"), `{"query":"How many vacation days do employees get?"}`)
					viaFD2 = append(viaFD2, d)
				case 2:
					first, _, _ := post(f.url("/bench/plain/v1/chat/completions"), chat)
					ttftPlain = append(ttftPlain, first)
				case 3:
					first, _, res := post(f.url("/bench/rag/v1/chat/completions"), chat)
					ttftRAG = append(ttftRAG, first)
					retrieval = append(retrieval, timingOf(res.Header.Get("Server-Timing"), "retrieval"))
				}
			}
		}
	}
	p50 := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(p50(direct)), "direct-retrieve-p50-ms")
	b.ReportMetric(ms(p50(viaFD2)), "fd2-retrieve-p50-ms")
	b.ReportMetric(ms(p50(viaFD2)-p50(direct)), "added-retrieve-p50-ms")
	b.ReportMetric(ms(p50(viaCaddy)-p50(direct)), "caddy-added-retrieve-p50-ms")
	b.ReportMetric(ms(p50(ttftPlain)), "chat-ttft-p50-ms")
	b.ReportMetric(ms(p50(ttftRAG)), "rag-chat-ttft-p50-ms")
	b.ReportMetric(ms(p50(retrieval)), "retrieval-p50-ms")
	b.Logf("retrieve p50: direct %.3f ms, through Caddy's reverse_proxy %.3f ms (+%.3f ms), through FD2's rag_service "+
		"%.3f ms (+%.3f ms); chat TTFT p50: plain %.3f ms, retrieval-augmented %.3f ms (×%.2f), of which retrieval %.3f ms",
		ms(p50(direct)), ms(p50(viaCaddy)), ms(p50(viaCaddy)-p50(direct)), ms(p50(viaFD2)), ms(p50(viaFD2)-p50(direct)),
		ms(p50(ttftPlain)), ms(p50(ttftRAG)), float64(p50(ttftRAG))/float64(p50(ttftPlain)), ms(p50(retrieval)))
}

// timingOf is a metric's duration in a Server-Timing header (0 when absent).
func timingOf(header, name string) time.Duration {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, name+";dur="); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return time.Duration(f * 1e6)
		}
	}
	return 0
}
