// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package catalog is FD2's one provider catalog: it maps a provider type name, or one of its aliases,
// to the constructor of that type's inference.Provider from one typed Config. Every way of declaring a
// deployment goes through it: the `dsp.providers.*` Caddy modules (Caddyfile and JSON), a manifest's
// inference_endpoint modules (DecodeEndpoint) and APISIX ai-proxy / ai-proxy-multi routes
// (DecodeAIProxy). Adding a provider type is one entry in types, plus its Caddy module.
package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/anthropic"
	"github.com/dsp-ai/fd2/inference/gemini"
	"github.com/dsp-ai/fd2/inference/mock"
	"github.com/dsp-ai/fd2/inference/openaicompat"
)

// Config is one deployment's settings, whatever its type. Each type reads the fields it documents and
// ignores the others, so one decoder can fill it from any configuration dialect.
type Config struct {
	// Name is the deployment's name: a bounded metric label and the circuit breaker's key. Required.
	Name string
	// BaseURL is the API root (up to /v1 for OpenAI-compatible APIs, the resource endpoint for Azure,
	// without /v1 for Anthropic and Gemini). Default: the type's, or the alias's (see Resolve).
	BaseURL string
	// APIKey is the credential, already resolved (no placeholders or secret references).
	APIKey string
	// AuthHeader and AuthQuery (openai) send the key in this header as is, or in this query parameter,
	// instead of Authorization: Bearer.
	AuthHeader string
	AuthQuery  string
	// Headers (openai, azure) are extra static headers.
	Headers map[string]string
	// APIVersion (azure) is the api-version parameter; Deployments (azure) maps models to deployments.
	APIVersion  string
	Deployments map[string]string
	// Version (anthropic) is the anthropic-version header; DefaultMaxTokens (anthropic) the max_tokens
	// sent when the client names none.
	Version          string
	DefaultMaxTokens int
	// FirstByteTimeout bounds the wait for response headers (every remote type); IdleTimeout (openai,
	// azure) the gap between streamed reads.
	FirstByteTimeout time.Duration
	IdleTimeout      time.Duration
	// Mock is the mock type's behaviour (its Name is Config.Name).
	Mock mock.Config
}

// Type is one provider type of the catalog.
type Type struct {
	// Name is the canonical name, also the suffix of its Caddy module ID (dsp.providers.<Name>).
	Name string
	// Remote is true for types that call a provider API at a base URL (every type but mock); only those
	// can back a manifest inference_endpoint.
	Remote bool
	// BaseURL is the default API root.
	BaseURL string
	// build makes the provider from a checked config whose BaseURL is set.
	build func(Config) (inference.Provider, error)
}

// types is the catalog. Each constructor passes on exactly the fields its type documents.
var types = map[string]Type{
	"openai": {Name: "openai", Remote: true, BaseURL: "https://api.openai.com/v1", build: func(c Config) (inference.Provider, error) {
		return openaicompat.New(openaicompat.Config{Name: c.Name, BaseURL: c.BaseURL, APIKey: c.APIKey,
			AuthHeader: c.AuthHeader, AuthQuery: c.AuthQuery, Headers: c.Headers,
			FirstByteTimeout: c.FirstByteTimeout, IdleTimeout: c.IdleTimeout})
	}},
	"azure": {Name: "azure", Remote: true, build: func(c Config) (inference.Provider, error) {
		return openaicompat.New(openaicompat.Config{Name: c.Name, BaseURL: c.BaseURL, APIKey: c.APIKey, Headers: c.Headers,
			Azure:            &openaicompat.Azure{APIVersion: c.APIVersion, Deployments: c.Deployments},
			FirstByteTimeout: c.FirstByteTimeout, IdleTimeout: c.IdleTimeout})
	}},
	"anthropic": {Name: "anthropic", Remote: true, BaseURL: anthropic.DefaultBaseURL, build: func(c Config) (inference.Provider, error) {
		return anthropic.New(anthropic.Config{Name: c.Name, BaseURL: c.BaseURL, APIKey: c.APIKey, Version: c.Version,
			DefaultMaxTokens: c.DefaultMaxTokens, FirstByteTimeout: c.FirstByteTimeout})
	}},
	"gemini": {Name: "gemini", Remote: true, BaseURL: gemini.DefaultBaseURL, build: func(c Config) (inference.Provider, error) {
		return gemini.New(gemini.Config{Name: c.Name, BaseURL: c.BaseURL, APIKey: c.APIKey, FirstByteTimeout: c.FirstByteTimeout})
	}},
	"mock": {Name: "mock", build: func(c Config) (inference.Provider, error) {
		m := c.Mock
		m.Name = c.Name
		return mock.New(m), nil
	}},
}

// alias is another name of a type: a hosted OpenAI-compatible API, or a vendor's own spelling. A hosted
// API's alias carries its base URL.
type alias struct {
	typ     string
	baseURL string
}

var aliases = map[string]alias{
	"openai-compatible": {typ: "openai"},
	"groq":              {typ: "openai", baseURL: "https://api.groq.com/openai/v1"},
	"together":          {typ: "openai"},
	"mistral":           {typ: "openai", baseURL: "https://api.mistral.ai/v1"},
	"deepseek":          {typ: "openai", baseURL: "https://api.deepseek.com"},
	"aimlapi":           {typ: "openai", baseURL: "https://api.aimlapi.com/v1"},
	"vllm":              {typ: "openai"},
	"ollama":            {typ: "openai"},
	"azure-openai":      {typ: "azure"},
	"google":            {typ: "gemini"},
}

// ErrUnknownType is wrapped by the errors of names the catalog does not know.
var ErrUnknownType = errors.New("unknown provider type")

// Resolve returns the type a name (case-insensitive) stands for and the default base URL it implies: the
// alias's own, else the type's. An alias without a base URL of its own (openai-compatible, vllm, …)
// implies none, since guessing OpenAI's would send its key to the wrong vendor.
func Resolve(name string) (Type, string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if t, ok := types[n]; ok {
		return t, t.BaseURL, nil
	}
	if a, ok := aliases[n]; ok {
		return types[a.typ], a.baseURL, nil
	}
	return Type{}, "", fmt.Errorf("%w %q (want %s)", ErrUnknownType, name, strings.Join(Names(), ", "))
}

// Types returns the canonical type names, sorted.
func Types() []string {
	out := make([]string, 0, len(types))
	for n := range types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Names returns every name Resolve accepts, canonical names and aliases, sorted.
func Names() []string {
	out := Types()
	for n := range aliases {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build resolves typeName, applies the default base URL it implies, checks c and makes the provider.
// Constructing a provider opens no connection and starts nothing (the HTTP clients are shared), so a
// provider that is built and dropped costs only the allocation.
func Build(typeName string, c Config) (inference.Provider, error) {
	t, base, err := Resolve(typeName)
	if err != nil {
		return nil, err
	}
	if c.BaseURL == "" {
		c.BaseURL = base
	}
	if err := check(t, c); err != nil {
		return nil, err
	}
	return t.build(c)
}

// Check reports what Build would reject, naming the field at fault.
func Check(typeName string, c Config) error {
	_, err := Build(typeName, c)
	return err
}

// check validates the fields every type shares, with the messages the Caddyfile and manifest users
// know; the constructors check the rest.
func check(t Type, c Config) error {
	if c.Name == "" {
		return errors.New("name is required")
	}
	if t.Remote {
		if c.BaseURL == "" {
			return fmt.Errorf("%s: base_url is required", t.Name)
		}
		if !absoluteURL(c.BaseURL) {
			return fmt.Errorf("%s: base_url %q: want an absolute http(s) URL", t.Name, c.BaseURL)
		}
	}
	if c.FirstByteTimeout < 0 || c.IdleTimeout < 0 {
		return fmt.Errorf("%s: first_byte_timeout and idle_timeout must not be negative", t.Name)
	}
	if t.Name == "mock" && (c.Mock.FailureRate < 0 || c.Mock.FailureRate > 1) {
		return fmt.Errorf("mock: failure_rate %v is not within 0..1", c.Mock.FailureRate)
	}
	return nil
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
