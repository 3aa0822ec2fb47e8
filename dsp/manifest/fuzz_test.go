// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fuzzEnvironments are the environment overrides the fuzzer picks from: none (the manifest's own), the
// corpus's environments, and one no manifest defines.
var fuzzEnvironments = []string{"", "development", "staging", "production", "common", "missing"}

// fuzzPaths are request paths matched against every compiled table: the corpus's routes, module routes,
// legacy aliases, token brokers and a miss.
var fuzzPaths = []string{
	"/", "/codeconv/translate", "/codeconv/v1/chat/completions", "/codeconv/auth/token", "/codeconv/translate/x",
	"/rag-kb-integration/knowledge-base/api/v1/query", "/rag-kb-integration/rag/knowledge-base/query",
	"/rag-kb-integration/models/embedding-reranker/embeddings", "/apisix-routing/echo/a/b", "/digest/llm",
	"/p/x", "/p/gw/y", "/fuzz/a/b/c",
}

// FuzzManifestPipeline runs what FD2 does with an untrusted manifest document, in order: environment and
// secret resolution (manifest.ResolveEnv), decoding and validation (manifest.Decode), the route table
// (route.Compile, under the manifest's id and under a differing file stem), every route's plugins
// (plugins.Compile) and matching. Whatever the input, nothing panics, a resolved document is valid JSON,
// errors wrap manifest.ErrInvalid where they are validation errors, and compiling is deterministic.
// It is seeded with every manifest of FD2's corpus and, when present, of the platform's.
func FuzzManifestPipeline(f *testing.F) {
	dirs := []string{testfixtures.Manifests()}
	if dir, err := testfixtures.PlatformDir(); err == nil {
		dirs = append(dirs, filepath.Join(dir, "control-tower", "manifests"))
	}
	for _, dir := range dirs {
		for _, file := range testfixtures.ManifestFiles(f, dir) {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw, uint8(0))
			f.Add(raw, uint8(3)) // an environment override, with the secret manager
		}
	}
	for _, seed := range []string{
		`null`, `{}`, `[]`, `"x"`, `{"project_id":"p","modules":null}`,
		`{"project_id":"p","modules":[{"module_type":"api_gateway","name":"gw","config":{"routes":[{"name":"r","uri":"/p/:a/*","plugins":[{"name":"cors","config":{"allow_origins":"*","allow_credential":true}}]}]}}]}`,
		`{"project_id":"p","environment":"e","environments":{"e":{"a":"${environments.${environment}.a}"}},"modules":[],"metadata":{"x":"${environments.e.a}${X}"}}`,
	} {
		f.Add([]byte(seed), uint8(1))
	}

	getenv := func(k string) (string, bool) {
		if strings.HasPrefix(k, "SET_") || k == "HOME" {
			return "v-" + k, true
		}
		return "", false
	}
	secret := func(ref string) (string, error) {
		if strings.Contains(ref, "fail") {
			return "", errors.New("secret backend failed")
		}
		return "resolved(" + ref + ")", nil
	}

	f.Fuzz(func(t *testing.T, raw []byte, sel uint8) {
		opts := manifest.EnvOptions{Getenv: getenv, Environment: fuzzEnvironments[int(sel>>1)%len(fuzzEnvironments)]}
		if sel&1 == 1 {
			opts.Secret = secret
		}
		out, err := manifest.ResolveEnv(raw, opts)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("ResolveEnv produced invalid JSON: %.200q", out)
		}
		m, err := manifest.Decode(out)
		if err != nil {
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		_ = manifest.Hash(out)
		for _, id := range []string{"", "fuzz-stem"} {
			tbl, _, err := route.Compile(id, m)
			if err != nil {
				continue // an invalid project id: nothing to serve
			}
			again, _, err := route.Compile(id, m)
			if err != nil || len(again.Routes()) != len(tbl.Routes()) {
				t.Fatalf("Compile is not deterministic: %d then %d routes (%v)", len(tbl.Routes()), len(again.Routes()), err)
			}
			for _, rt := range tbl.Routes() {
				tr, _, err := plugins.Compile(rt.Plugins)
				if err == nil && tr == nil {
					t.Fatalf("route %s: plugins.Compile returned neither transforms nor an error", rt.ID)
				}
			}
			for _, p := range fuzzPaths {
				for _, method := range []string{"GET", "POST"} {
					r := httptest.NewRequest(method, "http://gw.example"+p, nil)
					if rt := tbl.Match(r, p); rt != nil && rt.ID == "" {
						t.Fatalf("Match(%s %s) returned a route without an id", method, p)
					}
				}
			}
		}
	})
}
