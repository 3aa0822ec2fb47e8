// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/dsp-ai/fd2/rag"
)

// parseRetrieval parses a `retrieval` block as dsp_openai hands it over: the dispenser on its name.
func parseRetrieval(src string) (*Retrieval, error) {
	d := caddyfile.NewTestDispenser(src)
	d.Next()
	c := new(Retrieval)
	return c, c.UnmarshalCaddyfile(d)
}

func TestRetrievalUnmarshalCaddyfile(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	cases := []struct {
		name, src string
		want      Retrieval
		wantErr   string
	}{
		{"every option", "retrieval {\n" +
			" rag http://rag:8080/base\n" +
			" configuration kb\n" +
			" k 7\n" +
			" threshold 0.25\n" +
			" filter `{\"tenant\": \"acme\"}`\n" +
			" template \"Docs: {{range .Documents}}{{.Content}}{{end}}\"\n" +
			" timeout 1500ms\n" +
			" max_retries 0\n" +
			"}", Retrieval{RAG: "http://rag:8080/base", Configuration: "kb", K: 7, Threshold: f(0.25),
			Filter: json.RawMessage(`{"tenant": "acme"}`), Template: "Docs: {{range .Documents}}{{.Content}}{{end}}",
			Timeout: 1.5, MaxRetries: n(0)}, ""},
		{"module source only", "retrieval {\n rag kb\n}", Retrieval{RAG: "kb"}, ""},
		{"empty block", "retrieval", Retrieval{}, "rag (a rag_service module or a RAG service URL) is required"},
		{"block without rag", "retrieval {\n k 3\n}", Retrieval{}, "rag (a rag_service module or a RAG service URL) is required"},
		{"argument", "retrieval kb", Retrieval{}, "wrong argument count"},
		{"unknown", "retrieval {\n rerank on\n}", Retrieval{}, `unrecognized subdirective "rerank"`},
		{"duplicate", "retrieval {\n k 3\n k 4\n}", Retrieval{}, `duplicate subdirective "k"`},
		{"rag without value", "retrieval {\n rag\n}", Retrieval{}, "wrong argument count"},
		{"rag with two values", "retrieval {\n rag kb other\n}", Retrieval{}, "wrong argument count"},
		{"zero k", "retrieval {\n k 0\n}", Retrieval{}, `k: want a whole number from 1`},
		{"k not a number", "retrieval {\n k five\n}", Retrieval{}, `k: want a whole number from 1`},
		{"negative max_retries", "retrieval {\n max_retries -1\n}", Retrieval{}, `max_retries: want a whole number from 0`},
		{"threshold not a number", "retrieval {\n threshold high\n}", Retrieval{}, `threshold: want a number, got "high"`},
		{"zero timeout", "retrieval {\n timeout 0s\n}", Retrieval{}, "timeout: want a duration above zero"},
		{"bad timeout", "retrieval {\n timeout soon\n}", Retrieval{}, `timeout: invalid duration "soon"`},
		{"filter array", "retrieval {\n filter `[{\"a\":1}]`\n}", Retrieval{}, "filter: want a JSON object"},
		{"filter string", "retrieval {\n filter `\"acme\"`\n}", Retrieval{}, "filter: want a JSON object"},
		{"filter null", "retrieval {\n filter null\n}", Retrieval{}, "filter: want a JSON object"},
		{"filter broken", "retrieval {\n filter `{\"a\":`\n}", Retrieval{}, "filter: want a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRetrieval(tc.src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestHandlerUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, src string
		wantName  string
		check     func(t *testing.T, c rag.ServiceConfig)
		wantErr   string
	}{
		{"every option", "dsp_rag http://rag:8080 {\n" +
			" configuration kb\n" +
			" k 8\n" +
			" threshold 0.3\n" +
			" reranking on\n" +
			" filter_after_reranking off\n" +
			" query_expansion multi_query small-llm 4\n" +
			" filter `{\"status\": \"published\"}`\n" +
			" query_endpoint /search\n" +
			" retrieve_endpoint /api/v1/fetch\n" +
			" timeout 90s\n" +
			" max_retries 0\n" +
			" name docs\n" +
			"}", "docs", func(t *testing.T, c rag.ServiceConfig) {
			want := rag.ServiceConfig{ServiceURL: "http://rag:8080", ConfigurationName: "kb", QueryEndpoint: "/search",
				RetrieveEndpoint: "/api/v1/fetch", DefaultK: 8, DefaultSimilarityThreshold: 0.3, UseReranking: true,
				FilterAfterReranking: false, QueryExpansionEnabled: true, QueryExpansionStrategy: "multi_query",
				QueryExpansionLLMConfig: "small-llm", QueryExpansionNumQueries: 4, RequestTimeout: 90, MaxRetries: 0,
				DefaultMetadataFilter: json.RawMessage(`{"status":"published"}`)}
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("config %+v\nwant   %+v", c, want)
			}
		}, ""},
		{"defaults", "dsp_rag https://rag.example.com/api/v1 {\n configuration kb\n}", "", func(t *testing.T, c rag.ServiceConfig) {
			want := rag.DefaultServiceConfig()
			want.ServiceURL, want.ConfigurationName = "https://rag.example.com/api/v1", "kb"
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("config %+v\nwant   %+v", c, want)
			}
		}, ""},
		{"query expansion without num_queries", "dsp_rag http://rag {\n configuration kb\n query_expansion fusion llm\n}", "",
			func(t *testing.T, c rag.ServiceConfig) {
				if !c.QueryExpansionEnabled || c.QueryExpansionStrategy != "fusion" || c.QueryExpansionLLMConfig != "llm" ||
					c.QueryExpansionNumQueries != rag.DefaultNumQueries {
					t.Fatalf("%+v", c)
				}
			}, ""},
		{"reranking spellings", "dsp_rag http://rag {\n configuration kb\n reranking yes\n filter_after_reranking true\n}", "",
			func(t *testing.T, c rag.ServiceConfig) {
				if !c.UseReranking || !c.FilterAfterReranking {
					t.Fatalf("%+v", c)
				}
			}, ""},
		{"missing URL", "dsp_rag {\n configuration kb\n}", "", nil, "wrong argument count"},
		{"missing URL, no block", "dsp_rag", "", nil, "wrong argument count"},
		{"extra argument", "dsp_rag http://rag kb {\n configuration kb\n}", "", nil, "wrong argument count"},
		{"missing configuration", "dsp_rag http://rag", "", nil, "configuration_name is required"},
		{"unknown", "dsp_rag http://rag {\n configuration kb\n rerank on\n}", "", nil, `unrecognized subdirective "rerank"`},
		{"duplicate", "dsp_rag http://rag {\n configuration kb\n configuration other\n}", "", nil, `duplicate subdirective "configuration"`},
		{"duplicate name", "dsp_rag http://rag {\n configuration kb\n name a\n name b\n}", "", nil, `duplicate subdirective "name"`},
		{"option with two values", "dsp_rag http://rag {\n configuration kb other\n}", "", nil, "wrong argument count"},
		{"zero k", "dsp_rag http://rag {\n configuration kb\n k 0\n}", "", nil, "k: want a whole number from 1"},
		{"k above RAG2's 50", "dsp_rag http://rag {\n configuration kb\n k 51\n}", "", nil, "default_k must be 1..50"},
		{"negative max_retries", "dsp_rag http://rag {\n configuration kb\n max_retries -1\n}", "", nil, "max_retries: want a whole number from 0"},
		{"threshold not a number", "dsp_rag http://rag {\n configuration kb\n threshold high\n}", "", nil, `threshold: want a number, got "high"`},
		{"threshold above 1", "dsp_rag http://rag {\n configuration kb\n threshold 1.5\n}", "", nil, "default_similarity_threshold must be 0..1"},
		{"reranking not a switch", "dsp_rag http://rag {\n configuration kb\n reranking maybe\n}", "", nil, `reranking: want on or off, got "maybe"`},
		{"query_expansion one argument", "dsp_rag http://rag {\n configuration kb\n query_expansion fusion\n}", "", nil, "wrong argument count"},
		{"query_expansion four arguments", "dsp_rag http://rag {\n configuration kb\n query_expansion fusion llm 3 4\n}", "", nil, "wrong argument count"},
		{"query_expansion bad count", "dsp_rag http://rag {\n configuration kb\n query_expansion fusion llm many\n}", "", nil,
			`query_expansion: num_queries: want a number, got "many"`},
		{"query_expansion count above 10", "dsp_rag http://rag {\n configuration kb\n query_expansion fusion llm 11\n}", "", nil,
			"query_expansion_num_queries must be 1..10"},
		{"query_expansion bad strategy", "dsp_rag http://rag {\n configuration kb\n query_expansion hyde llm\n}", "", nil,
			"query_expansion_strategy must be fusion or multi_query"},
		{"filter array", "dsp_rag http://rag {\n configuration kb\n filter `[1]`\n}", "", nil, "filter: want a JSON object"},
		{"filter null", "dsp_rag http://rag {\n configuration kb\n filter null\n}", "", nil, "filter: want a JSON object"},
		{"zero timeout", "dsp_rag http://rag {\n configuration kb\n timeout 0\n}", "", nil, "timeout: want a duration above zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := new(Handler)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.src))
			if tc.check == nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != tc.wantName {
				t.Fatalf("name %q, want %q", h.Name, tc.wantName)
			}
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := rag.DecodeServiceConfig(h.Service)
			if err != nil {
				t.Fatalf("the service config %s does not decode: %v", h.Service, err)
			}
			tc.check(t, c)
		})
	}
}

func TestHandlerValidate(t *testing.T) {
	if err := new(Handler).Validate(); err == nil {
		t.Fatal("a dsp_rag without a service config validated")
	}
}
