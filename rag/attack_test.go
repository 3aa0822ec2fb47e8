// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// corpus holds two tenants' documents.
var corpus = []map[string]any{
	{"tenant": "acme", "id": "acme-1"},
	{"tenant": "acme", "id": "acme-2", "visibility": "internal"},
	{"tenant": "globex", "id": "globex-1"},
	{"tenant": "globex", "id": "globex-2", "visibility": "internal"},
}

// matches evaluates a LangChain-style filter ($and, $or, equality) as RAG2 does.
func matches(doc map[string]any, f map[string]any) bool {
	for k, v := range f {
		switch k {
		case "$and", "$or":
			items, _ := v.([]any)
			hit := false
			for _, it := range items {
				m, _ := it.(map[string]any)
				ok := matches(doc, m)
				if k == "$and" && !ok {
					return false
				}
				hit = hit || ok
			}
			if k == "$or" && !hit {
				return false
			}
		default:
			if doc[k] != v {
				return false
			}
		}
	}
	return true
}

// A caller whose token is bound to tenant acme reads none of globex's documents, however it writes its
// filter, through the real path mapping and rewriting, against a server that filters as RAG2 does (the
// last of duplicated members wins, as in Python).
func TestAttackOtherTenantGetsNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Filter map[string]any `json:"filter"`
		}
		if r.URL.Path != "/api/v1/retrieve" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"detail":"bad"}`, http.StatusBadRequest)
			return
		}
		var docs []map[string]any
		for _, d := range corpus {
			if matches(d, req.Filter) {
				docs = append(docs, map[string]any{"content": d["id"], "metadata": d, "similarity_score": 1})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"documents": docs})
	}))
	defer srv.Close()
	s := mustService(t, testConfig(), "")
	retrieve := func(body string, claim json.RawMessage) []Source {
		t.Helper()
		call, aerr := s.Resolve(http.MethodPost, "/retrieve")
		if aerr != nil {
			t.Fatal(aerr)
		}
		out, aerr := s.Rewrite(call.Op, []byte(body), claim)
		if aerr != nil {
			t.Fatalf("%s: %v", body, aerr)
		}
		resp, err := http.Post(srv.URL+call.Path, "application/json", bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		srcs, err := decodeSources(mustRead(t, resp))
		if err != nil {
			t.Fatal(err)
		}
		return srcs
	}
	// Control: without a claim the server does serve globex's documents, so a leak would show.
	if srcs := retrieve(`{"query":"q","filter":{"tenant":"globex"}}`, nil); len(srcs) != 2 {
		t.Fatalf("control: %d globex documents, want 2", len(srcs))
	}
	claim := raw(`{"tenant":"acme"}`)
	for _, body := range []string{
		`{"query":"q","filter":{"tenant":"globex"}}`,
		`{"query":"q","filter":{"$or":[{"tenant":"globex"},{"tenant":"acme"}]}}`,
		`{"query":"q","filter":{"tenant":"acme"},"filter":{"tenant":"globex"}}`,
		`{"query":"q","filter":{"$and":[{"tenant":"globex"}]}}`,
		`{"query":"q","filter":{"$or":[{"id":"globex-1"},{"visibility":"internal"}]}}`,
		`{"query":"q","configuration_names":["kb","globex-kb"]}`,
	} {
		for _, src := range retrieve(body, claim) {
			if src.Content[:4] != "acme" {
				t.Errorf("%s: got globex's document %s", body, src.Content)
			}
		}
	}
	if srcs := retrieve(`{"query":"q"}`, claim); len(srcs) != 2 {
		t.Fatalf("acme's own documents: %d, want 2", len(srcs))
	}
}

func mustRead(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b.Bytes())
	}
	return b.Bytes()
}
