// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// resolveCase is what resolving one corpus manifest with no secret manager must give (spec §1.3, §6.2).
type resolveCase struct {
	dir, file                      string
	authModule, jweModule, gateway string
	jweKey, node, authorization    string
	unsetVar                       string
}

func load(t *testing.T, dir, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return raw
}

func noEnv(string) (string, bool) { return "", false }

// TestResolveEnvFixtures checks the Control Tower resolution of FD2's richest corpus manifest.
func TestResolveEnvFixtures(t *testing.T) {
	checkResolveEnv(t, resolveCase{
		dir: testfixtures.Manifests(), file: "codeconv", authModule: "auth", jweModule: "jwe-auth",
		gateway: "apisix-translate-route", jweKey: "corpus-jwe-key-exactly-32-bytes!", node: "llm.corp.example",
		authorization: "Bearer config:providers.corp_llm.api_key", unsetVar: "${CODECONV_TRACING_PUBLIC_KEY}",
	})
}

// TestInteropResolveEnvFixtures checks the resolution results the spec lists for the platform's sas2py (§6.2).
func TestInteropResolveEnvFixtures(t *testing.T) {
	checkResolveEnv(t, resolveCase{
		dir: testfixtures.PlatformManifests(t), file: "sas2py", authModule: "auth", jweModule: "jwe-auth",
		gateway: "apisix-convert-route", jweKey: "key-length-should-be-32-chars123", node: "api.groq.com",
		authorization: "Bearer config:api_keys.groq", unsetVar: "${LANGFUSE_PUBLIC_KEY}",
	})
}

func checkResolveEnv(t *testing.T, tc resolveCase) {
	t.Helper()
	out, err := manifest.ResolveEnv(load(t, tc.dir, tc.file), manifest.EnvOptions{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	var jwt struct {
		ServiceURL string `json:"service_url"`
		Claims     struct {
			Static map[string]any `json:"static"`
		} `json:"claims"`
		JWE struct {
			Key string `json:"encryption_key"`
		} `json:"jwe_config"`
	}
	if err := m.Module(tc.authModule).DecodeConfig(&jwt); err != nil {
		t.Fatal(err)
	}
	if jwt.ServiceURL != "http://localhost:5000" || jwt.Claims.Static["environment"] != "development" {
		t.Fatalf("auth module resolved to %+v", jwt)
	}
	if err := m.Module(tc.jweModule).DecodeConfig(&jwt); err != nil {
		t.Fatal(err)
	}
	if jwt.JWE.Key != tc.jweKey {
		t.Fatalf("jwe key = %q", jwt.JWE.Key)
	}
	gw, err := m.Module(tc.gateway).Gateway()
	if err != nil {
		t.Fatal(err)
	}
	rt := gw.Routes[0]
	if len(rt.Upstream.Nodes) != 1 || rt.Upstream.Nodes[0].Host != tc.node || rt.Upstream.Nodes[0].Weight != 1 {
		t.Fatalf("node key not templated: %+v", rt.Upstream.Nodes)
	}
	var pr struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(rt.Plugins["proxy-rewrite"], &pr); err != nil {
		t.Fatal(err)
	}
	// No secret manager: the config: reference stays literal (what the CT serves without secrets_config).
	if pr.Headers["Authorization"] != tc.authorization {
		t.Fatalf("Authorization = %q", pr.Headers["Authorization"])
	}
	// Unset ${VAR}s stay as they are.
	if !strings.Contains(string(out), tc.unsetVar) {
		t.Fatal("unset ${VAR} was replaced")
	}
}

// TestResolveEnvCorpusReferences resolves the corpus's secure-refs manifest in each of its environments
// with a secret manager: each environment's signing secret is a different kind of reference (env:,
// encrypted:, vault:…#key@version), and the jwt-auth consumer must get what the manager returns for
// exactly that reference; every reference of the document (the vault module's credentials and
// encryption_key_source included) reaches the manager whole.
func TestResolveEnvCorpusReferences(t *testing.T) {
	raw := load(t, testfixtures.Manifests(), "secure-refs")
	tests := []struct {
		environment, wantSecret string
	}{
		{"development", "resolved(env:SECURE_REFS_SIGNING_SECRET)"},
		{"staging", "resolved(encrypted:gAAAAA"},
		{"production", "resolved(vault:corp-vault:gateway/secure-refs#signing_secret@3)"},
	}
	for _, tc := range tests {
		t.Run(tc.environment, func(t *testing.T) {
			seen := map[string]bool{}
			secret := func(ref string) (string, error) {
				seen[ref] = true
				return "resolved(" + ref + ")", nil
			}
			out, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: noEnv, Environment: tc.environment, Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			gw, err := m.Module("apisix-secure-route").Gateway()
			if err != nil {
				t.Fatal(err)
			}
			var consumer struct {
				Secret string `json:"secret"`
			}
			if err := json.Unmarshal(gw.Consumer.Plugins["jwt-auth"], &consumer); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(consumer.Secret, tc.wantSecret) {
				t.Errorf("consumer secret = %q, want %q", consumer.Secret, tc.wantSecret)
			}
			var pr struct {
				Headers map[string]string `json:"headers"`
			}
			if err := json.Unmarshal(gw.Routes[0].Plugins["proxy-rewrite"], &pr); err != nil {
				t.Fatal(err)
			}
			if want := "Bearer resolved(config:providers.corp_llm.api_key)"; pr.Headers["Authorization"] != want {
				t.Errorf("Authorization = %q, want %q", pr.Headers["Authorization"], want)
			}
			for _, ref := range []string{"env:SECURE_REFS_VAULT_ROLE_ID", "env:SECURE_REFS_VAULT_SECRET_ID", "config:providers.corp_llm.api_key",
				"env:SECURE_REFS_SIGNING_SECRET", "vault:corp-vault:gateway/secure-refs#signing_secret@3", "env:ENCRYPTION_KEY"} {
				if !seen[ref] {
					t.Errorf("reference %q never reached the secret manager", ref)
				}
			}
			if strings.Contains(string(out), "${environments.") {
				t.Error("an ${environments…} placeholder survived resolution")
			}
		})
	}
}

func TestResolveEnvPasses(t *testing.T) {
	doc := `{"project_id":"p","environment":"development","modules":[],
	  "environments":{"common":{"k":"common-v"},"development":{"a":{"b":"dev-v"},"n":3,"flag":true,"ref":"${HOME_X}"},"prod":{"a":{"b":"prod-v"}}},
	  "metadata":{"static":"${environments.common.k}","dyn":"${environments.${environment}.a.b}","env":"${environment}",
	    "var":"${HOME_X}","missing":"${environments.common.nope}","num":"n=${environments.development.n}",
	    "bool":"${environments.development.flag}","chained":"${environments.development.ref}","lower":"${home_x}"}}`
	getenv := func(k string) (string, bool) {
		if k == "HOME_X" {
			return "/home/x", true
		}
		return "", false
	}
	cases := []struct {
		name string
		opts manifest.EnvOptions
		want map[string]string
	}{
		{"manifest environment", manifest.EnvOptions{Getenv: getenv}, map[string]string{
			"static": "common-v", "dyn": "dev-v", "env": "development", "var": "/home/x",
			"missing": "${environments.common.nope}", "num": "n=3", "bool": "True", "chained": "/home/x", "lower": "${home_x}"}},
		{"environment override", manifest.EnvOptions{Getenv: getenv, Environment: "prod"}, map[string]string{
			"dyn": "prod-v", "env": "prod"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := manifest.ResolveEnv([]byte(doc), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Environment string            `json:"environment"`
				Metadata    map[string]string `json:"metadata"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got.Metadata[k] != v {
					t.Errorf("%s = %q, want %q", k, got.Metadata[k], v)
				}
			}
			if tc.opts.Environment != "" && got.Environment != tc.opts.Environment {
				t.Errorf("environment = %q", got.Environment)
			}
		})
	}
}

func TestResolveEnvSecretManager(t *testing.T) {
	doc := `{"project_id":"p","modules":[],"environments":{"development":{"key":"config:api_keys.groq","bad":"vault:x:y"}},
	  "metadata":{"a":"Bearer ${environments.development.key}","b":"env:TOKEN ${environment}","c":"literal"}}`
	secret := func(ref string) (string, error) {
		switch ref {
		case "config:api_keys.groq":
			return "gsk_test", nil
		case "env:TOKEN ${environment}":
			return "", errors.New("unresolvable")
		}
		return "", errors.New("no such secret")
	}
	out, err := manifest.ResolveEnv([]byte(doc), manifest.EnvOptions{Getenv: noEnv, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata map[string]string `json:"metadata"`
	}
	_ = json.Unmarshal(out, &got)
	if got.Metadata["a"] != "Bearer gsk_test" {
		t.Errorf("a = %q", got.Metadata["a"])
	}
	// A string with a secret marker goes whole to the resolver; on failure it stays as is, unprocessed.
	if got.Metadata["b"] != "env:TOKEN ${environment}" {
		t.Errorf("b = %q", got.Metadata["b"])
	}
	// A failing secret inside an environments lookup fails the whole resolution, as the CT answers 500.
	bad := strings.Replace(doc, `"c":"literal"`, `"c":"${environments.development.bad}"`, 1)
	if _, err := manifest.ResolveEnv([]byte(bad), manifest.EnvOptions{Getenv: noEnv, Secret: secret}); err == nil {
		t.Fatal("a failing secret in an environments lookup must fail resolution")
	}
}

func TestDecodeLenientAndValidate(t *testing.T) {
	cases := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"nulls and unknown keys", `{"project_id":"p","project_name":null,"description":null,"tags":null,"extra":1,
		  "modules":[{"module_type":"api_gateway","name":"gw","version":"1.0.0","status":"enabled","description":null,"dependencies":["x"],
		   "config":{"gateway_type":"apisix","admin_key":"k","routes":[{"name":"r","uri":"/p/x","methods":["GET","POST"],
		   "upstream_id":null,"upstream":null,"service_id":null,"plugins":{},"host":null,"priority":0,"vars":null}]}}]}`, ""},
		{"unknown module type", `{"project_id":"p","modules":[{"module_type":"apisix_gateway","name":"x","config":{}}]}`, "unknown module_type"},
		{"duplicate names", `{"project_id":"p","modules":[{"module_type":"vault","name":"x","config":{}},{"module_type":"vault","name":"x","config":{}}]}`, "duplicate module name"},
		{"missing project id", `{"modules":[]}`, "project_id is required"},
		{"missing modules", `{"project_id":"p"}`, "modules is required"},
		{"route without uri", `{"project_id":"p","modules":[{"module_type":"api_gateway","name":"gw","config":{"routes":[{"name":"r"}]}}]}`, "uri is required"},
		{"null config", `{"project_id":"p","modules":[{"module_type":"vault","name":"v","config":null}]}`, "config is required"},
		{"not json", `{"project_id":`, "decoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifest.Decode([]byte(tc.doc))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, manifest.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

// A module type outside the Control Tower's enum is valid only when the caller serves it (a third-party
// module type), and only that type.
func TestDecodeWithExtraType(t *testing.T) {
	served := func(mt string) bool { return mt == "echo_workflow" }
	cases := []struct {
		name    string
		doc     string
		extra   func(string) bool
		wantErr string
	}{
		{"served extra type", `{"project_id":"p","modules":[{"module_type":"echo_workflow","name":"echo","config":{"greeting":"hi"}}]}`, served, ""},
		{"extra type without the option", `{"project_id":"p","modules":[{"module_type":"echo_workflow","name":"echo","config":{}}]}`, nil, `unknown module_type "echo_workflow"`},
		{"another unknown type", `{"project_id":"p","modules":[{"module_type":"apisix_gateway","name":"x","config":{}}]}`, served, `unknown module_type "apisix_gateway"`},
		{"served extra type still needs a config", `{"project_id":"p","modules":[{"module_type":"echo_workflow","name":"echo","config":null}]}`, served, "config is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := manifest.DecodeWith([]byte(tc.doc), manifest.DecodeOptions{ExtraType: tc.extra})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if mod := m.Module("echo"); mod == nil || mod.ModuleType != "echo_workflow" {
					t.Fatalf("module echo = %+v", mod)
				}
				return
			}
			if err == nil || !errors.Is(err, manifest.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNodesAndPlugins(t *testing.T) {
	var up manifest.Upstream
	if err := json.Unmarshal([]byte(`{"nodes":{"b.example:8080":2,"a.example":1,"[::1]:9000":1}}`), &up); err != nil {
		t.Fatal(err)
	}
	want := manifest.Nodes{{Host: "::1", Port: 9000, Weight: 1}, {Host: "a.example", Weight: 1}, {Host: "b.example", Port: 8080, Weight: 2}}
	if len(up.Nodes) != 3 || up.Nodes[0] != want[0] || up.Nodes[1] != want[1] || up.Nodes[2] != want[2] {
		t.Fatalf("map nodes = %+v", up.Nodes)
	}
	if err := json.Unmarshal([]byte(`{"nodes":[{"host":"h","port":1,"weight":5}]}`), &up); err != nil || up.Nodes[0].Weight != 5 {
		t.Fatalf("list nodes = %+v, %v", up.Nodes, err)
	}
	var r manifest.Route
	if err := json.Unmarshal([]byte(`{"name":"r","uri":"/x","plugins":[{"name":"cors","enabled":true,"config":{"a":1}},
	  {"name":"limit-req","enabled":false,"config":{}},{"name":"request-id"}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Plugins["limit-req"]; ok || string(r.Plugins["cors"]) != `{"a":1}` || string(r.Plugins["request-id"]) != "{}" {
		t.Fatalf("list plugins = %v", r.Plugins)
	}
}

func TestValidProjectID(t *testing.T) {
	for id, want := range map[string]bool{"sas2py": true, "jwe_test": true, "a-b": true, "": false, "a.b": false,
		"../x": false, "a/b": false, strings.Repeat("a", 129): false} {
		if got := manifest.ValidProjectID(id); got != want {
			t.Errorf("ValidProjectID(%q) = %v", id, got)
		}
	}
}
