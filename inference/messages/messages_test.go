// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/mock"
	"github.com/dsp-ai/fd2/inference/openaicompat"
)

// kindProvider is a provider of a given kind that records the requests it gets.
type kindProvider struct {
	kind string
	got  []*inference.Request
}

func (p *kindProvider) Name() string { return "named-" + p.kind }
func (p *kindProvider) Kind() string { return p.kind }
func (p *kindProvider) Do(_ context.Context, req *inference.Request) (*inference.Response, error) {
	p.got = append(p.got, req)
	return &inference.Response{Status: http.StatusTeapot, Body: io.NopCloser(strings.NewReader("passed"))}, nil
}

func TestOver(t *testing.T) {
	native := &kindProvider{kind: "anthropic"}
	if got := Over(native); got != inference.Provider(native) {
		t.Error("a native Messages provider was wrapped")
	}
	inner := &kindProvider{kind: "openai"}
	p := Over(inner)
	if p == inference.Provider(inner) {
		t.Fatal("an OpenAI provider was not wrapped")
	}
	if Over(p) != p {
		t.Error("a wrapped provider was wrapped again")
	}
	if p.Name() != "named-openai" || p.Kind() != "openai" {
		t.Errorf("wrapper is %s/%s, want the inner provider's name and kind", p.Name(), p.Kind())
	}
	// Every other endpoint reaches the inner provider untouched.
	req := &inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(`{"input":"x"}`)}
	resp, err := p.Do(context.Background(), req)
	if err != nil || resp.Status != http.StatusTeapot || len(inner.got) != 1 || inner.got[0] != req {
		t.Fatalf("embeddings: %v, %v; inner got %v", resp, err, inner.got)
	}
	// The Messages endpoints are POST only.
	if _, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages, Method: http.MethodGet}); !errors.Is(err, inference.ErrUnsupported) {
		t.Errorf("GET messages: %v, want ErrUnsupported", err)
	}
}

func fixedIDs(t *testing.T) {
	old := newID
	newID = func() string { return "msg_fixed" }
	t.Cleanup(func() { newID = old })
}

func doMessages(t *testing.T, p inference.Provider, body string, stream bool) *inference.Response {
	t.Helper()
	resp, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages, Method: http.MethodPost,
		Body: []byte(body), Model: "mock-model", Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestMockEndToEnd serves Messages requests through the mock provider, streamed and not.
func TestMockEndToEnd(t *testing.T) {
	fixedIDs(t)
	p := Over(mock.New(mock.Config{Text: "Hello from the mock", Now: func() time.Time { return time.Unix(1, 0) }}))
	const body = `{"model":"claude-x","max_tokens":100,"system":"Be nice.","messages":[{"role":"user","content":"Say hello to me"}]}`

	resp := doMessages(t, p, body, false)
	raw, _ := io.ReadAll(resp.Body)
	if resp.Status != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Stream {
		t.Fatalf("status %d, header %v, stream %v", resp.Status, resp.Header, resp.Stream)
	}
	// The mock counts words: 2 of system, 4 of the message; 4 of its answer.
	want := `{"id":"msg_fixed","type":"message","role":"assistant","model":"mock-model","content":[{"type":"text","text":"Hello from the mock"}],` +
		`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":4}}`
	if string(raw) != want {
		t.Errorf("answer\n%s\nwant\n%s", raw, want)
	}

	resp = doMessages(t, p, strings.Replace(body, `"max_tokens":100`, `"max_tokens":2`, 1), true)
	if !resp.Stream || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream %v, header %v", resp.Stream, resp.Header)
	}
	out, err := readAll(resp.Body)
	_ = resp.Body.Close()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
	end, err := checkEvents(out)
	if err != nil || !end.stopped {
		t.Fatalf("stream %s: %v (stopped %v)", out, err, end.stopped)
	}
	for _, s := range []string{`"text":"Hello"`, `"text":" from"`, `"stop_reason":"max_tokens"`,
		`"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}`} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("stream lacks %s:\n%s", s, out)
		}
	}
}

func TestErrors(t *testing.T) {
	p := Over(mock.New(mock.Config{FailureRate: 1, FailStatus: http.StatusTooManyRequests}))
	_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages,
		Body: []byte(`{"model":"m","messages":[{"role":"user","content":"a"}]}`), Model: "m"})
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests || !pe.Retryable || pe.Type != "rate_limit_error" {
		t.Errorf("provider failure: %#v, want the provider's own error", err)
	}

	_, err = p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages,
		Body: []byte(`{"model":"m","top_k":3,"messages":[{"role":"user","content":"a"}]}`), Model: "m"})
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Retryable || pe.Type != "invalid_request_error" ||
		pe.Code != codeUnsupported || !strings.Contains(pe.Message, "top_k") || pe.Provider != "mock" {
		t.Errorf("refused request: %#v", err)
	}
}

func pngBase64(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func countTokensOf(t *testing.T, p inference.Provider, body string) int64 {
	t.Helper()
	resp, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointCountTokens, Method: http.MethodPost,
		Body: []byte(body), Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, header %v", resp.Status, resp.Header)
	}
	var out struct {
		InputTokens *int64 `json:"input_tokens"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || out.InputTokens == nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return *out.InputTokens
}

func TestCountTokens(t *testing.T) {
	inner := &kindProvider{kind: "openai"}
	p := Over(inner)
	text := `{"model":"m","messages":[{"role":"user","content":"Hello world"}]}`
	if n := countTokensOf(t, p, text); n != inference.CountTokens("gpt-4o", "Hello world\n") {
		t.Errorf("text: %d tokens", n)
	}
	withSystem := `{"model":"m","system":"You are terse.","messages":[{"role":"user","content":"Hello world"}]}`
	if n := countTokensOf(t, p, withSystem); n != inference.CountTokens("gpt-4o", "You are terse.\nHello world\n") {
		t.Errorf("system: %d tokens", n)
	}
	tools := `{"model":"m","tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"done"}]}]}]}`
	wantTools := inference.CountTokens("gpt-4o", `f{"a":1}`+"\n"+"done\n\n"+`[{"name":"f","input_schema":{"type":"object"}}]`)
	if n := countTokensOf(t, p, tools); n != wantTools {
		t.Errorf("tools: %d tokens, want %d", n, wantTools)
	}
	// A 200×150 image costs 200×150/750 = 40 tokens; a URL image the maximum.
	img := `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` +
		pngBase64(t, 200, 150) + `"}}]}]}`
	if n := countTokensOf(t, p, img); n != 40+inference.CountTokens("gpt-4o", "\n") {
		t.Errorf("image: %d tokens", n)
	}
	// A 3000×3000 image is scaled to 1568×1568, over 1.15 MP: the maximum.
	big := strings.Replace(img, pngBase64(t, 200, 150), pngBase64(t, 3000, 3000), 1)
	if n := countTokensOf(t, p, big); n != maxImageTokens+inference.CountTokens("gpt-4o", "\n") {
		t.Errorf("big image: %d tokens", n)
	}
	if len(inner.got) != 0 {
		t.Error("count_tokens called the provider")
	}
	// Fields the translation refuses are still counted.
	if n := countTokensOf(t, p, `{"model":"m","top_k":3,"messages":[{"role":"user","content":"Hello world"}]}`); n == 0 {
		t.Error("top_k: no tokens")
	}
	for _, bad := range []string{`{"model":"m"}`, `[]`, `{"messages":5}`} {
		_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointCountTokens, Body: []byte(bad)})
		var pe *inference.ProviderError
		if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Code == "" {
			t.Errorf("%s: %v, want a 400", bad, err)
		}
	}
}

// TestOpenAICompatEndToEnd serves a streamed Messages request through a real OpenAI-compatible provider
// against a fake upstream: the upstream gets the translated request, the client the translated stream.
func TestOpenAICompatEndToEnd(t *testing.T) {
	fixedIDs(t)
	var got map[string]any
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Request-Id", "req-1")
		for _, ev := range []string{roleChunk, toolStart(0, "call_1", "Read"), toolArgs(0, `{"file_path":"/a"}`),
			toolStart(1, "call_2", "Bash"), toolArgs(1, `{"command":"ls"}`), ck("{}", `"tool_calls"`), usageChunk, done} {
			_, _ = io.WriteString(w, ev)
			w.(http.Flusher).Flush()
		}
	}))
	defer upstream.Close()
	oc, err := openaicompat.New(openaicompat.Config{Name: "compat", BaseURL: upstream.URL + "/v1", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	p := Over(oc)
	resp, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages, Method: http.MethodPost,
		Model: "gpt-4o", Stream: true, Body: []byte(`{"model":"gpt-4o","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"ls"}],` +
			`"tools":[{"name":"Read","input_schema":{"type":"object"}},{"name":"Bash","input_schema":{"type":"object"}}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := readAll(resp.Body)
	_ = resp.Body.Close()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
	if got["stream"] != true || got["stream_options"].(map[string]any)["include_usage"] != true || got["max_tokens"] != float64(50) {
		t.Errorf("upstream got %v", got)
	}
	if resp.Header.Get("X-Request-Id") != "req-1" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("header %v", resp.Header)
	}
	golden(t, "testdata/stream/openaicompat.sse", out)
}

// TestStreamFromWholeAnswer: a provider that answers a streamed request with a whole completion still
// gives the client a Messages event stream, rendered from the answer.
func TestStreamFromWholeAnswer(t *testing.T) {
	fixedIDs(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",`+
			`"content":"Reading \"a\".","reasoning_content":"Need the file.","tool_calls":[{"id":"call_1","type":"function",`+
			`"function":{"name":"Read","arguments":"{\"file_path\": \"/a\"}"}}]},"finish_reason":"tool_calls"}],`+
			`"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`)
	}))
	defer upstream.Close()
	oc, err := openaicompat.New(openaicompat.Config{Name: "compat", BaseURL: upstream.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	resp := doMessages(t, Over(oc), `{"model":"m","stream":true,"messages":[{"role":"user","content":"read a"}]}`, true)
	if !resp.Stream || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream %v, header %v", resp.Stream, resp.Header)
	}
	out, err := readAll(resp.Body)
	if !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if end, err := checkEvents(out); err != nil || !end.stopped {
		t.Fatalf("%v (stopped %v)", err, end.stopped)
	}
	golden(t, "testdata/stream/whole_answer.sse", out)
}

// cannedProvider answers every request with one response.
type cannedProvider struct {
	resp *inference.Response
	got  *inference.Request
}

func (p *cannedProvider) Name() string { return "canned" }
func (p *cannedProvider) Kind() string { return "openai" }
func (p *cannedProvider) Do(_ context.Context, req *inference.Request) (*inference.Response, error) {
	p.got = req
	return p.resp, nil
}

// TestBrokenAnswers: an answer that cannot be translated is a retryable 502 of the provider, so the
// router may try another deployment.
func TestBrokenAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resp   *inference.Response
		stream bool
	}{
		{"not_json", &inference.Response{Status: 200, Body: io.NopCloser(strings.NewReader("<html>"))}, false},
		{"no_choices", &inference.Response{Status: 200, Body: io.NopCloser(strings.NewReader(`{"choices":[]}`))}, false},
		{"stream_unasked", &inference.Response{Status: 200, Stream: true, Body: io.NopCloser(strings.NewReader(done))}, false},
		{"whole_not_json", &inference.Response{Status: 200, Body: io.NopCloser(strings.NewReader("x"))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &cannedProvider{resp: tc.resp}
			_, err := Over(inner).Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages,
				Body: []byte(`{"model":"m","messages":[{"role":"user","content":"a"}]}`), Model: "m", Stream: tc.stream})
			var pe *inference.ProviderError
			if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway || !pe.Retryable || pe.Provider != "canned" {
				t.Errorf("error %#v, want a retryable 502 of the provider", err)
			}
			if inner.got.Endpoint != inference.EndpointChat || inner.got.Method != http.MethodPost || inner.got.Model != "m" ||
				inner.got.Stream != tc.stream || inner.got.Query != nil {
				t.Errorf("inner request %+v", inner.got)
			}
		})
	}
}
