// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ServiceConfig is a manifest's rag_service module config (RAGServiceModule), with the platform's defaults.
type ServiceConfig struct {
	ServiceURL        string `json:"service_url"`
	ConfigurationName string `json:"configuration_name"`
	// QueryEndpoint and RetrieveEndpoint name paths under RAG2's /api/v1 prefix (see NewService).
	QueryEndpoint              string  `json:"query_endpoint"`
	RetrieveEndpoint           string  `json:"retrieve_endpoint"`
	DefaultK                   int     `json:"default_k"`
	DefaultSimilarityThreshold float64 `json:"default_similarity_threshold"`
	UseReranking               bool    `json:"use_reranking"`
	// FilterAfterReranking defaults to true, so decoding starts from DefaultServiceConfig: an absent or null
	// member keeps the default instead of becoming false.
	FilterAfterReranking     bool   `json:"filter_after_reranking"`
	QueryExpansionEnabled    bool   `json:"query_expansion_enabled"`
	QueryExpansionStrategy   string `json:"query_expansion_strategy"`
	QueryExpansionLLMConfig  string `json:"query_expansion_llm_config"`
	QueryExpansionNumQueries int    `json:"query_expansion_num_queries"`
	JWTAuthEnabled           bool   `json:"jwt_auth_enabled"`
	JWTModuleReference       string `json:"jwt_module_reference"`
	// RequestTimeout is in seconds, as the platform writes it; 0 means no deadline.
	RequestTimeout float64 `json:"request_timeout"`
	MaxRetries     int     `json:"max_retries"`
	// DefaultMetadataFilter is AND-ed into every query, retrieve and chat filter; nil when absent or empty.
	DefaultMetadataFilter json.RawMessage `json:"default_metadata_filter"`
}

// The platform's RAGServiceModule defaults.
const (
	DefaultQueryEndpoint    = "/query"
	DefaultRetrieveEndpoint = "/retrieve"
	DefaultK                = 5
	DefaultNumQueries       = 3
	DefaultRequestTimeout   = 60
	DefaultMaxRetries       = 2
	DefaultStrategy         = "fusion"
)

// DefaultServiceConfig returns a config holding every platform default, for callers that build one field by
// field (a Caddyfile) rather than from a manifest.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{
		QueryEndpoint:            DefaultQueryEndpoint,
		RetrieveEndpoint:         DefaultRetrieveEndpoint,
		DefaultK:                 DefaultK,
		FilterAfterReranking:     true,
		QueryExpansionStrategy:   DefaultStrategy,
		QueryExpansionNumQueries: DefaultNumQueries,
		RequestTimeout:           DefaultRequestTimeout,
		MaxRetries:               DefaultMaxRetries,
	}
}

// DecodeServiceConfig decodes a rag_service config. Unknown members are ignored (the platform owns the
// schema and may add some); a null member counts as absent, as the Control Tower writes unset optionals as
// null. Type errors and invalid values are errors naming the field.
func DecodeServiceConfig(raw json.RawMessage) (ServiceConfig, error) {
	c := DefaultServiceConfig()
	if err := json.Unmarshal(raw, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return ServiceConfig{}, fmt.Errorf("decoding rag_service config: %s: %w", te.Field, err)
		}
		return ServiceConfig{}, fmt.Errorf("decoding rag_service config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return ServiceConfig{}, err
	}
	return c, nil
}

// Validate reports the first invalid field. It also normalises an empty strategy to the default and an empty
// or null default_metadata_filter to nil, so that "no default" has one spelling.
func (c *ServiceConfig) Validate() error {
	if c.QueryExpansionStrategy == "" {
		c.QueryExpansionStrategy = DefaultStrategy
	}
	switch {
	case c.ServiceURL == "":
		return errors.New("validating rag_service config: service_url is required")
	case c.ConfigurationName == "":
		return errors.New("validating rag_service config: configuration_name is required")
	case c.DefaultK < 1 || c.DefaultK > 50:
		return fmt.Errorf("validating rag_service config: default_k must be 1..50, got %d", c.DefaultK)
	case c.DefaultSimilarityThreshold < 0 || c.DefaultSimilarityThreshold > 1:
		return fmt.Errorf("validating rag_service config: default_similarity_threshold must be 0..1, got %g", c.DefaultSimilarityThreshold)
	case c.QueryExpansionStrategy != "fusion" && c.QueryExpansionStrategy != "multi_query":
		return fmt.Errorf("validating rag_service config: query_expansion_strategy must be fusion or multi_query, got %q", c.QueryExpansionStrategy)
	case c.QueryExpansionNumQueries < 1 || c.QueryExpansionNumQueries > 10:
		return fmt.Errorf("validating rag_service config: query_expansion_num_queries must be 1..10, got %d", c.QueryExpansionNumQueries)
	case c.QueryExpansionEnabled && c.QueryExpansionLLMConfig == "":
		// RAG2 requires llm_config_name in query_expansion: every request would be refused.
		return errors.New("validating rag_service config: query_expansion_llm_config is required when query_expansion_enabled is true")
	case c.RequestTimeout < 0:
		return fmt.Errorf("validating rag_service config: request_timeout must not be negative, got %g", c.RequestTimeout)
	case c.MaxRetries < 0:
		return fmt.Errorf("validating rag_service config: max_retries must not be negative, got %d", c.MaxRetries)
	}
	f := bytes.TrimSpace(c.DefaultMetadataFilter)
	if len(f) == 0 || bytes.Equal(f, []byte("null")) {
		c.DefaultMetadataFilter = nil
		return nil
	}
	var m map[string]json.RawMessage
	if f[0] != '{' || json.Unmarshal(f, &m) != nil {
		return errors.New("validating rag_service config: default_metadata_filter must be a JSON object")
	}
	if len(m) == 0 {
		c.DefaultMetadataFilter = nil
	}
	return nil
}

// Timeout is RequestTimeout as a duration; 0 means none.
func (c *ServiceConfig) Timeout() time.Duration {
	return time.Duration(c.RequestTimeout * float64(time.Second))
}
