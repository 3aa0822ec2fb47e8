// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

// Deployment is one provider deployment a manifest declares: its type, its config, and where it sits
// among a route's deployments.
type Deployment struct {
	// Type is the name the manifest used (a type or an alias).
	Type   string
	Config Config
	// Model is the provider-side model forced on every request ("" keeps the client's).
	Model string
	// Weight and Priority place it among its route's deployments (inference.Deployment's semantics:
	// lower priority first).
	Weight, Priority int
}

// Build makes the provider.
func (d Deployment) Build() (inference.Provider, error) { return Build(d.Type, d.Config) }

// Endpoint is a manifest inference_endpoint module's config: one deployment and the request defaults
// the client may override.
type Endpoint struct {
	Deployment Deployment
	Defaults   inference.Defaults
}

// endpointConfig is an inference_endpoint module's config: the Control Tower's fields, plus FD2's
// provider fields (the Control Tower passes unknown keys through the raw manifest files; with
// resolve_env their values may be secret references it resolved). Unknown keys are ignored: the
// Control Tower's config carries more than FD2 reads (apisix_route, batch_size, …).
type endpointConfig struct {
	ModelName    string   `json:"model_name"`
	EndpointURL  string   `json:"endpoint_url"`
	SystemPrompt string   `json:"system_prompt"`
	MaxTokens    *int64   `json:"max_tokens"`
	Temperature  *float64 `json:"temperature"`
	TopP         *float64 `json:"top_p"`
	// FD2 extensions
	Provider   string `json:"provider"` // openai (default) or any remote type or alias
	APIKey     string `json:"api_key"`
	AuthHeader string `json:"auth_header"`
	APIVersion string `json:"api_version"`
}

// DecodeEndpoint decodes and checks the config of the inference_endpoint module named module, without
// building anything: endpoint_url is the provider's base URL, model_name, system_prompt, max_tokens,
// temperature and top_p are defaults. The deployment is named name. Errors name the field at fault.
func DecodeEndpoint(module, name string, raw json.RawMessage) (Endpoint, error) {
	var c endpointConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return Endpoint{}, fmt.Errorf("decoding inference_endpoint config of module %q: %w", module, err)
	}
	if c.EndpointURL == "" {
		return Endpoint{}, fmt.Errorf("inference_endpoint %q: endpoint_url (the provider base URL) is required", module)
	}
	typ := c.Provider
	if typ == "" {
		typ = "openai"
	}
	t, _, err := Resolve(typ)
	if err != nil || !t.Remote {
		return Endpoint{}, fmt.Errorf("inference_endpoint %q: unknown provider %q", module, c.Provider)
	}
	if !absoluteURL(c.EndpointURL) {
		return Endpoint{}, fmt.Errorf("inference_endpoint %q: endpoint_url %q: want an absolute http(s) URL", module, c.EndpointURL)
	}
	d := Deployment{Type: t.Name, Config: Config{Name: name, BaseURL: c.EndpointURL, APIKey: c.APIKey, APIVersion: c.APIVersion}}
	// The key header is an OpenAI-compatible option; Azure's is always api-key.
	if t.Name == "openai" {
		d.Config.AuthHeader = c.AuthHeader
	}
	if err := check(t, d.Config); err != nil {
		return Endpoint{}, fmt.Errorf("inference_endpoint %q: %w", module, err)
	}
	return Endpoint{Deployment: d, Defaults: inference.Defaults{Model: c.ModelName, SystemPrompt: c.SystemPrompt,
		MaxTokens: c.MaxTokens, Temperature: c.Temperature, TopP: c.TopP}}, nil
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

// apisixTypes are the APISIX ai-proxy providers FD2 does not reach over the OpenAI protocol. APISIX's
// other drivers (openai, deepseek, gemini, vertex-ai, openrouter, openai-compatible, …) all speak it at
// the endpoint they name, so they are openai deployments here whatever the catalog calls them.
var apisixTypes = map[string]string{"anthropic": "anthropic", "azure-openai": "azure"}

// DecodeAIProxy decodes and checks the APISIX ai-proxy or ai-proxy-multi plugin config of a route (raw
// by plugin name) into its deployments, named prefix+"/"+instance name (the instance name alone when
// prefix is empty), without building anything: each
// instance is a deployment (APISIX priority: higher first; weight within a priority), options.model
// forces the upstream model and override.endpoint replaces the provider's default URL. Errors name the
// plugin, the instance and the field at fault.
func DecodeAIProxy(prefix string, plugins map[string]json.RawMessage) ([]Deployment, error) {
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
	out := make([]Deployment, 0, len(instances))
	for i, in := range instances {
		name := in.Name
		if name == "" {
			name = fmt.Sprintf("%s#%d", in.Provider, i)
		}
		full := name
		if prefix != "" {
			full = prefix + "/" + name
		}
		d, err := aiProxyDeployment(full, in)
		if err != nil {
			return nil, fmt.Errorf("instance %q: %w", name, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func aiProxyDeployment(name string, in aiProxyInstance) (Deployment, error) {
	typ := apisixTypes[in.Provider]
	base := ""
	if typ == "" {
		typ = "openai"
		if t, b, err := Resolve(in.Provider); err == nil && t.Name == "openai" {
			base = b
		}
	} else {
		_, base, _ = Resolve(typ)
	}
	if in.Override.Endpoint != "" {
		// APISIX's endpoint is the full chat URL; FD2 appends the endpoint itself, so keep the base.
		u, err := url.Parse(in.Override.Endpoint)
		if err != nil || u.Host == "" {
			return Deployment{}, fmt.Errorf("override.endpoint %q is not a URL", in.Override.Endpoint)
		}
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/chat/completions")
		base = u.String()
	}
	if base == "" {
		return Deployment{}, fmt.Errorf("provider %q needs override.endpoint", in.Provider)
	}
	c := Config{Name: name, BaseURL: base}
	if in.Timeout > 0 { // APISIX's default (none set) is the provider's
		c.FirstByteTimeout = time.Duration(in.Timeout * float64(time.Millisecond))
	}
	switch typ {
	case "anthropic":
		// The Messages API root has no /v1; the key is APISIX's x-api-key header.
		c.BaseURL = strings.TrimSuffix(base, "/v1")
		for k, v := range in.Auth.Header {
			if strings.EqualFold(k, "x-api-key") {
				c.APIKey = v
			}
		}
	case "azure":
		c.Headers = in.Auth.Header
	default:
		c.Headers = in.Auth.Header
		for k, v := range in.Auth.Query {
			c.AuthQuery, c.APIKey = k, v
			break
		}
	}
	if err := check(types[typ], c); err != nil {
		return Deployment{}, err
	}
	model, _ := in.Options["model"].(string)
	return Deployment{Type: typ, Config: c, Model: model, Weight: in.Weight, Priority: -in.Priority}, nil
}
