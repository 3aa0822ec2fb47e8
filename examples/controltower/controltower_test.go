// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package controltower

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fixtures is FD2's own corpus of Control Tower manifests; the platform's own files (the interop tests)
// come from testfixtures.PlatformManifests.
var fixtures = testfixtures.Manifests()

// fixedNow is the clock of every test server, so that absent timestamps are predictable.
var fixedNow = time.Date(2026, 11, 26, 9, 0, 0, 123456000, time.Local)

const fixedStamp = "2026-11-26T09:00:00.123456"

func testEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func newTestServer(t *testing.T, dir string, env map[string]string) (*Server, *httptest.Server) {
	t.Helper()
	s := New(dir, Options{Getenv: testEnv(env), Now: func() time.Time { return fixedNow }})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func request(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	// Report redirects instead of following them.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	code, _, b := request(t, http.MethodGet, url)
	return code, b
}

// mustGet fetches url, expects 200 and returns the body as an ordered tree.
func mustGet(t *testing.T, url string) *object {
	t.Helper()
	code, b := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, code, b)
	}
	tree, err := parseJSON(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	o, ok := tree.(*object)
	if !ok {
		t.Fatalf("GET %s: body is %T", url, tree)
	}
	return o
}

// at walks a tree by keys and indices; a string step on a list picks the element whose "name" matches.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, step := range path {
		switch s := step.(type) {
		case string:
			switch node := v.(type) {
			case *object:
				var ok bool
				if v, ok = node.get(s); !ok {
					t.Fatalf("path %v: no key %q at step %d", path, s, i)
				}
			case []any:
				found := false
				for _, e := range node {
					if o, ok := e.(*object); ok && o.str("name") == s {
						v, found = o, true
						break
					}
				}
				if !found {
					t.Fatalf("path %v: no element named %q at step %d", path, s, i)
				}
			default:
				t.Fatalf("path %v: %T at step %d", path, v, i)
			}
		case int:
			arr, ok := v.([]any)
			if !ok || s >= len(arr) {
				t.Fatalf("path %v: no index %d at step %d", path, s, i)
			}
			v = arr[s]
		}
	}
	return v
}

func keysOf(t *testing.T, v any) []string {
	t.Helper()
	o, ok := v.(*object)
	if !ok {
		t.Fatalf("%T is not an object", v)
	}
	return o.keys
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", name, err)
	}
}

func TestRoot(t *testing.T) {
	_, ts := newTestServer(t, fixtures, nil)
	code, b := get(t, ts.URL+"/")
	if want := `{"message":"DSP AI Control Tower - OPA Policy Evaluator API. Swagger: /docs"}`; code != 200 || string(b) != want {
		t.Errorf("GET / = %d %s, want %s", code, b, want)
	}
}

func TestResolveEnv(t *testing.T) {
	_, ts := newTestServer(t, fixtures, map[string]string{
		"APISIX_ADMIN_KEY":            "admin-from-env",
		"CODECONV_TRACING_PUBLIC_KEY": "pk-from-env",
	})
	convertPlugins := []any{"modules", "apisix-translate-route", "config", "routes", 0, "plugins"}
	tests := []struct {
		name    string
		project string
		query   string
		path    []any
		want    any
	}{
		{"jwt service_url", "codeconv", "?resolve_env=true", []any{"modules", "auth", "config", "service_url"}, "http://localhost:5000"},
		{"claim environment", "codeconv", "?resolve_env=true", []any{"modules", "auth", "config", "claims", "static", "environment"}, "development"},
		{"jwe encryption key", "codeconv", "?resolve_env=true", []any{"modules", "jwe-auth", "config", "jwe_config", "encryption_key"}, "corpus-jwe-key-exactly-32-bytes!"},
		{"secret reference stays literal", "codeconv", "?resolve_env=true", append(convertPlugins, "proxy-rewrite", "headers", "Authorization"), "Bearer config:providers.corp_llm.api_key"},
		{"endpoint url", "codeconv", "?resolve_env=true", []any{"modules", "openai-compatible", "config", "endpoint_url"}, "http://localhost:8000/codeconv/v1/chat/completions"},
		{"consumer secret", "doc-digest", "?resolve_env=true", []any{"modules", "apisix-digest-route", "config", "consumer", "plugins", "jwt-auth", "secret"}, "corpus-dev-signing-secret"},
		{"default admin_key is resolved too", "codeconv", "?resolve_env=true", []any{"modules", "apisix-review-route", "config", "admin_key"}, "admin-from-env"},
		{"environments are resolved", "codeconv", "?resolve_env=true", []any{"environments", "development", "secrets", "tracing_public_key"}, "pk-from-env"},
		{"unset variable stays", "doc-digest", "?resolve_env=true", []any{"environments", "production", "secrets", "token_signing_secret"}, "${DIGEST_PROD_SIGNING_SECRET}"},
		{"resolve_env=false keeps placeholders", "codeconv", "?resolve_env=false", []any{"modules", "auth", "config", "service_url"}, "${environments.${environment}.urls.token_service}"},
		{"no query keeps placeholders", "codeconv", "", []any{"modules", "apisix-translate-route", "config", "consumer", "plugins", "jwt-auth", "secret"}, "${environments.${environment}.secrets.token_signing_secret}"},
		{"unresolved admin_key default", "codeconv", "", []any{"modules", "apisix-review-route", "config", "admin_key"}, "${APISIX_ADMIN_KEY}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := mustGet(t, ts.URL+"/manifests/"+tc.project+tc.query)
			if got := at(t, doc, tc.path...); got != tc.want {
				t.Errorf("%v = %v, want %v", tc.path, got, tc.want)
			}
		})
	}

	t.Run("upstream node keys", func(t *testing.T) {
		for query, want := range map[string]string{
			"?resolve_env=true": "llm.corp.example",
			"":                  "${environments.${environment}.urls.llm_host}",
		} {
			doc := mustGet(t, ts.URL+"/manifests/codeconv"+query)
			nodes := at(t, doc, "modules", "apisix-translate-route", "config", "routes", 0, "upstream", "nodes")
			if got := keysOf(t, nodes); !reflect.DeepEqual(got, []string{want}) {
				t.Errorf("query %q: node keys = %q, want [%q]", query, got, want)
			}
		}
	})
	t.Run("module names are not resolved", func(t *testing.T) {
		// get_resolved_manifest rebuilds modules from their original envelope; only configs are resolved.
		dir := t.TempDir()
		writeFile(t, dir, "p.json", `{"project_id":"p","project_name":"${environment}","modules":[
			{"module_type":"monitoring","name":"m","description":"${environment}","config":{"metrics_enabled":false}}]}`)
		_, ts := newTestServer(t, dir, nil)
		doc := mustGet(t, ts.URL+"/manifests/p?resolve_env=true")
		if got := at(t, doc, "project_name"); got != "development" {
			t.Errorf("project_name = %v, want development", got)
		}
		if got := at(t, doc, "modules", "m", "description"); got != "${environment}" {
			t.Errorf("module description = %v, want it unresolved", got)
		}
	})
}

// TestInteropResolveEnv checks resolve_env on the platform's own manifests.
func TestInteropResolveEnv(t *testing.T) {
	_, ts := newTestServer(t, testfixtures.PlatformManifests(t), map[string]string{
		"APISIX_ADMIN_KEY":    "admin-from-env",
		"LANGFUSE_PUBLIC_KEY": "pk-from-env",
	})
	convertPlugins := []any{"modules", "apisix-convert-route", "config", "routes", 0, "plugins"}
	tests := []struct {
		name    string
		project string
		query   string
		path    []any
		want    any
	}{
		{"jwt service_url", "sas2py", "?resolve_env=true", []any{"modules", "auth", "config", "service_url"}, "http://localhost:5000"},
		{"claim environment", "sas2py", "?resolve_env=true", []any{"modules", "auth", "config", "claims", "static", "environment"}, "development"},
		{"jwe encryption key", "sas2py", "?resolve_env=true", []any{"modules", "jwe-auth", "config", "jwe_config", "encryption_key"}, "key-length-should-be-32-chars123"},
		{"secret reference stays literal", "sas2py", "?resolve_env=true", append(convertPlugins, "proxy-rewrite", "headers", "Authorization"), "Bearer config:api_keys.groq"},
		{"endpoint url", "sas2py", "?resolve_env=true", []any{"modules", "openai-compatible", "config", "endpoint_url"}, "http://localhost:8000/sas2py/v1/chat/completions"},
		{"consumer secret", "langgraph-summarizer", "?resolve_env=true", []any{"modules", "apisix-summarize-route", "config", "consumer", "plugins", "jwt-auth", "secret"}, "your-secret-key-here"},
		{"default admin_key is resolved too", "sas2py", "?resolve_env=true", []any{"modules", "apisix-test-route", "config", "admin_key"}, "admin-from-env"},
		{"environments are resolved", "sas2py", "?resolve_env=true", []any{"environments", "development", "secrets", "langfuse_public_key"}, "pk-from-env"},
		{"unset variable stays", "sas2py", "?resolve_env=true", []any{"environments", "production", "secrets", "jwt_secret_key"}, "${PROD_JWT_SECRET}"},
		{"resolve_env=false keeps placeholders", "sas2py", "?resolve_env=false", []any{"modules", "auth", "config", "service_url"}, "${environments.${environment}.urls.jwt_service_url}"},
		{"no query keeps placeholders", "sas2py", "", []any{"modules", "apisix-convert-route", "config", "consumer", "plugins", "jwt-auth", "secret"}, "${environments.${environment}.secrets.jwt_secret_key}"},
		{"unresolved admin_key default", "sas2py", "", []any{"modules", "apisix-test-route", "config", "admin_key"}, "${APISIX_ADMIN_KEY}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := mustGet(t, ts.URL+"/manifests/"+tc.project+tc.query)
			if got := at(t, doc, tc.path...); got != tc.want {
				t.Errorf("%v = %v, want %v", tc.path, got, tc.want)
			}
		})
	}

	t.Run("upstream node keys", func(t *testing.T) {
		for query, want := range map[string]string{
			"?resolve_env=true": "api.groq.com",
			"":                  "${environments.${environment}.urls.groq_base_url}",
		} {
			doc := mustGet(t, ts.URL+"/manifests/sas2py"+query)
			nodes := at(t, doc, "modules", "apisix-convert-route", "config", "routes", 0, "upstream", "nodes")
			if got := keysOf(t, nodes); !reflect.DeepEqual(got, []string{want}) {
				t.Errorf("query %q: node keys = %q, want [%q]", query, got, want)
			}
		}
	})
}

// normCorpus names, for one corpus, the modules and values the normalisation checks look at.
type normCorpus struct {
	project, monitoring, model, endpointURL string
	tuned, temperature                      string // an inference module with a given temperature
	upstreamIDRoute, routeModule            string // gateway modules with a route to inspect
	jweKey                                  string
	vault, vaultInstance, vaultURL          string
	vaultToken                              string
	workflowProject, workflow, maxRetries   string
	firstNode                               string // the workflow's first node's description
}

// TestNormalisation checks the Control Tower normalisation of FD2's own corpus.
func TestNormalisation(t *testing.T) {
	checkNormalisation(t, fixtures, normCorpus{
		project: "codeconv", monitoring: "observability", model: "corpus-large-70b",
		endpointURL: "${environments.${environment}.urls.public_base}/codeconv/v1/chat/completions",
		tuned:       "translate", temperature: "0.2",
		upstreamIDRoute: "apisix-review-route", routeModule: "apisix-translate-route",
		jweKey: "${environments.${environment}.secrets.jwe_key}",
		vault:  "secrets-vault", vaultInstance: "local-vault", vaultURL: "http://127.0.0.1:8200", vaultToken: "corpus-dev-root-token",
		workflowProject: "doc-digest", workflow: "digest-workflow", maxRetries: "1",
		firstNode: "Cut the document into overlapping sections",
	})
}

// TestInteropNormalisation checks the Control Tower normalisation of the platform's own manifests.
func TestInteropNormalisation(t *testing.T) {
	checkNormalisation(t, testfixtures.PlatformManifests(t), normCorpus{
		project: "sas2py", monitoring: "langfuse-observability", model: "llama-3.1-70b-versatile",
		endpointURL: "${environments.${environment}.urls.api_base_url}/sas2py/v1/chat/completions",
		tuned:       "convert", temperature: "0.3",
		upstreamIDRoute: "apisix-test-route", routeModule: "apisix-convert-route",
		jweKey: "${environments.${environment}.secrets.jwe_encryption_key}",
		vault:  "vault-manager", vaultInstance: "dev-vault", vaultURL: "http://localhost:8200", vaultToken: "myroot",
		workflowProject: "langgraph-summarizer", workflow: "doc-summarizer-workflow", maxRetries: "2",
		firstNode: "Split document into manageable chunks",
	})
}

func checkNormalisation(t *testing.T, dir string, c normCorpus) {
	t.Helper()
	_, ts := newTestServer(t, dir, nil)
	doc := mustGet(t, ts.URL+"/manifests/"+c.project)
	mod := func(name string) *object {
		o, _ := at(t, doc, "modules", name).(*object)
		return o
	}
	tests := []struct {
		name string
		got  any
		want string // exact JSON
	}{
		{
			name: "monitoring drops langfuse keys",
			got:  at(t, mod(c.monitoring), "config"),
			want: `{"metrics_enabled":true,"logging_level":"INFO","tracing_enabled":true,"health_check_interval":30,"alerting_enabled":true,"dashboard_url":null}`,
		},
		{
			name: "inference endpoint drops description and fills defaults",
			got:  at(t, mod("openai-compatible"), "config"),
			want: `{"apisix_route":null,"apisix_gateway_module":null,"model_name":"` + c.model + `","model_version":"latest","endpoint_url":"` + c.endpointURL + `","system_prompt":null,"max_tokens":1024,"temperature":0.7,"top_p":0.9,"batch_size":1}`,
		},
		{
			name: "inference endpoint keeps given values",
			got:  at(t, mod(c.tuned), "config", "temperature"),
			want: c.temperature,
		},
		{
			name: "route normalised",
			got:  at(t, mod(c.upstreamIDRoute), "config", "routes", 0, "upstream_id"),
			want: `null`,
		},
		{
			name: "jwe_config is served as written",
			got:  at(t, mod("jwe-auth"), "config", "jwe_config"),
			want: `{"enabled":true,"encryption_key":"` + c.jweKey + `","algorithm":"dir","encryption":"A256GCM","compression":null}`,
		},
		{
			name: "vault instance defaults",
			got:  at(t, mod(c.vault), "config", "vault_instances", 1),
			want: `{"instance_name":"` + c.vaultInstance + `","vault_url":"` + c.vaultURL + `","vault_namespace":null,"auth_method":"token","vault_token":"` + c.vaultToken + `","role_id":null,"secret_id":null,"kv_mount_point":"secret","kv_version":2,"verify_ssl":false,"timeout":30}`,
		},
		{
			name: "module envelope drops dependencies",
			got:  mod(c.tuned).keys,
			want: `["module_type","name","version","status","description","config"]`,
		},
		{
			name: "top-level keys",
			got:  doc.keys,
			want: `["project_id","project_name","version","description","owner","tags","environment","environments","created_at","updated_at","modules","metadata"]`,
		},
		{
			name: "timestamps default to now",
			got:  []any{at(t, doc, "created_at"), at(t, doc, "updated_at")},
			want: `["` + fixedStamp + `","` + fixedStamp + `"]`,
		},
		{
			name: "route keys",
			got:  keysOf(t, at(t, mod(c.routeModule), "config", "routes", 0)),
			want: `["name","uri","methods","upstream_id","upstream","service_id","plugins","host","priority","vars"]`,
		},
		{
			name: "apisix gateway keys",
			got:  keysOf(t, at(t, mod("apisix-openai-route"), "config")),
			want: `["gateway_type","admin_api_url","admin_key","gateway_url","dashboard_url","routes","upstreams","consumer","service","global_plugins","jwt_auth_enabled","rate_limiting_enabled","logging_enabled","prometheus_enabled","ssl_enabled","ssl_cert","ssl_key","cors_enabled","cors_origins","cors_methods","default_timeout","default_retries","streaming_enabled","response_buffering","request_buffering"]`,
		},
		{
			name: "apisix gateway without consumer",
			got:  []any{at(t, mod("apisix-openai-route"), "config", "consumer"), at(t, mod("apisix-openai-route"), "config", "upstreams")},
			want: `[null,[]]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if keys, ok := tc.got.([]string); ok {
				b, _ := json.Marshal(keys)
				got = string(b)
			} else {
				got = string(marshal(tc.got))
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}

	t.Run("langgraph workflow", func(t *testing.T) {
		doc := mustGet(t, ts.URL+"/manifests/"+c.workflowProject)
		cfg := at(t, doc, "modules", c.workflow, "config")
		if got := at(t, cfg, "max_retries"); got != json.Number(c.maxRetries) {
			t.Errorf("max_retries = %v, want the file's %s", got, c.maxRetries)
		}
		// nodes are List[Dict[str, Any]]: served as written, their own "description" included.
		if got := at(t, cfg, "nodes", 0, "description"); got != c.firstNode {
			t.Errorf("nodes[0].description = %v", got)
		}
	})
}

func TestConfigModels(t *testing.T) {
	tests := []struct {
		name       string
		moduleType string
		config     string
		want       string
	}{
		{
			name:       "rag_service defaults",
			moduleType: "rag_service",
			config:     `{"service_url":"http://rag:9000","configuration_name":"kb","extra":1}`,
			want:       `{"service_url":"http://rag:9000","configuration_name":"kb","query_endpoint":"/query","retrieve_endpoint":"/retrieve","default_k":5,"default_similarity_threshold":0.0,"use_reranking":false,"filter_after_reranking":true,"query_expansion_enabled":false,"query_expansion_strategy":null,"query_expansion_llm_config":null,"query_expansion_num_queries":3,"jwt_auth_enabled":false,"jwt_module_reference":null,"request_timeout":60,"max_retries":2,"default_metadata_filter":null}`,
		},
		{
			name:       "rag_service missing required field is served as written",
			moduleType: "rag_service",
			config:     `{"service_url":"http://rag:9000","extra":1}`,
			want:       `{"service_url":"http://rag:9000","extra":1}`,
		},
		{
			name:       "model_server defaults and lax coercion",
			moduleType: "model_server",
			config:     `{"service_url":"http://ms:9001","batch_size":"64","api_key_enabled":"yes","request_timeout":45.0}`,
			want:       `{"service_url":"http://ms:9001","embeddings_endpoint":"/embeddings","rerank_endpoint":"/rerank","classify_endpoint":"/classify","health_endpoint":"/health","default_embedding_model":null,"default_reranker_model":null,"default_classifier_model":null,"available_embedding_models":[],"available_reranker_models":[],"available_classifier_models":[],"batch_size":64,"request_timeout":45,"max_retries":2,"api_key_enabled":true,"api_key":null,"jwt_auth_enabled":false,"jwt_module_reference":null}`,
		},
		{
			name:       "generic api_gateway",
			moduleType: "api_gateway",
			config:     `{"rate_limiting":{"rpm":60}}`,
			want:       `{"gateway_type":"generic","rate_limiting":{"rpm":60},"cors_origins":[],"authentication_required":true,"api_versioning":"v1","request_timeout":30,"load_balancing_strategy":"round_robin"}`,
		},
		{
			name:       "apisix upstreams and list plugins",
			moduleType: "api_gateway",
			config:     `{"gateway_type":"apisix","upstreams":[{"name":"u","nodes":{"h:80":1}}],"routes":[{"name":"r","uri":"/p/x","plugins":[{"name":"cors"}]}],"global_plugins":[{"name":"prometheus","enabled":false}]}`,
			want:       `{"gateway_type":"apisix","admin_api_url":"http://localhost:9080","admin_key":"${APISIX_ADMIN_KEY}","gateway_url":"http://localhost:9080","dashboard_url":"http://localhost:9000","routes":[{"name":"r","uri":"/p/x","methods":["GET","POST"],"upstream_id":null,"upstream":null,"service_id":null,"plugins":[{"name":"cors","enabled":true,"config":{},"priority":null}],"host":null,"priority":0,"vars":null}],"upstreams":[{"name":"u","type":"roundrobin","nodes":{"h:80":1},"timeout":{"connect":30,"send":30,"read":30},"retries":1,"health_check":null}],"consumer":null,"service":null,"global_plugins":[{"name":"prometheus","enabled":false,"config":{},"priority":null}],"jwt_auth_enabled":true,"rate_limiting_enabled":true,"logging_enabled":true,"prometheus_enabled":true,"ssl_enabled":false,"ssl_cert":null,"ssl_key":null,"cors_enabled":true,"cors_origins":["*"],"cors_methods":["GET","POST","PUT","DELETE","OPTIONS"],"default_timeout":60,"default_retries":2,"streaming_enabled":true,"response_buffering":false,"request_buffering":true}`,
		},
		{
			name:       "apisix route without uri is served as written",
			moduleType: "api_gateway",
			config:     `{"gateway_type":"apisix","routes":[{"name":"r"}]}`,
			want:       `{"gateway_type":"apisix","routes":[{"name":"r"}]}`,
		},
		{
			name:       "inference float formatting",
			moduleType: "inference_endpoint",
			config:     `{"temperature":1,"top_p":1e-5,"max_tokens":null}`,
			want:       `{"apisix_route":null,"apisix_gateway_module":null,"model_name":null,"model_version":"latest","endpoint_url":null,"system_prompt":null,"max_tokens":null,"temperature":1.0,"top_p":1e-05,"batch_size":1}`,
		},
		{
			name:       "empty config skips validation",
			moduleType: "monitoring",
			config:     `{}`,
			want:       `{}`,
		},
		{
			name:       "langgraph workflow without workflow_name is served as written",
			moduleType: "langgraph_workflow",
			config:     `{"nodes":[]}`,
			want:       `{"nodes":[]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := parseJSON([]byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(marshal(normalizeConfig(tc.moduleType, tree.(*object)))); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestTimestamps(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"naive", `"2025-01-02T03:04:05"`, `"2025-01-02T03:04:05"`},
		{"zulu with fraction", `"2025-01-02T03:04:05.5Z"`, `"2025-01-02T03:04:05.500000Z"`},
		{"offset and space", `"2025-01-02 03:04:05+02:00"`, `"2025-01-02T03:04:05+02:00"`},
		{"utc offset", `"2025-01-02T03:04:05+00:00"`, `"2025-01-02T03:04:05Z"`},
		{"date only", `"2025-01-02"`, `"2025-01-02T00:00:00"`},
		{"unix seconds", `1700000000`, `"2023-11-14T22:13:20Z"`},
		{"explicit null", `null`, `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.json", `{"project_id":"p","project_name":"P","created_at":`+tc.in+`,"modules":[]}`)
			_, ts := newTestServer(t, dir, nil)
			doc := mustGet(t, ts.URL+"/manifests/p")
			if got := string(marshal(at(t, doc, "created_at"))); got != tc.want {
				t.Errorf("created_at = %s, want %s", got, tc.want)
			}
			if got := at(t, doc, "updated_at"); got != fixedStamp {
				t.Errorf("updated_at = %v, want now", got)
			}
		})
	}
	t.Run("invalid timestamp is a 404", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "p.json", `{"project_id":"p","project_name":"P","created_at":"2025-13-45","modules":[]}`)
		_, ts := newTestServer(t, dir, nil)
		if code, b := get(t, ts.URL+"/manifests/p"); code != http.StatusNotFound {
			t.Errorf("GET = %d %s, want 404", code, b)
		}
	})
}

func TestList(t *testing.T) {
	t.Run("fixtures", func(t *testing.T) {
		_, ts := newTestServer(t, fixtures, nil)
		doc := mustGet(t, ts.URL+"/manifests")
		// Sorted by file stem; rag-kb-integration.json lists its inner project_id, ai-rag-platform.
		want := `{"manifests":[` +
			`{"project_id":"apisix-routing","project_name":"APISIX Routing Features","version":"1.0.0","environment":"development","owner":"FD2 Corpus","module_count":1,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"codeconv","project_name":"COBOL to Go Code Conversion","version":"1.0.0","environment":"development","owner":"FD2 Corpus","module_count":12,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"doc-digest","project_name":"Document Digest Workflow","version":"1.0.0","environment":"development","owner":"Knowledge Team","module_count":4,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"jwe_lab","project_name":"JWE Laboratory","version":"1.0.0","environment":"development","owner":null,"module_count":4,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"ai-rag-platform","project_name":"Knowledge Base with RAG and Model Server","version":"1.0.0","environment":"production","owner":"Knowledge Team","module_count":5,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"secure-refs","project_name":"Secret References in Every Form","version":"1.0.0","environment":"development","owner":"FD2 Corpus","module_count":3,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"}` +
			`],"count":6}`
		if got := string(marshal(doc)); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("interop fixtures", func(t *testing.T) {
		_, ts := newTestServer(t, testfixtures.PlatformManifests(t), nil)
		doc := mustGet(t, ts.URL+"/manifests")
		want := `{"manifests":[` +
			`{"project_id":"jwe_test","project_name":"SAS to Python Code Conversion","version":"1.0.0","environment":"development","owner":null,"module_count":4,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"langgraph-summarizer","project_name":"LangGraph Document Summarizer","version":"1.0.0","environment":"development","owner":"AI-Team","module_count":4,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"},` +
			`{"project_id":"sas2py","project_name":"SAS to Python Code Conversion","version":"1.0.0","environment":"development","owner":"AMI","module_count":12,"created_at":"` + fixedStamp + `","updated_at":"` + fixedStamp + `"}` +
			`],"count":3}`
		if got := string(marshal(doc)); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("inner ids, skipped files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "b-stem.json", `{"project_id":"inner-id","project_name":"B","modules":[]}`)
		writeFile(t, dir, "a.json", `{"project_id":"a","project_name":"A","version":"2","modules":[]}`)
		writeFile(t, dir, "broken.json", `{"project_id":`)
		writeFile(t, dir, "bad-type.json", `{"project_id":"x","project_name":"X","modules":[{"module_type":"apisix_gateway","name":"g","config":{}}]}`)
		writeFile(t, dir, "notes.txt", `{"project_id":"txt","project_name":"T","modules":[]}`)
		_, ts := newTestServer(t, dir, nil)
		doc := mustGet(t, ts.URL+"/manifests")
		var ids []any
		for _, m := range at(t, doc, "manifests").([]any) {
			ids = append(ids, at(t, m, "project_id"))
		}
		if !reflect.DeepEqual(ids, []any{"a", "inner-id"}) {
			t.Errorf("ids = %v, want [a inner-id]", ids)
		}
		if got := at(t, doc, "count"); got != json.Number("2") {
			t.Errorf("count = %v", got)
		}
		// The known Control Tower bug: the listed id is not the lookup key.
		if code, _ := get(t, ts.URL+"/manifests/inner-id"); code != http.StatusNotFound {
			t.Errorf("GET by inner id = %d, want 404", code)
		}
		if code, _ := get(t, ts.URL+"/manifests/b-stem"); code != http.StatusOK {
			t.Errorf("GET by stem = %d, want 200", code)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, ts := newTestServer(t, filepath.Join(t.TempDir(), "absent"), nil)
		if code, b := get(t, ts.URL+"/manifests"); code != 200 || string(b) != `{"manifests":[],"count":0}` {
			t.Errorf("GET = %d %s", code, b)
		}
	})
}

func TestModules(t *testing.T) {
	_, ts := newTestServer(t, fixtures, nil)
	t.Run("list", func(t *testing.T) {
		doc := mustGet(t, ts.URL+"/manifests/jwe_lab/modules?resolve_env=true")
		if got := keysOf(t, doc); !reflect.DeepEqual(got, []string{"modules", "count"}) {
			t.Errorf("keys = %v", got)
		}
		mods := at(t, doc, "modules").([]any)
		if len(mods) != 4 || at(t, doc, "count") != json.Number("4") {
			t.Fatalf("modules = %d, count = %v", len(mods), at(t, doc, "count"))
		}
		if got := at(t, mods, "plain-auth", "config", "claims", "static", "llm_api_key"); got != "config:providers.corp_llm.api_key" {
			t.Errorf("llm_api_key = %v", got)
		}
	})
	tests := []struct {
		name, path string
		wantCode   int
		want       string // exact body, or a substring of it for 200s
	}{
		{"one module", "/manifests/codeconv/modules/observability", 200, `"config":{"metrics_enabled":true,"logging_level":"INFO"`},
		{"one module resolved", "/manifests/codeconv/modules/auth?resolve_env=yes", 200, `"service_url":"http://localhost:5000"`},
		{"one module unresolved", "/manifests/codeconv/modules/auth?resolve_env=off", 200, `"service_url":"${environments.${environment}.urls.token_service}"`},
		{"missing module", "/manifests/codeconv/modules/simple-auth", 404, `{"detail":"Module not found: simple-auth"}`},
		{"module of missing manifest", "/manifests/nope/modules/auth", 404, `{"detail":"Manifest not found: nope"}`},
		{"modules of missing manifest", "/manifests/nope/modules", 404, `{"detail":"Manifest not found: nope"}`},
		{"bad id on modules", "/manifests/bad.id/modules", 400, `{"detail":"Invalid project_id format. Use only alphanumeric characters, underscores, and hyphens."}`},
		{"bad resolve_env on module", "/manifests/codeconv/modules/auth?resolve_env=2", 422, `"input":"2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := get(t, ts.URL+tc.path)
			if code != tc.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, b, tc.wantCode)
			}
			if tc.wantCode == 200 || tc.wantCode == 422 {
				if !strings.Contains(string(b), tc.want) {
					t.Errorf("body %s does not contain %s", b, tc.want)
				}
			} else if string(b) != tc.want {
				t.Errorf("body = %s, want %s", b, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"codeconv.json", "jwe_lab.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, name, string(b))
	}
	writeFile(t, dir, "unknown-type.json", `{"project_id":"unknown-type","project_name":"U","modules":[{"module_type":"apisix_gateway","name":"g","config":{"routes":[]}}]}`)
	writeFile(t, dir, "broken.json", `{"project_id":"broken",`)
	writeFile(t, dir, "duplicate.json", `{"project_id":"duplicate","project_name":"D","modules":[{"module_type":"monitoring","name":"m","config":{}},{"module_type":"monitoring","name":"m","config":{}}]}`)
	writeFile(t, dir, "no-name.json", `{"project_id":"no-name","modules":[]}`)
	writeFile(t, dir, "bad-status.json", `{"project_id":"bad-status","project_name":"B","modules":[{"module_type":"monitoring","name":"m","status":"paused","config":{}}]}`)
	writeFile(t, dir, "trailing.json", `{"project_id":"trailing","project_name":"T","modules":[]} {}`)
	_, ts := newTestServer(t, dir, nil)

	const invalidID = `{"detail":"Invalid project_id format. Use only alphanumeric characters, underscores, and hyphens."}`
	boolErr := func(in string) string {
		return `{"detail":[{"type":"bool_parsing","loc":["query","resolve_env"],"msg":"Input should be a valid boolean, unable to interpret input","input":"` + in + `"}]}`
	}
	tests := []struct {
		name, method, path string
		wantCode           int
		wantBody           string
		wantHeader         [2]string
	}{
		{name: "bad id", method: "GET", path: "/manifests/bad.id", wantCode: 400, wantBody: invalidID},
		{name: "missing", method: "GET", path: "/manifests/nope", wantCode: 404, wantBody: `{"detail":"Manifest not found: nope"}`},
		{name: "unknown module_type", method: "GET", path: "/manifests/unknown-type", wantCode: 404, wantBody: `{"detail":"Manifest not found: unknown-type"}`},
		{name: "unparsable", method: "GET", path: "/manifests/broken", wantCode: 404, wantBody: `{"detail":"Manifest not found: broken"}`},
		{name: "trailing data", method: "GET", path: "/manifests/trailing", wantCode: 404, wantBody: `{"detail":"Manifest not found: trailing"}`},
		{name: "duplicate module names", method: "GET", path: "/manifests/duplicate", wantCode: 404, wantBody: `{"detail":"Manifest not found: duplicate"}`},
		{name: "missing project_name", method: "GET", path: "/manifests/no-name", wantCode: 404, wantBody: `{"detail":"Manifest not found: no-name"}`},
		{name: "unknown status", method: "GET", path: "/manifests/bad-status", wantCode: 404, wantBody: `{"detail":"Manifest not found: bad-status"}`},
		{name: "resolve_env maybe", method: "GET", path: "/manifests/codeconv?resolve_env=maybe", wantCode: 422, wantBody: boolErr("maybe")},
		{name: "resolve_env empty", method: "GET", path: "/manifests/codeconv?resolve_env=", wantCode: 422, wantBody: boolErr("")},
		{name: "resolve_env padded", method: "GET", path: "/manifests/codeconv?resolve_env=%20true", wantCode: 422, wantBody: boolErr(" true")},
		{name: "query validated before the id", method: "GET", path: "/manifests/bad.id?resolve_env=maybe", wantCode: 422, wantBody: boolErr("maybe")},
		{name: "last resolve_env wins", method: "GET", path: "/manifests/codeconv?resolve_env=maybe&resolve_env=true", wantCode: 200},
		{name: "post", method: "POST", path: "/manifests/codeconv", wantCode: 405, wantBody: `{"detail":"Method Not Allowed"}`, wantHeader: [2]string{"Allow", "GET"}},
		{name: "delete list", method: "DELETE", path: "/manifests", wantCode: 405, wantBody: `{"detail":"Method Not Allowed"}`},
		{name: "head", method: "HEAD", path: "/manifests/codeconv", wantCode: 405},
		{name: "unknown path", method: "GET", path: "/policies", wantCode: 404, wantBody: `{"detail":"Not Found"}`},
		{name: "too deep", method: "GET", path: "/manifests/codeconv/modules/auth/references", wantCode: 404, wantBody: `{"detail":"Not Found"}`},
		{name: "empty segment", method: "GET", path: "/manifests//modules", wantCode: 404, wantBody: `{"detail":"Not Found"}`},
		{name: "trailing slash redirects", method: "GET", path: "/manifests/codeconv/?resolve_env=true", wantCode: 307, wantHeader: [2]string{"Location", "/manifests/codeconv?resolve_env=true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, b := request(t, tc.method, ts.URL+tc.path)
			if code != tc.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, code, b, tc.wantCode)
			}
			if tc.wantBody != "" && string(b) != tc.wantBody {
				t.Errorf("body = %s, want %s", b, tc.wantBody)
			}
			if tc.wantHeader[0] != "" && hdr.Get(tc.wantHeader[0]) != tc.wantHeader[1] {
				t.Errorf("%s = %q, want %q", tc.wantHeader[0], hdr.Get(tc.wantHeader[0]), tc.wantHeader[1])
			}
			if tc.wantBody != "" && hdr.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", hdr.Get("Content-Type"))
			}
		})
	}
}

func TestResolveEnvBooleans(t *testing.T) {
	_, ts := newTestServer(t, fixtures, nil)
	const path = "/manifests/jwe_lab/modules/plain-auth"
	tests := []struct {
		value    string
		resolved bool
	}{
		{"true", true}, {"True", true}, {"TRUE", true}, {"1", true}, {"on", true}, {"yes", true}, {"t", true}, {"Y", true},
		{"false", false}, {"False", false}, {"0", false}, {"off", false}, {"no", false}, {"f", false}, {"N", false},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			doc := mustGet(t, ts.URL+path+"?resolve_env="+tc.value)
			got := at(t, doc, "config", "service_url")
			if resolved := got == "http://localhost:5000"; resolved != tc.resolved {
				t.Errorf("service_url = %v, want resolved=%v", got, tc.resolved)
			}
		})
	}
}

func TestFilesAreReadPerRequest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.json", `{"project_id":"p","project_name":"First","modules":[]}`)
	_, ts := newTestServer(t, dir, nil)
	if got := at(t, mustGet(t, ts.URL+"/manifests/p"), "project_name"); got != "First" {
		t.Fatalf("project_name = %v", got)
	}
	writeFile(t, dir, "p.json", `{"project_id":"p","project_name":"Second","modules":[]}`)
	if got := at(t, mustGet(t, ts.URL+"/manifests/p"), "project_name"); got != "Second" {
		t.Errorf("project_name after edit = %v, want Second", got)
	}
	if err := os.Remove(filepath.Join(dir, "p.json")); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, ts.URL+"/manifests/p"); code != http.StatusNotFound {
		t.Errorf("GET after delete = %d, want 404", code)
	}
}

func TestSetFailingAndRequests(t *testing.T) {
	s, ts := newTestServer(t, fixtures, nil)
	steps := []struct {
		name      string
		failing   int
		path      string
		wantCode  int
		wantBody  string
		wantCount int64
	}{
		{name: "healthy", path: "/manifests/codeconv", wantCode: 200, wantCount: 1},
		{name: "root is not counted", path: "/", wantCode: 200, wantCount: 1},
		{name: "outage", failing: 503, path: "/manifests/codeconv", wantCode: 503, wantBody: `{"detail":"injected failure"}`, wantCount: 2},
		{name: "outage hits every path", failing: 500, path: "/", wantCode: 500, wantBody: `{"detail":"injected failure"}`, wantCount: 2},
		{name: "recovered", path: "/manifests/codeconv/modules", wantCode: 200, wantCount: 3},
		{name: "404s count", path: "/manifests/nope", wantCode: 404, wantCount: 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s.SetFailing(st.failing)
			code, b := get(t, ts.URL+st.path)
			if code != st.wantCode {
				t.Fatalf("GET %s = %d %s, want %d", st.path, code, b, st.wantCode)
			}
			if st.wantBody != "" && string(b) != st.wantBody {
				t.Errorf("body = %s, want %s", b, st.wantBody)
			}
			if got := s.Requests(); got != st.wantCount {
				t.Errorf("Requests() = %d, want %d", got, st.wantCount)
			}
		})
	}
}

// TestServedManifestsDecode checks that FD2 can load what this server serves: manifest.Decode must accept
// the normalised shape as well as the raw files.
func TestServedManifestsDecode(t *testing.T) {
	checkServedManifestsDecode(t, fixtures, []servedCase{
		{"codeconv", "?resolve_env=true", 12, "llm.corp.example"},
		{"codeconv", "", 12, "${environments.${environment}.urls.llm_host}"},
		{"jwe_lab", "?resolve_env=true", 4, "echo.corp.example"},
		{"doc-digest", "?resolve_env=true", 4, "llm.corp.example"},
	})
}

func TestInteropServedManifestsDecode(t *testing.T) {
	checkServedManifestsDecode(t, testfixtures.PlatformManifests(t), []servedCase{
		{"sas2py", "?resolve_env=true", 12, "api.groq.com"},
		{"sas2py", "", 12, "${environments.${environment}.urls.groq_base_url}"},
		{"jwe_test", "?resolve_env=true", 4, "httpbin.org"},
		{"langgraph-summarizer", "?resolve_env=true", 4, "api.groq.com"},
	})
}

// servedCase is a served manifest: its module count and the upstream node host of its routes.
type servedCase struct {
	project     string
	query       string
	wantModules int
	wantNode    string
}

func checkServedManifestsDecode(t *testing.T, dir string, tests []servedCase) {
	t.Helper()
	_, ts := newTestServer(t, dir, nil)
	for _, tc := range tests {
		t.Run(tc.project+tc.query, func(t *testing.T) {
			code, b := get(t, ts.URL+"/manifests/"+tc.project+tc.query)
			if code != http.StatusOK {
				t.Fatalf("GET = %d %s", code, b)
			}
			m, err := manifest.Decode(b)
			if err != nil {
				t.Fatalf("manifest.Decode: %v", err)
			}
			if m.ProjectID != tc.project || len(m.Modules) != tc.wantModules {
				t.Errorf("project %q with %d modules, want %q with %d", m.ProjectID, len(m.Modules), tc.project, tc.wantModules)
			}
			found := false
			for i := range m.Modules {
				if m.Modules[i].ModuleType != manifest.TypeAPIGateway {
					continue
				}
				gw, err := m.Modules[i].Gateway()
				if err != nil {
					t.Fatalf("module %s: %v", m.Modules[i].Name, err)
				}
				for _, r := range gw.Routes {
					if r.UpstreamID != "" || r.Upstream == nil || len(r.Upstream.Nodes) != 1 {
						t.Errorf("route %s: upstream_id %q, upstream %+v", r.Name, r.UpstreamID, r.Upstream)
						continue
					}
					found = found || r.Upstream.Nodes[0].Host == tc.wantNode
				}
			}
			if !found {
				t.Errorf("no route upstream node %q", tc.wantNode)
			}
		})
	}
}

func TestPyFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"}, {1, "1.0"}, {0.7, "0.7"}, {-2.5, "-2.5"}, {1e-4, "0.0001"}, {1e-5, "1e-05"},
		{1234567890123456, "1234567890123456.0"}, {1e16, "1e+16"}, {1.5e300, "1.5e+300"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := pyFloat(tc.in); got != tc.want {
				t.Errorf("pyFloat(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
