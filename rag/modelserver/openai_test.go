// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func TestEmbeddingsRequest(t *testing.T) {
	s := newServer(t, testConfig(), "")
	open := newServer(t, Config{}, "")
	for _, tc := range []struct {
		name     string
		s        *Server
		body     string
		upstream string
		meta     EmbeddingsMeta
		code     string
		msg      string
	}{
		{name: "string input", body: `{"model":"e-large","input":"hello"}`,
			upstream: `{"texts":["hello"],"model_name":"e-large"}`, meta: EmbeddingsMeta{"e-large", []string{"hello"}, "float", 0}},
		{name: "array input, default model", body: `{"input":["a","b"]}`,
			upstream: `{"texts":["a","b"],"model_name":"e-small"}`, meta: EmbeddingsMeta{"e-small", []string{"a", "b"}, "float", 0}},
		{name: "base64 and dimensions", body: `{"model":"e-small","input":"x","encoding_format":"base64","dimensions":384,"user":"u-1"}`,
			upstream: `{"texts":["x"],"model_name":"e-small"}`, meta: EmbeddingsMeta{"e-small", []string{"x"}, "base64", 384}},
		{name: "explicit float, null dimensions", body: `{"model":"e-small","input":"x","encoding_format":"float","dimensions":null,"user":null}`,
			upstream: `{"texts":["x"],"model_name":"e-small"}`, meta: EmbeddingsMeta{"e-small", []string{"x"}, "float", 0}},
		{name: "null encoding", body: `{"input":"x","encoding_format":null}`,
			upstream: `{"texts":["x"],"model_name":"e-small"}`, meta: EmbeddingsMeta{"e-small", []string{"x"}, "float", 0}},
		{name: "unknown fields are not forwarded", body: `{"input":"x","extra_body":{"a":1},"model_name":"evil"}`,
			upstream: `{"texts":["x"],"model_name":"e-small"}`, meta: EmbeddingsMeta{"e-small", []string{"x"}, "float", 0}},
		{name: "no policy, no model", s: open, body: `{"input":"x"}`,
			upstream: `{"texts":["x"]}`, meta: EmbeddingsMeta{"", []string{"x"}, "float", 0}},
		{name: "no policy, any model", s: open, body: `{"input":"x","model":"text-embedding-3-small"}`,
			upstream: `{"texts":["x"],"model_name":"text-embedding-3-small"}`, meta: EmbeddingsMeta{"text-embedding-3-small", []string{"x"}, "float", 0}},
		{name: "model outside the list", body: `{"model":"text-embedding-3-small","input":"x"}`,
			code: "model_not_allowed", msg: `embedding model "text-embedding-3-small" is not available on this module; allowed: e-small, e-large`},
		{name: "duplicate model, last wins", body: `{"model":"e-small","model":"evil","input":"x"}`, code: "model_not_allowed"},
		{name: "model not a string", body: `{"model":1,"input":"x"}`, code: "invalid_field", msg: "model must be a string"},
		{name: "token array", body: `{"model":"e-small","input":[1,2,3]}`, code: "unsupported_parameter", msg: "input: token arrays"},
		{name: "token arrays", body: `{"model":"e-small","input":[[1,2],[3]]}`, code: "unsupported_parameter", msg: "input"},
		{name: "negative token", body: `{"input":[-1]}`, code: "unsupported_parameter", msg: "input"},
		{name: "mixed text and tokens", body: `{"input":["a",5]}`, code: "unsupported_parameter", msg: "input"},
		{name: "input missing", body: `{"model":"e-small"}`, code: "missing_field", msg: "input is required"},
		{name: "input null", body: `{"input":null}`, code: "missing_field", msg: "input is required"},
		{name: "empty string", body: `{"input":""}`, code: "invalid_field", msg: "input must not be empty"},
		{name: "empty array", body: `{"input":[]}`, code: "invalid_field", msg: "input must not be empty"},
		{name: "empty element", body: `{"input":["a",""]}`, code: "invalid_field", msg: "input[1] must not be empty"},
		{name: "null element", body: `{"input":["a",null]}`, code: "invalid_field", msg: "input[1] must be a string"},
		{name: "object input", body: `{"input":{"text":"a"}}`, code: "invalid_field", msg: "input must be a string or an array of strings"},
		{name: "boolean input", body: `{"input":true}`, code: "invalid_field", msg: "input must be a string or an array of strings"},
		{name: "too many inputs", body: `{"input":` + texts(MaxTexts+1) + `}`, code: "too_many_items", msg: "input has 2049 items"},
		{name: "unknown encoding", body: `{"input":"x","encoding_format":"binary"}`, code: "invalid_field", msg: `encoding_format "binary" is not supported`},
		{name: "encoding not a string", body: `{"input":"x","encoding_format":1}`, code: "invalid_field", msg: "encoding_format must be a string"},
		{name: "zero dimensions", body: `{"input":"x","dimensions":0}`, code: "invalid_field", msg: "dimensions must be a positive integer"},
		{name: "negative dimensions", body: `{"input":"x","dimensions":-8}`, code: "invalid_field", msg: "dimensions"},
		{name: "fractional dimensions", body: `{"input":"x","dimensions":1.5}`, code: "invalid_field", msg: "dimensions"},
		{name: "string dimensions", body: `{"input":"x","dimensions":"384"}`, code: "invalid_field", msg: "dimensions"},
		{name: "user not a string", body: `{"input":"x","user":5}`, code: "invalid_field", msg: "user must be a string"},
		{name: "not an object", body: `["x"]`, code: "invalid_json"},
		{name: "not JSON", body: `input=x`, code: "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.s
			if srv == nil {
				srv = s
			}
			up, meta, e := srv.EmbeddingsRequest([]byte(tc.body))
			if tc.code != "" {
				if e == nil {
					t.Fatalf("translated to %s, want error %s", up, tc.code)
				}
				if e.Status != http.StatusBadRequest || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
					t.Fatalf("error %d %s %q, want 400 %s containing %q", e.Status, e.Code, e.Message, tc.code, tc.msg)
				}
				return
			}
			if e != nil {
				t.Fatalf("error %d %s: %s", e.Status, e.Code, e.Message)
			}
			assertJSONEqual(t, up, tc.upstream)
			if !reflect.DeepEqual(meta, tc.meta) {
				t.Fatalf("meta %+v, want %+v", meta, tc.meta)
			}
		})
	}
}

// decodeBase64 decodes OpenAI's base64 embedding as the SDKs do (numpy.frombuffer(data, dtype=float32)).
func decodeBase64(t *testing.T, s string) []float32 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		t.Fatalf("embedding %q is not base64 float32s: %v", s, err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func TestEmbeddingsResponse(t *testing.T) {
	two := EmbeddingsMeta{Model: "e-small", Inputs: []string{"abcde", "héllo"}, EncodingFormat: "float"}
	const answer = `{"embeddings":[[0.1,-2e-3,3],[1.0,2.5,-0.000001]],"model":"e-small","dimensions":3}`

	t.Run("float passes the numbers through", func(t *testing.T) {
		out, e := EmbeddingsResponse([]byte(answer), two, nil)
		if e != nil {
			t.Fatal(e)
		}
		// ceil(5/4) + ceil(6/4) bytes: 2 + 2.
		want := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-2e-3,3]},` +
			`{"object":"embedding","index":1,"embedding":[1.0,2.5,-0.000001]}],"model":"e-small","usage":{"prompt_tokens":4,"total_tokens":4}}`
		if string(out) != want {
			t.Fatalf("got  %s\nwant %s", out, want)
		}
	})
	t.Run("base64 round trip", func(t *testing.T) {
		meta := two
		meta.EncodingFormat = "base64"
		out, e := EmbeddingsResponse([]byte(answer), meta, nil)
		if e != nil {
			t.Fatal(e)
		}
		var list struct {
			Data []struct {
				Index     int    `json:"index"`
				Embedding string `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			t.Fatal(err)
		}
		want := [][]float32{{0.1, -2e-3, 3}, {1, 2.5, -0.000001}}
		if len(list.Data) != 2 {
			t.Fatalf("data %s", out)
		}
		for i, d := range list.Data {
			if got := decodeBase64(t, d.Embedding); d.Index != i || !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("embedding %d (index %d) decodes to %v, want %v", i, d.Index, got, want[i])
			}
		}
	})
	t.Run("usage from the counter", func(t *testing.T) {
		var counted []string
		out, e := EmbeddingsResponse([]byte(answer), two, func(s string) int { counted = append(counted, s); return 10 * len(counted) })
		if e != nil {
			t.Fatal(e)
		}
		if !reflect.DeepEqual(counted, two.Inputs) || !strings.HasSuffix(string(out), `"usage":{"prompt_tokens":30,"total_tokens":30}}`) {
			t.Fatalf("counted %q, answer %s", counted, out)
		}
	})
	t.Run("model from the answer when the request named none", func(t *testing.T) {
		meta := two
		meta.Model = ""
		out, e := EmbeddingsResponse([]byte(`{"embeddings":[[1],[2]],"model":"all-MiniLM-L6-v2","dimensions":1}`), meta, nil)
		if e != nil || !strings.Contains(string(out), `"model":"all-MiniLM-L6-v2"`) {
			t.Fatalf("%s, %v", out, e)
		}
		// The client's name wins over the echo.
		out, e = EmbeddingsResponse([]byte(`{"embeddings":[[1],[2]],"model":"other","dimensions":1}`), two, nil)
		if e != nil || !strings.Contains(string(out), `"model":"e-small"`) {
			t.Fatalf("%s, %v", out, e)
		}
	})
	t.Run("dimensions asked for", func(t *testing.T) {
		meta := two
		meta.Dimensions = 3
		if _, e := EmbeddingsResponse([]byte(answer), meta, nil); e != nil {
			t.Fatalf("the model's own size was refused: %v", e)
		}
		meta.Dimensions = 2
		_, e := EmbeddingsResponse([]byte(answer), meta, nil)
		if e == nil || e.Status != http.StatusBadRequest || e.Code != "unsupported_parameter" ||
			!strings.Contains(e.Message, `"e-small" embeds in 3 dimensions`) {
			t.Fatalf("error %v", e)
		}
	})
	for _, tc := range []struct{ name, answer, msg string }{
		{"not JSON", `<html>`, "not JSON"},
		{"NaN", `{"embeddings":[[NaN],[1]]}`, "not JSON"},
		{"array", `[[1],[2]]`, "not a JSON object"},
		{"no embeddings", `{"vectors":[[1],[2]]}`, "no embeddings array"},
		{"embeddings object", `{"embeddings":{"0":[1]}}`, "no embeddings array"},
		{"empty", `{"embeddings":[]}`, "no embeddings"},
		{"short", `{"embeddings":[[1]]}`, "1 embeddings for 2 inputs"},
		{"long", `{"embeddings":[[1],[2],[3]]}`, "3 embeddings for 2 inputs"},
		{"row not array", `{"embeddings":[[1],7]}`, "embedding 1 is not an array"},
		{"string value", `{"embeddings":[["0.1"],[1]]}`, "embedding 0 has a value that is not a number"},
		{"null value", `{"embeddings":[[1],[null]]}`, "embedding 1 has a value that is not a number"},
		{"nested value", `{"embeddings":[[[1]],[[2]]]}`, "not a number"},
		{"empty row", `{"embeddings":[[],[]]}`, "embedding 0 is empty"},
		{"beyond float64", `{"embeddings":[[1],[1e400]]}`, "embedding 1 has a value beyond float32 range"},
		{"beyond float32", `{"embeddings":[[-1e39],[1]]}`, "embedding 0 has a value beyond float32 range"},
		{"ragged", `{"embeddings":[[1,2],[1]]}`, "embedding 1 has 1 dimensions, embedding 0 has 2"},
		{"dimensions disagree", `{"embeddings":[[1,2],[3,4]],"dimensions":3}`, "says 3 dimensions for vectors of 2"},
		{"dimensions string", `{"embeddings":[[1,2],[3,4]],"dimensions":"2"}`, "says \"2\" dimensions"},
	} {
		t.Run("malformed "+tc.name, func(t *testing.T) {
			out, e := EmbeddingsResponse([]byte(tc.answer), two, nil)
			if e == nil {
				t.Fatalf("translated to %s", out)
			}
			if e.Status != http.StatusBadGateway || e.Code != "upstream_error" || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error %d %s %q, want 502 upstream_error containing %q", e.Status, e.Code, e.Message, tc.msg)
			}
		})
	}
	// A null dimensions is no claim.
	if _, e := EmbeddingsResponse([]byte(`{"embeddings":[[1],[2]],"dimensions":null}`), two, nil); e != nil {
		t.Fatal(e)
	}
}

// fakeModelServer embeds like the DSP model server: {texts, model_name} → {embeddings, dimensions, model},
// with a deterministic 4-dimensional vector per text.
func fakeModelServer(body []byte) ([]byte, error) {
	var req struct {
		Texts     []string `json:"texts"`
		ModelName *string  `json:"model_name"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	model := "all-MiniLM-L6-v2"
	if req.ModelName != nil {
		model = *req.ModelName
	}
	out := struct {
		Embeddings [][]float64 `json:"embeddings"`
		Dimensions int         `json:"dimensions"`
		Model      string      `json:"model"`
	}{Dimensions: 4, Model: model}
	for _, t := range req.Texts {
		out.Embeddings = append(out.Embeddings, fakeVector(t))
	}
	return json.Marshal(out)
}

func fakeVector(text string) []float64 {
	return []float64{float64(len(text)), 1 / 3.0, -0.125, 1e-7 * float64(len(text))}
}

// The OpenAI Go SDK embeds through the translation both ways: with its default (no encoding_format, so
// floats) and with base64, which it decodes itself; an allow-list refusal reaches it as an API error.
func TestOpenAISDKRoundTrip(t *testing.T) {
	s := newServer(t, testConfig(), "")
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call, e := s.Resolve(r.Method, strings.TrimPrefix(r.URL.Path, "/proj/embed"))
		if e == nil && call.Op != OpEmbeddingsOpenAI {
			t.Errorf("%s resolved to %v", r.URL.Path, call.Op)
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		sent = append(sent, m)
		var meta EmbeddingsMeta
		var up, out []byte
		if e == nil {
			up, meta, e = s.EmbeddingsRequest(body)
		}
		if e == nil {
			answer, err := fakeModelServer(up)
			if err != nil {
				t.Error(err)
			}
			out, e = EmbeddingsResponse(answer, meta, nil)
		}
		if e != nil {
			e.Write(w, "req-1")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/proj/embed/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	inputs := []string{"first text", "second, longer text"}

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{"", openai.EmbeddingNewParamsEncodingFormatBase64} {
		t.Run("format "+string(format), func(t *testing.T) {
			params := openai.EmbeddingNewParams{
				Model: "e-large",
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
			}
			if format != "" {
				params.EncodingFormat = format
			}
			res, err := client.Embeddings.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if got := sent[len(sent)-1]["encoding_format"]; (format == "") != (got == nil) {
				t.Fatalf("the SDK sent encoding_format %v", got)
			}
			if res.Model != "e-large" || len(res.Data) != len(inputs) || res.Usage.PromptTokens != 3+5 || res.Usage.TotalTokens != 8 {
				t.Fatalf("answer %s", res.RawJSON())
			}
			for i, d := range res.Data {
				want := fakeVector(inputs[i])
				if format != "" { // float32 on the wire
					for j := range want {
						want[j] = float64(float32(want[j]))
					}
				}
				if d.Index != int64(i) || !reflect.DeepEqual(d.Embedding, want) {
					t.Fatalf("embedding %d = %v, want %v", i, d.Embedding, want)
				}
			}
		})
	}
	t.Run("refused model", func(t *testing.T) {
		_, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: openai.EmbeddingModelTextEmbedding3Small,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "model_not_allowed" ||
			!strings.Contains(apiErr.Message, "allowed: e-small, e-large") {
			t.Fatalf("error %v", err)
		}
	})
}
