// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
	"github.com/dsp-ai/fd2/internal/ragservice"
)

// demoManifest is a project whose routes reach addr over plain HTTP.
func demoManifest(id, addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return strings.NewReplacer("ADDRHOST", host, "ADDRPORT", port, "ADDR", addr, "ID", id).Replace(`{
  "project_id": "ID",
  "project_name": "integration project ID",
  "environment": "development",
  "modules": [
    {"module_type": "api_gateway", "name": "gw", "config": {
      "gateway_type": "apisix",
      "routes": [
        {"name": "chat", "uri": "/ID/v1/chat/completions", "methods": ["POST"],
         "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1},
                      "timeout": {"connect": 2, "send": 5, "read": 5}},
         "plugins": {
           "request-id": {},
           "proxy-rewrite": {"uri": "/v1/chat/completions",
             "headers": {"Authorization": "Bearer ${environments.${environment}.secrets.key}"}},
           "cors": {"allow_origins": "https://app.example.com", "allow_methods": "POST", "max_age": 60}
         }},
        {"name": "echo", "uri": "/ID/echo/*",
         "upstream": {"scheme": "http", "nodes": [{"host": "ADDRHOST", "port": ADDRPORT, "weight": 1}]},
         "plugins": {
           "proxy-rewrite": {"regex_uri": ["^/ID/echo/(.*)", "/echo/$1"],
             "headers": {"set": {"X-Caller": "$http_x_user_agent_id"}, "remove": ["X-Drop-Me"]}},
           "response-rewrite": {"headers": {"set": {"X-Served-By": "fd2"}, "remove": ["X-Upstream-Secret"]}}
         }},
        {"name": "convert", "uri": "/ID/convert", "methods": ["POST"],
         "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1}},
         "plugins": {
           "ai-prompt-template": {"templates": [{"name": "converter", "template": {"model": "fake-gpt",
             "messages": [{"role": "system", "content": "convert"}, {"role": "user", "content": "{{user_input}}"}]}}]},
           "proxy-rewrite": {"uri": "/echo/rendered"}
         }},
        {"name": "slow", "uri": "/ID/slow", "methods": ["POST"],
         "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1},
                      "timeout": {"connect": 1, "send": 1, "read": 1}},
         "plugins": {"proxy-rewrite": {"uri": "/v1/chat/completions"}}},
        {"name": "authecho", "uri": "/ID/authecho",
         "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1}},
         "plugins": {"proxy-rewrite": {"uri": "/echo/auth",
           "headers": {"Authorization": "Bearer ${environments.${environment}.secrets.key}", "Accept-Encoding": "identity"}}}},
        {"name": "minimal", "uri": "/ID/minimal", "methods": ["POST"],
         "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1}},
         "plugins": {"proxy-rewrite": {"uri": "/v1/chat/completions"}}},
        {"name": "down", "uri": "/ID/down", "upstream": {"scheme": "http", "nodes": {"127.0.0.1:1": 1}}},
        {"name": "secured", "uri": "/ID/secured", "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1}},
         "plugins": {"key-auth": {}}},
        {"name": "blocked", "uri": "/ID/blocked", "upstream": {"scheme": "http", "nodes": {"${environments.${environment}.urls.llm}": 1}},
         "plugins": {"ip-restriction": {"whitelist": ["10.0.0.0/8"]}}}
      ]}},
    {"module_type": "model_server", "name": "embedder", "config": {"service_url": "http://${environments.${environment}.urls.models}"}},
    {"module_type": "model_server", "name": "retired", "status": "disabled", "config": {"service_url": "http://${environments.${environment}.urls.models}"}},
    {"module_type": "inference_endpoint", "name": "assistant", "config": {"model_name": "x"}}
  ],
  "environments": {"development": {"secrets": {"key": "sk-integration"}, "urls": {"llm": "ADDR", "models": "ADDR"}}}
}`)
}

func demoDoc(id, addr string) string { return demoManifest(id, addr) }

func startFakeLLM(t testing.TB, opts fakellm.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(fakellm.New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func hostOf(srv *httptest.Server) string {
	u, _ := url.Parse(srv.URL)
	return u.Host
}

// TestFixturesFromFileSource loads FD2's corpus from a file source and checks its routes match as the spec
// says (through the whole Caddy pipeline).
func TestFixturesFromFileSource(t *testing.T) {
	requireIntegration(t)
	fixturesFromFileSource(t, ownCorpus())
}

// TestInteropFixturesFromFileSource is the same with the platform's own manifests.
func TestInteropFixturesFromFileSource(t *testing.T) {
	requireIntegration(t)
	fixturesFromFileSource(t, platformCorpus(t))
}

func fixturesFromFileSource(t *testing.T, c corpus) {
	// The richest project has a vault module: its config: references need the secrets config (the
	// Control Tower's secrets_config.json).
	f := startFD2(t, "manifests file "+c.dir+"\n secrets_config "+c.secretsConfig, pipeline)
	checkFixtureRoutes(t, f, c)
}

// TestFixturesWithoutSecretsConfig: without the secrets config, the project with a vault module cannot
// resolve and answers 503 — the Control Tower answers 500 there — while the manifests without a vault
// module load, their config: references left literal.
func TestFixturesWithoutSecretsConfig(t *testing.T) {
	requireIntegration(t)
	fixturesWithoutSecretsConfig(t, ownCorpus())
}

func TestInteropFixturesWithoutSecretsConfig(t *testing.T) {
	requireIntegration(t)
	fixturesWithoutSecretsConfig(t, platformCorpus(t))
}

func fixturesWithoutSecretsConfig(t *testing.T, c corpus) {
	f := startFD2(t, "manifests file "+c.dir, pipeline)
	r := do(t, "POST", f.url(c.convert), `{}`)
	expectStatus(t, r, 503)
	if code := r.errorCode(t); code != "manifest_unavailable" && code != "manifest_invalid" {
		t.Fatalf("code %s", code)
	}
	expectStatus(t, do(t, "POST", f.url(c.jweChat), `{}`), 401)
}

// TestFixturesFromControlTower serves the same fixtures from a Control-Tower-compatible server (normalised
// output, resolve_env) and checks the same routing, that the secret header is sent, and that warm requests
// do not go back to the Control Tower.
func TestFixturesFromControlTower(t *testing.T) {
	requireIntegration(t)
	fixturesFromControlTower(t, ownCorpus())
}

func TestInteropFixturesFromControlTower(t *testing.T) {
	requireIntegration(t)
	fixturesFromControlTower(t, platformCorpus(t))
}

func fixturesFromControlTower(t *testing.T, c corpus) {
	ct := controltower.New(c.dir, controltower.Options{})
	var secrets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secrets = append(secrets, r.Header.Get("X-DSPAI-Client-Secret"))
		if r.URL.Query().Get("resolve_env") != "true" && strings.Count(r.URL.Path, "/") == 2 {
			t.Errorf("manifest fetched without resolve_env=true: %s", r.URL)
		}
		ct.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("FD2_TEST_CT_SECRET", "dspsa_p@ssword")
	registerSecret("dspsa_p@ssword")
	f := startFD2(t, "manifests control_tower "+srv.URL+" {\n secret {env.FD2_TEST_CT_SECRET}\n refresh 1h\n }", pipeline)
	checkFixtureRoutes(t, f, c)
	if len(secrets) == 0 {
		t.Fatal("the Control Tower was never called")
	}
	for _, s := range secrets {
		if s != "dspsa_p@ssword" {
			t.Fatalf("X-DSPAI-Client-Secret = %q", s)
		}
	}
	before := ct.Requests()
	for i := 0; i < 20; i++ {
		expectStatus(t, do(t, "POST", f.url(c.convert), `{}`), http.StatusUnauthorized)
	}
	if after := ct.Requests(); after != before {
		t.Fatalf("warm requests reached the Control Tower: %d → %d manifest GETs", before, after)
	}
}

func checkFixtureRoutes(t *testing.T, f *fd2, c corpus) {
	t.Helper()
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		// Every route of the richest project carries jwt-auth (or jwe-decrypt); with no auth stage they
		// fail closed.
		{"convert needs jwt-auth", "POST", c.convert, 401, "authentication_required"},
		{"test needs jwt-auth", "POST", c.test, 401, "authentication_required"},
		{"jwe route needs jwe-decrypt", "POST", c.convertJWE, 401, "authentication_required"},
		{"openai passthrough needs jwt-auth", "POST", c.passthrough, 401, "authentication_required"},
		{"method not in route", "GET", c.convert, 404, "route_not_found"},
		{"unknown path of a known project", "POST", "/" + c.project + "/nothing-here", 404, "route_not_found"},
		{"jwt_config module is the token broker (needs username/password)", "POST", c.broker, 400, "invalid_request"},
		// endpoint_url is the provider base URL for FD2; the fixtures' point at a gateway on localhost:8000
		// that does not run here, so the module route is reached and the provider call fails.
		{"inference_endpoint module route", "POST", c.inferenceModule, 502, "upstream_error"},
		{"jwe-only project's route needs jwe-decrypt", "POST", c.jweChat, 401, "authentication_required"},
		{"workflow project's inference module", "POST", c.workflowInference, 502, "upstream_error"},
		// This route's uri does not start with its project id (spec §2.4): unreachable by path.
		{"route outside its project prefix", "POST", c.outsidePrefix, 404, "project_not_found"},
		{"unknown project", "GET", "/no-such-project/x", 404, "project_not_found"},
		{"invalid project id", "GET", "/bad.id/x", 404, "project_not_found"},
		{"root", "GET", "/", 404, "project_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, f.url(tc.path), `{"model":"x"}`)
			expectStatus(t, r, tc.status)
			if got := r.errorCode(t); got != tc.code {
				t.Fatalf("error.code = %q, want %q", got, tc.code)
			}
		})
	}
	t.Run("header form", func(t *testing.T) {
		r := do(t, "POST", f.url("/v1/chat/completions"), `{"model":"m"}`, "X-Project-Module", c.headerModule)
		expectStatus(t, r, 502) // the inference module route, reached through the header (its provider is down)
		if r.errorCode(t) != "upstream_error" {
			t.Fatal(string(r.body))
		}
	})
	t.Run("admin lists projects", func(t *testing.T) {
		r := do(t, "GET", f.adminURL("/dsp/projects"), "")
		expectStatus(t, r, 200)
		var out struct {
			Projects []struct {
				ID     string   `json:"id"`
				Hash   string   `json:"hash"`
				Routes []string `json:"routes"`
			} `json:"projects"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range out.Projects {
			if p.ID == c.project {
				found = true
				if p.Hash == "" || len(p.Routes) < 4 {
					t.Fatalf("%s listed without hash or routes: %+v", c.project, p)
				}
			}
		}
		if !found {
			t.Fatalf("%s not listed: %s", c.project, r.body)
		}
	})
}

// TestProxyPipeline drives a project with real upstreams through every transform and error path.
func TestProxyPipeline(t *testing.T) {
	requireIntegration(t)
	registerSecret("sk-integration")
	llm := startFakeLLM(t, fakellm.Options{})
	models, modelSrv := startRAGService(t, ragservice.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "acme", strings.Replace(demoDoc("acme", hostOf(llm)), `"models": "`+hostOf(llm)+`"`, `"models": "`+hostOf(modelSrv)+`"`, 1))
	writeManifest(t, dir, "broken", `{"project_id":"broken","project_name":"b","modules":[{"module_type":"apisix_gateway","name":"x","config":{}}]}`)
	f := startFD2(t, "manifests file "+dir, pipeline)

	t.Run("chat completion through proxy-rewrite", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/v1/chat/completions"), `{"model":"fake-gpt","messages":[{"role":"user","content":"hello gateway"}]}`)
		expectStatus(t, r, 200)
		m := r.json(t)
		choice := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
		if choice["content"] != "echo: hello gateway" {
			t.Fatalf("content = %v", choice["content"])
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Fatal("request-id plugin did not echo X-Request-Id")
		}
	})
	t.Run("client request id is kept", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/v1/chat/completions"), `{"messages":[{"role":"user","content":"x"}]}`, "X-Request-Id", "client-id-123")
		expectStatus(t, r, 200)
		if got := r.header.Get("X-Request-Id"); got != "client-id-123" {
			t.Fatalf("X-Request-Id = %q", got)
		}
	})
	t.Run("headers, regex_uri and response-rewrite", func(t *testing.T) {
		r := do(t, "GET", f.url("/acme/echo/a/b?q=1"), "", "X-User-Agent-Id", "ua-7", "X-Drop-Me", "1")
		expectStatus(t, r, 200)
		var echo struct {
			Path     string              `json:"path"`
			RawQuery string              `json:"raw_query"`
			Headers  map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(r.body, &echo); err != nil {
			t.Fatal(err)
		}
		if echo.Path != "/echo/a/b" || echo.RawQuery != "q=1" {
			t.Fatalf("upstream saw %s?%s", echo.Path, echo.RawQuery)
		}
		if got := echo.Headers["X-Caller"]; len(got) != 1 || got[0] != "ua-7" {
			t.Fatalf("X-Caller = %v", got)
		}
		if _, ok := echo.Headers["X-Drop-Me"]; ok {
			t.Fatal("X-Drop-Me was not removed")
		}
		if r.header.Get("X-Served-By") != "fd2" {
			t.Fatalf("response-rewrite did not set X-Served-By: %v", r.header)
		}
	})
	t.Run("secret header set from the manifest environment", func(t *testing.T) {
		r := do(t, "GET", f.url("/acme/authecho"), "", "Authorization", "Bearer client")
		expectStatus(t, r, 200)
		var echo struct {
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(r.body, &echo); err != nil {
			t.Fatal(err)
		}
		if got := echo.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer sk-integration" {
			t.Fatalf("upstream Authorization = %v", got)
		}
	})
	t.Run("ai-prompt-template renders and escapes", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/convert"), `{"template_name":"converter","user_input":"data a;\n \"quoted\""}`)
		expectStatus(t, r, 200)
		var echo struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(r.body, &echo); err != nil {
			t.Fatal(err)
		}
		var sent struct {
			Model    string `json:"model"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal([]byte(echo.Body), &sent); err != nil {
			t.Fatalf("upstream body is not JSON: %v: %s", err, echo.Body)
		}
		if sent.Model != "fake-gpt" || len(sent.Messages) != 2 || sent.Messages[1].Content != "data a;\n \"quoted\"" {
			t.Fatalf("rendered body = %s", echo.Body)
		}
	})
	t.Run("ai-prompt-template unknown template is 400", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/convert"), `{"template_name":"nope"}`)
		expectStatus(t, r, 400)
		if r.errorCode(t) != "invalid_request" {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("cors preflight", func(t *testing.T) {
		r := do(t, "OPTIONS", f.url("/acme/v1/chat/completions"), "", "Origin", "https://app.example.com",
			"Access-Control-Request-Method", "POST")
		expectStatus(t, r, 204)
		if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.header.Get("Access-Control-Max-Age") != "60" {
			t.Fatalf("preflight headers: %v", r.header)
		}
	})
	t.Run("module route strips prefix and adds the API prefix", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/embedder/embeddings"), `{"texts":["hi"]}`)
		expectStatus(t, r, 200)
		if !strings.Contains(string(r.body), `"embeddings"`) {
			t.Fatalf("not an embeddings response: %s", r.body)
		}
		if _, ok := models.Last("/api/v1/models/embeddings"); !ok {
			t.Fatalf("the model server was not called under its API prefix: %v", models.Requests())
		}
		r = do(t, "POST", f.url("/acme/embedder/v1/embeddings"), `{"model":"all-MiniLM-L6-v2","input":"hi"}`)
		expectStatus(t, r, 200)
		if !strings.Contains(string(r.body), `"embedding"`) {
			t.Fatalf("not an OpenAI embeddings response: %s", r.body)
		}
	})
	t.Run("disabled module is not routed", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/retired/embeddings"), `{}`)
		expectStatus(t, r, 404)
	})
	t.Run("auth plugin fails closed", func(t *testing.T) {
		r := do(t, "GET", f.url("/acme/secured"), "")
		expectStatus(t, r, 401)
		if r.errorCode(t) != "authentication_required" {
			t.Fatal(string(r.body))
		}
	})
	t.Run("unsupported restrictive plugin fails closed", func(t *testing.T) {
		r := do(t, "GET", f.url("/acme/blocked"), "")
		expectStatus(t, r, 403)
	})
	t.Run("body over the limit is 413", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/v1/chat/completions"), `{"messages":[{"role":"user","content":"`+strings.Repeat("x", 2048)+`"}]}`)
		expectStatus(t, r, 413)
		if r.errorCode(t) != "request_too_large" {
			t.Fatal(string(r.body))
		}
	})
	t.Run("chunked body over the limit is 413", func(t *testing.T) {
		pr := strings.NewReader(`{"messages":[{"role":"user","content":"` + strings.Repeat("y", 4096) + `"}]}`)
		req, _ := http.NewRequest("POST", f.url("/acme/v1/chat/completions"), struct{ *strings.Reader }{pr})
		req.ContentLength = -1
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 413 {
			t.Fatalf("status %d, want 413", res.StatusCode)
		}
	})
	t.Run("upstream down is 502", func(t *testing.T) {
		r := do(t, "GET", f.url("/acme/down"), "")
		expectStatus(t, r, 502)
		if r.errorCode(t) != "upstream_unavailable" || strings.Contains(string(r.body), "127.0.0.1:1") {
			t.Fatalf("body leaks or wrong code: %s", r.body)
		}
	})
	t.Run("upstream timeout is 504", func(t *testing.T) {
		r := do(t, "POST", f.url("/acme/slow"), `{"messages":[{"role":"user","content":"x"}]}`, "X-Fake-Delay", "3s")
		expectStatus(t, r, 504)
		if r.errorCode(t) != "upstream_timeout" {
			t.Fatal(string(r.body))
		}
	})
	t.Run("malformed manifest is 503 and isolated", func(t *testing.T) {
		r := do(t, "GET", f.url("/broken/x"), "")
		expectStatus(t, r, 503)
		if r.errorCode(t) != "manifest_invalid" {
			t.Fatal(string(r.body))
		}
		if strings.Contains(string(r.body), "apisix_gateway") {
			t.Fatalf("validation detail leaked to the client: %s", r.body)
		}
		expectStatus(t, do(t, "GET", f.url("/acme/echo/still-up"), ""), 200)
	})
	t.Run("subdomain and X-Project-Id forms", func(t *testing.T) {
		expectStatus(t, do(t, "GET", f.url("/"), "", "X-Project-Id", "acme"), 404) // "/acme" has no route
		r := do(t, "POST", f.url("/embeddings"), `{"texts":["x"]}`, "X-Project-Module", "acme/embedder")
		expectStatus(t, r, 200)
	})
	t.Run("metrics", func(t *testing.T) {
		expectStatus(t, do(t, "GET", f.url("/no-such-project/x"), ""), 404)
		r := do(t, "GET", f.url("/metrics"), "")
		expectStatus(t, r, 200)
		body := string(r.body)
		for _, want := range []string{
			`fd2_requests_total{code="200",module="gw",project="acme",route="gw/chat"}`,
			`fd2_requests_total{code="404",module="",project="",route=""}`,
			`fd2_manifest_cache_total{result="hit",tier="memory"}`,
			`fd2_overhead_seconds_bucket{project="acme"`,
			`fd2_request_duration_seconds_bucket{module="gw",project="acme"`,
			`fd2_module_load_seconds_bucket{kind="project"`,
			`fd2_active_requests{project="acme"} 0`,
			`fd2_manifest_age_seconds{project="acme"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("server timing", func(t *testing.T) {
		t0 := time.Now()
		r := do(t, "POST", f.url("/acme/v1/chat/completions"), `{"messages":[{"role":"user","content":"timing"}]}`)
		elapsed := time.Since(t0)
		expectStatus(t, r, 200)
		st := r.header.Get("Server-Timing")
		for _, want := range []string{"fd2;dur=", "manifest;dur=", "dispatch;dur=", "upstream;dur="} {
			if !strings.Contains(st, want) {
				t.Fatalf("Server-Timing %q lacks %s", st, want)
			}
		}
		var ms float64
		if _, err := fmt.Sscanf(r.header.Get("X-FD2-Overhead-Ms"), "%f", &ms); err != nil || ms <= 0 || time.Duration(ms*1e6) > elapsed {
			t.Fatalf("X-FD2-Overhead-Ms %q vs a %v round trip", r.header.Get("X-FD2-Overhead-Ms"), elapsed)
		}
		m := string(do(t, "GET", f.url("/metrics"), "").body)
		for _, stage := range []string{"manifest", "dispatch", "upstream"} {
			if !strings.Contains(m, `fd2_stage_duration_seconds_count{stage="`+stage+`"}`) {
				t.Fatalf("no fd2_stage_duration_seconds for %s", stage)
			}
		}
	})
	t.Run("health", func(t *testing.T) {
		r := do(t, "GET", f.url("/health"), "")
		expectStatus(t, r, 200)
		if m := r.json(t); m["status"] != "ok" || m["source"] != nil {
			t.Fatalf("liveness should be cheap: %s", r.body)
		}
		r = do(t, "GET", f.url("/health?detailed=true"), "")
		expectStatus(t, r, 200)
		m := r.json(t)
		if m["status"] != "ok" || m["source"].(map[string]any)["name"] != "file" {
			t.Fatalf("health: %s", r.body)
		}
		r = do(t, "GET", f.url("/status"), "")
		expectStatus(t, r, 200)
		if m := r.json(t); m["service"] != "dsp-fd2" || m["status"] != "healthy" || !strings.Contains(string(r.body), `"direct":[`) {
			t.Fatalf("legacy status: %s", r.body)
		}
	})
}

// TestStreamingUnbuffered proves SSE passes event by event: the upstream holds its stream open after the
// first event until the client has received that event through FD2. A buffering gateway deadlocks here.
func TestStreamingUnbuffered(t *testing.T) {
	requireIntegration(t)
	gotFirst := make(chan struct{})
	upstreamDone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"n\":1}\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-gotFirst:
		case <-time.After(5 * time.Second):
			return // the test fails on its side
		}
		fmt.Fprint(w, "data: {\"n\":2}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "stream", demoDoc("stream", hostOf(up)))
	f := startFD2(t, "manifests file "+dir, pipeline)

	res, err := client.Post(f.url("/stream/v1/chat/completions"), "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	first := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data:") {
				first <- line
				return
			}
		}
		close(first)
	}()
	select {
	case line := <-first:
		select {
		case <-upstreamDone:
			t.Fatal("upstream finished before the first event reached the client")
		default:
		}
		if line != `data: {"n":1}` {
			t.Fatalf("first event %q", line)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("first event did not arrive while the upstream held the stream open: FD2 buffers SSE")
	}
	close(gotFirst)
	rest := ""
	for sc.Scan() {
		rest += sc.Text() + "\n"
	}
	if !strings.Contains(rest, `data: {"n":2}`) || !strings.Contains(rest, "data: [DONE]") {
		t.Fatalf("rest of stream: %q", rest)
	}
}

// TestMetricsExact runs a scripted workload on a project of its own and asserts exact counter values and
// label sets on /metrics.
func TestMetricsExact(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "metricsproj", demoDoc("metricsproj", hostOf(llm)))
	f := startFD2(t, "manifests file "+dir, pipeline)
	for i := 0; i < 3; i++ {
		expectStatus(t, do(t, "GET", f.url("/metricsproj/echo/x"), ""), 200)
	}
	for i := 0; i < 2; i++ {
		expectStatus(t, do(t, "GET", f.url("/metricsproj/nothing"), ""), 404)
	}
	expectStatus(t, do(t, "GET", f.url("/metricsproj/secured"), ""), 401)
	expectStatus(t, do(t, "POST", f.url("/metricsproj/v1/chat/completions"), strings.Repeat("x", 4096)), 413)
	m := string(do(t, "GET", f.url("/metrics"), "").body)
	want := map[string]string{
		`fd2_requests_total{code="200",module="gw",project="metricsproj",route="gw/echo"}`:    "3",
		`fd2_requests_total{code="404",module="",project="metricsproj",route=""}`:             "2",
		`fd2_requests_total{code="401",module="gw",project="metricsproj",route="gw/secured"}`: "1",
		`fd2_requests_total{code="413",module="gw",project="metricsproj",route="gw/chat"}`:    "1",
		`fd2_request_duration_seconds_count{module="gw",project="metricsproj"}`:               "5",
		`fd2_active_requests{project="metricsproj"}`:                                          "0",
	}
	for series, v := range want {
		line := ""
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, series+" ") {
				line = l
			}
		}
		if line != series+" "+v {
			t.Errorf("want %s %s, got %q", series, v, line)
		}
	}
	// No series may carry a consumer, key, user or IP label.
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "fd2_") && (strings.Contains(l, "consumer=") || strings.Contains(l, "ip=") || strings.Contains(l, "user=")) {
			t.Errorf("unbounded label in %s", l)
		}
	}
}
