// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package caddymodules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// servedTypes are the manifest module types this build serves: a dsp.modules.<type> Caddy module each.
var servedTypes = []string{"inference_endpoint", "jwt_config", "model_server", "rag_service"}

// TestModuleTypesRegistered: every served type is registered and implements the module-type interface.
func TestModuleTypesRegistered(t *testing.T) {
	var got []string
	for _, info := range caddy.GetModules(gateway.ModuleNamespace) {
		got = append(got, info.ID.Name())
		if _, ok := info.New().(gateway.ModuleType); !ok {
			t.Errorf("%s does not implement gateway.ModuleType", info.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, servedTypes) {
		t.Fatalf("registered module types %v, want %v", got, servedTypes)
	}
}

// TestCompileCorpus compiles every manifest of FD2's corpus (and the platform's, when present) with every
// module type registered: no route may carry an error but the 501 of a module whose type this build does
// not serve (the Control Tower's enum is larger), and each such route must be of an unserved type.
func TestCompileCorpus(t *testing.T) {
	compileCorpus(t, testfixtures.ManifestFiles(t, testfixtures.Manifests()))
}

// TestInteropCompileCorpus is TestCompileCorpus on the platform's manifests.
func TestInteropCompileCorpus(t *testing.T) {
	compileCorpus(t, testfixtures.ManifestFiles(t, testfixtures.PlatformManifests(t)))
}

func compileCorpus(t *testing.T, files []string) {
	t.Helper()
	unserved := 0
	for _, file := range files {
		id := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(id, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			p, err := gateway.CompileProject(id, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Routes) == 0 {
				t.Fatal("no routes")
			}
			if id == "rag-kb-integration" {
				checkDroppedGlobalCORS(t, p)
			}
			for rt, pr := range p.Routes {
				switch {
				case pr.Err == nil:
				case errors.Is(pr.Err, plan.ErrModuleTypeUnavailable) && !slices.Contains(servedTypes, rt.ModuleType):
					unserved++
					if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, rt.ID) && strings.Contains(w, "501") }) {
						t.Errorf("route %s of unserved type %s: no warning says it answers 501: %q", rt.ID, rt.ModuleType, p.Warnings)
					}
				default:
					t.Errorf("route %s (%s): %v", rt.ID, rt.ModuleType, pr.Err)
				}
			}
		})
	}
	if unserved == 0 {
		t.Error("no corpus manifest has a module of an unserved type: the 501 path went unchecked")
	}
}

// checkDroppedGlobalCORS: the rag integration manifest's global cors ("*" with allow_credential, which
// APISIX rejects) is dropped with a warning, as APISIX drops a failing global rule, while its other global
// plugins apply.
func checkDroppedGlobalCORS(t *testing.T, p *plan.Project) {
	t.Helper()
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, `global plugin "cors"`) }) {
		t.Errorf("no warning about the dropped cors: %q", p.Warnings)
	}
	for rt, pr := range p.Routes {
		if pr.Transforms == nil {
			continue // compileCorpus reported it
		}
		if pr.Transforms.CORS != nil || (rt.Kind != route.KindTokenBroker && pr.Transforms.RequestID == nil) {
			t.Errorf("route %s: cors %v, request-id %v: want cors dropped and the global request-id kept",
				rt.ID, pr.Transforms.CORS, pr.Transforms.RequestID)
		}
	}
	if _, err := gateway.CompileProject("x", []byte(`{"project_id":"x","modules":[{"module_type":"nope","name":"a","config":{}}]}`)); err == nil {
		t.Fatal("a manifest with a module_type outside the Control Tower's enum compiled")
	}
}
