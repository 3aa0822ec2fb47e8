// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package catalog

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference/mock"
)

func TestEveryNameBuilds(t *testing.T) {
	wantKind := map[string]string{"openai": "openai", "azure": "azure", "anthropic": "anthropic", "gemini": "gemini", "mock": "mock"}
	names := Names()
	if len(names) != len(types)+len(aliases) {
		t.Fatalf("Names() = %v: want every type and alias once", names)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			typ, base, err := Resolve(n)
			if err != nil {
				t.Fatal(err)
			}
			c := Config{Name: "dep-" + n}
			if typ.Remote && base == "" {
				c.BaseURL = "http://127.0.0.1:9/v1" // aliases without a public API of their own
			}
			p, err := Build(n, c)
			if err != nil {
				t.Fatalf("Build(%q) = %v", n, err)
			}
			if p.Name() != "dep-"+n || p.Kind() != wantKind[typ.Name] {
				t.Fatalf("Build(%q) = %s/%s; want dep-%s/%s", n, p.Name(), p.Kind(), n, wantKind[typ.Name])
			}
			// Names are case-insensitive: manifests write "OpenAI", "Groq".
			if up, _, err := Resolve(strings.ToUpper(n)); err != nil || up.Name != typ.Name {
				t.Fatalf("Resolve(%q) = %v, %v", strings.ToUpper(n), up.Name, err)
			}
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	tests := []struct {
		name, typ, base string
	}{
		{name: "openai", typ: "openai", base: "https://api.openai.com/v1"},
		{name: "groq", typ: "openai", base: "https://api.groq.com/openai/v1"},
		{name: "openai-compatible", typ: "openai", base: ""},
		{name: "vllm", typ: "openai", base: ""},
		{name: "azure-openai", typ: "azure", base: ""},
		{name: "anthropic", typ: "anthropic", base: "https://api.anthropic.com"},
		{name: "google", typ: "gemini", base: ""},
		{name: "mock", typ: "mock", base: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, base, err := Resolve(tc.name)
			if err != nil || typ.Name != tc.typ || base != tc.base {
				t.Fatalf("Resolve(%q) = %q, %q, %v; want %q, %q", tc.name, typ.Name, base, err, tc.typ, tc.base)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, typ string
		cfg       Config
		want      string
	}{
		{name: "unknown type", typ: "bedrock", cfg: Config{Name: "x"}, want: `unknown provider type "bedrock" (want aimlapi, anthropic, azure`},
		{name: "name required", typ: "openai", cfg: Config{}, want: "name is required"},
		{name: "azure needs a base url", typ: "azure", cfg: Config{Name: "x"}, want: "azure: base_url is required"},
		{name: "alias without a base url", typ: "ollama", cfg: Config{Name: "x"}, want: "openai: base_url is required"},
		{name: "relative base url", typ: "gemini", cfg: Config{Name: "x", BaseURL: "/v1beta"}, want: `gemini: base_url "/v1beta": want an absolute http(s) URL`},
		{name: "negative timeout", typ: "anthropic", cfg: Config{Name: "x", IdleTimeout: -time.Second}, want: "anthropic: first_byte_timeout and idle_timeout must not be negative"},
		{name: "failure rate above 1", typ: "mock", cfg: Config{Name: "x", Mock: mock.Config{FailureRate: 1.5}}, want: "mock: failure_rate 1.5 is not within 0..1"},
		{name: "constructor check: exclusive auth", typ: "openai", cfg: Config{Name: "x", AuthHeader: "h", AuthQuery: "q"}, want: "auth_header and auth_query are exclusive"},
		{name: "constructor check: negative max tokens", typ: "anthropic", cfg: Config{Name: "x", DefaultMaxTokens: -1}, want: "default max tokens -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.typ, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v; want an error containing %q", err, tc.want)
			}
			if err2 := Check(tc.typ, tc.cfg); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Check = %v; want Build's error %v", err2, err)
			}
			if tc.name == "unknown type" && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("%v is not ErrUnknownType", err)
			}
		})
	}
}

func TestDecodeEndpoint(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name    string
		config  string
		want    Deployment
		wantErr string
	}{
		{
			name:   "control tower fields, default provider",
			config: `{"model_name":"m","endpoint_url":"http://h/v1","system_prompt":"be brief","max_tokens":64,"batch_size":1,"apisix_route":null}`,
			want:   Deployment{Type: "openai", Config: Config{Name: "p/chat", BaseURL: "http://h/v1"}},
		},
		{
			name:   "alias, key and header",
			config: `{"endpoint_url":"http://h/v1","provider":"Groq","api_key":"k","auth_header":"x-key"}`,
			want:   Deployment{Type: "openai", Config: Config{Name: "p/chat", BaseURL: "http://h/v1", APIKey: "k", AuthHeader: "x-key"}},
		},
		{
			name:   "azure keeps api-key: auth_header is not an azure option",
			config: `{"endpoint_url":"https://r.openai.azure.com","provider":"azure-openai","api_key":"k","auth_header":"x-key","api_version":"2024-06-01"}`,
			want:   Deployment{Type: "azure", Config: Config{Name: "p/chat", BaseURL: "https://r.openai.azure.com", APIKey: "k", APIVersion: "2024-06-01"}},
		},
		{name: "google is gemini", config: `{"endpoint_url":"http://g","provider":"google"}`, want: Deployment{Type: "gemini", Config: Config{Name: "p/chat", BaseURL: "http://g"}}},
		{name: "not json", config: `[`, wantErr: `decoding inference_endpoint config of module "chat"`},
		{name: "endpoint_url required", config: `{"model_name":"m"}`, wantErr: `inference_endpoint "chat": endpoint_url (the provider base URL) is required`},
		{name: "endpoint_url not a url", config: `{"endpoint_url":"localhost:8000"}`, wantErr: `inference_endpoint "chat": endpoint_url "localhost:8000": want an absolute http(s) URL`},
		{name: "unknown provider", config: `{"endpoint_url":"http://h","provider":"bedrock"}`, wantErr: `inference_endpoint "chat": unknown provider "bedrock"`},
		{name: "mock is not an endpoint", config: `{"endpoint_url":"http://h","provider":"mock"}`, wantErr: `inference_endpoint "chat": unknown provider "mock"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep, err := DecodeEndpoint("chat", "p/chat", json.RawMessage(tc.config))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeEndpoint = %v; want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ep.Deployment, tc.want) {
				t.Fatalf("deployment %+v\nwant       %+v", ep.Deployment, tc.want)
			}
			if _, err := ep.Deployment.Build(); err != nil {
				t.Fatalf("Build = %v", err)
			}
		})
	}
	ep, err := DecodeEndpoint("chat", "p/chat", json.RawMessage(`{"endpoint_url":"http://h","model_name":"m","system_prompt":"s","max_tokens":64,"temperature":0.5,"top_p":0.9}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := ep.Defaults; d.Model != "m" || d.SystemPrompt != "s" || !reflect.DeepEqual(d.MaxTokens, i64(64)) || *d.Temperature != 0.5 || *d.TopP != 0.9 {
		t.Fatalf("defaults %+v", d)
	}
}

func TestDecodeAIProxy(t *testing.T) {
	tests := []struct {
		name    string
		plugins map[string]string
		want    []Deployment
		wantErr string
	}{
		{
			name: "ai-proxy openai-compatible with a full chat url",
			plugins: map[string]string{"ai-proxy": `{"provider":"openai-compatible","auth":{"header":{"Authorization":"Bearer k"}},
				"options":{"model":"m"},"override":{"endpoint":"http://up:8/v1/chat/completions"},"timeout":1500}`},
			want: []Deployment{{Type: "openai", Model: "m", Config: Config{Name: "p/r/openai-compatible#0", BaseURL: "http://up:8/v1",
				Headers: map[string]string{"Authorization": "Bearer k"}, FirstByteTimeout: 1500 * time.Millisecond}}},
		},
		{
			name:    "known hosted api: its base url, key in the query",
			plugins: map[string]string{"ai-proxy": `{"name":"g","provider":"groq","auth":{"query":{"key":"k"}}}`},
			want:    []Deployment{{Type: "openai", Config: Config{Name: "p/r/g", BaseURL: "https://api.groq.com/openai/v1", AuthQuery: "key", APIKey: "k"}}},
		},
		{
			name: "ai-proxy-multi: anthropic, azure, priorities",
			plugins: map[string]string{"ai-proxy-multi": `{"instances":[
				{"name":"a","provider":"anthropic","priority":2,"weight":3,"auth":{"header":{"X-Api-Key":"ak"}}},
				{"name":"z","provider":"azure-openai","auth":{"header":{"api-key":"zk"}},"override":{"endpoint":"https://r.openai.azure.com/"}}]}`},
			want: []Deployment{
				{Type: "anthropic", Weight: 3, Priority: -2, Config: Config{Name: "p/r/a", BaseURL: "https://api.anthropic.com", APIKey: "ak"}},
				{Type: "azure", Config: Config{Name: "p/r/z", BaseURL: "https://r.openai.azure.com", Headers: map[string]string{"api-key": "zk"}}},
			},
		},
		{
			name:    "anthropic override keeps the messages root",
			plugins: map[string]string{"ai-proxy": `{"provider":"anthropic","override":{"endpoint":"http://an:1/v1/chat/completions"}}`},
			want:    []Deployment{{Type: "anthropic", Config: Config{Name: "p/r/anthropic#0", BaseURL: "http://an:1"}}},
		},
		{
			name:    "gemini speaks the openai protocol in apisix",
			plugins: map[string]string{"ai-proxy": `{"provider":"gemini","override":{"endpoint":"https://g/v1beta/openai/chat/completions"}}`},
			want:    []Deployment{{Type: "openai", Config: Config{Name: "p/r/gemini#0", BaseURL: "https://g/v1beta/openai"}}},
		},
		{name: "no endpoint for an unknown provider", plugins: map[string]string{"ai-proxy": `{"provider":"vertex-ai"}`}, wantErr: `instance "vertex-ai#0": provider "vertex-ai" needs override.endpoint`},
		{name: "endpoint not a url", plugins: map[string]string{"ai-proxy": `{"provider":"openai","override":{"endpoint":"::"}}`}, wantErr: `override.endpoint "::" is not a URL`},
		{name: "bad json", plugins: map[string]string{"ai-proxy": `{"provider":1}`}, wantErr: "decoding ai-proxy:"},
		{name: "bad multi json", plugins: map[string]string{"ai-proxy-multi": `[]`}, wantErr: "decoding ai-proxy-multi:"},
		{name: "multi without instances", plugins: map[string]string{"ai-proxy-multi": `{"instances":[]}`}, wantErr: "ai-proxy-multi: instances are required"},
		{name: "no plugin", plugins: map[string]string{"key-auth": `{}`}, wantErr: "no ai-proxy plugin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugins := map[string]json.RawMessage{}
			for k, v := range tc.plugins {
				plugins[k] = json.RawMessage(v)
			}
			got, err := DecodeAIProxy("p/r", plugins)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeAIProxy = %v; want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("deployments %+v\nwant        %+v", got, tc.want)
			}
			for _, d := range got {
				if _, err := d.Build(); err != nil {
					t.Fatalf("Build(%s) = %v", d.Config.Name, err)
				}
			}
		})
	}
}
