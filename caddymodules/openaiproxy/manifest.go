// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/anthropic"
	"github.com/dsp-ai/fd2/inference/gemini"
	"github.com/dsp-ai/fd2/inference/openaicompat"
)

// endpointConfig is an inference_endpoint module's config: the Control Tower's fields, plus FD2's
// provider fields (the Control Tower passes unknown keys through the raw manifest files; with
// resolve_env their values may be secret references it resolved).
type endpointConfig struct {
	ModelName    string   `json:"model_name"`
	EndpointURL  string   `json:"endpoint_url"`
	SystemPrompt string   `json:"system_prompt"`
	MaxTokens    *int64   `json:"max_tokens"`
	Temperature  *float64 `json:"temperature"`
	TopP         *float64 `json:"top_p"`
	// FD2 extensions
	Provider   string `json:"provider"` // openai (default), azure, anthropic, gemini
	APIKey     string `json:"api_key"`
	AuthHeader string `json:"auth_header"`
	APIVersion string `json:"api_version"`
}

// BuildForModule builds the engine of a manifest inference_endpoint module: endpoint_url is the provider's
// base URL, model_name/system_prompt/max_tokens/temperature/top_p are defaults the client may override.
func BuildForModule(project string, mod *manifest.Module) (*inference.Engine, error) {
	var c endpointConfig
	if err := mod.DecodeConfig(&c); err != nil {
		return nil, err
	}
	if c.EndpointURL == "" {
		return nil, fmt.Errorf("inference_endpoint %q: endpoint_url (the provider base URL) is required", mod.Name)
	}
	name := project + "/" + mod.Name
	var p inference.Provider
	var err error
	switch strings.ToLower(c.Provider) {
	case "", "openai", "openai-compatible", "groq", "together", "mistral", "deepseek", "vllm", "ollama":
		p, err = openaicompat.New(openaicompat.Config{Name: name, BaseURL: c.EndpointURL, APIKey: c.APIKey, AuthHeader: c.AuthHeader})
	case "azure", "azure-openai":
		p, err = openaicompat.New(openaicompat.Config{Name: name, BaseURL: c.EndpointURL, APIKey: c.APIKey,
			Azure: &openaicompat.Azure{APIVersion: c.APIVersion}})
	case "anthropic":
		p, err = anthropic.New(anthropic.Config{Name: name, BaseURL: c.EndpointURL, APIKey: c.APIKey})
	case "gemini", "google":
		p, err = gemini.New(gemini.Config{Name: name, BaseURL: c.EndpointURL, APIKey: c.APIKey})
	default:
		return nil, fmt.Errorf("inference_endpoint %q: unknown provider %q", mod.Name, c.Provider)
	}
	if err != nil {
		return nil, err
	}
	router, err := inference.NewRouter([]inference.Route{{Alias: "*", Targets: []inference.Deployment{{Provider: p}}}}, routerOptions(0, 0))
	if err != nil {
		return nil, err
	}
	return &inference.Engine{Backend: router, Hooks: hooks(project, ""), Defaults: inference.Defaults{
		Model: c.ModelName, SystemPrompt: c.SystemPrompt, MaxTokens: c.MaxTokens, Temperature: c.Temperature, TopP: c.TopP}}, nil
}

// aiProxyInstance is APISIX ai-proxy's config, and one instance of ai-proxy-multi.
type aiProxyInstance struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Weight   int    `json:"weight"`
	Priority int    `json:"priority"`
	Auth     struct {
		Header map[string]string `json:"header"`
		Query  map[string]string `json:"query"`
	} `json:"auth"`
	Options  map[string]any `json:"options"`
	Override struct {
		Endpoint string `json:"endpoint"`
	} `json:"override"`
	Timeout float64 `json:"timeout"` // milliseconds, as APISIX
}

// HasAIProxy reports whether a route's plugins make it an inference route.
func HasAIProxy(p manifest.Plugins) bool {
	_, a := p["ai-proxy"]
	_, b := p["ai-proxy-multi"]
	return a || b
}

// BuildForPlugins builds the engine of a route carrying APISIX ai-proxy or ai-proxy-multi: each instance
// is a deployment (APISIX priority: higher first; weight within a priority); options.model forces the
// upstream model; override.endpoint replaces the provider's default URL.
func BuildForPlugins(project, routeID string, plugins manifest.Plugins) (*inference.Engine, error) {
	var instances []aiProxyInstance
	if raw, ok := plugins["ai-proxy-multi"]; ok {
		var c struct {
			Instances []aiProxyInstance `json:"instances"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("decoding ai-proxy-multi: %w", err)
		}
		if len(c.Instances) == 0 {
			return nil, errors.New("ai-proxy-multi: instances are required")
		}
		instances = c.Instances
	} else if raw, ok := plugins["ai-proxy"]; ok {
		var c aiProxyInstance
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("decoding ai-proxy: %w", err)
		}
		instances = []aiProxyInstance{c}
	} else {
		return nil, errors.New("no ai-proxy plugin")
	}
	rt := inference.Route{Alias: "*"}
	for i, in := range instances {
		name := in.Name
		if name == "" {
			name = fmt.Sprintf("%s#%d", in.Provider, i)
		}
		p, err := aiProxyProvider(project+"/"+routeID+"/"+name, in)
		if err != nil {
			return nil, fmt.Errorf("instance %q: %w", name, err)
		}
		model, _ := in.Options["model"].(string)
		rt.Targets = append(rt.Targets, inference.Deployment{Provider: p, Model: model, Weight: in.Weight, Priority: -in.Priority})
	}
	router, err := inference.NewRouter([]inference.Route{rt}, routerOptions(0, 0))
	if err != nil {
		return nil, err
	}
	return &inference.Engine{Backend: router, Hooks: hooks(project, "")}, nil
}

var providerBases = map[string]string{
	"openai":    "https://api.openai.com/v1",
	"anthropic": "https://api.anthropic.com/v1",
	"deepseek":  "https://api.deepseek.com",
	"aimlapi":   "https://api.aimlapi.com/v1",
	"groq":      "https://api.groq.com/openai/v1",
	"mistral":   "https://api.mistral.ai/v1",
}

func aiProxyProvider(name string, in aiProxyInstance) (inference.Provider, error) {
	base := providerBases[in.Provider]
	if in.Override.Endpoint != "" {
		// APISIX's endpoint is the full chat URL; FD2 appends the endpoint itself, so keep the base.
		u, err := url.Parse(in.Override.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("override.endpoint %q is not a URL", in.Override.Endpoint)
		}
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/chat/completions")
		base = u.String()
	}
	if base == "" {
		return nil, fmt.Errorf("provider %q needs override.endpoint", in.Provider)
	}
	cfg := openaicompat.Config{Name: name, BaseURL: base, Headers: in.Auth.Header}
	for k, v := range in.Auth.Query {
		cfg.AuthQuery, cfg.APIKey = k, v
		break
	}
	if in.Timeout > 0 {
		cfg.FirstByteTimeout = time.Duration(in.Timeout * float64(time.Millisecond))
	}
	switch in.Provider {
	case "anthropic":
		key := ""
		for k, v := range in.Auth.Header {
			if strings.EqualFold(k, "x-api-key") {
				key = v
			}
		}
		return anthropic.New(anthropic.Config{Name: name, BaseURL: strings.TrimSuffix(base, "/v1"), APIKey: key, FirstByteTimeout: cfg.FirstByteTimeout})
	case "azure-openai":
		return openaicompat.New(openaicompat.Config{Name: name, BaseURL: base, Headers: in.Auth.Header, Azure: &openaicompat.Azure{}})
	}
	return openaicompat.New(cfg)
}
