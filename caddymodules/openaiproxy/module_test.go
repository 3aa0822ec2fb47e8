// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/caddymodules/ragproxy"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/inference"
)

// endpointSpec compiles a project of a rag_service module "kb", a model_server "emb" and an
// inference_endpoint "assistant" whose config gets extra, and returns the assistant's spec: compiled, so
// that its Manifest() is the project's.
func endpointSpec(t *testing.T, extra string) *plan.ModuleSpec {
	t.Helper()
	raw := `{"project_id":"p","project_name":"p","modules":[
	  {"module_type":"rag_service","name":"kb","config":{"service_url":"http://rag:8080","configuration_name":"docs"}},
	  {"module_type":"model_server","name":"emb","config":{"service_url":"http://models:8000"}},
	  {"module_type":"inference_endpoint","name":"assistant","config":{"endpoint_url":"http://llm/v1","model_name":"m"` + extra + `}}
	]}`
	p, err := plan.Compile("p", []byte(raw), plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec := p.Modules["assistant"]
	if spec == nil || spec.Manifest() == nil {
		t.Fatalf("no compiled assistant module: %v", p.ModuleOrder)
	}
	return spec
}

func TestModuleRetrieval(t *testing.T) {
	cases := []struct {
		name    string
		extra   string
		want    *ragproxy.Retrieval
		wantErr string
	}{
		{"none", "", nil, ""},
		{"retrieval member", `,"retrieval":{"rag":"kb","k":3,"threshold":0.4,"filter":{"lang":"en"},"timeout":2.5,"max_retries":0}`,
			&ragproxy.Retrieval{RAG: "kb", K: 3, Threshold: new(0.4), Filter: json.RawMessage(`{"lang":"en"}`), Timeout: 2.5, MaxRetries: new(0)}, ""},
		{"rag_service shorthand", `,"rag_service":"kb"`, &ragproxy.Retrieval{RAG: "kb"}, ""},
		{"URL source", `,"retrieval":{"rag":"https://rag.example.com","configuration":"docs"}`,
			&ragproxy.Retrieval{RAG: "https://rag.example.com", Configuration: "docs"}, ""},
		{"both", `,"retrieval":{"rag":"kb"},"rag_service":"kb"`, nil, `inference_endpoint "assistant": give either retrieval or rag_service, not both`},
		{"unknown module", `,"retrieval":{"rag":"nokb"}`, nil, `retrieval source "nokb" names no rag_service module of the manifest`},
		{"shorthand to an unknown module", `,"rag_service":"other"`, nil, `retrieval source "other" names no rag_service module`},
		{"not a rag_service", `,"rag_service":"emb"`, nil, `retrieval source "emb" names no rag_service module`},
		{"no source", `,"retrieval":{"k":3}`, nil, "retrieval.rag (a rag_service module or a RAG service URL) is required"},
		{"wrong type", `,"retrieval":{"rag":"kb","k":"three"}`, nil, "decoding inference_endpoint config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := moduleRetrieval(endpointSpec(t, tc.extra))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestModuleRetrievalOutsideProject: a spec built outside a project has no manifest to check a module
// name against, so the name is left for Build (which needs the project's peers).
func TestModuleRetrievalOutsideProject(t *testing.T) {
	spec := &plan.ModuleSpec{Project: "p", Module: &manifest.Module{ModuleType: "inference_endpoint", Name: "a",
		Config: json.RawMessage(`{"endpoint_url":"http://llm/v1","rag_service":"kb"}`)}}
	got, err := moduleRetrieval(spec)
	if err != nil || got == nil || got.RAG != "kb" {
		t.Fatalf("moduleRetrieval = %+v, %v", got, err)
	}
}

// TestAugment: the retrieval's body and sources reach the engine; a request's filter never reaches the
// provider, even when there is nothing to retrieve.
func TestAugment(t *testing.T) {
	var calls atomic.Int32
	rag := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{"documents":[{"content":"Refunds take 5 days.","metadata":{},"similarity_score":0.9}]}`)
	}))
	t.Cleanup(rag.Close)
	ret, err := (&ragproxy.Retrieval{RAG: rag.URL, Configuration: "docs"}).Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		body        string
		wantCalls   int
		wantSystem  bool // a system message with the documents was added
		wantSources bool
	}{
		{"user message", `{"model":"m","filter":{"lang":"en"},"messages":[{"role":"user","content":"refunds?"}]}`, 1, true, true},
		{"no user message", `{"model":"m","filter":{"lang":"en"},"messages":[{"role":"system","content":"hi"}]}`, 0, false, false},
		{"no filter, no user message", `{"model":"m","messages":[{"role":"system","content":"hi"}]}`, 0, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(tc.body))
			x := &plan.Exchange{}
			var eng inference.Engine
			if err := augment(ret, &eng, r, inference.EndpointChat, x); err != nil {
				t.Fatal(err)
			}
			sent, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if n := int(calls.Load()); n != tc.wantCalls {
				t.Fatalf("%d retrievals, want %d", n, tc.wantCalls)
			}
			if gjson.GetBytes(sent, "filter").Exists() {
				t.Fatalf("the request's filter reaches the provider: %s", sent)
			}
			if gjson.GetBytes(sent, "model").String() != "m" {
				t.Fatalf("body %s", sent)
			}
			first := gjson.GetBytes(sent, "messages.0.content").String()
			if got := strings.Contains(first, "Refunds take 5 days."); got != tc.wantSystem {
				t.Fatalf("documents in the prompt: %v, want %v (%s)", got, tc.wantSystem, sent)
			}
			if got := eng.Extra != nil && eng.Extra.Field == "sources"; got != tc.wantSources {
				t.Fatalf("sources attached: %v, want %v", got, tc.wantSources)
			}
		})
	}
}
