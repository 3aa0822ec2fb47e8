// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func testConfig() ServiceConfig {
	c := DefaultServiceConfig()
	c.ServiceURL, c.ConfigurationName = "http://rag-service:8080", "kb"
	return c
}

func mustService(t testing.TB, c ServiceConfig, base string) *Service {
	t.Helper()
	s, err := NewService(c, base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolve(t *testing.T) {
	fixture := testConfig()
	fixture.QueryEndpoint, fixture.RetrieveEndpoint = "/api/v1/query", "/api/v1/retrieve"
	custom := testConfig()
	custom.QueryEndpoint, custom.RetrieveEndpoint = "ask", "/search/v2"
	tests := []struct {
		name       string
		cfg        ServiceConfig
		base       string
		method     string
		rest       string
		op         Op
		path       string
		idempotent bool
	}{
		{"default query", testConfig(), "", "POST", "/query", OpQuery, "/api/v1/query", true},
		{"default retrieve", testConfig(), "", "POST", "/retrieve", OpRetrieve, "/api/v1/retrieve", true},
		{"fixture query not prefixed twice", fixture, "", "POST", "/query", OpQuery, "/api/v1/query", true},
		{"fixture retrieve", fixture, "", "POST", "/retrieve", OpRetrieve, "/api/v1/retrieve", true},
		{"url names the api", testConfig(), "/api/v1", "POST", "/query", OpQuery, "/api/v1/query", true},
		{"url names the api, trailing slash", testConfig(), "/api/v1/", "POST", "/retrieve", OpRetrieve, "/api/v1/retrieve", true},
		{"url names the api, fixture endpoint", fixture, "/api/v1", "POST", "/query", OpQuery, "/api/v1/query", true},
		{"path proxy", testConfig(), "/rag", "POST", "/query", OpQuery, "/rag/api/v1/query", true},
		{"path proxy fixture", fixture, "/rag/", "POST", "/retrieve", OpRetrieve, "/rag/api/v1/retrieve", true},
		{"path proxy naming the api", testConfig(), "/rag/api/v1", "GET", "/v1/models", OpModels, "/rag/v1/models", true},
		{"custom endpoints", custom, "", "POST", "/query", OpQuery, "/api/v1/ask", true},
		{"custom endpoints 2", custom, "/x", "POST", "/retrieve", OpRetrieve, "/x/api/v1/search/v2", true},
		{"chat at root", testConfig(), "", "POST", "/v1/chat/completions", OpChat, "/v1/chat/completions", true},
		{"chat at root when url names api", testConfig(), "/api/v1", "POST", "/v1/chat/completions", OpChat, "/v1/chat/completions", true},
		{"chat behind proxy", testConfig(), "/rag", "POST", "/v1/chat/completions", OpChat, "/rag/v1/chat/completions", true},
		{"models", testConfig(), "", "GET", "/v1/models", OpModels, "/v1/models", true},
		{"model", testConfig(), "", "GET", "/v1/models/kb", OpModels, "/v1/models/kb", true},
		{"upload", testConfig(), "", "POST", "/upload", OpUpload, "/api/v1/upload", false},
		{"upload text", testConfig(), "", "POST", "/upload/text", OpUpload, "/api/v1/upload/text", false},
		{"documents list", testConfig(), "", "GET", "/documents", OpDocuments, "/api/v1/documents", true},
		{"documents delete", testConfig(), "", "DELETE", "/documents", OpDocuments, "/api/v1/documents", false},
		{"chunks", testConfig(), "", "GET", "/documents/d1/chunks", OpDocuments, "/api/v1/documents/d1/chunks", true},
		{"chunks delete", testConfig(), "/api/v1", "DELETE", "/documents/d1/chunks", OpDocuments, "/api/v1/documents/d1/chunks", false},
		{"configurations list", testConfig(), "", "GET", "/configurations", OpConfigurations, "/api/v1/configurations", true},
		{"configuration create", testConfig(), "", "POST", "/configurations", OpConfigurations, "/api/v1/configurations", false},
		{"configuration get", testConfig(), "", "GET", "/configurations/kb", OpConfigurations, "/api/v1/configurations/kb", true},
		{"configuration delete", testConfig(), "", "DELETE", "/configurations/kb", OpConfigurations, "/api/v1/configurations/kb", false},
		{"configuration duplicate", testConfig(), "", "POST", "/configurations/duplicate", OpConfigurations, "/api/v1/configurations/duplicate", false},
		{"configuration reload", testConfig(), "", "POST", "/configurations/reload", OpConfigurations, "/api/v1/configurations/reload", false},
		{"llm configs", testConfig(), "", "GET", "/llm-configs", OpLLMConfigs, "/api/v1/llm-configs", true},
		{"llm config create", testConfig(), "", "POST", "/llm-configs", OpLLMConfigs, "/api/v1/llm-configs", false},
		{"llm config delete", testConfig(), "", "DELETE", "/llm-configs/groq", OpLLMConfigs, "/api/v1/llm-configs/groq", false},
		{"llm config reload", testConfig(), "", "POST", "/llm-configs/reload", OpLLMConfigs, "/api/v1/llm-configs/reload", false},
		{"health", testConfig(), "", "GET", "/health", OpHealth, "/api/v1/health", true},
		{"health head", testConfig(), "/rag", "HEAD", "/health", OpHealth, "/rag/api/v1/health", true},
		{"client writes the api prefix", testConfig(), "", "POST", "/api/v1/query", OpQuery, "/api/v1/query", true},
		{"client writes the api prefix, fixture", fixture, "/api/v1", "POST", "/api/v1/retrieve", OpRetrieve, "/api/v1/retrieve", true},
		{"client writes the api prefix, documents", testConfig(), "", "GET", "/api/v1/documents", OpDocuments, "/api/v1/documents", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := mustService(t, tt.cfg, tt.base).Resolve(tt.method, tt.rest)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if c.Op != tt.op || c.Path != tt.path || c.Idempotent != tt.idempotent {
				t.Fatalf("got %v %q idempotent=%v, want %v %q %v", c.Op, c.Path, c.Idempotent, tt.op, tt.path, tt.idempotent)
			}
			if !slices.Contains(c.Allow, tt.method) {
				t.Fatalf("Allow %v lacks %s", c.Allow, tt.method)
			}
		})
	}
}

func TestResolveNotFound(t *testing.T) {
	s := mustService(t, testConfig(), "")
	for _, rest := range []string{"", "query", "/", "/queries", "/query/x", "/api/v1", "/api/v1/", "/api/v1/v1/models", "/api/v1/nope", "/v1/completions", "/v1/models/a/b",
		"/v1/models/", "/documents/../configurations/kb", "/documents/./x", "/documents//x", "/documents/", "/healthz", "/upload/file"} {
		_, err := s.Resolve("GET", rest)
		if err == nil || err.Status != http.StatusNotFound || err.Code != "not_found" {
			t.Errorf("%q: %v, want 404 not_found", rest, err)
			continue
		}
		if !strings.Contains(err.Message, "/query") || !strings.Contains(err.Message, "/v1/chat/completions") {
			t.Errorf("%q: message %q does not name the served paths", rest, err.Message)
		}
	}
}

func TestResolveMethodNotAllowed(t *testing.T) {
	s := mustService(t, testConfig(), "")
	tests := []struct {
		method, rest string
		allow        []string
	}{
		{"GET", "/query", []string{"POST"}},
		{"PUT", "/retrieve", []string{"POST"}},
		{"GET", "/v1/chat/completions", []string{"POST"}},
		{"POST", "/v1/models", []string{"GET", "HEAD"}},
		{"POST", "/health", []string{"GET", "HEAD"}},
		{"POST", "/documents", []string{"GET", "HEAD", "DELETE"}},
		{"DELETE", "/upload", []string{"POST"}},
		{"PATCH", "/configurations/kb", []string{"GET", "HEAD", "DELETE"}},
		{"GET", "/configurations/duplicate", []string{"POST"}},
	}
	for _, tt := range tests {
		c, err := s.Resolve(tt.method, tt.rest)
		if err == nil || err.Status != http.StatusMethodNotAllowed || err.Code != "method_not_allowed" {
			t.Errorf("%s %s: %v, want 405", tt.method, tt.rest, err)
			continue
		}
		if !slices.Equal(c.Allow, tt.allow) {
			t.Errorf("%s %s: Allow %v, want %v", tt.method, tt.rest, c.Allow, tt.allow)
		}
	}
}

func TestNewServiceRejects(t *testing.T) {
	bad := testConfig()
	bad.QueryEndpoint = "/query?x=1"
	dots := testConfig()
	dots.RetrieveEndpoint = "/../admin"
	empty := testConfig()
	empty.QueryEndpoint = ""
	invalid := testConfig()
	invalid.DefaultK = 0
	for i, tt := range []struct {
		cfg  ServiceConfig
		base string
		want string
	}{{bad, "", "query_endpoint"}, {dots, "", "retrieve_endpoint"}, {empty, "", "query_endpoint"}, {invalid, "", "default_k"}, {testConfig(), "/x?y", "query"}} {
		if _, err := NewService(tt.cfg, tt.base); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("case %d: %v, want an error naming %s", i, err, tt.want)
		}
	}
}

func TestOpString(t *testing.T) {
	if OpQuery.String() != "query" || OpLLMConfigs.String() != "llm_configs" || Op(99).String() != "Op(99)" {
		t.Fatal(OpQuery.String(), OpLLMConfigs.String(), Op(99).String())
	}
}
