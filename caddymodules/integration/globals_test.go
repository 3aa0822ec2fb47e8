// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fullPipeline runs every FD2 stage, so a route one of them cannot serve shows up whichever it is.
const fullPipeline = `
:{{HTTP}} {
	{{LOG}}
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`

// TestFailingGlobalPluginKeepsRoutes serves the corpus's rag integration manifest (modelled on the
// Control Tower's rag-model-server-integration.json): its api_gateway has no routes and global plugins
// prometheus, request-id and cors, where cors combines allow_origins "*" with allow_credential true, which
// APISIX rejects. APISIX drops such a global rule and serves the routes; so must FD2: every route of the
// project (as the admin API lists it) answers from its upstream — 502 here, where nothing listens — never
// 503, the broken cors is gone (no Access-Control-Allow-Origin), the valid request-id still applies, and the
// drop is a manifest warning.
func TestFailingGlobalPluginKeepsRoutes(t *testing.T) {
	requireIntegration(t)
	const id = "rag-kb-integration" // the file stem; its project_id is ai-rag-platform
	raw, err := os.ReadFile(filepath.Join(testfixtures.Manifests(), id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	prod := doc["environments"].(map[string]any)["production"].(map[string]any)
	for k := range prod {
		prod[k] = closed
	}
	out, _ := json.Marshal(doc)
	dir := t.TempDir()
	writeManifest(t, dir, id, string(out))
	f := startFD2(t, "manifests file "+dir, fullPipeline)

	// The first request loads the project; the admin API then lists its routes.
	first := do(t, "POST", f.url("/"+id+"/knowledge-base/api/v1/query"), `{"query":"q"}`)
	expectStatus(t, first, http.StatusBadGateway)
	r := do(t, "GET", f.adminURL("/dsp/projects"), "")
	expectStatus(t, r, 200)
	var list struct {
		Projects []struct {
			ID       string   `json:"id"`
			Routes   []string `json:"routes"`
			Warnings []string `json:"warnings"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	var routes, warnings []string
	for _, p := range list.Projects {
		if p.ID == id {
			routes, warnings = p.Routes, p.Warnings
		}
	}
	// knowledge-base and embedding-reranker, each under its module path and its legacy alias, and the
	// auth-service token broker.
	if len(routes) != 5 {
		t.Fatalf("routes = %q, want 5", routes)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), `global plugin "cors"`) {
		t.Errorf("no manifest warning about the dropped cors: %q", warnings)
	}
	for _, line := range routes {
		routeID, uri, _ := strings.Cut(line, " ")
		op := "query" // a path each module serves: the RAG service's, or the model server's
		if strings.Contains(routeID, "embedding-reranker") {
			op = "embeddings"
		}
		path := strings.TrimSuffix(uri, "*") + op
		broker := strings.HasSuffix(uri, "/token")
		if broker {
			path = uri
		}
		t.Run(routeID, func(t *testing.T) {
			r := do(t, "POST", f.url(path), `{"username":"admin","password":"password","query":"q","texts":["q"]}`,
				"Origin", "https://evil.example")
			expectStatus(t, r, http.StatusBadGateway)
			if code := r.errorCode(t); code == "route_misconfigured" {
				t.Fatalf("route answered route_misconfigured: %s", r.body)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Access-Control-Allow-Origin = %q from a cors config that cannot apply", got)
			}
			if !broker && r.header.Get("X-Request-Id") == "" {
				t.Errorf("the global request-id plugin did not apply: %v", r.header)
			}
		})
	}
}
