// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// obsManifest is a project with a proxied route, a route to a dead upstream, a limit-count route (one
// request per minute) and an inference_endpoint module.
func obsManifest(id, llmURL, llmAddr string) string {
	return strings.NewReplacer("ID", id, "LLMURL", llmURL, "ADDR", llmAddr).Replace(`{"project_id":"ID","project_name":"ID","modules":[
	  {"module_type":"inference_endpoint","name":"assistant","config":{"endpoint_url":"LLMURL/v1","model_name":"obs-gpt"}},
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[
	    {"name":"echo","uri":"/ID/echo/*","upstream":{"scheme":"http","nodes":{"ADDR":1}},
	     "plugins":{"proxy-rewrite":{"regex_uri":["^/ID/echo/(.*)","/echo/$1"]}}},
	    {"name":"minimal","uri":"/ID/minimal","methods":["POST"],"upstream":{"scheme":"http","nodes":{"ADDR":1}},
	     "plugins":{"proxy-rewrite":{"uri":"/v1/chat/completions"}}},
	    {"name":"down","uri":"/ID/down","upstream":{"scheme":"http","nodes":{"127.0.0.1:1":1}}},
	    {"name":"limited","uri":"/ID/limited","upstream":{"scheme":"http","nodes":{"ADDR":1}},
	     "plugins":{"limit-count":{"count":1,"time_window":60,"key_type":"constant","rejected_code":429},
	       "proxy-rewrite":{"uri":"/echo/limited"}}}]}}]}`)
}

const obsPipeline = `
:{{HTTP}} {
	{{LOG}}
	handle /metrics {
		metrics
	}
	handle {
		route {
			dsp_manifest
			dsp_ratelimit {
				store memory
			}
			dsp_dispatch
		}
	}
	handle_errors {
		dsp_error
	}
}
`

// accessLine waits for the access log line of the request with X-Request-Id id and decodes it.
func accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	needle := []byte(`"dsp_request_id":"` + id + `"`)
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if bytes.Contains(sc.Bytes(), needle) && bytes.Contains(sc.Bytes(), []byte(`"handled request"`)) {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("access log line is not JSON: %v: %s", err, sc.Bytes())
				}
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLines returns the suite log's lines containing every needle, decoded.
func logLines(t *testing.T, needles ...string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		for _, n := range needles {
			if !bytes.Contains(sc.Bytes(), []byte(n)) {
				continue next
			}
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// metricValue returns the value of one exposition line (series as printed, labels sorted), or "".
func metricValue(m, series string) string {
	for _, l := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestAccessLogAndNewMetrics runs a scripted workload and checks, per request, the FD2 fields of Caddy's
// access log line, then the exact values of the upstream and OpenTelemetry GenAI metric families.
func TestAccessLogAndNewMetrics(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "obsproj", obsManifest("obsproj", llm.URL, hostOf(llm)))
	f := startFD2(t, "manifests file "+dir, obsPipeline)

	expectStatus(t, do(t, "GET", f.url("/obsproj/echo/a"), "", "X-Request-Id", "obs-echo-1"), 200)
	expectStatus(t, do(t, "GET", f.url("/obsproj/echo/b"), "", "X-Request-Id", "obs-echo-2"), 200)
	expectStatus(t, do(t, "GET", f.url("/obsproj/down"), "", "X-Request-Id", "obs-down"), 502)
	expectStatus(t, do(t, "GET", f.url("/obsproj/limited"), "", "X-Request-Id", "obs-lim-1"), 200)
	expectStatus(t, do(t, "GET", f.url("/obsproj/limited"), "", "X-Request-Id", "obs-lim-2"), 429)
	var promptSum, completionSum int
	for i := 1; i <= 2; i++ {
		r := do(t, "POST", f.url("/obsproj/assistant/v1/chat/completions"),
			`{"model":"obs-gpt","messages":[{"role":"user","content":"count these words please"}]}`,
			"X-Request-Id", fmt.Sprintf("obs-chat-%d", i), "Content-Type", "application/json")
		expectStatus(t, r, 200)
		u := r.json(t)["usage"].(map[string]any)
		promptSum += int(u["prompt_tokens"].(float64))
		completionSum += int(u["completion_tokens"].(float64))
	}

	// Access log lines: one per request, with FD2's fields.
	e1 := accessLine(t, "obs-echo-1")
	want := map[string]any{"dsp_project": "obsproj", "dsp_module": "gw", "dsp_route": "gw/echo", "dsp_cache": "source",
		"dsp_ratelimit": "none", "dsp_upstream_status": float64(200)}
	for k, v := range want {
		if e1[k] != v {
			t.Errorf("echo-1 access log %s = %v, want %v (line %v)", k, e1[k], v, e1)
		}
	}
	for _, k := range []string{"dsp_upstream_ms", "dsp_overhead_ms", "dsp_manifest_ms", "dsp_dispatch_ms"} {
		if v, ok := e1[k].(float64); !ok || v <= 0 {
			t.Errorf("echo-1 access log %s = %v, want a positive duration", k, e1[k])
		}
	}
	if e2 := accessLine(t, "obs-echo-2"); e2["dsp_cache"] != "memory" {
		t.Errorf("second request's cache tier %v, want memory", e2["dsp_cache"])
	}
	if d := accessLine(t, "obs-down"); d["dsp_upstream_status"] != nil || d["status"] != float64(502) {
		t.Errorf("dead upstream: upstream status %v, status %v", d["dsp_upstream_status"], d["status"])
	}
	// The failure has exactly one error line, with the cause chain.
	if lines := logLines(t, `"request_id":"obs-down"`, `"msg":"request failed"`); len(lines) != 1 ||
		lines[0]["level"] != "error" || !strings.Contains(fmt.Sprint(lines[0]["error"]), "connect") {
		t.Errorf("error lines for the dead upstream: %v", lines)
	}
	if l := accessLine(t, "obs-lim-1"); l["dsp_ratelimit"] != "allowed" {
		t.Errorf("first limited request: %v", l["dsp_ratelimit"])
	}
	if l := accessLine(t, "obs-lim-2"); l["dsp_ratelimit"] != "rejected" || l["dsp_upstream_status"] != nil {
		t.Errorf("second limited request: ratelimit %v, upstream %v", l["dsp_ratelimit"], l["dsp_upstream_status"])
	}
	c := accessLine(t, "obs-chat-1")
	for k, v := range map[string]any{"dsp_module": "assistant", "dsp_provider": "obsproj/assistant", "dsp_model": "obs-gpt",
		"dsp_upstream_status": float64(200)} {
		if c[k] != v {
			t.Errorf("chat access log %s = %v, want %v", k, c[k], v)
		}
	}
	if in, _ := c["dsp_tokens_in"].(float64); in <= 0 {
		t.Errorf("chat access log has no input tokens: %v", c)
	}
	if strings.Contains(fmt.Sprint(c), "count these words") {
		t.Errorf("prompt text in the access log: %v", c)
	}

	m := string(do(t, "GET", f.url("/metrics"), "").body)
	exact := map[string]string{
		`fd2_upstream_requests_total{code="200",module="gw",project="obsproj"}`:                                                                                   "3",
		`fd2_upstream_requests_total{code="error",module="gw",project="obsproj"}`:                                                                                 "1",
		`fd2_upstream_duration_seconds_count{module="gw",project="obsproj"}`:                                                                                      "4",
		`fd2_upstream_time_to_first_byte_seconds_count{module="gw",project="obsproj"}`:                                                                            "3",
		`fd2_requests_total{code="429",module="gw",project="obsproj",route="gw/limited"}`:                                                                         "1",
		`fd2_tokens_total{model="obs-gpt",project="obsproj",provider="obsproj/assistant",source="provider",type="prompt"}`:                                        strconv.Itoa(promptSum),
		`gen_ai_client_token_usage_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="obs-gpt",gen_ai_token_type="input"}`:    "2",
		`gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="obs-gpt",gen_ai_token_type="input"}`:      strconv.Itoa(promptSum),
		`gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="obs-gpt",gen_ai_token_type="output"}`:     strconv.Itoa(completionSum),
		`gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="obs-gpt"}`: "2",
		`gen_ai_server_time_to_first_token_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="obs-gpt"}`:              "2",
	}
	for series, v := range exact {
		if got := metricValue(m, series); got != v {
			t.Errorf("%s = %q, want %s", series, got, v)
		}
	}
	if t.Failed() {
		t.Logf("obsproj / obs-gpt series:\n%s", grepLines(grepLines(m, "obs"), "_count"))
	}
}

// TestCardinalityBounded sends requests from 10,000 distinct consumers (API keys) naming 1,000 made-up
// models through auth, a per-consumer limit and the inference module: no consumer reaches a label, and the
// model labels stay within the guard's cap, the rest folded into "other".
func TestCardinalityBounded(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "cardproj", obsManifest("cardproj", llm.URL, hostOf(llm)))
	const consumers, models = 10000, 1000
	keyFile := dir + "/keys.json"
	recs := make([]any, 0, consumers)
	plains := make([]string, consumers)
	for i := range consumers {
		plain, rec, err := newKeyNoRegister(fmt.Sprintf("card-consumer-%05d", i), 100)
		if err != nil {
			t.Fatal(err)
		}
		plains[i] = plain
		recs = append(recs, rec)
		if i%100 == 0 {
			registerSecret(plain) // a sample: the scan's cost grows with the registered secrets
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": recs})
	if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFD2(t, "manifests file "+dir, fmt.Sprintf(`
:{{HTTP}} {
	handle /metrics {
		metrics
	}
	handle {
		route {
			dsp_manifest
			dsp_auth {
				api_keys file %s
			}
			dsp_ratelimit {
				store memory
			}
			dsp_dispatch
		}
	}
	handle_errors {
		dsp_error
	}
}
`, keyFile))
	seriesBefore := fd2Series(do(t, "GET", f.url("/metrics"), "").body)

	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := map[int]int{}
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := fmt.Sprintf(`{"model":"made-up-model-%04d","messages":[{"role":"user","content":"hi"}]}`, i%models)
				r := do(t, "POST", f.url("/cardproj/assistant/v1/chat/completions"), body,
					"X-API-Key", plains[i], "Content-Type", "application/json")
				if r.status != 200 {
					mu.Lock()
					fails[r.status]++
					mu.Unlock()
				}
			}
		}()
	}
	for i := range consumers {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("failed requests by status: %v", fails)
	}

	m := string(do(t, "GET", f.url("/metrics"), "").body)
	if strings.Contains(m, "card-consumer-") {
		t.Fatalf("a consumer id reached /metrics:\n%s", grepLines(m, "card-consumer-"))
	}
	modelRe := regexp.MustCompile(`(?:^|[{,])(?:model|gen_ai_request_model)="([^"]*)"`)
	values := map[string]bool{}
	for _, l := range strings.Split(m, "\n") {
		if !strings.HasPrefix(l, "fd2_") && !strings.HasPrefix(l, "gen_ai_") {
			continue
		}
		if i := strings.IndexByte(l, '{'); i >= 0 {
			for _, sm := range modelRe.FindAllStringSubmatch(l[i:], -1) {
				values[sm[1]] = true
			}
		}
	}
	if len(values) > metrics.Models.Max+1 || !values[metrics.Other] {
		t.Fatalf("%d distinct model label values (cap %d + %q; %q present: %v)", len(values), metrics.Models.Max,
			metrics.Other, metrics.Other, values[metrics.Other])
	}
	// Growth: per model value the inference families hold a fixed number of series — fd2_tokens_total 2,
	// fd2_time_to_first_token_seconds 14, fd2_provider_request_duration_seconds 17, gen_ai token usage 2×17,
	// gen_ai duration 17, gen_ai TTFT 19 (histograms: buckets + +Inf + sum + count) — plus the project's own
	// request series (a few hundred); nothing grows with the consumers.
	after := fd2Series([]byte(m))
	const perModel, perProject = 2 + 14 + 17 + 2*17 + 17 + 19, 500
	if bound := (metrics.Models.Max+1)*perModel + perProject; after-seriesBefore > bound {
		t.Fatalf("series grew by %d for %d consumers and %d models (bound %d)", after-seriesBefore, consumers, models, bound)
	}
	t.Logf("%d requests, %d consumers, %d model names: %d FD2 series before, %d after, %d distinct model values",
		consumers, consumers, models, seriesBefore, after, len(values))
}

// fd2Series counts the exposition lines of FD2's families.
func fd2Series(b []byte) int {
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "fd2_") || strings.HasPrefix(l, "gen_ai_") {
			n++
		}
	}
	return n
}

// latencyRelay forwards TCP connections to target, holding every chunk for delay in each direction.
func latencyRelay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(delay)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return ln.Addr().String()
}

// parseServerTiming reads "name;dur=ms, …" into name → milliseconds.
func parseServerTiming(t *testing.T, v string) map[string]float64 {
	out := map[string]float64{}
	for _, part := range strings.Split(v, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(part), ";dur=")
		if !ok {
			t.Fatalf("Server-Timing entry %q", part)
		}
		ms, err := strconv.ParseFloat(dur, 64)
		if err != nil {
			t.Fatalf("Server-Timing entry %q: %v", part, err)
		}
		out[name] = ms
	}
	return out
}
