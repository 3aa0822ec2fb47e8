// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/internal/ragservice"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// TestRAGManifestRoutes (issue 16): FD2's corpus manifest modelled on the Control Tower's
// rag-model-server-integration.json serves every one of its rag and model routes from the doubles.
func TestRAGManifestRoutes(t *testing.T) {
	requireIntegration(t)
	raw, err := os.ReadFile(filepath.Join(testfixtures.Manifests(), "rag-kb-integration.json"))
	if err != nil {
		t.Fatal(err)
	}
	serveRAGManifest(t, "rag-kb-integration", raw)
}

// TestInteropRAGManifestRoutes is the same with the Control Tower's own rag-model-server-integration.json
// (its file stem, not its project_id ai-rag-platform, is the project), when the platform corpus holds it.
func TestInteropRAGManifestRoutes(t *testing.T) {
	requireIntegration(t)
	const stem = "rag-model-server-integration"
	raw, err := os.ReadFile(filepath.Join(testfixtures.PlatformManifests(t), stem+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		// The corpus is there (a missing corpus already failed under CI=true), only this manifest is not.
		t.Skipf("the platform corpus has no %s.json; TestRAGManifestRoutes covers FD2's own model of it", stem)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("JWT_SECRET_KEY", "rag-interop-jwt-secret")
	serveRAGManifest(t, stem, raw)
}

// serveRAGManifest serves a manifest's rag_service and model_server modules from the doubles (their
// service_url pointed there, their configurations and models known to them) and calls every operation of
// every rag and model route the admin API lists, legacy aliases included, as a consumer of the project
// when it has one.
func serveRAGManifest(t *testing.T, stem string, raw []byte) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	modules := map[string]map[string]any{} // rag and model modules by name: their config
	types := map[string]string{}
	var key, secret string
	for _, m := range doc["modules"].([]any) {
		mod := m.(map[string]any)
		name, typ := mod["name"].(string), mod["module_type"].(string)
		cfg, _ := mod["config"].(map[string]any)
		switch typ {
		case "rag_service", "model_server":
			modules[name], types[name] = cfg, typ
		case "api_gateway":
			if c, ok := cfg["consumer"].(map[string]any); ok {
				ja, _ := c["plugins"].(map[string]any)["jwt-auth"].(map[string]any)
				key, _ = ja["key"].(string)
				secret, _ = ja["secret"].(string)
			}
		}
	}
	if len(modules) == 0 {
		t.Fatal("the manifest has no rag_service or model_server module")
	}
	rag, ragSrv := startRAGService(t, modelsOf(modules, types))
	for name, cfg := range modules {
		cfg["service_url"] = "http://" + hostOf(ragSrv)
		if types[name] == "rag_service" {
			addRAGConfiguration(t, rag, cfg)
		}
	}
	out, _ := json.Marshal(doc)
	dir := t.TempDir()
	writeManifest(t, dir, stem, string(out))
	f := startFD2(t, "manifests file "+dir, ragSite)

	var auth []string
	if key != "" {
		if strings.HasPrefix(secret, "${") {
			secret = os.Getenv(strings.Trim(secret, "${}"))
		}
		registerSecret(secret)
		auth = []string{"Authorization", "Bearer " + mintJWS(t, corpus{}, secret, map[string]any{"key": key, "project": nil})}
	}

	expectStatus(t, do(t, "POST", f.adminURL("/dsp/projects/"+stem+"/reload"), ""), 200)
	var list struct {
		Projects []struct {
			ID     string   `json:"id"`
			Routes []string `json:"routes"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(do(t, "GET", f.adminURL("/dsp/projects"), "").body, &list); err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, p := range list.Projects {
		if p.ID != stem {
			continue
		}
		for _, line := range p.Routes {
			id, uri, _ := strings.Cut(line, " ")
			name := strings.TrimSuffix(id, "/legacy")
			cfg, ok := modules[name]
			if !ok {
				continue
			}
			base := strings.TrimSuffix(uri, "/*")
			t.Run(id, func(t *testing.T) {
				if types[name] == "rag_service" {
					callRAGRoute(t, f, rag, base, cfg, auth)
				} else {
					callModelRoute(t, f, rag, base, cfg, auth)
				}
			})
			served++
		}
	}
	if served != 2*len(modules) {
		t.Fatalf("%d rag and model routes served, want %d (each module and its legacy alias): %+v", served, 2*len(modules), list)
	}
}

// modelsOf is the double's options with the model servers' models, default and available, of each kind.
func modelsOf(modules map[string]map[string]any, types map[string]string) ragservice.Options {
	o := ragservice.Options{EmbeddingModels: ragservice.DefaultEmbeddingModels(),
		RerankerModels: ragservice.DefaultRerankerModels(), ClassifierModels: ragservice.DefaultClassifierModels()}
	names := func(cfg map[string]any, kind string) []string {
		var out []string
		if d, _ := cfg["default_"+kind+"_model"].(string); d != "" {
			out = append(out, d)
		}
		avail, _ := cfg["available_"+kind+"_models"].([]any)
		for _, a := range avail {
			out = append(out, a.(string))
		}
		return out
	}
	for name, cfg := range modules {
		if types[name] != "model_server" {
			continue
		}
		for _, m := range names(cfg, "embedding") {
			o.EmbeddingModels[m] = 0
		}
		o.RerankerModels = append(o.RerankerModels, names(cfg, "reranker")...)
		o.ClassifierModels = append(o.ClassifierModels, names(cfg, "classifier")...)
	}
	return o
}

// addRAGConfiguration gives the double the module's configuration, with the demo corpus carrying the
// metadata the module's default filter asks for, so that the filter admits documents.
func addRAGConfiguration(t *testing.T, rag *ragservice.Server, cfg map[string]any) {
	t.Helper()
	docs := ragservice.DefaultCorpus()
	def, _ := cfg["default_metadata_filter"].(map[string]any)
	for i := range docs {
		for k, v := range def {
			if _, op := v.(map[string]any); !op && !strings.HasPrefix(k, "$") {
				docs[i].Metadata[k] = v
			}
		}
	}
	if err := rag.AddConfiguration(ragservice.Configuration{Name: cfg["configuration_name"].(string), Documents: docs}); err != nil {
		t.Fatal(err)
	}
}

func callRAGRoute(t *testing.T, f *fd2, rag *ragservice.Server, base string, cfg map[string]any, auth []string) {
	conf := cfg["configuration_name"].(string)
	rag.Reset()
	r := do(t, "POST", f.url(base+"/query"), `{"query":"vacation days per year"}`, auth...)
	expectStatus(t, r, 200)
	if !gjson.GetBytes(r.body, "answer").Exists() {
		t.Fatalf("query: %s", r.body)
	}
	rec, ok := rag.Last("/api/v1/query")
	if !ok {
		t.Fatalf("no /api/v1/query reached the service: %v", rag.Requests())
	}
	sent := gjson.ParseBytes(rec.Body)
	if sent.Get("configuration_name").String() != conf || sent.Get("k").Float() != gjson.Get(mustJSON(cfg), "default_k").Float() {
		t.Errorf("the module's defaults were not applied: %s", rec.Body)
	}
	if def, ok := cfg["default_metadata_filter"].(map[string]any); ok && len(def) > 0 && !strings.Contains(sent.Get("filter").Raw, mustJSON(def)[1:len(mustJSON(def))-1]) {
		t.Errorf("the default filter %v was not sent: %s", def, rec.Body)
	}
	if cfg["query_expansion_enabled"] == true && !sent.Get("query_expansion.enabled").Bool() {
		t.Errorf("query expansion was not applied: %s", rec.Body)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/retrieve", `{"query":"vacation"}`, "documents"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"vacation days"}]}`, "choices"},
		{"GET", "/v1/models", "", "data"},
		{"GET", "/health", "", "status"},
		{"GET", "/documents?configuration_name=" + conf, "", ""},
		{"GET", "/configurations", "", ""},
		{"POST", "/upload/text", `{"documents":[{"content":"Interop upload.","metadata":{"tenant":"acme"}}],"configuration_name":"` + conf + `"}`, "documents"},
	} {
		r := do(t, c.method, f.url(base+c.path), c.body, auth...)
		expectStatus(t, r, 200)
		if c.want != "" && !gjson.GetBytes(r.body, c.want).Exists() {
			t.Errorf("%s %s: no %s in %s", c.method, c.path, c.want, r.body)
		}
	}
}

func callModelRoute(t *testing.T, f *fd2, rag *ragservice.Server, base string, cfg map[string]any, auth []string) {
	rag.Reset()
	r := do(t, "POST", f.url(base+"/embeddings"), `{"texts":["alpha","beta"]}`, auth...)
	expectStatus(t, r, 200)
	if n := len(gjson.GetBytes(r.body, "embeddings").Array()); n != 2 {
		t.Fatalf("embeddings: %s", r.body)
	}
	if def, _ := cfg["default_embedding_model"].(string); def != "" {
		rec, _ := rag.Last("/api/v1/models/embeddings")
		if got := gjson.GetBytes(rec.Body, "model_name").String(); got != def {
			t.Errorf("model_name sent %q, want the module default %q", got, def)
		}
	}
	if avail, _ := cfg["available_embedding_models"].([]any); len(avail) > 0 {
		r := do(t, "POST", f.url(base+"/embeddings"), `{"texts":["a"],"model_name":"not-offered"}`, auth...)
		expectStatus(t, r, 400)
		if !strings.Contains(string(r.body), avail[0].(string)) {
			t.Errorf("the refusal does not name the allowed models: %s", r.body)
		}
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/rerank", `{"query":"vacation","texts":["vacation days","security keys"]}`, "scores"},
		{"POST", "/classify", `{"texts":["vacation days"],"labels":["hr","security"]}`, "text_results"},
		{"GET", "/health", "", ""},
		{"POST", "/v1/embeddings", `{"input":["hello","world"]}`, "data.1.embedding"},
		{"GET", "/v1/models", "", "data"},
	} {
		r := do(t, c.method, f.url(base+c.path), c.body, auth...)
		expectStatus(t, r, 200)
		if c.want != "" && !gjson.GetBytes(r.body, c.want).Exists() {
			t.Errorf("%s %s: no %s in %s", c.method, c.path, c.want, r.body)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
