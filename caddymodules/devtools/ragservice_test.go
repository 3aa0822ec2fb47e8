// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package devtools

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestRAGServiceUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, input string
		wordDelay   time.Duration
		generation  *time.Duration
		wantErr     string
	}{
		{"bare", "dsp_ragservice", 0, nil, ""},
		{"both", "dsp_ragservice {\n word_delay 10ms\n generation_delay 1s\n}", 10 * time.Millisecond, ptr(time.Second), ""},
		{"no generation delay", "dsp_ragservice {\n generation_delay 0\n}", 0, ptr(time.Duration(0)), ""},
		{"bad duration", "dsp_ragservice {\n word_delay soon\n}", 0, nil, `word_delay: invalid duration "soon"`},
		{"duplicate", "dsp_ragservice {\n word_delay 1s\n word_delay 2s\n}", 0, nil, `duplicate subdirective "word_delay"`},
		{"argument", "dsp_ragservice x", 0, nil, "wrong argument count"},
		{"unknown", "dsp_ragservice {\n corpus x\n}", 0, nil, `unrecognized subdirective "corpus"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := new(RAGService)
			err := r.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || time.Duration(r.WordDelay) != tc.wordDelay || (r.GenerationDelay == nil) != (tc.generation == nil) ||
				(tc.generation != nil && time.Duration(*r.GenerationDelay) != *tc.generation) {
				t.Fatalf("%+v, %v", r, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestRAGServiceServes provisions the handler and drives it as Caddy would: it answers the RAG2 API and the
// model server, never calls next, and honours generation_delay.
func TestRAGServiceServes(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	cases := []struct {
		name, method, path, body string
		generation               *caddy.Duration
		wantStatus               int
		wantIn                   string
		minTime                  time.Duration
	}{
		{"query", "POST", "/api/v1/query", `{"query":"Hammock","configuration_name":"demo-kb"}`, ptr(caddy.Duration(0)), 200, "Based on 1 document(s): Globex security requires badge access", 0},
		{"generation delay", "POST", "/api/v1/query", `{"query":"Hammock","configuration_name":"demo-kb"}`, ptr(caddy.Duration(80 * time.Millisecond)), 200, "Based on 1", 80 * time.Millisecond},
		{"models", "GET", "/v1/models", "", nil, 200, `"id":"demo-kb"`, 0},
		{"model server", "POST", "/api/v1/models/rerank", `{"query":"lab","texts":["lab"]}`, nil, 200, `"scores":[1]`, 0},
		{"unknown path is the double's 404, not next", "GET", "/elsewhere", "", nil, 404, `{"detail":"Not Found"}`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &RAGService{GenerationDelay: tc.generation}
			if err := h.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			req := caddyhttp.PrepareRequest(httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)), caddy.NewReplacer(), nil, nil)
			rec := httptest.NewRecorder()
			start := time.Now()
			err := h.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				t.Fatal("next handler called")
				return nil
			}))
			if err != nil || rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantIn) || time.Since(start) < tc.minTime {
				t.Fatalf("%v %d %s after %v", err, rec.Code, rec.Body, time.Since(start))
			}
		})
	}
}

func TestRAGServiceJSON(t *testing.T) {
	var r RAGService
	if err := json.Unmarshal([]byte(`{"word_delay":"5ms","generation_delay":0}`), &r); err != nil {
		t.Fatal(err)
	}
	if time.Duration(r.WordDelay) != 5*time.Millisecond || r.GenerationDelay == nil || *r.GenerationDelay != 0 {
		t.Fatalf("%+v", r)
	}
}
