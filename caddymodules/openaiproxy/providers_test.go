// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/inference/catalog"
)

// TestProviderUnmarshalCaddyfile parses each provider's own block, as caddyfile.UnmarshalModule hands
// it over (the type name, then the block).
func TestProviderUnmarshalCaddyfile(t *testing.T) {
	sec := func(d time.Duration) caddy.Duration { return caddy.Duration(d) }
	tests := []struct {
		name    string
		mod     caddyfile.Unmarshaler
		input   string
		want    any
		wantErr string
	}{
		{
			name: "openai every option", mod: new(OpenAIProvider),
			input: "openai {\n base_url https://x/v1\n api_key k\n auth_header x-key\n header A 1\n header B 2\n first_byte_timeout 2s\n idle_timeout 3s\n}",
			want: &OpenAIProvider{BaseURL: "https://x/v1", APIKey: "k", AuthHeader: "x-key", Headers: map[string]string{"A": "1", "B": "2"},
				FirstByteTimeout: sec(2 * time.Second), IdleTimeout: sec(3 * time.Second)},
		},
		{name: "openai without a block", mod: new(OpenAIProvider), input: "openai", want: &OpenAIProvider{}},
		{name: "openai auth_query", mod: new(OpenAIProvider), input: "openai {\n auth_query key\n}", want: &OpenAIProvider{AuthQuery: "key"}},
		{name: "openai duplicate option", mod: new(OpenAIProvider), input: "openai {\n api_key a\n api_key b\n}", wantErr: `duplicate subdirective "api_key"`},
		{name: "openai duplicate header", mod: new(OpenAIProvider), input: "openai {\n header A 1\n header A 2\n}", wantErr: `header "A" given twice`},
		{name: "openai header needs two args", mod: new(OpenAIProvider), input: "openai {\n header A\n}", wantErr: "wrong argument count"},
		{name: "openai azure option", mod: new(OpenAIProvider), input: "openai {\n api_version v\n}", wantErr: `provider openai: unrecognized option "api_version"`},
		{name: "openai extra type argument", mod: new(OpenAIProvider), input: "openai extra", wantErr: "wrong argument count"},
		{
			name: "azure every option", mod: new(AzureProvider),
			input: "azure {\n base_url https://r\n api_key k\n api_version v1\n deployment gpt-4o prod\n deployment mini m\n first_byte_timeout 1s\n idle_timeout 2s\n}",
			want: &AzureProvider{BaseURL: "https://r", APIKey: "k", APIVersion: "v1", Deployments: map[string]string{"gpt-4o": "prod", "mini": "m"},
				FirstByteTimeout: sec(time.Second), IdleTimeout: sec(2 * time.Second)},
		},
		{name: "azure duplicate deployment", mod: new(AzureProvider), input: "azure {\n deployment m a\n deployment m b\n}", wantErr: `deployment "m" given twice`},
		{name: "azure duplicate option", mod: new(AzureProvider), input: "azure {\n api_version a\n api_version b\n}", wantErr: `duplicate subdirective "api_version"`},
		{name: "azure header is openai only", mod: new(AzureProvider), input: "azure {\n header A 1\n}", wantErr: `provider azure: unrecognized option "header"`},
		{
			name: "anthropic every option", mod: new(AnthropicProvider),
			input: "anthropic {\n base_url https://a\n api_key k\n version 2023-06-01\n default_max_tokens 99\n first_byte_timeout 4s\n}",
			want:  &AnthropicProvider{BaseURL: "https://a", APIKey: "k", Version: "2023-06-01", DefaultMaxTokens: 99, FirstByteTimeout: sec(4 * time.Second)},
		},
		{name: "anthropic has no idle timeout", mod: new(AnthropicProvider), input: "anthropic {\n idle_timeout 1s\n}", wantErr: `provider anthropic: unrecognized option "idle_timeout"`},
		{name: "anthropic negative max tokens", mod: new(AnthropicProvider), input: "anthropic {\n default_max_tokens -1\n}", wantErr: `default_max_tokens: want a whole number from 0 to 2147483647, got "-1"`},
		{name: "anthropic duplicate option", mod: new(AnthropicProvider), input: "anthropic {\n version a\n version b\n}", wantErr: `duplicate subdirective "version"`},
		{
			name: "gemini every option", mod: new(GeminiProvider),
			input: "gemini {\n base_url https://g\n api_key k\n first_byte_timeout 5s\n}",
			want:  &GeminiProvider{BaseURL: "https://g", APIKey: "k", FirstByteTimeout: sec(5 * time.Second)},
		},
		{name: "gemini bad duration", mod: new(GeminiProvider), input: "gemini {\n first_byte_timeout soon\n}", wantErr: `first_byte_timeout: invalid duration "soon"`},
		{name: "gemini duplicate option", mod: new(GeminiProvider), input: "gemini {\n base_url a\n base_url b\n}", wantErr: `duplicate subdirective "base_url"`},
		{
			name: "mock every option", mod: new(MockProvider),
			input: "mock {\n text \"hi there\"\n latency 5ms\n token_delay 1ms\n tokens 3\n failure_rate 0.5\n fail_status 429\n}",
			want: &MockProvider{Text: "hi there", Latency: sec(5 * time.Millisecond), TokenDelay: sec(time.Millisecond), Tokens: 3,
				FailureRate: 0.5, FailStatus: 429},
		},
		{name: "mock has no base_url", mod: new(MockProvider), input: "mock {\n base_url http://x\n}", wantErr: `provider mock: unrecognized option "base_url"`},
		{name: "mock bad failure rate", mod: new(MockProvider), input: "mock {\n failure_rate often\n}", wantErr: `failure_rate: invalid number "often"`},
		{name: "mock duplicate option", mod: new(MockProvider), input: "mock {\n tokens 1\n tokens 2\n}", wantErr: `duplicate subdirective "tokens"`},
		{name: "mock missing argument", mod: new(MockProvider), input: "mock {\n text\n}", wantErr: "wrong argument count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.mod.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if !wantError(t, "UnmarshalCaddyfile", err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(tc.mod, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", tc.mod, tc.want)
			}
		})
	}
}

// wantError fails t unless err matches want (nil for "", else an error containing want), and reports
// whether the case goes on to check a result.
func wantError(t *testing.T, what string, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("%s = %v", what, err)
		}
		return true
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s = %v; want an error containing %q", what, err, want)
	}
	return false
}

// TestHandlerProviderBlocks checks the host's side: it hands each block to the module of its type.
func TestHandlerProviderBlocks(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		providers map[string]string
		wantErr   string
	}{
		{
			name:      "blocks go to their modules",
			input:     "dsp_openai {\n provider a openai {\n api_key k\n }\n provider m mock\n model x a\n}",
			providers: map[string]string{"a": `{"api_key":"k","provider":"openai"}`, "m": `{"provider":"mock"}`},
		},
		{name: "unknown type", input: "dsp_openai {\n provider a bedrock {\n api_key k\n }\n}", wantErr: `provider a: type "bedrock" is not one of anthropic, azure, gemini, mock, openai`},
		{name: "provider defined twice", input: "dsp_openai {\n provider a mock\n provider a mock\n}", wantErr: `provider "a" defined twice`},
		{name: "module errors surface", input: "dsp_openai {\n provider a gemini {\n version v\n }\n}", wantErr: `provider gemini: unrecognized option "version"`},
		{name: "missing type", input: "dsp_openai {\n provider a\n}", wantErr: "provider a: give its type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := new(Handler)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if !wantError(t, "UnmarshalCaddyfile", err, tc.wantErr) {
				return
			}
			got := map[string]string{}
			for k, v := range h.ProvidersRaw {
				got[k] = string(v)
			}
			if !reflect.DeepEqual(got, tc.providers) {
				t.Fatalf("providers %v; want %v", got, tc.providers)
			}
		})
	}
}

// TestProviderBuild builds each module through the catalog: defaults, placeholders and secrets.
func TestProviderBuild(t *testing.T) {
	t.Setenv("FD2_TEST_BASE", "http://127.0.0.1:9")
	secret := func(s string) (string, error) { return strings.TrimPrefix(s, "vault:"), nil }
	tests := []struct {
		name     string
		mod      ProviderModule
		wantKind string
		wantErr  string
	}{
		{name: "openai default base url", mod: &OpenAIProvider{APIKey: "vault:k"}, wantKind: "openai"},
		{name: "openai placeholder base url", mod: &OpenAIProvider{BaseURL: "{env.FD2_TEST_BASE}/v1", Headers: map[string]string{"X": "{env.FD2_TEST_BASE}"}}, wantKind: "openai"},
		{name: "openai unset placeholder base url", mod: &OpenAIProvider{BaseURL: "{env.FD2_TEST_UNSET}"}, wantErr: `base_url "{env.FD2_TEST_UNSET}": empty once its placeholders are replaced`},
		{name: "openai exclusive auth", mod: &OpenAIProvider{AuthHeader: "h", AuthQuery: "q"}, wantErr: "auth_header and auth_query are exclusive"},
		{name: "azure", mod: &AzureProvider{BaseURL: "https://r.openai.azure.com", Deployments: map[string]string{"m": "d"}}, wantKind: "azure"},
		{name: "azure base url required", mod: &AzureProvider{}, wantErr: "azure: base_url is required"},
		{name: "anthropic default base url", mod: &AnthropicProvider{}, wantKind: "anthropic"},
		{name: "gemini bad base url", mod: &GeminiProvider{BaseURL: "gemini.local"}, wantErr: `gemini: base_url "gemini.local": want an absolute http(s) URL`},
		{name: "mock", mod: &MockProvider{Text: "x"}, wantKind: "mock"},
		{name: "mock failure rate", mod: &MockProvider{FailureRate: 2}, wantErr: "mock: failure_rate 2 is not within 0..1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.mod.Build("dep", secret)
			if !wantError(t, "Build", err, tc.wantErr) {
				return
			}
			if p.Name() != "dep" || p.Kind() != tc.wantKind {
				t.Fatalf("Build = %s/%s; want dep/%s", p.Name(), p.Kind(), tc.wantKind)
			}
		})
	}
}

// TestCheckModuleAndPlugins runs each config through the load-time check and the builder: both accept
// it, or both reject it naming the field at fault. A case with a plugin is a route's plugins, one without
// an inference_endpoint module's config.
func TestCheckModuleAndPlugins(t *testing.T) {
	tests := []struct {
		name, plugin, cfg, wantErr string
	}{
		{name: "module valid", cfg: `{"endpoint_url":"http://h/v1","provider":"vllm"}`},
		{name: "module unknown provider", cfg: `{"endpoint_url":"http://h/v1","provider":"bedrock"}`, wantErr: `inference_endpoint "chat": unknown provider "bedrock"`},
		{name: "module bad endpoint_url", cfg: `{"endpoint_url":"h"}`, wantErr: `endpoint_url "h"`},
		{name: "plugins valid multi", plugin: "ai-proxy-multi", cfg: `{"instances":[{"name":"a","provider":"openai"},{"name":"b","provider":"deepseek"}]}`},
		{name: "plugins instance at fault", plugin: "ai-proxy-multi", cfg: `{"instances":[{"name":"a","provider":"openai"},{"name":"b","provider":"openrouter"}]}`, wantErr: `instance "b": provider "openrouter" needs override.endpoint`},
		{name: "plugins not an object", plugin: "ai-proxy", cfg: `"x"`, wantErr: "decoding ai-proxy:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var checkErr, buildErr error
			if tc.plugin == "" {
				mod := &manifest.Module{Name: "chat", ModuleType: "inference_endpoint", Config: json.RawMessage(tc.cfg)}
				checkErr = CheckModule(mod)
				_, buildErr = BuildForModule("p", mod, nil)
			} else {
				plugins := manifest.Plugins{tc.plugin: json.RawMessage(tc.cfg)}
				checkErr = CheckPlugins(plugins)
				_, buildErr = BuildForPlugins("p", "r", plugins, nil)
			}
			for _, err := range []error{checkErr, buildErr} {
				if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
					t.Fatalf("check: %v, build: %v; want errors containing %q", checkErr, buildErr, tc.wantErr)
				}
			}
		})
	}
}

// TestEveryCatalogTypeIsAModule keeps the catalog and the `dsp.providers` namespace in step: each catalog
// type has its module, each module parses its own Caddyfile block and builds a provider of its type.
func TestEveryCatalogTypeIsAModule(t *testing.T) {
	if got, want := providerTypes(), catalog.Types(); !reflect.DeepEqual(got, want) {
		t.Fatalf("dsp.providers modules %v; catalog types %v", got, want)
	}
	base := map[string]string{"azure": "base_url https://r.openai.azure.com\n"}
	for _, typ := range catalog.Types() {
		t.Run(typ, func(t *testing.T) {
			d := caddyfile.NewTestDispenser("dsp_openai {\n provider dep " + typ + " {\n " + base[typ] + "}\n}")
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(d); err != nil {
				t.Fatal(err)
			}
			info, err := caddy.GetModule("dsp.providers." + typ)
			if err != nil {
				t.Fatal(err)
			}
			mod := info.New()
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(h.ProvidersRaw["dep"], &obj); err != nil {
				t.Fatal(err)
			}
			delete(obj, "provider")
			raw, _ := json.Marshal(obj)
			if err := json.Unmarshal(raw, mod); err != nil {
				t.Fatal(err)
			}
			p, err := mod.(ProviderModule).Build("dep", nil)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind() != typ {
				t.Fatalf("module %s builds a %s provider", typ, p.Kind())
			}
		})
	}
}
