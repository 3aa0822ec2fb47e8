// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// hostileManifest is a project with the routes the hostile-input tests aim at: an inference module, a
// token-limited route, a route whose plugin config cannot compile, and streaming routes to an upstream that
// breaks its streams off.
func hostileManifest(id, llm, dropper string) string {
	return strings.NewReplacer("ID", id, "LLM", llm, "DROP", dropper).Replace(`{
  "project_id": "ID",
  "project_name": "hostile input ID",
  "modules": [
    {"module_type": "api_gateway", "name": "gw", "config": {"gateway_type": "apisix", "routes": [
      {"name": "tokens", "uri": "/ID/tokens", "methods": ["POST"],
       "upstream": {"scheme": "http", "nodes": {"LLM": 1}},
       "plugins": {"ai-rate-limiting": {"limit": 100000, "time_window": 60, "key_type": "constant"},
                   "proxy-rewrite": {"uri": "/v1/chat/completions"}}},
      {"name": "badregex", "uri": "/ID/badregex", "upstream": {"scheme": "http", "nodes": {"LLM": 1}},
       "plugins": {"proxy-rewrite": {"regex_uri": ["^/ID/(unclosed", "/x"]},
                   "limit-count": {"count": 10, "time_window": 60, "key_type": "constant"}}},
      {"name": "stream", "uri": "/ID/stream", "methods": ["POST"],
       "upstream": {"scheme": "http", "nodes": {"LLM": 1}},
       "plugins": {"proxy-rewrite": {"uri": "/v1/chat/completions"}}},
      {"name": "drop", "uri": "/ID/drop", "upstream": {"scheme": "http", "nodes": {"DROP": 1}}}
    ]}},
    {"module_type": "inference_endpoint", "name": "chat", "config": {"endpoint_url": "http://LLM/v1", "model_name": "fake-gpt"}},
    {"module_type": "inference_endpoint", "name": "cut", "config": {"endpoint_url": "http://DROP/v1", "model_name": "fake-gpt"}}
  ]
}`)
}

// dropper is an upstream that breaks off: POST /v1/chat/completions answers a JSON body that declares
// more than it sends; /drop streams two events and then cuts the connection.
func startDropper(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer conn.Close()
			body := `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"cut sho`
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)+40, body)
			_ = bw.Flush()
			return
		}
		cutStream(t, w, []string{"data: {\"n\":0}\n\n", "data: {\"n\":1}\n\n"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cutStream answers with an SSE stream of events and then drops the connection without ending the chunked
// body, as an upstream that dies mid-stream does.
func cutStream(t *testing.T, w http.ResponseWriter, events []string) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	defer conn.Close()
	fmt.Fprint(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, ev := range events {
		fmt.Fprintf(bw, "%x\r\n%s\r\n", len(ev), ev)
		_ = bw.Flush()
		time.Sleep(5 * time.Millisecond)
	}
}

// hostileSite is the manifest pipeline with every stage, without handle_errors: FD2 must still answer
// every error with its JSON body (issue 12, item 5).
const hostileSite = `
:{{HTTP}} {
	{{LOG}}
	handle /metrics {
		metrics
	}
	handle /health {
		dsp_health
	}
	handle {
		route {
			dsp_manifest
			dsp_auth
			dsp_ratelimit
			dsp_dispatch {
				max_body_size 64KiB
			}
		}
	}
}
`

// chunkedBody has no declared length, so the client sends it chunked.
type chunkedBody struct{ r io.Reader }

func (c chunkedBody) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestHostileRequests runs the requests that once crashed or misanswered FD2: each gets its exact status and
// FD2's JSON error, the process stays up and the other project keeps answering.
func TestHostileRequests(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	drop := startDropper(t)
	dir := t.TempDir()
	writeManifest(t, dir, "hx", hostileManifest("hx", hostOf(llm), hostOf(drop)))
	writeManifest(t, dir, "other", demoManifest("other", hostOf(llm)))
	f := startFD2(t, "manifests file "+dir+"\n max_body_size 64KiB", hostileSite)

	big := `{"model":"fake-gpt","messages":[{"role":"user","content":"` + strings.Repeat("x", 200<<10) + `"}]}`
	chat := `{"model":"fake-gpt","messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		chunked bool
		headers []string
		status  int
		code    string
	}{
		{"non-UTF-8 project segment", "GET", "/%ff%fe/x", "", false, nil, 404, "project_not_found"},
		{"non-UTF-8 module header", "GET", "/x", "", false, []string{"X-Project-Module", "\xff/m"}, 404, "project_not_found"},
		{"path traversal as project", "GET", "/..%2f..%2fetc/passwd", "", false, nil, 404, "project_not_found"},
		{"unknown project, no handle_errors", "GET", "/nosuchproject/x", "", false, nil, 404, "project_not_found"},
		{"no route, no handle_errors", "GET", "/hx/nothing-here", "", false, nil, 404, "route_not_found"},
		{"route whose plugins failed to compile", "GET", "/hx/badregex", "", false, nil, 503, "route_misconfigured"},
		{"chunked oversize body on an inference route", "POST", "/hx/chat/v1/chat/completions", big, true, nil, 413, "request_too_large"},
		{"declared oversize body on an inference route", "POST", "/hx/chat/v1/chat/completions", big, false, nil, 413, "request_too_large"},
		{"chunked oversize body on a token-limited route", "POST", "/hx/tokens", big, true, nil, 413, "request_too_large"},
		{"declared oversize body on a token-limited route", "POST", "/hx/tokens", big, false, nil, 413, "request_too_large"},
		{"not JSON on an inference route", "POST", "/hx/chat/v1/chat/completions", "{nope", false, nil, 400, "invalid_json"},
		{"provider cuts a non-streamed answer", "POST", "/hx/cut/v1/chat/completions", chat, false, nil, 502, "upstream_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader
			if tc.body != "" {
				rd = strings.NewReader(tc.body)
				if tc.chunked {
					rd = chunkedBody{rd}
				}
			}
			req, err := http.NewRequest(tc.method, f.url(tc.path), rd)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header[tc.headers[i]] = []string{tc.headers[i+1]}
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			r := resp{status: res.StatusCode, header: res.Header, body: b}
			expectStatus(t, r, tc.status)
			if code := r.errorCode(t); code != tc.code {
				t.Fatalf("code %q, want %q: %s", code, tc.code, b)
			}
			// The process is alive and the other project unaffected.
			expectStatus(t, do(t, "GET", f.url("/health"), ""), 200)
			expectStatus(t, do(t, "POST", f.url("/other/minimal"), chat), 200)
		})
	}

	t.Run("oversized headers are Caddy's own plain 431", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.url("/hx/tokens"), nil)
		req.Header.Set("X-Big", strings.Repeat("h", 2<<20))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// TestErrorsRenderedWithHandleErrors: where a site has its own handle_errors, FD2 leaves rendering to it.
func TestErrorsRenderedWithHandleErrors(t *testing.T) {
	requireIntegration(t)
	dir := t.TempDir()
	f := startFD2(t, "manifests file "+dir, `
:{{HTTP}} {
	route {
		dsp_manifest
		dsp_dispatch
	}
	handle_errors {
		header X-Site-Errors yes
		respond "site says {err.status_code}" {err.status_code}
	}
}
`)
	r := do(t, "GET", f.url("/nosuchproject/x"), "")
	expectStatus(t, r, 404)
	if string(r.body) != "site says 404" || r.header.Get("X-Site-Errors") != "yes" {
		t.Fatalf("the site's handle_errors did not render the error: %q", r.body)
	}
}

// TestBrokenOffResponsesAreCounted: streams that end abnormally — the client hangs up, or the upstream
// drops the connection — leave fd2_active_requests at 0 and are all counted (issue 12, item 8).
func TestBrokenOffResponsesAreCounted(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 20 * time.Millisecond})
	drop := startDropper(t)
	dir := t.TempDir()
	writeManifest(t, dir, "bx", hostileManifest("bx", hostOf(llm), hostOf(drop)))
	f := startFD2(t, "manifests file "+dir, hostileSite)

	const n = 40
	longPrompt := strings.Repeat("word ", 100) // echoed back a word every 20 ms: a 2 s stream
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", f.url("/bx/stream"),
				strings.NewReader(`{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"`+longPrompt+`"}]}`))
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("stream: %v", err)
				return
			}
			line, err := bufio.NewReader(res.Body).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "data:") {
				t.Errorf("first line %q, %v", line, err)
			}
			cancel() // hang up mid-stream
			_ = res.Body.Close()
		}()
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Get(f.url("/bx/drop"))
			if err != nil {
				t.Errorf("drop: %v", err)
				return
			}
			_, err = io.ReadAll(res.Body)
			_ = res.Body.Close()
			if err == nil {
				t.Errorf("a stream the upstream cut off ended cleanly for the client")
			}
		}()
	}
	wg.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		active := metricLine(t, f, `fd2_active_requests{project="bx"}`)
		aborted := metricLine(t, f, `fd2_requests_total{code="499",module="gw",project="bx",route="gw/stream"}`)
		dropped := metricLine(t, f, `fd2_requests_total{code="502",module="gw",project="bx",route="gw/drop"}`)
		if active == "0" && aborted == strconv.Itoa(n) && dropped == strconv.Itoa(n) {
			return
		}
		if time.Now().After(deadline) {
			var series []string
			for _, l := range strings.Split(string(do(t, "GET", f.url("/metrics"), "").body), "\n") {
				if strings.HasPrefix(l, "fd2_requests_total{") && strings.Contains(l, `project="bx"`) {
					series = append(series, l)
				}
			}
			t.Fatalf("after %d client aborts and %d upstream drops: active %q, counted 499 %q, counted drops %q\n%s",
				n, n, active, aborted, dropped, strings.Join(series, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBodyCapMemory: 16 concurrent chunked bodies far over max_body_size cost a token-limited route (which
// reads bodies whole) no more than 1.5× the peak memory of a plain proxied route (which streams them): the
// one cap applies to every stage (issue 12, item 11; before, the rate limiter buffered up to 16 MiB each).
// Each route runs in a process of its own, whose peak RSS (VmHWM) is read from /proc.
func TestBodyCapMemory(t *testing.T) {
	requireIntegration(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(upstream.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "mem", hostileManifest("mem", hostOf(upstream), hostOf(upstream)))
	peak := func(path string) int64 {
		port, admin := freePort(t), freePort(t)
		pid := startSubprocessFD2PID(t, fmt.Sprintf("{\n admin localhost:%d\n http_port %d\n dsp {\n manifests file %s\n max_body_size 1MiB\n }\n}\n",
			admin, port, dir)+strings.ReplaceAll(strings.ReplaceAll(hostileSite, "{{HTTP}}", strconv.Itoa(port)), "{{LOG}}", "")+"\n")
		waitListening(t, port)
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		expectStatus(t, do(t, "POST", url, `{"model":"fake-gpt","messages":[{"role":"user","content":"warm"}]}`), 200)
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// 64 MiB, generated as it is sent, without a declared length.
				body := io.LimitReader(repeatReader('x'), 64<<20)
				res, err := client.Post(url, "application/json", chunkedBody{body})
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					if res.StatusCode != http.StatusRequestEntityTooLarge {
						t.Errorf("%s: status %d, want 413", path, res.StatusCode)
					}
				}
			}()
		}
		wg.Wait()
		return vmHWM(t, pid)
	}
	plain := peak("/mem/stream")
	limited := peak("/mem/tokens")
	t.Logf("peak RSS with 16 concurrent 64 MiB chunked bodies over a 1 MiB cap: plain route %d MiB, token-limited route %d MiB (%.2f×)",
		plain>>20, limited>>20, float64(limited)/float64(plain))
	if float64(limited) > 1.5*float64(plain) {
		t.Fatalf("the token-limited route peaked at %.2f× the plain route's memory", float64(limited)/float64(plain))
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// vmHWM is a process's peak resident set size, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the process status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestHostileManifests serves manifests an operator could get wrong, or an attacker with write access to the
// source could craft: each project answers its exact status with FD2's JSON error, the process stays up
// and a good project keeps answering.
func TestHostileManifests(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "good", demoManifest("good", hostOf(llm)))
	gw := func(routes string) string {
		return `{"project_id":"p","modules":[{"module_type":"api_gateway","name":"gw","config":{"routes":[` + routes + `]}}]}`
	}
	route := func(plugins string) string {
		return gw(`{"name":"r","uri":"/PID/r","upstream":{"scheme":"http","nodes":{"` + hostOf(llm) + `":1}},"plugins":` + plugins + `}`)
	}
	cases := []struct {
		name, doc string
		status    int
		code      string
	}{
		{"null", `null`, 503, "manifest_invalid"},
		{"array", `[]`, 503, "manifest_invalid"},
		{"string", `"manifest"`, 503, "manifest_invalid"},
		{"number", `1`, 503, "manifest_invalid"},
		{"truncated", `{"project_id":"p","modules":[{"module_type":`, 503, "manifest_invalid"},
		{"trailing data", `{"project_id":"p","modules":[]} {"x":1}`, 503, "manifest_invalid"},
		{"empty file", ``, 503, "manifest_invalid"},
		{"modules not a list", `{"project_id":"p","modules":{"a":1}}`, 503, "manifest_invalid"},
		{"unknown module type", `{"project_id":"p","modules":[{"module_type":"apisix_gateway","name":"x","config":{}}]}`, 503, "manifest_invalid"},
		{"deeply nested", `{"project_id":"p","modules":[],"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, 503, "manifest_invalid"},
		{"routes not a list", gw(`]}}]},{"x":1`), 503, "manifest_invalid"},
		{"bad regex_uri", route(`{"proxy-rewrite":{"regex_uri":["(", "/x"]}}`), 503, "route_misconfigured"},
		{"limit-count with a string count", route(`{"limit-count":{"count":"ten","time_window":60}}`), 503, "route_misconfigured"},
		{"cors * with credentials on the route", route(`{"cors":{"allow_origins":"*","allow_credential":true}}`), 503, "route_misconfigured"},
		{"plugin config not an object", route(`{"proxy-rewrite":"yes"}`), 503, "route_misconfigured"},
		{"unsupported authentication plugin", route(`{"openid-connect":{}}`), 503, "route_misconfigured"},
		{"unsupported security plugin", route(`{"ip-restriction":{"whitelist":["10.0.0.0/8"]}}`), 403, "plugin_unsupported"},
		{"upstream without nodes (not routed, a manifest warning)", gw(`{"name":"r","uri":"/PID/r","upstream":{"nodes":{}}}`), 404, "route_not_found"},
		{"upstream node port out of range", gw(`{"name":"r","uri":"/PID/r","upstream":{"scheme":"http","nodes":[{"host":"127.0.0.1","port":99999,"weight":1}]}}`), 0, ""},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("hm%d", i)
		writeManifest(t, dir, id, strings.ReplaceAll(tc.doc, "PID", id))
	}
	f := startFD2(t, "manifests file "+dir, hostileSite)
	chat := `{"model":"fake-gpt","messages":[{"role":"user","content":"hi"}]}`
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", f.url(fmt.Sprintf("/hm%d/r", i)), "")
			if tc.status == 0 {
				// Either refused at load or unreachable at request time: a clean error either way.
				if r.status < 400 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				r.errorCode(t)
			} else {
				expectStatus(t, r, tc.status)
				if code := r.errorCode(t); code != tc.code {
					t.Fatalf("code %q, want %q: %s", code, tc.code, r.body)
				}
			}
			expectStatus(t, do(t, "GET", f.url("/health"), ""), 200)
			expectStatus(t, do(t, "POST", f.url("/good/minimal"), chat), 200)
		})
	}
	// Every invalid project is listed by the admin API with its errors (item 15).
	var out struct {
		Projects []struct {
			ID     string   `json:"id"`
			State  string   `json:"state"`
			Errors []string `json:"errors"`
		} `json:"projects"`
	}
	lr := do(t, "GET", f.adminURL("/dsp/projects"), "")
	if err := json.Unmarshal(lr.body, &out); err != nil {
		t.Fatal(err)
	}
	invalid := 0
	for _, p := range out.Projects {
		if p.State == "invalid" {
			invalid++
			if len(p.Errors) == 0 {
				t.Errorf("project %s is invalid without errors", p.ID)
			}
		}
	}
	if invalid < 11 {
		t.Fatalf("only %d invalid projects listed: %s", invalid, lr.body)
	}
}
