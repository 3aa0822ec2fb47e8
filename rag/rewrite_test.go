// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func defaultsConfig() ServiceConfig {
	c := testConfig()
	c.DefaultK, c.DefaultSimilarityThreshold, c.UseReranking, c.FilterAfterReranking = 6, 0.25, true, false
	c.QueryExpansionEnabled, c.QueryExpansionStrategy, c.QueryExpansionLLMConfig, c.QueryExpansionNumQueries = true, "multi_query", "expansion-llm", 4
	c.DefaultMetadataFilter = json.RawMessage(`{"visibility":"internal"}`)
	return c
}

func TestRewriteDefaults(t *testing.T) {
	s := mustService(t, defaultsConfig(), "")
	plain := mustService(t, testConfig(), "")
	tests := []struct {
		name  string
		s     *Service
		op    Op
		body  string
		claim string
		want  string
	}{
		{"query gets every default", s, OpQuery, `{"query":"q"}`, "",
			`{"query":"q","configuration_name":"kb","k":6,"similarity_threshold":0.25,"filter_after_reranking":false,
			"query_expansion":{"enabled":true,"strategy":"multi_query","llm_config_name":"expansion-llm","num_queries":4},
			"filter":{"visibility":"internal"}}`},
		{"retrieve adds use_reranking", s, OpRetrieve, `{"query":"q"}`, "",
			`{"query":"q","configuration_name":"kb","k":6,"similarity_threshold":0.25,"filter_after_reranking":false,"use_reranking":true,
			"query_expansion":{"enabled":true,"strategy":"multi_query","llm_config_name":"expansion-llm","num_queries":4},
			"filter":{"visibility":"internal"}}`},
		{"caller's values win", s, OpRetrieve,
			`{"query":"q","configuration_name":"other","k":2,"similarity_threshold":0.9,"filter_after_reranking":true,"use_reranking":false,"query_expansion":{"enabled":false},"x_extra":[1,2]}`, "",
			`{"query":"q","configuration_name":"other","k":2,"similarity_threshold":0.9,"filter_after_reranking":true,"use_reranking":false,"query_expansion":{"enabled":false},"x_extra":[1,2],
			"filter":{"visibility":"internal"}}`},
		{"null counts as unset", s, OpQuery, `{"query":"q","k":null,"configuration_name":null,"query_expansion":null}`, "",
			`{"query":"q","configuration_name":"kb","k":6,"similarity_threshold":0.25,"filter_after_reranking":false,
			"query_expansion":{"enabled":true,"strategy":"multi_query","llm_config_name":"expansion-llm","num_queries":4},
			"filter":{"visibility":"internal"}}`},
		{"chat defaults model, no expansion", s, OpChat, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, `{"tenant":"acme"}`,
			`{"messages":[{"role":"user","content":"hi"}],"stream":true,"model":"kb","k":6,"similarity_threshold":0.25,"filter_after_reranking":false,
			"filter":{"$and":[{"visibility":"internal"},{"tenant":"acme"}]}}`},
		{"platform defaults", plain, OpQuery, `{"query":"q"}`, "",
			`{"query":"q","configuration_name":"kb","k":5,"similarity_threshold":0,"filter_after_reranking":true}`},
		{"platform defaults retrieve", plain, OpRetrieve, `{"query":"q","filter":{}}`, "",
			`{"query":"q","configuration_name":"kb","k":5,"similarity_threshold":0,"filter_after_reranking":true,"use_reranking":false,"filter":{}}`},
		{"request, default and claim AND-ed", s, OpQuery, `{"query":"q","filter":{"category":"hr"},"k":1,"query_expansion":{"enabled":false}}`, `{"tenant":"acme"}`,
			`{"query":"q","configuration_name":"kb","k":1,"similarity_threshold":0.25,"filter_after_reranking":false,"query_expansion":{"enabled":false},
			"filter":{"$and":[{"category":"hr"},{"visibility":"internal"},{"tenant":"acme"}]}}`},
		{"other ops unchanged", s, OpUpload, `not json at all`, `{"tenant":"acme"}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Rewrite(tt.op, []byte(tt.body), raw(tt.claim))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if string(got) != tt.body {
					t.Fatalf("got %s, want the body unchanged", got)
				}
				return
			}
			if !jsonEqual(t, got, tt.want) {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// RAG2 bounds a query's k at 20 but a retrieve's at 50, like default_k.
func TestRewriteClampsQueryK(t *testing.T) {
	c := testConfig()
	c.DefaultK = 40
	s := mustService(t, c, "")
	for op, want := range map[Op]float64{OpQuery: 20, OpChat: 20, OpRetrieve: 40} {
		out, err := s.Rewrite(op, []byte(`{}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		if m["k"] != want {
			t.Errorf("%v: k %v, want %v", op, m["k"], want)
		}
	}
}

// filterOf returns the filter member of a rewritten body.
func filterOf(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return string(m["filter"])
}

func TestRewriteAttacks(t *testing.T) {
	s := mustService(t, testConfig(), "")
	claim := raw(`{"tenant":"acme"}`)
	tests := []struct {
		name, op, body, wantFilter string
	}{
		{"request names another tenant", "query", `{"query":"q","filter":{"tenant":"globex"}}`, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`},
		{"duplicated filter keys reach RAG2 once", "retrieve", `{"query":"q","filter":{"tenant":"acme"},"filter":{"tenant":"globex"}}`, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`},
		{"duplicated filter keys, the last wins", "retrieve", `{"filter":{"tenant":"globex"},"query":"q","filter":{"$or":[{"a":1}]}}`, `{"$and":[{"$or":[{"a":1}]},{"tenant":"acme"}]}`},
		{"$or widening stays AND-ed", "chat", `{"messages":[],"filter":{"$or":[{"tenant":"globex"},{"tenant":"acme"}]}}`, `{"$and":[{"$or":[{"tenant":"globex"},{"tenant":"acme"}]},{"tenant":"acme"}]}`},
		{"$and smuggling", "query", `{"query":"q","filter":{"$and":[{"tenant":"globex"}]}}`, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`},
		{"escaped key spelling", "query", `{"query":"q","filt\u0065r":{"tenant":"globex"}}`, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`},
		{"no request filter", "query", `{"query":"q"}`, `{"tenant":"acme"}`},
		{"other configurations get the same filter", "retrieve", `{"query":"q","configuration_names":["kb","hr"]}`, `{"tenant":"acme"}`},
	}
	ops := map[string]Op{"query": OpQuery, "retrieve": OpRetrieve, "chat": OpChat}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.Rewrite(ops[tt.op], []byte(tt.body), claim)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(string(out), `"filter"`) != 1 {
				t.Fatalf("output %s must carry exactly one filter", out)
			}
			if got := filterOf(t, out); !jsonEqual(t, []byte(got), tt.wantFilter) {
				t.Fatalf("filter %s, want %s", got, tt.wantFilter)
			}
		})
	}
}

func TestRewriteRefuses(t *testing.T) {
	s := mustService(t, testConfig(), "")
	tests := []struct {
		op         Op
		body, code string
		field      string
	}{
		{OpQuery, `{"query":"q","config":{"security":{"enabled":false}}}`, "invalid_request", "config.security"},
		{OpRetrieve, `{"query":"q","config":{"retrieval_k":3,"security":null}}`, "invalid_request", "config.security"},
		{OpQuery, `{"query":"q","config":{"securit\u0079":{"enabled":false}}}`, "invalid_request", "config.security"},
		{OpQuery, `{"query":"q","config":{"a":1,"security":{},"a":2}}`, "invalid_request", "config.security"},
		{OpChat, `{"messages":[],"rag_config":{"security":{"enabled":false}}}`, "invalid_request", "rag_config.security"},
		{OpQuery, `[1,2]`, "invalid_json", "JSON object"},
		{OpQuery, `{"query":`, "invalid_json", "JSON object"},
		{OpChat, ``, "invalid_json", "JSON object"},
		{OpRetrieve, `{"query":"q"} {"filter":{}}`, "invalid_json", "JSON object"},
		{OpQuery, `{"query":"q","filter":"tenant=globex"}`, "invalid_filter", "object"},
		{OpQuery, `{"query":"q","filter":[{"tenant":"globex"}]}`, "invalid_filter", "object"},
	}
	for _, tt := range tests {
		_, err := s.Rewrite(tt.op, []byte(tt.body), raw(`{"tenant":"acme"}`))
		if err == nil || err.Status != http.StatusBadRequest || err.Code != tt.code || !strings.Contains(err.Message, tt.field) {
			t.Errorf("%s: %v, want 400 %s naming %s", tt.body, err, tt.code, tt.field)
		}
	}
	// chat's config member is not an override RAG2 reads, so it passes through.
	if _, err := s.Rewrite(OpChat, []byte(`{"messages":[],"config":{"security":1}}`), nil); err != nil {
		t.Errorf("chat config member: %v", err)
	}
}
