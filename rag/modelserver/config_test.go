// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fixtureConfig is the model_server module of FD2's corpus manifest rag-kb-integration, resolved as the
// Control Tower resolves it (production).
func fixtureConfig(t *testing.T) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testfixtures.Manifests(), "rag-kb-integration.json"))
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(resolved)
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range m.Modules {
		if mod.ModuleType == manifest.TypeModelServer {
			return mod.Config
		}
	}
	t.Fatal("rag-kb-integration has no model_server module")
	return nil
}

func TestDecodeConfigFixture(t *testing.T) {
	c, err := DecodeConfig(fixtureConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ServiceURL:               "https://models.corp.example",
		EmbeddingsEndpoint:       "/api/v1/models/embeddings",
		RerankEndpoint:           "/api/v1/models/rerank",
		ClassifyEndpoint:         "/api/v1/models/classify",
		HealthEndpoint:           "/api/v1/models/health",
		DefaultEmbeddingModel:    "corpus-embed-small",
		DefaultRerankerModel:     "corpus-rerank-base",
		AvailableEmbeddingModels: []string{"corpus-embed-small", "corpus-embed-large"},
		AvailableRerankerModels:  []string{"corpus-rerank-base"},
		BatchSize:                16,
		RequestTimeout:           20 * time.Second,
		MaxRetries:               2,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded\n%#v\nwant\n%#v", c, want)
	}
}

func TestDecodeConfigDefaults(t *testing.T) {
	defaults := Config{
		ServiceURL:         "http://model-server:8000",
		EmbeddingsEndpoint: "/embeddings", RerankEndpoint: "/rerank", ClassifyEndpoint: "/classify", HealthEndpoint: "/health",
		BatchSize: 32, RequestTimeout: 30 * time.Second, MaxRetries: 2,
	}
	for _, tc := range []struct {
		name string
		raw  string
		want func(*Config)
	}{
		{"only service_url", `{"service_url":"http://model-server:8000"}`, nil},
		// The Control Tower serves every unset field as null.
		{"control tower nulls", `{"service_url":"http://model-server:8000","embeddings_endpoint":null,"rerank_endpoint":null,
			"classify_endpoint":null,"health_endpoint":null,"default_embedding_model":null,"default_reranker_model":null,
			"default_classifier_model":null,"available_embedding_models":null,"available_reranker_models":null,
			"available_classifier_models":null,"batch_size":null,"request_timeout":null,"max_retries":null,
			"api_key_enabled":null,"api_key":null,"jwt_auth_enabled":null,"jwt_module_reference":null}`, nil},
		{"control tower defaults written out", `{"service_url":"http://model-server:8000","embeddings_endpoint":"/embeddings",
			"available_embedding_models":[],"batch_size":32,"request_timeout":30,"max_retries":2,"api_key_enabled":false,
			"jwt_auth_enabled":false}`, func(c *Config) { c.AvailableEmbeddingModels = []string{} }},
		{"unknown fields ignored", `{"service_url":"http://model-server:8000","dependencies":["a"],"extra":{"x":[1]},"Batch_Size":0}`, nil},
		{"integral floats", `{"service_url":"http://model-server:8000","batch_size":64.0,"max_retries":0.0,"request_timeout":2.5}`,
			func(c *Config) { c.BatchSize, c.MaxRetries, c.RequestTimeout = 64, 0, 2500*time.Millisecond }},
		{"max_retries zero kept", `{"service_url":"http://model-server:8000","max_retries":0}`, func(c *Config) { c.MaxRetries = 0 }},
		{"endpoint spellings", `{"service_url":"http://model-server:8000","embeddings_endpoint":"embed","rerank_endpoint":"/rerank/",
			"health_endpoint":"/api/v1/models/health"}`,
			func(c *Config) {
				c.EmbeddingsEndpoint, c.RerankEndpoint, c.HealthEndpoint = "/embed", "/rerank", "/api/v1/models/health"
			}},
		{"auth fields", `{"service_url":"http://model-server:8000","api_key_enabled":true,"api_key":"k","jwt_auth_enabled":true,
			"jwt_module_reference":"auth"}`,
			func(c *Config) {
				c.APIKeyEnabled, c.APIKey, c.JWTAuthEnabled, c.JWTModuleReference = true, "k", true, "auth"
			}},
		{"models", `{"service_url":"http://model-server:8000","default_classifier_model":"c","available_classifier_models":["b","c"]}`,
			func(c *Config) { c.DefaultClassifierModel, c.AvailableClassifierModels = "c", []string{"b", "c"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeConfig(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", c, want)
			}
		})
	}
}

func TestDecodeConfigErrors(t *testing.T) {
	const url = `"service_url":"http://model-server:8000"`
	for _, tc := range []struct {
		name, raw, field, text string
	}{
		{"not an object", `[]`, "", "JSON object"},
		{"null", `null`, "", "JSON object"},
		{"empty", ``, "", "JSON object"},
		{"truncated", `{"service_url":`, "", "JSON object"},
		{"service_url missing", `{}`, "service_url", "required"},
		{"service_url null", `{"service_url":null}`, "service_url", "required"},
		{"service_url number", `{"service_url":8000}`, "service_url", "want a string, got a number"},
		{"service_url unresolved", `{"service_url":"${environments.${environment}.model_server_url}"}`, "service_url", "absolute http"},
		{"service_url scheme", `{"service_url":"ftp://models"}`, "service_url", "absolute http"},
		{"service_url query", `{"service_url":"http://models/?x=1"}`, "service_url", "no query"},
		{"batch_size zero", `{` + url + `,"batch_size":0}`, "batch_size", "at least 1, got 0"},
		{"batch_size negative", `{` + url + `,"batch_size":-4}`, "batch_size", "at least 1"},
		{"batch_size string", `{` + url + `,"batch_size":"32"}`, "batch_size", "want a number, got a string"},
		{"batch_size fraction", `{` + url + `,"batch_size":1.5}`, "batch_size", "want an integer"},
		{"batch_size huge", `{` + url + `,"batch_size":1e30}`, "batch_size", "want an integer"},
		{"request_timeout negative", `{` + url + `,"request_timeout":-1}`, "request_timeout", "above 0"},
		{"request_timeout zero", `{` + url + `,"request_timeout":0}`, "request_timeout", "above 0"},
		{"request_timeout too long", `{` + url + `,"request_timeout":1e12}`, "request_timeout", "at most 86400"},
		{"request_timeout bool", `{` + url + `,"request_timeout":true}`, "request_timeout", "want a number, got a boolean"},
		{"max_retries negative", `{` + url + `,"max_retries":-1}`, "max_retries", "between 0 and 10"},
		{"max_retries too many", `{` + url + `,"max_retries":11}`, "max_retries", "between 0 and 10"},
		{"api_key_enabled string", `{` + url + `,"api_key_enabled":"yes"}`, "api_key_enabled", "want a boolean, got a string"},
		{"jwt_auth_enabled number", `{` + url + `,"jwt_auth_enabled":1}`, "jwt_auth_enabled", "want a boolean"},
		{"api key enabled without key", `{` + url + `,"api_key_enabled":true}`, "api_key", "required when api_key_enabled"},
		{"list not array", `{` + url + `,"available_embedding_models":"a"}`, "available_embedding_models", "array of strings"},
		{"list element", `{` + url + `,"available_reranker_models":["a",1]}`, "available_reranker_models[1]", "want a string, got a number"},
		{"list empty name", `{` + url + `,"available_classifier_models":["a",""]}`, "available_classifier_models[1]", "empty"},
		{"default outside list", `{` + url + `,"default_embedding_model":"big","available_embedding_models":["small","large"]}`,
			"default_embedding_model", `"big" is not in available_embedding_models (small, large)`},
		{"reranker default outside list", `{` + url + `,"default_reranker_model":"x","available_reranker_models":["y"]}`,
			"default_reranker_model", "not in available_reranker_models"},
		{"classifier default outside list", `{` + url + `,"default_classifier_model":"x","available_classifier_models":["y"]}`,
			"default_classifier_model", "not in available_classifier_models"},
		{"default model object", `{` + url + `,"default_embedding_model":{}}`, "default_embedding_model", "got an object"},
		{"endpoint query", `{` + url + `,"embeddings_endpoint":"/embeddings?x=1"}`, "embeddings_endpoint", "plain path"},
		{"endpoint url", `{` + url + `,"rerank_endpoint":"http://evil/rerank"}`, "rerank_endpoint", "plain path"},
		{"endpoint dot dot", `{` + url + `,"classify_endpoint":"/a/../admin"}`, "classify_endpoint", "dot segment"},
		{"endpoint escape", `{` + url + `,"health_endpoint":"/%2e%2e/x"}`, "health_endpoint", "plain path"},
		{"endpoint root", `{` + url + `,"health_endpoint":"/"}`, "health_endpoint", "not /"},
		{"endpoint number", `{` + url + `,"health_endpoint":5}`, "health_endpoint", "want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeConfig(json.RawMessage(tc.raw))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if ce.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", ce.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field %s", err, tc.field)
			}
		})
	}
}

// The api_key never prints: not through any fmt verb of the config (or of a struct holding it), not in
// JSON, not in an error about the field itself.
func TestSecretNeverPrints(t *testing.T) {
	const key = "sk-live-0123456789abcdef"
	c, err := DecodeConfig(json.RawMessage(`{"service_url":"http://m:1","api_key_enabled":true,"api_key":"` + key + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.APIKey) != key {
		t.Fatalf("the key is %q, want %q", string(c.APIKey), key)
	}
	holder := struct{ Module Config }{c}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, c.APIKey))
	}
	outs = append(outs, fmt.Sprint(c), fmt.Sprintln(&c), c.APIKey.String(), c.APIKey.GoString())
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(b))
	for _, o := range outs {
		if strings.Contains(o, key) || strings.Contains(o, fmt.Sprintf("%x", key)) {
			t.Fatalf("the key printed: %s", o)
		}
	}
	if !strings.Contains(outs[0], redacted) {
		t.Fatalf("%%v of the config does not show the key's place: %s", outs[0])
	}
	// An api_key of the wrong type is named, never shown.
	_, err = DecodeConfig(json.RawMessage(`{"service_url":"http://m:1","api_key":["` + key + `"]}`))
	if err == nil || !strings.Contains(err.Error(), "api_key") || strings.Contains(err.Error(), key) {
		t.Fatalf("error %v", err)
	}
	// A service_url with userinfo is not echoed.
	_, err = DecodeConfig(json.RawMessage(`{"service_url":"ftp://user:` + key + `@m"}`))
	if err == nil || strings.Contains(err.Error(), key) {
		t.Fatalf("error %v", err)
	}
}
