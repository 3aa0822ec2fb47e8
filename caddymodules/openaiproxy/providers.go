// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/catalog"
	"github.com/dsp-ai/fd2/inference/mock"
)

func init() {
	caddy.RegisterModule(OpenAIProvider{})
	caddy.RegisterModule(AzureProvider{})
	caddy.RegisterModule(AnthropicProvider{})
	caddy.RegisterModule(GeminiProvider{})
	caddy.RegisterModule(MockProvider{})
}

// ProviderModule is a guest module of the `dsp.providers` namespace: one provider deployment. FD2's
// own provider modules are the Caddy face of the provider catalog (package inference/catalog): each
// decodes its JSON or Caddyfile block and builds through catalog.Build, as manifests and ai-proxy
// routes do. In a Caddyfile, `provider <name> <type> { … }` hands the block to the module
// `dsp.providers.<type>` (caddyfile.UnmarshalModule), so a provider parses its own options.
type ProviderModule interface {
	caddy.Module
	// Build makes the deployment, named name. Placeholders ({env.*}, {file.*}) and secret references
	// (vault:, config:, env:, encrypted:) in credentials are resolved here, once, with secret.
	Build(name string, secret Resolve) (inference.Provider, error)
}

// Resolve turns a configured credential into its value.
type Resolve func(string) (string, error)

func replaced(s string) string { return caddy.NewReplacer().ReplaceAll(s, "") }

// credential resolves placeholders, then a secret reference.
func credential(s string, secret Resolve) (string, error) {
	s = replaced(s)
	if secret == nil || s == "" {
		return s, nil
	}
	return secret(s)
}

// OpenAIProvider (`dsp.providers.openai`) is any OpenAI-compatible API: OpenAI, Groq, Together, Mistral,
// DeepSeek, vLLM, Ollama, …
type OpenAIProvider struct {
	// BaseURL up to /v1, e.g. https://api.groq.com/openai/v1. Default https://api.openai.com/v1.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey, sent as Authorization: Bearer unless AuthHeader/AuthQuery are set. Supports {env.*}.
	APIKey string `json:"api_key,omitempty"`
	// AuthHeader sends the key in this header as is (e.g. x-api-key).
	AuthHeader string `json:"auth_header,omitempty"`
	// AuthQuery sends the key in this query parameter.
	AuthQuery string `json:"auth_query,omitempty"`
	// Headers are extra static headers.
	Headers map[string]string `json:"headers,omitempty"`
	// FirstByteTimeout bounds the wait for response headers. Default 60s.
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
	// IdleTimeout bounds the gap between streamed reads. Default 60s.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (OpenAIProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp.providers.openai", New: func() caddy.Module { return new(OpenAIProvider) }}
}

// Build makes the deployment.
func (p *OpenAIProvider) Build(name string, secret Resolve) (inference.Provider, error) {
	key, err := credential(p.APIKey, secret)
	if err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	// A base URL whose placeholder is unset must not fall back to OpenAI's: the key would go there.
	base := replaced(p.BaseURL)
	if base == "" && p.BaseURL != "" {
		return nil, fmt.Errorf("base_url %q: empty once its placeholders are replaced", p.BaseURL)
	}
	headers := map[string]string{}
	for k, v := range p.Headers {
		headers[k] = replaced(v)
	}
	return catalog.Build("openai", catalog.Config{Name: name, BaseURL: base, APIKey: key,
		AuthHeader: p.AuthHeader, AuthQuery: p.AuthQuery, Headers: headers,
		FirstByteTimeout: time.Duration(p.FirstByteTimeout), IdleTimeout: time.Duration(p.IdleTimeout)})
}

// AzureProvider (`dsp.providers.azure`) is Azure OpenAI: deployments per model, api-version, api-key.
type AzureProvider struct {
	// BaseURL is the resource endpoint, e.g. https://my-resource.openai.azure.com.
	BaseURL string `json:"base_url"`
	// APIKey is sent as the api-key header. Supports {env.*}.
	APIKey string `json:"api_key,omitempty"`
	// APIVersion. Default 2024-10-21.
	APIVersion string `json:"api_version,omitempty"`
	// Deployments maps a model name to its deployment name (default: the model name).
	Deployments map[string]string `json:"deployments,omitempty"`
	// FirstByteTimeout and IdleTimeout as for openai.
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
	IdleTimeout      caddy.Duration `json:"idle_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (AzureProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp.providers.azure", New: func() caddy.Module { return new(AzureProvider) }}
}

// Build makes the deployment.
func (p *AzureProvider) Build(name string, secret Resolve) (inference.Provider, error) {
	key, err := credential(p.APIKey, secret)
	if err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	return catalog.Build("azure", catalog.Config{Name: name, BaseURL: replaced(p.BaseURL), APIKey: key,
		APIVersion: p.APIVersion, Deployments: p.Deployments,
		FirstByteTimeout: time.Duration(p.FirstByteTimeout), IdleTimeout: time.Duration(p.IdleTimeout)})
}

// AnthropicProvider (`dsp.providers.anthropic`) translates OpenAI chat to the Messages API and back,
// streams included.
type AnthropicProvider struct {
	// BaseURL. Default https://api.anthropic.com.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey, sent as x-api-key. Supports {env.*}.
	APIKey string `json:"api_key,omitempty"`
	// Version is the anthropic-version header. Default 2023-06-01.
	Version string `json:"version,omitempty"`
	// DefaultMaxTokens when the client names none (Anthropic requires it). Default 4096.
	DefaultMaxTokens int `json:"default_max_tokens,omitempty"`
	// FirstByteTimeout bounds the wait for response headers.
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (AnthropicProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp.providers.anthropic", New: func() caddy.Module { return new(AnthropicProvider) }}
}

// Build makes the deployment.
func (p *AnthropicProvider) Build(name string, secret Resolve) (inference.Provider, error) {
	key, err := credential(p.APIKey, secret)
	if err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	return catalog.Build("anthropic", catalog.Config{Name: name, BaseURL: replaced(p.BaseURL), APIKey: key, Version: p.Version,
		DefaultMaxTokens: p.DefaultMaxTokens, FirstByteTimeout: time.Duration(p.FirstByteTimeout)})
}

// GeminiProvider (`dsp.providers.gemini`) translates OpenAI chat and embeddings to the Gemini API and back.
type GeminiProvider struct {
	// BaseURL. Default https://generativelanguage.googleapis.com.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey, sent as x-goog-api-key. Supports {env.*}.
	APIKey string `json:"api_key,omitempty"`
	// FirstByteTimeout bounds the wait for response headers.
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (GeminiProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp.providers.gemini", New: func() caddy.Module { return new(GeminiProvider) }}
}

// Build makes the deployment.
func (p *GeminiProvider) Build(name string, secret Resolve) (inference.Provider, error) {
	key, err := credential(p.APIKey, secret)
	if err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	return catalog.Build("gemini", catalog.Config{Name: name, BaseURL: replaced(p.BaseURL), APIKey: key,
		FirstByteTimeout: time.Duration(p.FirstByteTimeout)})
}

// MockProvider (`dsp.providers.mock`) is a deterministic provider for demos and tests.
type MockProvider struct {
	// Text of every completion. Default "This is a mock response."
	Text string `json:"text,omitempty"`
	// Latency before the first byte and TokenDelay between streamed chunks.
	Latency    caddy.Duration `json:"latency,omitempty"`
	TokenDelay caddy.Duration `json:"token_delay,omitempty"`
	// Tokens of completion to emit. Default: the words of Text.
	Tokens int `json:"tokens,omitempty"`
	// FailureRate (0..1) of calls answered with FailStatus (default 503).
	FailureRate float64 `json:"failure_rate,omitempty"`
	FailStatus  int     `json:"fail_status,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (MockProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp.providers.mock", New: func() caddy.Module { return new(MockProvider) }}
}

// Build makes the deployment.
func (p *MockProvider) Build(name string, _ Resolve) (inference.Provider, error) {
	return catalog.Build("mock", catalog.Config{Name: name, Mock: mock.Config{Text: p.Text, Latency: time.Duration(p.Latency),
		TokenDelay: time.Duration(p.TokenDelay), Tokens: p.Tokens, FailureRate: p.FailureRate, FailStatus: p.FailStatus}})
}

// Interface guards.
var (
	_ ProviderModule        = (*OpenAIProvider)(nil)
	_ ProviderModule        = (*AzureProvider)(nil)
	_ ProviderModule        = (*AnthropicProvider)(nil)
	_ ProviderModule        = (*GeminiProvider)(nil)
	_ ProviderModule        = (*MockProvider)(nil)
	_ caddyfile.Unmarshaler = (*OpenAIProvider)(nil)
	_ caddyfile.Unmarshaler = (*AzureProvider)(nil)
	_ caddyfile.Unmarshaler = (*AnthropicProvider)(nil)
	_ caddyfile.Unmarshaler = (*GeminiProvider)(nil)
	_ caddyfile.Unmarshaler = (*MockProvider)(nil)
)
