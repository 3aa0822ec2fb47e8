// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeServiceConfigDefaults(t *testing.T) {
	got, err := DecodeServiceConfig(json.RawMessage(`{"service_url":"http://rag:9000","configuration_name":"kb","unknown_field":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultServiceConfig()
	want.ServiceURL, want.ConfigurationName = "http://rag:9000", "kb"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !got.FilterAfterReranking || got.DefaultK != 5 || got.QueryEndpoint != "/query" || got.RetrieveEndpoint != "/retrieve" ||
		got.QueryExpansionNumQueries != 3 || got.MaxRetries != 2 || got.Timeout() != 60*time.Second || got.QueryExpansionStrategy != "fusion" {
		t.Fatalf("platform defaults not applied: %+v", got)
	}
}

// The Control Tower writes every field, unset optionals as null (examples/controltower's normalised form).
func TestDecodeServiceConfigNormalisedManifest(t *testing.T) {
	raw := `{"service_url":"http://rag:9000","configuration_name":"kb","query_endpoint":"/query","retrieve_endpoint":"/retrieve","default_k":5,"default_similarity_threshold":0.0,"use_reranking":false,"filter_after_reranking":null,"query_expansion_enabled":false,"query_expansion_strategy":null,"query_expansion_llm_config":null,"query_expansion_num_queries":3,"jwt_auth_enabled":false,"jwt_module_reference":null,"request_timeout":60,"max_retries":2,"default_metadata_filter":null}`
	got, err := DecodeServiceConfig(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !got.FilterAfterReranking || got.QueryExpansionStrategy != "fusion" || got.DefaultMetadataFilter != nil {
		t.Fatalf("null members must keep defaults: %+v", got)
	}
}

func TestDecodeServiceConfigEveryField(t *testing.T) {
	raw := `{"service_url":"http://rag:9000/api/v1","configuration_name":"engineering-handbook","query_endpoint":"/api/v1/query","retrieve_endpoint":"/api/v1/retrieve","default_k":6,"default_similarity_threshold":0.25,"use_reranking":true,"filter_after_reranking":false,"query_expansion_enabled":true,"query_expansion_strategy":"multi_query","query_expansion_llm_config":"expansion-llm","query_expansion_num_queries":4,"jwt_auth_enabled":true,"jwt_module_reference":"auth-service","request_timeout":45.5,"max_retries":1,"default_metadata_filter":{"visibility":"internal"}}`
	got, err := DecodeServiceConfig(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := ServiceConfig{
		ServiceURL: "http://rag:9000/api/v1", ConfigurationName: "engineering-handbook",
		QueryEndpoint: "/api/v1/query", RetrieveEndpoint: "/api/v1/retrieve",
		DefaultK: 6, DefaultSimilarityThreshold: 0.25, UseReranking: true, FilterAfterReranking: false,
		QueryExpansionEnabled: true, QueryExpansionStrategy: "multi_query", QueryExpansionLLMConfig: "expansion-llm",
		QueryExpansionNumQueries: 4, JWTAuthEnabled: true, JWTModuleReference: "auth-service",
		RequestTimeout: 45.5, MaxRetries: 1, DefaultMetadataFilter: json.RawMessage(`{"visibility":"internal"}`),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got.Timeout() != 45500*time.Millisecond {
		t.Fatalf("timeout %v", got.Timeout())
	}
}

func TestDecodeServiceConfigErrors(t *testing.T) {
	base := `"service_url":"http://rag:9000","configuration_name":"kb"`
	tests := []struct{ raw, field string }{
		{`{"configuration_name":"kb"}`, "service_url"},
		{`{"service_url":"http://rag:9000"}`, "configuration_name"},
		{`{` + base + `,"default_k":0}`, "default_k"},
		{`{` + base + `,"default_k":51}`, "default_k"},
		{`{` + base + `,"default_k":"5"}`, "default_k"},
		{`{` + base + `,"default_k":5.5}`, "default_k"},
		{`{` + base + `,"default_similarity_threshold":1.5}`, "default_similarity_threshold"},
		{`{` + base + `,"use_reranking":"yes"}`, "use_reranking"},
		{`{` + base + `,"filter_after_reranking":1}`, "filter_after_reranking"},
		{`{` + base + `,"query_expansion_strategy":"hyde"}`, "query_expansion_strategy"},
		{`{` + base + `,"query_expansion_num_queries":0}`, "query_expansion_num_queries"},
		{`{` + base + `,"query_expansion_num_queries":11}`, "query_expansion_num_queries"},
		{`{` + base + `,"query_expansion_enabled":true}`, "query_expansion_llm_config"},
		{`{` + base + `,"default_metadata_filter":[1]}`, "default_metadata_filter"},
		{`{` + base + `,"default_metadata_filter":"tenant=acme"}`, "default_metadata_filter"},
		{`{` + base + `,"request_timeout":-1}`, "request_timeout"},
		{`{` + base + `,"request_timeout":"60s"}`, "request_timeout"},
		{`{` + base + `,"max_retries":-1}`, "max_retries"},
		{`[1]`, "rag_service"},
		{`{` + base, "rag_service"},
	}
	for _, tt := range tests {
		_, err := DecodeServiceConfig(json.RawMessage(tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %v, want one naming %s", tt.raw, err, tt.field)
		}
	}
}

func TestDecodeServiceConfigEmptyFilterIsNone(t *testing.T) {
	for _, f := range []string{`{}`, ` { } `, `null`} {
		c, err := DecodeServiceConfig(json.RawMessage(`{"service_url":"u","configuration_name":"kb","default_metadata_filter":` + f + `}`))
		if err != nil || c.DefaultMetadataFilter != nil {
			t.Errorf("%s: %v, filter %s", f, err, c.DefaultMetadataFilter)
		}
	}
}
