// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// testConfig has one kind of each policy: embeddings with a default and an allow-list, rerankers with a
// default and no list, classifiers with a list and no default.
func testConfig() Config {
	return Config{
		ServiceURL:                "http://model-server:8000",
		DefaultEmbeddingModel:     "e-small",
		AvailableEmbeddingModels:  []string{"e-small", "e-large"},
		DefaultRerankerModel:      "r1",
		AvailableClassifierModels: []string{"c1", "c2"},
	}
}

func texts(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"t"`
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestRewrite(t *testing.T) {
	s := newServer(t, testConfig(), "")
	open := newServer(t, Config{}, "")
	for _, tc := range []struct {
		name string
		s    *Server
		op   Op
		body string
		want string // the rewritten body as JSON, when the rewrite succeeds
		code string // else the error code
		msg  string // and a part of its message
	}{
		{name: "embeddings default model", op: OpEmbeddings, body: `{"texts":["a","b"]}`, want: `{"texts":["a","b"],"model_name":"e-small"}`},
		{name: "embeddings allowed model", op: OpEmbeddings, body: `{"texts":["a"],"model_name":"e-large"}`, want: `{"texts":["a"],"model_name":"e-large"}`},
		{name: "embeddings null model", op: OpEmbeddings, body: `{"texts":["a"],"model_name":null}`, want: `{"texts":["a"],"model_name":"e-small"}`},
		{name: "embeddings empty model", op: OpEmbeddings, body: `{"texts":["a"],"model_name":""}`, want: `{"texts":["a"],"model_name":"e-small"}`},
		{name: "unknown fields survive", op: OpEmbeddings, body: ` {"texts":["a"],"normalize":true,"extra":{"k":[1,2.5e3]}} `,
			want: `{"texts":["a"],"model_name":"e-small","normalize":true,"extra":{"k":[1,2.5e3]}}`},
		{name: "embeddings model outside the list", op: OpEmbeddings, body: `{"texts":["a"],"model_name":"gpt-embed"}`,
			code: "model_not_allowed", msg: `embedding model "gpt-embed" is not available on this module; allowed: e-small, e-large`},
		{name: "model name not a string", op: OpEmbeddings, body: `{"texts":["a"],"model_name":7}`, code: "invalid_field", msg: "model_name must be a string"},
		// Python's json keeps the last of duplicate keys: FD2 checks what the model server would read.
		{name: "duplicate model name, last forbidden", op: OpEmbeddings, body: `{"texts":["a"],"model_name":"e-small","model_name":"evil"}`,
			code: "model_not_allowed", msg: `"evil"`},
		{name: "duplicate model name, last allowed", op: OpEmbeddings, body: `{"model_name":"evil","texts":["a"],"model_name":"e-large"}`,
			want: `{"texts":["a"],"model_name":"e-large"}`},
		{name: "escaped key is the key", op: OpEmbeddings, body: `{"texts":["a"],"model\u005fname":"evil"}`, code: "model_not_allowed"},
		{name: "keys are case-sensitive", op: OpEmbeddings, body: `{"Texts":["a"]}`, code: "missing_field", msg: "texts is required"},
		{name: "texts missing", op: OpEmbeddings, body: `{}`, code: "missing_field", msg: "texts is required"},
		{name: "texts null", op: OpEmbeddings, body: `{"texts":null}`, code: "missing_field", msg: "texts is required"},
		{name: "texts a string", op: OpEmbeddings, body: `{"texts":"a"}`, code: "invalid_field", msg: "texts must be an array of strings"},
		{name: "texts empty", op: OpEmbeddings, body: `{"texts":[]}`, code: "invalid_field", msg: "texts must not be empty"},
		{name: "texts element", op: OpEmbeddings, body: `{"texts":["a",{}]}`, code: "invalid_field", msg: "texts[1] must be a string"},
		{name: "texts at the bound", op: OpEmbeddings, body: `{"texts":` + texts(MaxTexts) + `}`,
			want: `{"texts":` + texts(MaxTexts) + `,"model_name":"e-small"}`},
		{name: "texts over the bound", op: OpEmbeddings, body: `{"texts":` + texts(MaxTexts+1) + `}`,
			code: "too_many_items", msg: "texts has 2049 items; at most 2048"},
		{name: "rerank default model", op: OpRerank, body: `{"query":"q","texts":["a"]}`, want: `{"query":"q","texts":["a"],"model_name":"r1"}`},
		{name: "rerank any model without a list", op: OpRerank, body: `{"query":"q","texts":["a"],"model_name":"bge"}`,
			want: `{"query":"q","texts":["a"],"model_name":"bge"}`},
		{name: "rerank query missing", op: OpRerank, body: `{"texts":["a"]}`, code: "missing_field", msg: "query is required"},
		{name: "rerank query empty", op: OpRerank, body: `{"query":"","texts":["a"]}`, code: "invalid_field", msg: "query must not be empty"},
		{name: "rerank query number", op: OpRerank, body: `{"query":1,"texts":["a"]}`, code: "invalid_field", msg: "query must be a string"},
		{name: "rerank texts missing", op: OpRerank, body: `{"query":"q","documents":["a"]}`, code: "missing_field", msg: "texts is required"},
		{name: "classify needs a model", op: OpClassify, body: `{"texts":["a"],"labels":["x","y"]}`,
			code: "model_required", msg: "model_name is required: this module has no default classifier model; allowed: c1, c2"},
		{name: "classify allowed", op: OpClassify, body: `{"texts":["a"],"labels":["x"],"model_name":"c2","include_results":false}`,
			want: `{"texts":["a"],"labels":["x"],"model_name":"c2","include_results":false}`},
		{name: "classify include_results null", op: OpClassify, body: `{"texts":["a"],"labels":["x"],"model_name":"c1","include_results":null}`,
			want: `{"texts":["a"],"labels":["x"],"model_name":"c1","include_results":null}`},
		{name: "classify not allowed", op: OpClassify, body: `{"texts":["a"],"labels":["x"],"model_name":"c3"}`, code: "model_not_allowed", msg: "allowed: c1, c2"},
		{name: "classify labels missing", op: OpClassify, body: `{"texts":["a"],"model_name":"c1"}`, code: "missing_field", msg: "labels is required"},
		{name: "classify labels over the bound", op: OpClassify, body: `{"texts":["a"],"labels":` + texts(MaxLabels+1) + `,"model_name":"c1"}`,
			code: "too_many_items", msg: "labels has 257 items; at most 256"},
		{name: "classify include_results string", op: OpClassify, body: `{"texts":["a"],"labels":["x"],"model_name":"c1","include_results":"yes"}`,
			code: "invalid_field", msg: "include_results must be a boolean"},
		{name: "classify eval", op: OpClassifyEval, body: `{"texts":["a","b"],"labels":["x","y"],"ground_truths":["y","x"],"model_name":"c1"}`,
			want: `{"texts":["a","b"],"labels":["x","y"],"ground_truths":["y","x"],"model_name":"c1"}`},
		{name: "classify eval truths missing", op: OpClassifyEval, body: `{"texts":["a"],"labels":["x"],"model_name":"c1"}`,
			code: "missing_field", msg: "ground_truths is required"},
		{name: "classify eval truths count", op: OpClassifyEval, body: `{"texts":["a","b"],"labels":["x"],"ground_truths":["x"],"model_name":"c1"}`,
			code: "invalid_field", msg: "ground_truths has 1 labels for 2 texts"},
		{name: "no policy keeps no model", s: open, op: OpEmbeddings, body: `{"texts":["a"]}`, want: `{"texts":["a"]}`},
		// A null model_name would reach the model server as None, which it cannot load.
		{name: "no policy drops a null model", s: open, op: OpRerank, body: `{"query":"q","texts":["a"],"model_name":null}`, want: `{"query":"q","texts":["a"]}`},
		{name: "no policy keeps the model", s: open, op: OpClassify, body: `{"texts":["a"],"labels":["l"],"model_name":"any"}`,
			want: `{"texts":["a"],"labels":["l"],"model_name":"any"}`},
		{name: "empty body", op: OpEmbeddings, body: ``, code: "invalid_json", msg: "must be a JSON object"},
		{name: "null body", op: OpEmbeddings, body: `null`, code: "invalid_json"},
		{name: "array body", op: OpRerank, body: `[{"texts":["a"]}]`, code: "invalid_json"},
		{name: "truncated body", op: OpClassify, body: `{"texts":["a"`, code: "invalid_json"},
		{name: "trailing data", op: OpEmbeddings, body: `{"texts":["a"]} {}`, code: "invalid_json"},
		{name: "NaN", op: OpEmbeddings, body: `{"texts":["a"],"x":NaN}`, code: "invalid_json"},
		{name: "no rewrite for health", op: OpHealth, body: `{}`, code: "internal_error"},
		{name: "no rewrite for openai", op: OpEmbeddingsOpenAI, body: `{"input":"a"}`, code: "internal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.s
			if srv == nil {
				srv = s
			}
			out, e := srv.Rewrite(tc.op, []byte(tc.body))
			if tc.want == "" {
				if e == nil {
					t.Fatalf("rewrote to %s, want error %s", out, tc.code)
				}
				if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Fatalf("error %s %q, want %s containing %q", e.Code, e.Message, tc.code, tc.msg)
				}
				wantStatus := http.StatusBadRequest
				if tc.code == "internal_error" {
					wantStatus = http.StatusInternalServerError
				}
				if e.Status != wantStatus || e.Type != "invalid_request_error" && wantStatus == http.StatusBadRequest {
					t.Fatalf("status %d type %s", e.Status, e.Type)
				}
				return
			}
			if e != nil {
				t.Fatalf("error %d %s: %s", e.Status, e.Code, e.Message)
			}
			assertJSONEqual(t, out, tc.want)
			// Each key once: the model server reads what FD2 checked.
			if bytes.Count(out, []byte(`"model_name"`)) > 1 {
				t.Fatalf("model_name repeated in %s", out)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
