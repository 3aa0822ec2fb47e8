// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// TestModuleRoutes (issue 13): every enabled module that is not app-level gets a module route, served by
// the module type registered for it. A module whose type this build does not serve answers 501
// module_type_unavailable; a module whose config its type rejects answers 503 route_misconfigured. Both are
// load-time errors: the admin API lists them as soon as the manifest version compiles, before any request
// reached those routes, and the project's other routes serve.
func TestModuleRoutes(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "mods", `{"project_id":"mods","modules":[
	  {"module_type":"inference_endpoint","name":"llm","config":{"endpoint_url":"http://`+hostOf(llm)+`/v1","model_name":"fake-gpt"}},
	  {"module_type":"inference_endpoint","name":"broken","config":{"model_name":"no endpoint_url"}},
	  {"module_type":"backup_recovery","name":"backups","config":{"schedule":"daily"}},
	  {"module_type":"langgraph_workflow","name":"flow","config":{}},
	  {"module_type":"monitoring","name":"mon","config":{}}]}`)
	f := startFD2(t, "manifests file "+dir, hostileSite)

	// Compile the version without serving any of its routes.
	expectStatus(t, do(t, "POST", f.adminURL("/dsp/projects/mods/reload"), ""), 200)
	var list struct {
		Projects []struct {
			ID       string   `json:"id"`
			Warnings []string `json:"warnings"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(do(t, "GET", f.adminURL("/dsp/projects"), "").body, &list); err != nil {
		t.Fatal(err)
	}
	var warns []string
	for _, p := range list.Projects {
		if p.ID == "mods" {
			warns = p.Warnings
		}
	}
	for _, want := range [][]string{{"backups", "backup_recovery", "501"}, {"flow", "langgraph_workflow", "501"}, {"broken", "endpoint_url", "503"}} {
		found := false
		for _, w := range warns {
			all := true
			for _, s := range want {
				all = all && strings.Contains(w, s)
			}
			found = found || all
		}
		if !found {
			t.Errorf("no load-time warning with %q in %q", want, warns)
		}
	}

	// The warnings were logged once, when the version compiled.
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "manifest version compiled with warnings") || !strings.Contains(string(logged), `no module type \"backup_recovery\"`) {
		t.Error("the compile warnings were not logged")
	}

	chat := `{"model":"fake-gpt","messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, path string
		status     int
		code       string
	}{
		{"served module type", "/mods/llm/v1/chat/completions", 200, ""},
		{"module config its type rejects", "/mods/broken/v1/chat/completions", 503, "route_misconfigured"},
		{"module type this build does not serve", "/mods/backups/run", 501, "module_type_unavailable"},
		{"workflow module without its type", "/mods/flow", 501, "module_type_unavailable"},
		{"app-level module is not routed", "/mods/mon/x", 404, "route_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", f.url(tc.path), chat)
			expectStatus(t, r, tc.status)
			if tc.code != "" {
				if code := r.errorCode(t); code != tc.code {
					t.Fatalf("code %q, want %q: %s", code, tc.code, r.body)
				}
			}
		})
	}
}
