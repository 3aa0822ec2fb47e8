// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// FuzzRequest feeds arbitrary client bodies to every rewrite and to the OpenAI translation, on a module
// with allow-lists and on one without: nothing panics, every error is a 4xx, and every body that goes
// upstream is a valid JSON object whose model_name the module allows.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"texts":["a","b"]}`, `{"texts":["a"],"model_name":"e-large"}`, `{"texts":["a"],"model_name":"e-small","model_name":"evil"}`,
		`{"query":"q","texts":["a"],"model_name":null}`, `{"texts":["a"],"labels":["x"],"model_name":"c1","include_results":true}`,
		`{"texts":["a","b"],"labels":["x","y"],"ground_truths":["y","x"],"model_name":"c2"}`,
		`{"model":"e-small","input":"hello","encoding_format":"base64","dimensions":384,"user":"u"}`,
		`{"input":["a","b"],"encoding_format":"float"}`, `{"input":[1,2,3]}`, `{"input":[[1],[2]]}`, `{"input":""}`,
		`{"texts":["\ud800"],"model\u005fname":"x"}`, `{"texts":[]}`, `[]`, `null`, `{`, `{"a":NaN}`, "",
	} {
		f.Add([]byte(s))
	}
	policy := testConfig()
	policy.ServiceURL = "http://m:1"
	strict, err := New(policy, "")
	if err != nil {
		f.Fatal(err)
	}
	open, err := New(Config{ServiceURL: "http://m:1"}, "/base")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, s := range []*Server{strict, open} {
			for _, op := range []Op{OpEmbeddings, OpRerank, OpClassify, OpClassifyEval} {
				out, e := s.Rewrite(op, body)
				if e != nil {
					if e.Status != http.StatusBadRequest {
						t.Fatalf("%v of %q: status %d", op, body, e.Status)
					}
					continue
				}
				var fields map[string]json.RawMessage
				if !json.Valid(out) || json.Unmarshal(out, &fields) != nil {
					t.Fatalf("%v of %q: rewrote to %q, not a JSON object", op, body, out)
				}
				checkModel(t, s, op.Kind(), fields["model_name"])
				var texts []string
				if json.Unmarshal(fields["texts"], &texts) != nil || len(texts) == 0 || len(texts) > MaxTexts {
					t.Fatalf("%v of %q: texts %s", op, body, fields["texts"])
				}
			}
			up, meta, e := s.EmbeddingsRequest(body)
			if e != nil {
				if e.Status != http.StatusBadRequest {
					t.Fatalf("openai %q: status %d", body, e.Status)
				}
				continue
			}
			var req struct {
				Texts     []string        `json:"texts"`
				ModelName json.RawMessage `json:"model_name"`
			}
			if !json.Valid(up) || json.Unmarshal(up, &req) != nil || len(req.Texts) != len(meta.Inputs) || len(req.Texts) == 0 {
				t.Fatalf("openai %q: translated to %q (meta %+v)", body, up, meta)
			}
			checkModel(t, s, KindEmbedding, req.ModelName)
			// The answer of a model server that embeds every text in 2 dimensions translates back.
			rows := strings.TrimSuffix(strings.Repeat("[0.5,-1],", len(meta.Inputs)), ",")
			out, e := EmbeddingsResponse([]byte(`{"embeddings":[`+rows+`],"dimensions":2}`), meta, nil)
			switch {
			case meta.Dimensions != 0 && meta.Dimensions != 2:
				if e == nil || e.Status != http.StatusBadRequest {
					t.Fatalf("openai %q: dimensions %d not refused: %v", body, meta.Dimensions, e)
				}
			case e != nil:
				t.Fatalf("openai %q: answer refused: %v", body, e)
			default:
				var list struct {
					Data []json.RawMessage `json:"data"`
				}
				if !json.Valid(out) || json.Unmarshal(out, &list) != nil || len(list.Data) != len(meta.Inputs) {
					t.Fatalf("openai %q: answer %q", body, out)
				}
			}
		}
	})
}

// checkModel fails unless the model_name sent is one the module allows: absent only where the module has
// neither default nor list, and in the list where there is one.
func checkModel(t *testing.T, s *Server, k Kind, raw json.RawMessage) {
	t.Helper()
	def, list := s.cfg.models(k)
	if raw == nil {
		if def != "" || len(list) > 0 {
			t.Fatalf("no model_name sent for %s, where the module has default %q and list %v", k, def, list)
		}
		return
	}
	var m string
	if json.Unmarshal(raw, &m) != nil || m == "" {
		t.Fatalf("model_name %s is not a name", raw)
	}
	if len(list) > 0 && !slices.Contains(list, m) {
		t.Fatalf("model_name %q sent, outside %v", m, list)
	}
}

// FuzzUpstream feeds arbitrary model server answers to the embeddings translation and to the error
// mapping: nothing panics, a translated answer is valid JSON with one embedding per input, a refused one
// is 502 (or 400 for dimensions), and a mapped error is an error status with a bounded, trace-free message.
func FuzzUpstream(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"embeddings":[[0.1,0.2],[0.3,0.4]],"dimensions":2,"model":"m"}`},
		{200, `{"embeddings":[[1e400],[2]]}`},
		{200, `{"embeddings":[[1],[2]],"dimensions":1.0}`},
		{422, `{"detail":[{"loc":["body","texts"],"msg":"Field required","type":"missing"}]}`},
		{500, `{"detail":"Embedding generation failed: 500: Failed to load model: 404: Embedding model 'x' not available locally."}`},
		{500, `{"detail":"x\nTraceback (most recent call last):\n  File \"/a/b.py\", line 1"}`},
		{404, `{"detail":"Not Found"}`},
		{503, ``},
	} {
		f.Add(s.status, []byte(s.body), uint8(2), true)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, n uint8, b64 bool) {
		meta := EmbeddingsMeta{Inputs: make([]string, int(n%8)+1), EncodingFormat: "float"}
		for i := range meta.Inputs {
			meta.Inputs[i] = "text"
		}
		if b64 {
			meta.EncodingFormat = "base64"
		}
		out, e := EmbeddingsResponse(body, meta, nil)
		if e != nil {
			if e.Status != http.StatusBadGateway {
				t.Fatalf("%q: status %d", body, e.Status)
			}
		} else {
			var list struct {
				Object string `json:"object"`
				Data   []struct {
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
			}
			if !json.Valid(out) || json.Unmarshal(out, &list) != nil || list.Object != "list" || len(list.Data) != len(meta.Inputs) {
				t.Fatalf("%q: translated to %q", body, out)
			}
		}
		me := MapError(status, body)
		switch {
		case status < 400:
			if me != nil {
				t.Fatalf("status %d mapped to %v", status, me)
			}
		case me == nil:
			t.Fatalf("status %d not mapped", status)
		case me.Status < 400 || me.Status > 599:
			t.Fatalf("status %d mapped to %d", status, me.Status)
		case len(me.Message) > maxErrorMessage+len("model server: …"):
			t.Fatalf("message of %d bytes", len(me.Message))
		case strings.Contains(me.Message, "Traceback") || strings.Contains(me.Message, `File "`) || strings.ContainsAny(me.Message, "\n\r\t"):
			t.Fatalf("message %q", me.Message)
		}
	})
}
