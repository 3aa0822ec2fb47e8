// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// up is a minimal inline upstream for synthetic manifests.
const up = `{"nodes":{"backend.internal:8080":1}}`

// loadFixture reads, resolves (no secret manager, as the Control Tower without secrets_config) and decodes
// dir/name.json.
func loadFixture(t testing.TB, dir, name string) *manifest.Manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	resolved, err := manifest.ResolveEnv(raw, manifest.EnvOptions{})
	if err != nil {
		t.Fatalf("resolving fixture: %v", err)
	}
	m, err := manifest.Decode(resolved)
	if err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	return m
}

// gatewayManifest wraps route JSON (with "U" standing for an inline upstream) in a one-gateway manifest of
// project "p", followed by extra modules.
func gatewayManifest(t testing.TB, routes string, extraModules ...string) *manifest.Manifest {
	t.Helper()
	mods := []string{`{"module_type":"api_gateway","name":"gw","config":{"routes":[` + strings.ReplaceAll(routes, `"U"`, up) + `]}}`}
	mods = append(mods, extraModules...)
	return decode(t, `{"project_id":"p","project_name":"P","modules":[`+strings.Join(mods, ",")+`]}`)
}

func decode(t testing.TB, doc string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Decode([]byte(doc))
	if err != nil {
		t.Fatalf("decoding manifest: %v\n%s", err, doc)
	}
	return m
}

func mustCompile(t testing.TB, project string, m *manifest.Manifest) (*Table, []string) {
	t.Helper()
	tbl, warns, err := Compile(project, m)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl, warns
}

func newReq(method, host string) *http.Request {
	r := httptest.NewRequest(method, "http://example.com/", nil)
	if host != "" {
		r.Host = host
	}
	return r
}

func matchID(tbl *Table, r *http.Request, path string) string {
	if rt := tbl.Match(r, path); rt != nil {
		return rt.ID
	}
	return ""
}

func hasWarning(warns []string, sub string) bool {
	for _, w := range warns {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// matchCase is one request against a compiled corpus manifest: the route it must reach ("" = none), its
// kind and the prefix its module strips.
type matchCase struct {
	name      string
	fixture   string
	method    string
	path      string
	wantID    string // "" = no match
	wantKind  Kind
	wantStrip string
}

func checkMatches(t *testing.T, tables map[string]*Table, tests []matchCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := tables[tc.fixture].Match(newReq(tc.method, ""), tc.path)
			if tc.wantID == "" {
				if rt != nil {
					t.Fatalf("Match(%s %s) = %q, want no match", tc.method, tc.path, rt.ID)
				}
				return
			}
			if rt == nil {
				t.Fatalf("Match(%s %s) = nil, want %q", tc.method, tc.path, tc.wantID)
			}
			if rt.ID != tc.wantID || rt.Kind != tc.wantKind || rt.StripPrefix != tc.wantStrip {
				t.Errorf("Match(%s %s) = %q %v strip %q, want %q %v strip %q",
					tc.method, tc.path, rt.ID, rt.Kind, rt.StripPrefix, tc.wantID, tc.wantKind, tc.wantStrip)
			}
		})
	}
}

// TestFixtures matches FD2's corpus, each manifest compiled under its file stem as a source serves it.
func TestFixtures(t *testing.T) {
	tables := map[string]*Table{}
	for _, name := range []string{"codeconv", "jwe_lab", "doc-digest", "rag-kb-integration", "apisix-routing"} {
		tables[name], _ = mustCompile(t, name, loadFixture(t, testfixtures.Manifests(), name))
	}
	checkMatches(t, tables, []matchCase{
		{"codeconv translate", "codeconv", "POST", "/codeconv/translate", "apisix-translate-route/translate", KindUpstream, ""},
		{"codeconv translate wrong method is owned by the explicit route", "codeconv", "GET", "/codeconv/translate", "", 0, ""},
		{"codeconv openai passthrough", "codeconv", "POST", "/codeconv/v1/chat/completions", "apisix-openai-route/chat-completions", KindUpstream, ""},
		{"codeconv openai passthrough GET", "codeconv", "GET", "/codeconv/v1/chat/completions", "", 0, ""},
		{"codeconv jwe route", "codeconv", "POST", "/codeconv/translate-jwe", "apisix-translate-jwe-route/translate-jwe", KindUpstream, ""},
		{"codeconv review route", "codeconv", "POST", "/codeconv/review", "apisix-review-route/review", KindUpstream, ""},
		{"codeconv token broker", "codeconv", "POST", "/codeconv/auth/token", "auth", KindTokenBroker, "/codeconv/auth"},
		{"codeconv jwe token broker", "codeconv", "POST", "/codeconv/jwe-auth/token", "jwe-auth", KindTokenBroker, "/codeconv/jwe-auth"},
		{"codeconv token broker GET", "codeconv", "GET", "/codeconv/auth/token", "", 0, ""},
		{"codeconv token broker other path", "codeconv", "POST", "/codeconv/auth/other", "", 0, ""},
		{"codeconv jwt module root", "codeconv", "POST", "/codeconv/auth", "", 0, ""},
		{"codeconv deeper path reaches inference module", "codeconv", "POST", "/codeconv/translate/x", "translate", KindInference, "/codeconv/translate"},
		{"codeconv inference module openai api", "codeconv", "POST", "/codeconv/openai-compatible/v1/chat/completions", "openai-compatible", KindInference, "/codeconv/openai-compatible"},
		{"codeconv inference module root", "codeconv", "GET", "/codeconv/openai-compatible", "openai-compatible", KindInference, "/codeconv/openai-compatible"},
		{"codeconv vault not routed", "codeconv", "GET", "/codeconv/secrets-vault/x", "", 0, ""},
		{"codeconv monitoring not routed", "codeconv", "GET", "/codeconv/observability", "", 0, ""},
		{"codeconv gateway module not module-routed", "codeconv", "GET", "/codeconv/apisix-translate-route/x", "", 0, ""},
		{"codeconv other project", "codeconv", "POST", "/other/translate/x", "", 0, ""},
		{"codeconv project root", "codeconv", "GET", "/codeconv", "", 0, ""},
		{"jwe_lab chat", "jwe_lab", "POST", "/jwe_lab/v1/chat/completions", "apisix-openai-route/chat-completions", KindUpstream, ""},
		{"jwe_lab auth broker", "jwe_lab", "POST", "/jwe_lab/auth/token", "auth", KindTokenBroker, "/jwe_lab/auth"},
		{"jwe_lab plain-auth broker", "jwe_lab", "POST", "/jwe_lab/plain-auth/token", "plain-auth", KindTokenBroker, "/jwe_lab/plain-auth"},
		{"jwe_lab inference", "jwe_lab", "POST", "/jwe_lab/openai-compatible/v1/models", "openai-compatible", KindInference, "/jwe_lab/openai-compatible"},
		{"digest route outside project prefix", "doc-digest", "POST", "/digest/llm", "apisix-digest-route/digest", KindUpstream, ""},
		{"digest inference", "doc-digest", "POST", "/doc-digest/digest-llm/v1/chat/completions", "digest-llm", KindInference, "/doc-digest/digest-llm"},
		{"digest broker", "doc-digest", "POST", "/doc-digest/digest-auth/token", "digest-auth", KindTokenBroker, "/doc-digest/digest-auth"},
		// Every enabled module that is not app-level gets a module route; the type registered for it serves
		// it (or the route answers 501): issue 13.
		{"digest workflow is a module route", "doc-digest", "POST", "/doc-digest/digest-workflow", "digest-workflow", KindModule, "/doc-digest/digest-workflow"},
		{"rag module under the stem", "rag-kb-integration", "POST", "/rag-kb-integration/knowledge-base/api/v1/query", "knowledge-base", KindRAG, "/rag-kb-integration/knowledge-base"},
		{"rag legacy alias", "rag-kb-integration", "GET", "/rag-kb-integration/rag/knowledge-base/api/v1/retrieve", "knowledge-base/legacy", KindRAG, "/rag-kb-integration/rag/knowledge-base"},
		{"model server", "rag-kb-integration", "POST", "/rag-kb-integration/embedding-reranker/api/v1/models/embeddings", "embedding-reranker", KindModelServer, "/rag-kb-integration/embedding-reranker"},
		{"model server legacy alias", "rag-kb-integration", "POST", "/rag-kb-integration/models/embedding-reranker/rerank", "embedding-reranker/legacy", KindModelServer, "/rag-kb-integration/models/embedding-reranker"},
		{"rag broker", "rag-kb-integration", "POST", "/rag-kb-integration/auth-service/token", "auth-service", KindTokenBroker, "/rag-kb-integration/auth-service"},
		{"rag not under its project_id", "rag-kb-integration", "POST", "/ai-rag-platform/knowledge-base/query", "", 0, ""},
		{"routing prefixed upstream_id", "apisix-routing", "POST", "/apisix-routing/v1/chat/completions", "apisix-routing-gateway/chat-prefixed-upstream", KindUpstream, ""},
		{"routing bare upstream_id", "apisix-routing", "POST", "/apisix-routing/template", "apisix-routing-gateway/template-bare-upstream", KindUpstream, ""},
		{"routing prefix route", "apisix-routing", "GET", "/apisix-routing/echo/a/b", "apisix-routing-gateway/echo-regex", KindUpstream, ""},
	})
}

// TestInteropFixtures matches the platform's own manifests as the spec describes them.
func TestInteropFixtures(t *testing.T) {
	dir := testfixtures.PlatformManifests(t)
	tables := map[string]*Table{}
	for _, name := range []string{"sas2py", "jwe_test", "langgraph-summarizer"} {
		tables[name], _ = mustCompile(t, "", loadFixture(t, dir, name))
	}
	checkMatches(t, tables, []matchCase{
		{"sas2py convert", "sas2py", "POST", "/sas2py/convert", "apisix-convert-route/convert", KindUpstream, ""},
		{"sas2py convert wrong method is owned by the explicit route", "sas2py", "GET", "/sas2py/convert", "", 0, ""},
		{"sas2py openai passthrough", "sas2py", "POST", "/sas2py/v1/chat/completions", "apisix-openai-route/openai-chat-completions", KindUpstream, ""},
		{"sas2py openai passthrough GET", "sas2py", "GET", "/sas2py/v1/chat/completions", "", 0, ""},
		{"sas2py jwe route", "sas2py", "POST", "/sas2py/convert-jwe", "apisix-convert-jwe-route/convert-jwe", KindUpstream, ""},
		{"sas2py test route", "sas2py", "POST", "/sas2py/test", "apisix-test-route/test", KindUpstream, ""},
		{"sas2py token broker", "sas2py", "POST", "/sas2py/auth/token", "auth", KindTokenBroker, "/sas2py/auth"},
		{"sas2py jwe token broker", "sas2py", "POST", "/sas2py/jwe-auth/token", "jwe-auth", KindTokenBroker, "/sas2py/jwe-auth"},
		{"sas2py token broker GET", "sas2py", "GET", "/sas2py/auth/token", "", 0, ""},
		{"sas2py token broker other path", "sas2py", "POST", "/sas2py/auth/other", "", 0, ""},
		{"sas2py jwt module root", "sas2py", "POST", "/sas2py/auth", "", 0, ""},
		{"sas2py deeper path reaches inference module", "sas2py", "POST", "/sas2py/convert/x", "convert", KindInference, "/sas2py/convert"},
		{"sas2py inference module openai api", "sas2py", "POST", "/sas2py/openai-compatible/v1/chat/completions", "openai-compatible", KindInference, "/sas2py/openai-compatible"},
		{"sas2py inference module root", "sas2py", "GET", "/sas2py/openai-compatible", "openai-compatible", KindInference, "/sas2py/openai-compatible"},
		{"sas2py vault not routed", "sas2py", "GET", "/sas2py/vault-manager/x", "", 0, ""},
		{"sas2py monitoring not routed", "sas2py", "GET", "/sas2py/langfuse-observability", "", 0, ""},
		{"sas2py gateway module not module-routed", "sas2py", "GET", "/sas2py/apisix-convert-route/x", "", 0, ""},
		{"sas2py other project", "sas2py", "POST", "/other/convert/x", "", 0, ""},
		{"sas2py project root", "sas2py", "GET", "/sas2py", "", 0, ""},
		{"jwe_test chat", "jwe_test", "POST", "/jwe_test/v1/chat/completions", "apisix-openai-route/openai-chat-completions", KindUpstream, ""},
		{"jwe_test auth broker", "jwe_test", "POST", "/jwe_test/auth/token", "auth", KindTokenBroker, "/jwe_test/auth"},
		{"jwe_test auth2 broker", "jwe_test", "POST", "/jwe_test/auth2/token", "auth2", KindTokenBroker, "/jwe_test/auth2"},
		{"jwe_test inference", "jwe_test", "POST", "/jwe_test/openai-compatible/v1/models", "openai-compatible", KindInference, "/jwe_test/openai-compatible"},
		{"summarizer route outside project prefix", "langgraph-summarizer", "POST", "/summarizer/llm", "apisix-summarize-route/summarize", KindUpstream, ""},
		{"summarizer inference", "langgraph-summarizer", "POST", "/langgraph-summarizer/summarize-llm/v1/chat/completions", "summarize-llm", KindInference, "/langgraph-summarizer/summarize-llm"},
		{"summarizer broker", "langgraph-summarizer", "POST", "/langgraph-summarizer/summarizer-auth/token", "summarizer-auth", KindTokenBroker, "/langgraph-summarizer/summarizer-auth"},
		{"summarizer workflow is a module route", "langgraph-summarizer", "POST", "/langgraph-summarizer/doc-summarizer-workflow", "doc-summarizer-workflow", KindModule, "/langgraph-summarizer/doc-summarizer-workflow"},
	})
}

// convertCase is the richest explicit route of a corpus manifest: an LLM route with jwt-auth, a prompt
// template and a templated upstream node, and the token broker of its jwt_config module.
type convertCase struct {
	dir, file, path      string
	name, module, host   string
	timeout              time.Duration
	consumers            int
	brokerPath, uniqueID string
}

func checkConvertRoute(t *testing.T, c convertCase) {
	t.Helper()
	tbl, warns := mustCompile(t, c.file, loadFixture(t, c.dir, c.file))
	if len(warns) != 0 {
		t.Errorf("warnings = %q, want none", warns)
	}
	rt := tbl.Match(newReq("POST", ""), c.path)
	if rt == nil {
		t.Fatal("no match")
	}
	if rt.Name != c.name || rt.Module != c.module || rt.ModuleType != manifest.TypeAPIGateway {
		t.Errorf("route = name %q module %q type %q", rt.Name, rt.Module, rt.ModuleType)
	}
	if rt.Methods != MethodPost || rt.Methods.String() != "POST" {
		t.Errorf("methods = %v", rt.Methods)
	}
	u := rt.Upstream
	if u == nil {
		t.Fatal("no upstream")
	}
	want := Upstream{
		Name: c.uniqueID, Nodes: []manifest.Node{{Host: c.host, Port: 443, Weight: 1}},
		Scheme: "https", Type: "roundrobin", Connect: c.timeout, Send: c.timeout, Read: c.timeout,
		Retries: 1, PassHost: "pass",
	}
	if c.timeout == 0 { // codeconv: connect 10 s, send/read 90 s
		want.Connect, want.Send, want.Read = 10*time.Second, 90*time.Second, 90*time.Second
	}
	if fmt.Sprint(*u) != fmt.Sprint(want) {
		t.Errorf("upstream =\n %+v\nwant\n %+v", *u, want)
	}
	for _, p := range []string{"jwt-auth", "request-id", "prometheus", "ai-prompt-template", "proxy-rewrite", "response-rewrite"} {
		if _, ok := rt.Plugins[p]; !ok {
			t.Errorf("plugin %q missing", p)
		}
	}
	if got := len(tbl.Consumers()); got != c.consumers {
		t.Errorf("consumers = %d, want %d", got, c.consumers)
	}
	if tbl.Project() != c.file {
		t.Errorf("Project() = %q", tbl.Project())
	}
	// The broker's upstream is the jwt_config service_url, resolved from environments.
	broker := tbl.Match(newReq("POST", ""), c.brokerPath)
	if broker == nil || broker.Upstream == nil || broker.Upstream.Scheme != "http" ||
		broker.Upstream.Nodes[0] != (manifest.Node{Host: "localhost", Port: 5000, Weight: 1}) || len(broker.Plugins) != 0 {
		t.Errorf("broker = %+v", broker)
	}
}

func TestFixtureTranslateRoute(t *testing.T) {
	checkConvertRoute(t, convertCase{dir: testfixtures.Manifests(), file: "codeconv", path: "/codeconv/translate",
		name: "translate", module: "apisix-translate-route", host: "llm.corp.example", consumers: 2,
		brokerPath: "/codeconv/auth/token", uniqueID: "apisix-translate-route/translate"})
}

func TestInteropSas2pyConvertRoute(t *testing.T) {
	checkConvertRoute(t, convertCase{dir: testfixtures.PlatformManifests(t), file: "sas2py", path: "/sas2py/convert",
		name: "convert", module: "apisix-convert-route", host: "api.groq.com", timeout: 60 * time.Second, consumers: 2,
		brokerPath: "/sas2py/auth/token", uniqueID: "apisix-convert-route/convert"})
}

// warningCase compiles a corpus manifest under project and expects a warning containing want ("" = none).
type warningCase struct {
	name    string
	fixture string
	project string
	want    string
}

func checkWarnings(t *testing.T, dir string, tests []warningCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, warns := mustCompile(t, tc.project, loadFixture(t, dir, tc.fixture))
			if tc.want == "" {
				if len(warns) != 0 {
					t.Errorf("warnings = %q, want none", warns)
				}
				return
			}
			if !hasWarning(warns, tc.want) {
				t.Errorf("warnings = %q, want one containing %q", warns, tc.want)
			}
		})
	}
}

func TestFixtureWarnings(t *testing.T) {
	checkWarnings(t, testfixtures.Manifests(), []warningCase{
		{"codeconv is clean", "codeconv", "", ""},
		{"jwe_lab is clean", "jwe_lab", "", ""},
		{"rag integration is clean under its stem", "rag-kb-integration", "rag-kb-integration", ""},
		// Both upstream_id forms (bare name and {project}-{name}) resolve.
		{"apisix-routing is clean", "apisix-routing", "", ""},
		{"digest uri outside project", "doc-digest", "", `uri "/digest/llm" does not start with "/doc-digest/"`},
		{"file stem differs from project_id", "codeconv", "codeconv-stem", `uses the manifest's project_id "codeconv"`},
	})
}

func TestInteropFixtureWarnings(t *testing.T) {
	checkWarnings(t, testfixtures.PlatformManifests(t), []warningCase{
		{"sas2py is clean", "sas2py", "", ""},
		{"jwe_test is clean", "jwe_test", "", ""},
		{"summarizer uri outside project", "langgraph-summarizer", "", `uri "/summarizer/llm" does not start with "/langgraph-summarizer/"`},
		{"file stem differs from project_id", "sas2py", "sas2py-stem", `uses the manifest's project_id "sas2py"`},
	})
}

func TestCompileUsesFetchedProjectID(t *testing.T) {
	tbl, _ := mustCompile(t, "stem", loadFixture(t, testfixtures.Manifests(), "codeconv"))
	tests := []struct {
		name, method, path, want string
	}{
		{"module route under the stem", "POST", "/stem/translate/x", "translate"},
		{"broker under the stem", "POST", "/stem/auth/token", "auth"},
		{"not under project_id", "POST", "/codeconv/translate/x", ""},
		{"explicit routes are as written", "POST", "/codeconv/translate", "apisix-translate-route/translate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq(tc.method, ""), tc.path); got != tc.want {
				t.Errorf("Match(%s) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	m := gatewayManifest(t, `{"name":"r","uri":"/p/r","upstream":"U"}`)
	tests := []struct {
		name    string
		project string
		m       *manifest.Manifest
		want    error
	}{
		{"nil manifest", "p", nil, ErrNoManifest},
		{"invalid project id", "p/q", m, ErrInvalidProject},
		{"empty project id and project_id", "", &manifest.Manifest{}, ErrInvalidProject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Compile(tc.project, tc.m); !errors.Is(err, tc.want) {
				t.Errorf("Compile err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDisabledModulesAndRoutes(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"off-gw","status":"disabled","config":{
			"consumer":{"username":"ghost"},
			"routes":[{"name":"r","uri":"/p/off","upstream":`+up+`}]}},
		{"module_type":"api_gateway","name":"generic-gw","config":{"gateway_type":"generic",
			"routes":[{"name":"r","uri":"/p/generic","upstream":`+up+`},
			          {"name":"stopped","uri":"/p/stopped","status":0,"upstream":`+up+`},
			          {"name":"running","uri":"/p/running","status":1,"upstream":`+up+`}]}},
		{"module_type":"inference_endpoint","name":"llm-off","status":"disabled","config":{}},
		{"module_type":"inference_endpoint","name":"llm-dev","status":"development","config":{}},
		{"module_type":"jwt_config","name":"auth-off","status":"disabled","config":{}},
		{"module_type":"rag_service","name":"kb-off","status":"disabled","config":{"service_url":"http://rag:8080"}}
	]}`)
	tbl, _ := mustCompile(t, "p", m)
	tests := []struct {
		name, method, path, want string
	}{
		{"disabled gateway", "GET", "/p/off", ""},
		{"gateway without apisix in its name (original bug fixed)", "GET", "/p/generic", "generic-gw/r"},
		{"route status 0", "GET", "/p/stopped", ""},
		{"route status 1", "GET", "/p/running", "generic-gw/running"},
		{"disabled inference", "POST", "/p/llm-off/v1/chat/completions", ""},
		{"development status is enabled", "POST", "/p/llm-dev/v1/chat/completions", "llm-dev"},
		{"disabled token broker", "POST", "/p/auth-off/token", ""},
		{"disabled rag", "POST", "/p/kb-off/query", ""},
		{"disabled rag legacy alias", "POST", "/p/rag/kb-off/query", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq(tc.method, ""), tc.path); got != tc.want {
				t.Errorf("Match(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
	if n := len(tbl.Consumers()); n != 0 {
		t.Errorf("consumers of disabled gateways leaked: %d", n)
	}
}

// precedenceRoutes exercises every ranking rule; the route names say what each one is for.
const precedenceRoutes = `
	{"name":"root","uri":"/","upstream":"U"},
	{"name":"prefix-short","uri":"/p/a/*","priority":100,"upstream":"U"},
	{"name":"prefix-long","uri":"/p/a/b/*","upstream":"U"},
	{"name":"param","uri":"/p/a/:id","priority":50,"upstream":"U"},
	{"name":"exact","uri":"/p/a/x","upstream":"U"},
	{"name":"exact-low","uri":"/p/dup","upstream":"U"},
	{"name":"exact-high","uri":"/p/dup","priority":10,"upstream":"U"},
	{"name":"order-first","uri":"/p/same","upstream":"U"},
	{"name":"order-second","uri":"/p/same","upstream":"U"},
	{"name":"prefix-low","uri":"/p/q/*","upstream":"U"},
	{"name":"prefix-high","uri":"/p/q/*","priority":5,"upstream":"U"},
	{"name":"post-only","uri":"/p/m","methods":["POST"],"upstream":"U"},
	{"name":"get-only","uri":"/p/m","methods":["get"],"upstream":"U"},
	{"name":"put-prefix","uri":"/p/m*","methods":["PUT"],"upstream":"U"},
	{"name":"param-wild","uri":"/p/u/:id/*","upstream":"U"},
	{"name":"param-two","uri":"/p/o/:org/r/:repo","upstream":"U"},
	{"name":"open-star","uri":"/p/open*","upstream":"U"},
	{"name":"named-star","uri":"/p/files/*path","upstream":"U"},
	{"name":"slash","uri":"/p/s/","upstream":"U"},
	{"name":"multi","uris":["/p/one","/p/two/*"],"upstream":"U"},
	{"name":"mod-special","uri":"/p/mod/special","methods":["POST"],"upstream":"U"}`

func TestPrecedence(t *testing.T) {
	m := gatewayManifest(t, precedenceRoutes, `{"module_type":"inference_endpoint","name":"mod","config":{}}`)
	tbl, _ := mustCompile(t, "p", m)
	tests := []struct {
		name, method, path, want string
	}{
		{"exact beats param and prefix", "GET", "/p/a/x", "gw/exact"},
		{"param beats prefix despite lower priority", "GET", "/p/a/y", "gw/param"},
		{"param beats a longer prefix", "GET", "/p/a/b", "gw/param"},
		{"longest prefix first", "GET", "/p/a/b/c", "gw/prefix-long"},
		{"shorter prefix", "GET", "/p/a/c/d", "gw/prefix-short"},
		{"prefix matches its trailing slash", "GET", "/p/a/", "gw/prefix-short"},
		{"prefix /a/* does not match /a", "GET", "/p/a", ""},
		{"higher priority among exact", "GET", "/p/dup", "gw/exact-high"},
		{"manifest order breaks ties", "GET", "/p/same", "gw/order-first"},
		{"higher priority among equal prefixes", "GET", "/p/q/z", "gw/prefix-high"},
		{"method picks POST route", "POST", "/p/m", "gw/post-only"},
		{"method falls through to GET route", "GET", "/p/m", "gw/get-only"},
		{"method falls through to prefix", "PUT", "/p/m", "gw/put-prefix"},
		{"no method matches", "DELETE", "/p/m", ""},
		{"unknown request method", "BREW", "/p/m", ""},
		{"param with wildcard", "GET", "/p/u/42/x/y", "gw/param-wild"},
		{"param wildcard needs slash", "GET", "/p/u/42", ""},
		{"param wildcard trailing slash", "GET", "/p/u/42/", "gw/param-wild"},
		{"empty param segment", "GET", "/p/u//x", ""},
		{"two params", "GET", "/p/o/acme/r/fd2", "gw/param-two"},
		{"two params literal mismatch", "GET", "/p/o/acme/x/fd2", ""},
		{"two params extra segment", "GET", "/p/o/acme/r/fd2/x", ""},
		{"star without slash matches bare prefix", "GET", "/p/open", "gw/open-star"},
		{"star without slash matches longer names", "GET", "/p/openai/v1", "gw/open-star"},
		{"named star", "GET", "/p/files/a/b.txt", "gw/named-star"},
		{"exact trailing slash", "GET", "/p/s/", "gw/slash"},
		{"exact without trailing slash", "GET", "/p/s", ""},
		{"case-sensitive", "GET", "/P/a/x", ""},
		{"query string ignored", "GET", "/p/a/x?debug=1", "gw/exact"},
		{"empty path is root", "GET", "", "gw/root"},
		{"uris first", "GET", "/p/one", "gw/multi"},
		{"uris second", "GET", "/p/two/x", "gw/multi"},
		{"explicit exact owner POST", "POST", "/p/mod/special", "gw/mod-special"},
		{"method mismatch falls through to module route", "GET", "/p/mod/special", "mod"},
		{"module root", "GET", "/p/mod", "mod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq(tc.method, ""), tc.path); got != tc.want {
				t.Errorf("Match(%s %q) = %q, want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
}

func TestRoutesOrder(t *testing.T) {
	m := gatewayManifest(t, `
		{"name":"prefix","uri":"/p/x/*","upstream":"U"},
		{"name":"param","uri":"/p/x/:id","upstream":"U"},
		{"name":"exact-low","uri":"/p/x/a","upstream":"U"},
		{"name":"exact-high","uri":"/p/x/b","priority":3,"upstream":"U"}`,
		`{"module_type":"inference_endpoint","name":"llm","config":{}}`,
		`{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag"}}`)
	tbl, _ := mustCompile(t, "p", m)
	var ids []string
	for _, rt := range tbl.Routes() {
		ids = append(ids, rt.ID)
	}
	want := "gw/exact-high gw/exact-low gw/param gw/prefix llm kb kb/legacy"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("Routes() = %s, want %s", got, want)
	}
}

func TestHosts(t *testing.T) {
	m := gatewayManifest(t, `
		{"name":"exact-host","uri":"/p/h","host":"API.Example.com","upstream":"U"},
		{"name":"wildcard","uri":"/p/h","hosts":["*.example.org","other.net"],"upstream":"U"},
		{"name":"any","uri":"/p/h","upstream":"U"}`)
	tbl, _ := mustCompile(t, "p", m)
	if got := tbl.Routes()[0].Hosts; len(got) != 1 || got[0] != "api.example.com" {
		t.Errorf("hosts not lowercased: %q", got)
	}
	tests := []struct {
		name, host, want string
	}{
		{"exact, case-insensitive, port stripped", "api.EXAMPLE.com:8443", "gw/exact-host"},
		{"exact with trailing dot", "api.example.com.", "gw/exact-host"},
		{"wildcard one label", "a.example.org", "gw/wildcard"},
		{"wildcard two labels", "a.b.example.org:80", "gw/wildcard"},
		{"wildcard excludes the bare domain", "example.org", "gw/any"},
		{"suffix without dot boundary", "badexample.org", "gw/any"},
		{"second host of hosts", "OTHER.net", "gw/wildcard"},
		{"unknown host falls through", "api.example.net", "gw/any"},
		{"ipv6 host", "[::1]:8080", "gw/any"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq("GET", tc.host), "/p/h"); got != tc.want {
				t.Errorf("Match(host %q) = %q, want %q", tc.host, got, tc.want)
			}
		})
	}
}

func TestVars(t *testing.T) {
	tests := []struct {
		name  string
		vars  string
		setup func(r *http.Request)
		want  bool
	}{
		{"== arg", `[["arg_model","==","gpt"]]`, query("model=gpt"), true},
		{"== arg mismatch", `[["arg_model","==","gpt"]]`, query("model=gp"), false},
		{"== arg missing", `[["arg_model","==","gpt"]]`, nil, false},
		{"== arg first value wins", `[["arg_model","==","a"]]`, query("model=a&model=b"), true},
		{"== arg decoded", `[["arg_q","==","a b/c"]]`, query("q=a+b%2Fc"), true},
		{"== number compares numerically", `[["arg_n","==",1]]`, query("n=1.0"), true},
		{"== number vs text", `[["arg_n","==",1]]`, query("n=one"), false},
		{"== null means absent", `[["arg_x","==",null]]`, nil, true},
		{"== null with value", `[["arg_x","==",null]]`, query("x=1"), false},
		{"two-element form defaults to ==", `[["arg_x","y"]]`, query("x=y"), true},
		{"~= differs", `[["http_x_tier","~=","free"]]`, header("X-Tier", "paid"), true},
		{"~= equal", `[["http_x_tier","~=","free"]]`, header("X-Tier", "free"), false},
		{"~= missing", `[["http_x_tier","~=","free"]]`, nil, true},
		{"> true", `[["arg_n",">",5]]`, query("n=6"), true},
		{"> equal", `[["arg_n",">",5]]`, query("n=5"), false},
		{"> not a number", `[["arg_n",">",5]]`, query("n=abc"), false},
		{"> numeric string operand", `[["arg_n",">","5"]]`, query("n=10"), true},
		{"< true", `[["arg_n","<",5]]`, query("n=-1"), true},
		{">= equal", `[["arg_n",">=",5]]`, query("n=5"), true},
		{"<= greater", `[["arg_n","<=",5]]`, query("n=5.5"), false},
		{"~~ regex on uri", `[["uri","~~","^/p/v/[a-z]+$"]]`, nil, true},
		{"~~ regex mismatch", `[["uri","~~","^/other"]]`, nil, false},
		{"~* case-insensitive", `[["http_user_agent","~*","curl"]]`, header("User-Agent", "CURL/8.0"), true},
		{"~~ case-sensitive", `[["http_user_agent","~~","curl"]]`, header("User-Agent", "CURL/8.0"), false},
		{"in list", `[["request_method","in",["GET","PUT"]]]`, nil, true},
		{"in list miss", `[["request_method","in",["POST","PUT"]]]`, nil, false},
		{"in numbers", `[["arg_v","in",[1,2]]]`, query("v=2"), true},
		{"has header element", `[["http_accept","has","application/json"]]`, header("Accept", "text/html, application/json"), true},
		{"has header miss", `[["http_accept","has","application/xml"]]`, header("Accept", "text/html, application/json"), false},
		{"has arg value", `[["arg_tag","has","b"]]`, query("tag=a&tag=b"), true},
		{"! negates ==", `[["arg_debug","!","==","1"]]`, query("debug=1"), false},
		{"! negates missing", `[["arg_debug","!","==","1"]]`, nil, true},
		{"! negates in", `[["request_method","!","in",["POST"]]]`, nil, true},
		{"host case-insensitive", `[["host","==","Example.COM"]]`, host("EXAMPLE.com:80"), true},
		{"host regex lowercased", `[["host","~~","^api\\."]]`, host("API.example.com"), true},
		{"remote_addr without port", `[["remote_addr","==","10.0.0.1"]]`, remote("10.0.0.1:1234"), true},
		{"remote_addr ipv6", `[["remote_addr","==","::1"]]`, remote("[::1]:1234"), true},
		{"cookie", `[["cookie_session","==","abc"]]`, header("Cookie", "a=1; session=abc"), true},
		{"cookie quoted", `[["cookie_session","==","abc"]]`, header("Cookie", `session="abc"`), true},
		{"cookie missing", `[["cookie_session","==","abc"]]`, header("Cookie", "sess=abc"), false},
		{"all vars must hold", `[["arg_a","==","1"],["arg_b","==","2"]]`, query("a=1&b=3"), false},
		{"all vars hold", `[["arg_a","==","1"],["arg_b","==","2"]]`, query("a=1&b=2"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := gatewayManifest(t, `{"name":"v","uri":"/p/v/x","vars":`+tc.vars+`,"upstream":"U"}`)
			tbl, warns := mustCompile(t, "p", m)
			if len(warns) != 0 {
				t.Fatalf("warnings: %q", warns)
			}
			r := newReq("GET", "")
			if tc.setup != nil {
				tc.setup(r)
			}
			if got := tbl.Match(r, "/p/v/x") != nil; got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

func query(q string) func(*http.Request) { return func(r *http.Request) { r.URL.RawQuery = q } }
func header(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}
func host(h string) func(*http.Request)   { return func(r *http.Request) { r.Host = h } }
func remote(a string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = a } }

func TestDroppedRoutes(t *testing.T) {
	tests := []struct {
		name  string
		route string
		warn  string
	}{
		{"unsupported operator", `"vars":[["arg_a","=~","x"]]`, `unsupported operator "=~"`},
		{"unsupported variable", `"vars":[["server_port","==","80"]]`, `unsupported variable "server_port"`},
		{"logical form", `"vars":[["OR",["arg_a","==","1"],["arg_b","==","2"]]]`, `unsupported variable "OR"`},
		{"invalid regex", `"vars":[["uri","~~","("]]`, "compiling regex"},
		{"comparison with text", `"vars":[["arg_n",">","abc"]]`, "needs a number"},
		{"in without list", `"vars":[["arg_n","in","abc"]]`, "in needs a list"},
		{"boolean value", `"vars":[["arg_n","==",true]]`, "string or number"},
		{"malformed expression", `"vars":[["arg_n","==","a","b","c"]]`, "must be [var, op, value]"},
		{"invalid method", `"methods":["FETCH"]`, `invalid method "FETCH"`},
		{"invalid host", `"host":"a*.example.com"`, "invalid host"},
		{"uri without slash", `"uri":"p/x"`, "must start with /"},
		{"star in the middle", `"uri":"/p/*/x"`, "only allowed at the end"},
		{"unsupported scheme", `"upstream":{"scheme":"grpc","nodes":{"h":1}}`, `unsupported scheme "grpc"`},
		{"upstream without nodes", `"upstream":{"nodes":{}}`, "no nodes"},
		{"rewrite without host", `"upstream":{"pass_host":"rewrite","nodes":{"h":1}}`, "needs upstream_host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			route := `{"name":"bad","uri":"/p/bad","upstream":"U",` + tc.route + `}`
			// A later key wins in encoding/json, so the case's uri/upstream override the defaults.
			m := gatewayManifest(t, route+`,{"name":"good","uri":"/p/good","upstream":"U"}`)
			tbl, warns := mustCompile(t, "p", m)
			if !hasWarning(warns, tc.warn) || !hasWarning(warns, "route dropped") {
				t.Errorf("warnings = %q, want %q and a drop", warns, tc.warn)
			}
			for _, rt := range tbl.Routes() {
				if rt.Name == "bad" {
					t.Error("bad route kept")
				}
			}
			if matchID(tbl, newReq("GET", ""), "/p/bad") != "" {
				t.Error("bad route matched")
			}
			if matchID(tbl, newReq("GET", ""), "/p/good") != "gw/good" {
				t.Error("good route lost")
			}
		})
	}
}

func TestUpstreams(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"gw","config":{
			"upstreams":[
				{"id":"u1","name":"by-id","nodes":{"a.internal":1},"scheme":"HTTP","retries":3,
				 "timeout":{"connect":1.5,"send":2,"read":0}},
				{"name":"list","type":"chash","nodes":[{"host":"b.internal"},{"host":"c.internal","port":9000,"weight":5}]},
				{"name":"odd","type":"fancy","pass_host":"rewrite","upstream_host":"api.example","nodes":{"d:1":0}}
			],
			"routes":[
				{"name":"id","uri":"/p/id","upstream_id":"u1"},
				{"name":"name","uri":"/p/name","upstream_id":"list"},
				{"name":"odd","uri":"/p/odd","upstream_id":"odd"},
				{"name":"missing","uri":"/p/missing","upstream_id":"nope"},
				{"name":"service","uri":"/p/service","service_id":"svc"},
				{"name":"none","uri":"/p/none","upstream":null},
				{"name":"inline-wins","uri":"/p/inline","upstream_id":"u1","upstream":{"nodes":{"e.internal:8443":2}}}
			]}}]}`)
	tbl, warns := mustCompile(t, "p", m)
	get := func(path string) *Upstream {
		t.Helper()
		rt := tbl.Match(newReq("GET", ""), path)
		if rt == nil {
			t.Fatalf("no route for %s", path)
		}
		return rt.Upstream
	}
	tests := []struct {
		name string
		path string
		want *Upstream
	}{
		{"upstream_id by id, http port 80, seconds", "/p/id", &Upstream{Name: "by-id", Nodes: []manifest.Node{{Host: "a.internal", Port: 80, Weight: 1}},
			Scheme: "http", Type: "roundrobin", Connect: 1500 * time.Millisecond, Send: 2 * time.Second, Read: 30 * time.Second, Retries: 3, PassHost: "pass"}},
		{"upstream_id by name, list form weights default to 1", "/p/name", &Upstream{Name: "list", Nodes: []manifest.Node{{Host: "b.internal", Port: 443, Weight: 1}, {Host: "c.internal", Port: 9000, Weight: 5}},
			Scheme: "https", Type: "chash", Connect: 30 * time.Second, Send: 30 * time.Second, Read: 30 * time.Second, Retries: 1, PassHost: "pass"}},
		{"map form keeps weight 0, unknown type falls back", "/p/odd", &Upstream{Name: "odd", Nodes: []manifest.Node{{Host: "d", Port: 1, Weight: 0}},
			Scheme: "https", Type: "roundrobin", Connect: 30 * time.Second, Send: 30 * time.Second, Read: 30 * time.Second, Retries: 1, PassHost: "rewrite", UpstreamHost: "api.example"}},
		{"inline upstream wins over upstream_id", "/p/inline", &Upstream{Name: "gw/inline-wins", Nodes: []manifest.Node{{Host: "e.internal", Port: 8443, Weight: 2}},
			Scheme: "https", Type: "roundrobin", Connect: 30 * time.Second, Send: 30 * time.Second, Read: 30 * time.Second, Retries: 1, PassHost: "pass"}},
		{"unknown upstream_id", "/p/missing", nil},
		{"service_id only", "/p/service", nil},
		{"null upstream", "/p/none", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(tc.path)
			if (got == nil) != (tc.want == nil) || got != nil && fmt.Sprint(*got) != fmt.Sprint(*tc.want) {
				t.Errorf("upstream =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
	if get("/p/id") != tbl.Match(newReq("GET", ""), "/p/id").Upstream {
		t.Error("shared upstream not stable")
	}
	for _, w := range []string{`upstream_id "nope" matches no upstreams[]`, `only service_id "svc"`, `route "none": no upstream`, `unknown balancer type "fancy"`} {
		if !hasWarning(warns, w) {
			t.Errorf("warnings = %q, want %q", warns, w)
		}
	}
}

// TestUpstreamIDProjectPrefix: the original FD2 created each upstreams[] entry in APISIX as
// "{project}-{name}", and manifests written for it reference that id (upstream_id
// "test-apisix-routing-groq-upstream"). Both the bare name (or id) and the prefixed form resolve, to the
// same shared upstream; the prefix is the id the project is served under or the manifest's project_id
// (they differ when the file stem does); an exact name always wins over a stripped prefix.
func TestUpstreamIDProjectPrefix(t *testing.T) {
	m := decode(t, `{"project_id":"test-apisix-routing","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"gw","config":{
			"upstreams":[
				{"name":"groq-upstream","nodes":{"groq.internal":1}},
				{"id":"u-2","name":"second","nodes":{"second.internal":1}},
				{"name":"stem-exact","nodes":{"exact.internal":1}},
				{"name":"exact","nodes":{"stripped.internal":1}}
			],
			"routes":[
				{"name":"bare","uri":"/stem/bare","upstream_id":"groq-upstream"},
				{"name":"by-project-id","uri":"/stem/pid","upstream_id":"test-apisix-routing-groq-upstream"},
				{"name":"by-stem","uri":"/stem/stem","upstream_id":"stem-groq-upstream"},
				{"name":"prefixed-id","uri":"/stem/id","upstream_id":"stem-u-2"},
				{"name":"exact-wins","uri":"/stem/exact","upstream_id":"stem-exact"},
				{"name":"other-project","uri":"/stem/other","upstream_id":"other-groq-upstream"},
				{"name":"prefix-only","uri":"/stem/prefix","upstream_id":"stem-"}
			]}}]}`)
	tbl, warns := mustCompile(t, "stem", m)
	host := func(path string) string {
		t.Helper()
		rt := tbl.Match(newReq("GET", ""), path)
		if rt == nil {
			t.Fatalf("no route for %s", path)
		}
		if rt.Upstream == nil {
			return ""
		}
		return rt.Upstream.Nodes[0].Host
	}
	tests := []struct{ name, path, want string }{
		{"bare name", "/stem/bare", "groq.internal"},
		{"{project_id}-{name}", "/stem/pid", "groq.internal"},
		{"{stem}-{name}", "/stem/stem", "groq.internal"},
		{"{stem}-{id}", "/stem/id", "second.internal"},
		{"an exact name wins over a stripped prefix", "/stem/exact", "exact.internal"},
		{"another project's prefix does not resolve", "/stem/other", ""},
		{"a bare prefix does not resolve", "/stem/prefix", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := host(tc.path); got != tc.want {
				t.Errorf("upstream host = %q, want %q", got, tc.want)
			}
		})
	}
	bare := tbl.Match(newReq("GET", ""), "/stem/bare").Upstream
	if tbl.Match(newReq("GET", ""), "/stem/pid").Upstream != bare || tbl.Match(newReq("GET", ""), "/stem/stem").Upstream != bare {
		t.Error("the prefixed forms do not share the bare name's upstream (one pooled proxy per upstream)")
	}
	for _, w := range []string{`upstream_id "other-groq-upstream" matches no upstreams[]`, `upstream_id "stem-" matches no upstreams[]`} {
		if !hasWarning(warns, w) {
			t.Errorf("warnings = %q, want %q", warns, w)
		}
	}
	if hasWarning(warns, `"stem-groq-upstream"`) || hasWarning(warns, `"test-apisix-routing-groq-upstream"`) {
		t.Errorf("a resolved upstream_id was warned about: %q", warns)
	}
}

func TestPlugins(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"gw","config":{
			"global_plugins":[
				{"name":"prometheus","enabled":true,"config":{"prefer_name":true}},
				{"name":"cors","config":{"allow_origins":"*"}},
				{"name":"limit-req","enabled":false,"config":{"rate":1}}
			],
			"routes":[{"name":"r","uri":"/p/r","upstream":`+up+`,"plugins":[
				{"name":"cors","config":{"allow_origins":"https://app.example"}},
				{"name":"jwt-auth","enabled":true},
				{"name":"key-auth","enabled":false,"config":{}}
			]}]}},
		{"module_type":"api_gateway","name":"gw2","config":{
			"global_plugins":[{"name":"request-id","config":{}}],
			"routes":[{"name":"r","uri":"/p/r2","upstream":`+up+`}]}},
		{"module_type":"api_gateway","name":"gw-off","status":"disabled","config":{
			"global_plugins":[{"name":"serverless-pre-function","config":{}}]}},
		{"module_type":"inference_endpoint","name":"llm","config":{}},
		{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag","jwt_auth_enabled":true}},
		{"module_type":"model_server","name":"ms","config":{"service_url":"http://ms","api_key_enabled":true,"api_key":"k"}},
		{"module_type":"jwt_config","name":"auth","config":{"service_url":"http://jwt"}}
	]}`)
	tbl, _ := mustCompile(t, "p", m)
	tests := []struct {
		name   string
		method string
		path   string
		want   string // sorted plugin names
		cors   string // expected cors config, when set
	}{
		{"route wins over global, disabled entries dropped", "GET", "/p/r", "cors jwt-auth prometheus", `{"allow_origins":"https://app.example"}`},
		{"only the owning module's globals", "GET", "/p/r2", "request-id", ""},
		{"module route gets all project globals", "GET", "/p/llm/v1/models", "cors prometheus request-id", `{"allow_origins":"*"}`},
		{"rag jwt_auth_enabled adds jwt-auth", "POST", "/p/kb/query", "cors jwt-auth prometheus request-id", ""},
		{"legacy alias shares plugins", "POST", "/p/rag/kb/query", "cors jwt-auth prometheus request-id", ""},
		{"model server api key adds key-auth", "POST", "/p/ms/embeddings", "cors key-auth prometheus request-id", ""},
		{"token broker has no plugins", "POST", "/p/auth/token", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := tbl.Match(newReq(tc.method, ""), tc.path)
			if rt == nil {
				t.Fatal("no match")
			}
			if got := pluginNames(rt.Plugins); got != tc.want {
				t.Errorf("plugins = %q, want %q", got, tc.want)
			}
			if tc.cors != "" && string(rt.Plugins["cors"]) != tc.cors {
				t.Errorf("cors = %s, want %s", rt.Plugins["cors"], tc.cors)
			}
		})
	}
}

func pluginNames(p manifest.Plugins) string {
	var names []string
	for k := range p {
		names = append(names, k)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return strings.Join(names, " ")
}

func TestModuleRoutes(t *testing.T) {
	m := decode(t, `{"project_id":"ai-rag-platform","project_name":"P","modules":[
		{"module_type":"rag_service","name":"knowledge-base","config":{"service_url":"https://rag.internal/api/v1/","configuration_name":"c",
			"request_timeout":90,"max_retries":0}},
		{"module_type":"model_server","name":"embedding-reranker","config":{"service_url":"http://models.internal:8000"}},
		{"module_type":"rag_service","name":"bad-url","config":{"service_url":"ftp://x","configuration_name":"c"}},
		{"module_type":"inference_endpoint","name":"rag","config":{}},
		{"module_type":"vault","name":"vault","config":{}}
	]}`)
	tbl, warns := mustCompile(t, "rag-model-server-integration", m)
	const pr = "/rag-model-server-integration"
	tests := []struct {
		name      string
		path      string
		wantID    string
		wantKind  Kind
		wantStrip string
		wantURI   string
	}{
		{"rag module prefix", pr + "/knowledge-base/api/query", "knowledge-base", KindRAG, pr + "/knowledge-base", pr + "/knowledge-base/*"},
		{"rag module root", pr + "/knowledge-base", "knowledge-base", KindRAG, pr + "/knowledge-base", pr + "/knowledge-base/*"},
		{"rag module trailing slash", pr + "/knowledge-base/", "knowledge-base", KindRAG, pr + "/knowledge-base", pr + "/knowledge-base/*"},
		{"rag legacy alias", pr + "/rag/knowledge-base/query", "knowledge-base/legacy", KindRAG, pr + "/rag/knowledge-base", pr + "/rag/knowledge-base/*"},
		{"rag legacy alias needs a slash after the module", pr + "/rag/knowledge-base", "rag", KindInference, pr + "/rag", pr + "/rag/*"},
		{"module named rag still reachable", pr + "/rag/v1/chat/completions", "rag", KindInference, pr + "/rag", pr + "/rag/*"},
		{"model server", pr + "/embedding-reranker/embeddings", "embedding-reranker", KindModelServer, pr + "/embedding-reranker", pr + "/embedding-reranker/*"},
		{"model server legacy alias", pr + "/models/embedding-reranker/rerank", "embedding-reranker/legacy", KindModelServer, pr + "/models/embedding-reranker", pr + "/models/embedding-reranker/*"},
		{"models alias with unknown module", pr + "/models/nope/rerank", "", 0, "", ""},
		{"rag with invalid url still routed", pr + "/bad-url/query", "bad-url", KindRAG, pr + "/bad-url", pr + "/bad-url/*"},
		{"vault not routed", pr + "/vault/x", "", 0, "", ""},
		{"module name prefix is not a module", pr + "/knowledge-basement", "", 0, "", ""},
		{"project_id is not the routing id", "/ai-rag-platform/knowledge-base/query", "", 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := tbl.Match(newReq("POST", ""), tc.path)
			if tc.wantID == "" {
				if rt != nil {
					t.Fatalf("matched %q, want none", rt.ID)
				}
				return
			}
			if rt == nil {
				t.Fatal("no match")
			}
			if rt.ID != tc.wantID || rt.Kind != tc.wantKind || rt.StripPrefix != tc.wantStrip || rt.URI != tc.wantURI {
				t.Errorf("got %q %v strip %q uri %q, want %q %v strip %q uri %q",
					rt.ID, rt.Kind, rt.StripPrefix, rt.URI, tc.wantID, tc.wantKind, tc.wantStrip, tc.wantURI)
			}
			if rt.Methods != 0 || rt.Hosts != nil || rt.Module != strings.TrimSuffix(tc.wantID, "/legacy") {
				t.Errorf("module route restrictions: methods %v hosts %q module %q", rt.Methods, rt.Hosts, rt.Module)
			}
		})
	}

	upstreams := []struct {
		name string
		path string
		want *Upstream
	}{
		{"rag upstream from service_url with base path", pr + "/knowledge-base/q", &Upstream{Name: "knowledge-base",
			Nodes: []manifest.Node{{Host: "rag.internal", Port: 443, Weight: 1}}, Scheme: "https", Type: "roundrobin",
			Connect: 10 * time.Second, Send: 90 * time.Second, Read: 90 * time.Second, Retries: 0, PassHost: "node", BasePath: "/api/v1"}},
		{"model server defaults", pr + "/embedding-reranker/x", &Upstream{Name: "embedding-reranker",
			Nodes: []manifest.Node{{Host: "models.internal", Port: 8000, Weight: 1}}, Scheme: "http", Type: "roundrobin",
			Connect: 10 * time.Second, Send: 30 * time.Second, Read: 30 * time.Second, Retries: 2, PassHost: "node"}},
		{"invalid service_url has no upstream", pr + "/bad-url/x", nil},
		{"inference has no upstream", pr + "/rag/x", nil},
	}
	for _, tc := range upstreams {
		t.Run(tc.name, func(t *testing.T) {
			rt := tbl.Match(newReq("POST", ""), tc.path)
			if rt == nil {
				t.Fatal("no match")
			}
			got := rt.Upstream
			if (got == nil) != (tc.want == nil) || got != nil && fmt.Sprint(*got) != fmt.Sprint(*tc.want) {
				t.Errorf("upstream =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
	if !hasWarning(warns, `rag_service "bad-url": service_url scheme "ftp"`) {
		t.Errorf("warnings = %q", warns)
	}
	if tbl.Match(newReq("POST", ""), pr+"/rag/knowledge-base/q").Upstream != tbl.Match(newReq("POST", ""), pr+"/knowledge-base/q").Upstream {
		t.Error("legacy alias should share the canonical route's upstream")
	}
}

func TestExplicitRoutesOwnTheirPatterns(t *testing.T) {
	m := gatewayManifest(t, `
		{"name":"root","uri":"/p/llm","methods":["POST"],"upstream":"U"},
		{"name":"sub","uri":"/p/kb/*","methods":["POST"],"upstream":"U"},
		{"name":"alias","uri":"/p/rag/kb/*","methods":["PUT"],"upstream":"U"},
		{"name":"token","uri":"/p/auth/token","methods":["PUT"],"upstream":"U"},
		{"name":"near","uri":"/p/llm2*","upstream":"U"}`,
		`{"module_type":"inference_endpoint","name":"llm","config":{}}`,
		`{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag"}}`,
		`{"module_type":"jwt_config","name":"auth","config":{}}`)
	tbl, warns := mustCompile(t, "p", m)
	tests := []struct {
		name, method, path, want string
	}{
		{"explicit exact serves its method", "POST", "/p/llm", "gw/root"},
		{"explicit exact owns the module root", "GET", "/p/llm", ""},
		{"deeper module path not shadowed", "GET", "/p/llm/v1/models", "llm"},
		{"explicit prefix serves its method", "POST", "/p/kb/query", "gw/sub"},
		{"explicit prefix owns the module prefix", "GET", "/p/kb/query", ""},
		{"module root still reachable", "GET", "/p/kb", "kb"},
		{"explicit alias prefix owns the legacy alias", "POST", "/p/rag/kb/query", ""},
		{"token path owned", "POST", "/p/auth/token", ""},
		{"token path explicit", "PUT", "/p/auth/token", "gw/token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq(tc.method, ""), tc.path); got != tc.want {
				t.Errorf("Match(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
	for _, w := range []string{`token broker "auth": explicit route "gw/token" owns /p/auth/token`, `module route "kb": explicit route "gw/sub" owns /p/kb/*`} {
		if !hasWarning(warns, w) {
			t.Errorf("warnings = %q, want %q", warns, w)
		}
	}
}

func TestDuplicateIDs(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"gw","config":{"routes":[
			{"name":"r","uri":"/p/one","upstream":`+up+`},
			{"name":"r","uri":"/p/two","upstream":`+up+`},
			{"name":"r","uri":"/p/three","upstream":`+up+`}]}}]}`)
	tbl, warns := mustCompile(t, "p", m)
	tests := []struct{ name, path, want string }{
		{"first keeps the id", "/p/one", "gw/r"},
		{"second", "/p/two", "gw/r#2"},
		{"third", "/p/three", "gw/r#3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, newReq("GET", ""), tc.path); got != tc.want {
				t.Errorf("ID = %q, want %q", got, tc.want)
			}
		})
	}
	if !hasWarning(warns, `duplicate route id "gw/r" renamed to "gw/r#2"`) {
		t.Errorf("warnings = %q", warns)
	}
}

func TestKindAndMethodStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"upstream", KindUpstream.String(), "upstream"},
		{"inference", KindInference.String(), "inference"},
		{"rag", KindRAG.String(), "rag"},
		{"model server", KindModelServer.String(), "model_server"},
		{"token broker", KindTokenBroker.String(), "token_broker"},
		{"zero kind", Kind(0).String(), "unknown"},
		{"any method", MethodSet(0).String(), "*"},
		{"methods", (MethodPost | MethodGet | MethodPurge).String(), "GET,POST,PURGE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestRoutesAreCopies(t *testing.T) {
	tbl, _ := mustCompile(t, "", loadFixture(t, testfixtures.Manifests(), "codeconv"))
	rs := tbl.Routes()
	rs[0] = nil
	if tbl.Routes()[0] == nil {
		t.Error("Routes exposes the internal slice")
	}
	cs := tbl.Consumers()
	cs[0].Username = "changed"
	if tbl.Consumers()[0].Username == "changed" {
		t.Error("Consumers exposes the internal slice")
	}
}

func TestConcurrentMatch(t *testing.T) {
	tbl, _ := mustCompile(t, "", loadFixture(t, testfixtures.Manifests(), "codeconv"))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newReq("POST", "")
			for range 1000 {
				if tbl.Match(r, "/codeconv/translate") == nil || tbl.Match(r, "/codeconv/translate/x") == nil {
					t.Error("lost a match")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// benchTable is a 20-explicit-route table with module routes, the shape of a busy project.
func benchTable(t testing.TB) *Table {
	var routes []string
	for i := range 6 {
		routes = append(routes, fmt.Sprintf(`{"name":"exact%d","uri":"/p/svc%d/run","methods":["POST"],"upstream":"U"}`, i, i))
	}
	for i := range 6 {
		routes = append(routes, fmt.Sprintf(`{"name":"prefix%d","uri":"/p/api%d/*","methods":["GET","POST"],"upstream":"U"}`, i, i))
	}
	for i := range 4 {
		routes = append(routes, fmt.Sprintf(`{"name":"param%d","uri":"/p/items%d/:id","upstream":"U"}`, i, i))
	}
	for i := range 4 {
		routes = append(routes, fmt.Sprintf(`{"name":"host%d","uri":"/p/h%d/*","hosts":["*.example.com"],"upstream":"U"}`, i, i))
	}
	var mods []string
	for i := range 4 {
		mods = append(mods, fmt.Sprintf(`{"module_type":"inference_endpoint","name":"llm%d","config":{}}`, i))
	}
	mods = append(mods, `{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag/api/v1"}}`,
		`{"module_type":"jwt_config","name":"auth","config":{"service_url":"http://jwt"}}`)
	tbl, _ := mustCompile(t, "p", gatewayManifest(t, strings.Join(routes, ","), mods...))
	if n := len(tbl.Routes()); n != 20+4+2+1 {
		t.Fatalf("bench table has %d routes", n)
	}
	return tbl
}

var benchCases = []struct {
	name, method, host, path, want string
}{
	{"exact", "POST", "", "/p/svc5/run", "gw/exact5"},
	{"prefix", "GET", "", "/p/api5/v1/chat/completions", "gw/prefix5"},
	{"param", "GET", "", "/p/items3/42", "gw/param3"},
	{"wildcard_host", "GET", "a.example.com:8443", "/p/h3/x", "gw/host3"},
	{"module", "POST", "", "/p/llm3/v1/chat/completions", "llm3"},
	{"legacy_alias", "POST", "", "/p/rag/kb/query", "kb/legacy"},
	{"token_broker", "POST", "", "/p/auth/token", "auth"},
	{"miss", "GET", "", "/p/nothing/here", ""},
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := benchTable(t)
	own, _ := mustCompile(t, "", loadFixture(t, testfixtures.Manifests(), "codeconv"))
	for _, tc := range benchCases {
		t.Run(tc.name, func(t *testing.T) {
			r := newReq(tc.method, tc.host)
			if got := matchID(tbl, r, tc.path); got != tc.want {
				t.Fatalf("Match = %q, want %q", got, tc.want)
			}
			if n := testing.AllocsPerRun(200, func() { tbl.Match(r, tc.path) }); n != 0 {
				t.Errorf("Match allocates %v times", n)
			}
		})
	}
	t.Run("corpus fixture", func(t *testing.T) {
		r := newReq("POST", "gateway.example.com")
		for _, p := range []string{"/codeconv/translate", "/codeconv/translate/x", "/codeconv/auth/token", "/codeconv/v1/chat/completions"} {
			if own.Match(r, p) == nil {
				t.Fatalf("Match(%s) = nil", p)
			}
			if n := testing.AllocsPerRun(200, func() { own.Match(r, p) }); n != 0 {
				t.Errorf("Match(%s) allocates %v times", p, n)
			}
		}
	})
	t.Run("vars without escapes", func(t *testing.T) {
		m := gatewayManifest(t, `{"name":"v","uri":"/p/v","vars":[["arg_model","==","gpt"],["http_x_tier","in",["a","b"]],
			["cookie_s","~=","x"],["remote_addr","==","10.0.0.1"],["arg_n",">",1]],"upstream":"U"}`)
		vt, _ := mustCompile(t, "p", m)
		r := newReq("GET", "")
		r.URL.RawQuery = "model=gpt&n=2"
		r.Header.Set("X-Tier", "b")
		r.Header.Set("Cookie", "s=y")
		r.RemoteAddr = "10.0.0.1:5555"
		if vt.Match(r, "/p/v") == nil {
			t.Fatal("no match")
		}
		if n := testing.AllocsPerRun(200, func() { vt.Match(r, "/p/v") }); n != 0 {
			t.Errorf("Match with vars allocates %v times", n)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	tbl := benchTable(b)
	for _, tc := range benchCases {
		b.Run(tc.name, func(b *testing.B) {
			r := newReq(tc.method, tc.host)
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(r, tc.path)
			}
		})
	}
}

// BenchmarkCompileCodeconv compiles the corpus's richest manifest.
func BenchmarkCompileCodeconv(b *testing.B) {
	m := loadFixture(b, testfixtures.Manifests(), "codeconv")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile("codeconv", m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestUnroutableNamesAndNilRequest(t *testing.T) {
	m := gatewayManifest(t, `{"name":"any","uri":"/p/any","upstream":"U"},{"name":"post","uri":"/p/post","methods":["POST"],"upstream":"U"}`,
		`{"module_type":"inference_endpoint","name":"a/b","config":{}}`,
		`{"module_type":"inference_endpoint","name":"llm","config":{}}`)
	tbl, warns := mustCompile(t, "p", m)
	if !hasWarning(warns, `inference_endpoint "a/b": the name cannot be a path segment`) {
		t.Errorf("warnings = %q", warns)
	}
	tests := []struct{ name, path, want string }{
		{"slash in module name is not routed", "/p/a/b/x", ""},
		{"nil request, any-method route", "/p/any", "gw/any"},
		{"nil request, method-restricted route", "/p/post", ""},
		{"nil request, module route", "/p/llm/v1/models", "llm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchID(tbl, nil, tc.path); got != tc.want {
				t.Errorf("Match(nil, %s) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

// TestGlobalsRecorded: a route records which of its plugins are global (from global_plugins and not
// overridden by the route), so that plugins.Compile can drop a failing non-security global plugin.
func TestGlobalsRecorded(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"api_gateway","name":"gw","config":{
			"global_plugins":[{"name":"cors","config":{}},{"name":"request-id","config":{}}],
			"routes":[{"name":"r","uri":"/p/r","upstream":`+up+`,"plugins":{"cors":{"allow_origins":"https://a"},"jwt-auth":{}}}]}},
		{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag","jwt_auth_enabled":true}}]}`)
	tbl, _ := mustCompile(t, "p", m)
	tests := []struct{ name, path, want string }{
		{"explicit route: the route's cors is its own", "/p/r", "request-id"},
		{"module route: every global, not its own jwt-auth", "/p/kb/query", "cors,request-id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := tbl.Match(newReq("POST", ""), tc.path)
			if rt == nil {
				t.Fatal("no match")
			}
			if got := strings.Join(rt.Globals, ","); got != tc.want {
				t.Errorf("Globals = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestModuleJWTAuthKeepsGlobalOptions: a module's own jwt-auth adds its consumer restriction to a global
// jwt-auth rather than replacing it, so the global's token location and hide_credentials still hold.
func TestModuleJWTAuthKeepsGlobalOptions(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"jwt_config","name":"kb-auth","config":{"service_url":"http://jwt:8000","claims":{"static":{"key":"kb-key"}}}},
		{"module_type":"api_gateway","name":"gw","config":{"gateway_type":"apisix","routes":[],
			"global_plugins":[{"name":"jwt-auth","config":{"header":"X-Token","hide_credentials":true}}]}},
		{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag:8080","configuration_name":"c","jwt_auth_enabled":true,"jwt_module_reference":"kb-auth"}},
		{"module_type":"rag_service","name":"any","config":{"service_url":"http://rag:8080","configuration_name":"c","jwt_auth_enabled":true}},
		{"module_type":"inference_endpoint","name":"chat","config":{"model_name":"m","rag_service":"kb"}},
		{"module_type":"inference_endpoint","name":"plain","config":{"model_name":"m"}}
	]}`)
	tbl, _ := mustCompile(t, "p", m)
	const restricted = `{"fd2_consumer_keys":["kb-key"],"header":"X-Token","hide_credentials":true}`
	for path, want := range map[string]string{
		"/p/kb/query":                  restricted,
		"/p/rag/kb/query":              restricted,
		"/p/chat/v1/chat/completions":  restricted,
		"/p/any/query":                 `{"header":"X-Token","hide_credentials":true}`,
		"/p/plain/v1/chat/completions": `{"header":"X-Token","hide_credentials":true}`,
	} {
		rt := tbl.Match(newReq("POST", ""), path)
		if rt == nil {
			t.Fatalf("%s: no route", path)
		}
		var got, exp any
		if json.Unmarshal(rt.Plugins["jwt-auth"], &got) != nil || json.Unmarshal([]byte(want), &exp) != nil || !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: jwt-auth %s, want %s", path, rt.Plugins["jwt-auth"], want)
		}
	}
}

// TestModuleJWTReference: jwt_auth_enabled with a jwt_module_reference admits only the consumer its
// jwt_config issues tokens for (claims.static.key); without a key, or without a reference, every consumer
// of the project; a dangling reference is a warning and still requires a token. An inference endpoint
// retrieving from such a module inherits its requirement.
func TestModuleJWTReference(t *testing.T) {
	m := decode(t, `{"project_id":"p","project_name":"P","modules":[
		{"module_type":"jwt_config","name":"kb-auth","config":{"service_url":"http://jwt:8000","claims":{"static":{"key":"kb-key"}}}},
		{"module_type":"jwt_config","name":"plain-auth","config":{"service_url":"http://jwt:8000"}},
		{"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag:8080","configuration_name":"c","jwt_auth_enabled":true,"jwt_module_reference":"kb-auth"}},
		{"module_type":"model_server","name":"ms","config":{"service_url":"http://ms:8000","jwt_auth_enabled":true,"jwt_module_reference":"plain-auth"}},
		{"module_type":"rag_service","name":"dangling","config":{"service_url":"http://rag:8080","configuration_name":"c","jwt_auth_enabled":true,"jwt_module_reference":"gone"}},
		{"module_type":"rag_service","name":"open","config":{"service_url":"http://rag:8080","configuration_name":"c"}},
		{"module_type":"inference_endpoint","name":"kb-chat","config":{"model_name":"m","rag_service":"kb"}},
		{"module_type":"inference_endpoint","name":"kb-chat-block","config":{"model_name":"m","retrieval":{"rag":"kb","k":3}}},
		{"module_type":"inference_endpoint","name":"dangling-chat","config":{"model_name":"m","rag_service":"dangling"}},
		{"module_type":"inference_endpoint","name":"open-chat","config":{"model_name":"m","rag_service":"open"}},
		{"module_type":"inference_endpoint","name":"url-chat","config":{"model_name":"m","retrieval":{"rag":"http://rag:8080","configuration":"c"}}},
		{"module_type":"inference_endpoint","name":"plain-chat","config":{"model_name":"m"}}
	]}`)
	tbl, warns := mustCompile(t, "p", m)
	for path, want := range map[string]string{
		"/p/kb/query":       `{"fd2_consumer_keys":["kb-key"]}`,
		"/p/ms/embeddings":  `{}`,
		"/p/dangling/query": `{}`,
		"/p/open/query":     "",
		// An inference endpoint retrieving from a module admits only the callers that module admits.
		"/p/kb-chat/v1/chat/completions":       `{"fd2_consumer_keys":["kb-key"]}`,
		"/p/kb-chat-block/v1/messages":         `{"fd2_consumer_keys":["kb-key"]}`,
		"/p/dangling-chat/v1/chat/completions": `{}`,
		"/p/open-chat/v1/chat/completions":     "",
		"/p/url-chat/v1/chat/completions":      "",
		"/p/plain-chat/v1/chat/completions":    "",
	} {
		rt := tbl.Match(newReq("POST", ""), path)
		if rt == nil {
			t.Fatalf("%s: no route", path)
		}
		if got := string(rt.Plugins["jwt-auth"]); got != want {
			t.Errorf("%s: jwt-auth %q, want %q", path, got, want)
		}
	}
	if n := strings.Count(strings.Join(warns, "\n"), `jwt_module_reference "gone" names no jwt_config module`); n != 1 {
		t.Errorf("warnings %q name the dangling reference %d times, want once", warns, n)
	}
}
