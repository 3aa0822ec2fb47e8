// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// BenchmarkPipelineRatio measures the two pipelines issue 13 holds to today's speed against plain Caddy
// reverse_proxy to the same fake provider, in one process and one run:
//   - "manifest": dsp_manifest → dsp_auth (a cached jwt-auth token of the project's consumer) →
//     dsp_ratelimit (limit-count) → dsp_dispatch, proxying to the route's upstream;
//   - "openai": a static site, dsp_auth (an FD2 API key) → dsp_ratelimit (a token limit) → dsp_openai
//     (the fake provider), which also parses the request and the usage.
//
// Rounds cycle through the three targets with the order rotating, and each ratio is the median over the
// cycles, which resists the noise bursts of a shared machine. Run with -benchtime 1x (make bench).
func BenchmarkPipelineRatio(b *testing.B) {
	llm := startFakeLLM(b, fakellm.Options{})
	dir := b.TempDir()
	writeManifest(b, dir, "pipe", `{"project_id":"pipe","modules":[{"module_type":"api_gateway","name":"gw","config":{
	  "consumer":{"username":"bench","plugins":{"jwt-auth":{"key":"bench-key","secret":"bench-secret-0123456789"}}},
	  "routes":[{"name":"chat","uri":"/pipe/v1/chat/completions","methods":["POST"],
	    "upstream":{"scheme":"http","nodes":{"`+hostOf(llm)+`":1}},
	    "plugins":{"jwt-auth":{},"limit-count":{"count":1000000000,"time_window":3600},
	      "proxy-rewrite":{"uri":"/v1/chat/completions"}}}]}}]}`)
	keyFile := dir + "/keys.json"
	key, rec, err := newKey("bench-consumer", 0)
	if err != nil {
		b.Fatal(err)
	}
	writeKeys(b, keyFile, rec)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": "bench-key", "sub": "bench",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("bench-secret-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	registerSecret(tok)
	openaiPort, plainPort := freePort(b), freePort(b)
	f := startFD2Info(b, "manifests file "+dir, fmt.Sprintf(`
:{{HTTP}} {
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit {
			store memory
		}
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
:%d {
	route {
		dsp_auth {
			api_keys file %s
		}
		dsp_ratelimit {
			tokens 1000000000/h
			store memory
		}
		dsp_openai {
			provider fake openai {
				base_url %s/v1
			}
		}
	}
	handle_errors {
		dsp_error
	}
}
:%d {
	reverse_proxy %s
}
`, openaiPort, keyFile, llm.URL, plainPort, hostOf(llm)))
	waitListening(b, openaiPort)
	waitListening(b, plainPort)

	type target struct {
		name, url, header, value string
	}
	targets := []target{
		{"plain", fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", plainPort), "", ""},
		{"manifest", f.url("/pipe/v1/chat/completions"), "Authorization", "Bearer " + tok},
		{"openai", fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", openaiPort), "X-API-Key", key},
	}
	body := `{"model":"fake-gpt","max_tokens":16,"messages":[{"role":"user","content":"benchmark me please"}]}`
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	const workers, cycles = 16, 10
	round := 1200 * time.Millisecond
	run := func(tg target) int64 {
		return loadRound(b, c, workers, round, tg.url, body, tg.header, tg.value)
	}
	for _, tg := range targets { // warm-up: connections, manifest, pool, token cache
		run(tg)
	}
	var total [3]int64
	var ratios [2][]float64
	for i := 0; i < cycles; i++ {
		var got [3]int64
		for j := range targets {
			k := (i + j) % len(targets)
			got[k] = run(targets[k])
			total[k] += got[k]
		}
		ratios[0] = append(ratios[0], float64(got[1])/float64(got[0]))
		ratios[1] = append(ratios[1], float64(got[2])/float64(got[0]))
	}
	median := func(v []float64) float64 {
		sort.Float64s(v)
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	secs := (time.Duration(cycles) * round).Seconds()
	for i, name := range []string{"manifest", "openai"} {
		m := median(ratios[i])
		b.ReportMetric(m, name+"_throughput_ratio")
		b.Logf("%-8s %6.0f req/s vs plain reverse_proxy %6.0f req/s: median cycle ratio %.3f (totals %.3f)",
			name, float64(total[i+1])/secs, float64(total[0])/secs, m, float64(total[i+1])/float64(total[0]))
	}
}
