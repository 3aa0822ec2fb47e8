// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func newServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the status, headers and body.
func do(t *testing.T, method, url, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

type chatResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta        map[string]any `json:"delta"`
		FinishReason *string        `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

func TestChatCompletion(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		name        string
		path        string
		body        string
		wantModel   string
		wantContent string
		wantFinish  string
		wantUsage   usage
	}{
		{
			name:        "string content",
			path:        "/v1/chat/completions",
			body:        `{"model":"llama-3.1-8b-instant","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello big world"}]}`,
			wantModel:   "llama-3.1-8b-instant",
			wantContent: "echo: hello big world",
			wantFinish:  "stop",
			wantUsage:   usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9},
		},
		{
			name:        "array content and default model",
			path:        "/v1/chat/completions",
			body:        `{"messages":[{"role":"user","content":[{"type":"text","text":"one two"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"three"}]}]}`,
			wantModel:   DefaultModel,
			wantContent: "echo: one two three",
			wantFinish:  "stop",
			wantUsage:   usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
		},
		{
			name:        "last user message wins and null content counts zero",
			path:        "/v1/chat/completions",
			body:        `{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":null},{"role":"user","content":"second one"}]}`,
			wantModel:   DefaultModel,
			wantContent: "echo: second one",
			wantFinish:  "stop",
			wantUsage:   usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6},
		},
		{
			name:        "max_tokens truncates words",
			path:        "/v1/chat/completions",
			body:        `{"messages":[{"role":"user","content":"a b c d e"}],"max_tokens":3,"n":4}`,
			wantModel:   DefaultModel,
			wantContent: "echo: a b",
			wantFinish:  "length",
			wantUsage:   usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8},
		},
		{
			name:        "groq path alias",
			path:        "/openai/v1/chat/completions",
			body:        `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			wantModel:   "m",
			wantContent: "echo: hi",
			wantFinish:  "stop",
			wantUsage:   usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, srv.URL+tc.path, tc.body, nil)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got chatResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if !strings.HasPrefix(got.ID, "chatcmpl-") || got.Object != "chat.completion" || got.Created == 0 {
				t.Errorf("envelope id=%q object=%q created=%d", got.ID, got.Object, got.Created)
			}
			if got.Model != tc.wantModel {
				t.Errorf("model = %q, want %q", got.Model, tc.wantModel)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("choices = %d, want 1 (n is ignored)", len(got.Choices))
			}
			c := got.Choices[0]
			if c.Message.Role != "assistant" || c.Message.Content != tc.wantContent {
				t.Errorf("message = %+v, want assistant %q", c.Message, tc.wantContent)
			}
			if c.FinishReason == nil || *c.FinishReason != tc.wantFinish {
				t.Errorf("finish_reason = %v, want %q", c.FinishReason, tc.wantFinish)
			}
			if got.Usage == nil || *got.Usage != tc.wantUsage {
				t.Errorf("usage = %+v, want %+v", got.Usage, tc.wantUsage)
			}
		})
	}
}

// sseEvent is one "data:" payload of a stream.
type sseEvent struct {
	at   time.Time
	data string
}

// readSSE reads a whole event stream, recording when each event arrived.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var events []sseEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected SSE line %q", line)
		}
		events = append(events, sseEvent{at: time.Now(), data: data})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	return events
}

func TestChatStream(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		name      string
		body      string
		wantWords []string
		wantUsage *usage
	}{
		{
			name:      "without usage",
			body:      `{"model":"m","stream":true,"messages":[{"role":"user","content":"red green"}]}`,
			wantWords: []string{"echo: ", "red ", "green"},
		},
		{
			name:      "include_usage false",
			body:      `{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"red"}]}`,
			wantWords: []string{"echo: ", "red"},
		},
		{
			name:      "include_usage true",
			body:      `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"x y"},{"role":"user","content":"red green blue"}]}`,
			wantWords: []string{"echo: ", "red ", "green ", "blue"},
			wantUsage: &usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control = %q", cc)
			}
			events := readSSE(t, resp.Body)
			if len(events) == 0 || events[len(events)-1].data != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %v", events)
			}
			chunks := make([]chatResponse, 0, len(events)-1)
			for _, ev := range events[:len(events)-1] {
				var c chatResponse
				if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
					t.Fatalf("decoding chunk %q: %v", ev.data, err)
				}
				if c.Object != "chat.completion.chunk" || c.Model != "m" || !strings.HasPrefix(c.ID, "chatcmpl-") {
					t.Errorf("chunk envelope object=%q model=%q id=%q", c.Object, c.Model, c.ID)
				}
				chunks = append(chunks, c)
			}
			if tc.wantUsage != nil {
				last := chunks[len(chunks)-1]
				if len(last.Choices) != 0 || last.Usage == nil || *last.Usage != *tc.wantUsage {
					t.Errorf("usage chunk choices=%d usage=%+v, want %+v", len(last.Choices), last.Usage, tc.wantUsage)
				}
				chunks = chunks[:len(chunks)-1]
			}
			for i, c := range chunks {
				if c.Usage != nil {
					t.Errorf("chunk %d carries usage %+v", i, c.Usage)
				}
				if len(c.Choices) != 1 {
					t.Fatalf("chunk %d has %d choices", i, len(c.Choices))
				}
			}
			if d := chunks[0].Choices[0].Delta; d["role"] != "assistant" || d["content"] != "" {
				t.Errorf("first delta = %v, want role assistant and empty content", d)
			}
			var words []string
			for _, c := range chunks[1 : len(chunks)-1] {
				if c.Choices[0].FinishReason != nil {
					t.Errorf("word chunk has finish_reason %q", *c.Choices[0].FinishReason)
				}
				s, _ := c.Choices[0].Delta["content"].(string)
				words = append(words, s)
			}
			if strings.Join(words, "|") != strings.Join(tc.wantWords, "|") {
				t.Errorf("words = %q, want %q", words, tc.wantWords)
			}
			final := chunks[len(chunks)-1].Choices[0]
			if len(final.Delta) != 0 || final.FinishReason == nil || *final.FinishReason != "stop" {
				t.Errorf("final chunk delta=%v finish=%v, want {} and stop", final.Delta, final.FinishReason)
			}
		})
	}
}

// TestChatStreamFlushesEachChunk fails if the chunks are buffered: the first event must arrive well before
// the stream ends, which takes one TokenDelay per chunk.
func TestChatStreamFlushesEachChunk(t *testing.T) {
	const delay = 80 * time.Millisecond
	srv := newServer(t, Options{TokenDelay: delay})
	body := `{"stream":true,"messages":[{"role":"user","content":"a b c d"}]}`
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readSSE(t, resp.Body)
	// role + 5 words + stop chunk = 7 chunks, each followed by a delay.
	if len(events) != 8 {
		t.Fatalf("got %d events, want 8", len(events))
	}
	if spread := events[len(events)-1].at.Sub(events[0].at); spread < 5*delay {
		t.Errorf("events arrived within %v of each other, want at least %v: chunks were not flushed one by one", spread, 5*delay)
	}
}

func TestStreamStopsWhenClientLeaves(t *testing.T) {
	srv := newServer(t, Options{TokenDelay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"a b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"role":"assistant"`) {
		t.Fatalf("first line = %q, %v", line, err)
	}
	cancel()
	// httptest.Server.Close (in Cleanup) blocks until every handler has returned; with a one-hour token delay
	// that only happens if the handler watches the request context.
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still sleeping after the client left")
	}
}

func TestHooks(t *testing.T) {
	srv := newServer(t, Options{})
	chat := `{"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name      string
		path      string
		headers   map[string]string
		wantCode  int
		wantType  string
		wantMin   time.Duration
		wantInMsg string
	}{
		{name: "status 503", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Status": "503"}, wantCode: 503, wantType: "server_error", wantInMsg: "injected failure: 503"},
		{name: "status 429", path: "/v1/embeddings", headers: map[string]string{"X-Fake-Status": "429"}, wantCode: 429, wantType: "rate_limit_error"},
		{name: "status 401 on groq path", path: "/openai/v1/chat/completions", headers: map[string]string{"X-Fake-Status": "401"}, wantCode: 401, wantType: "authentication_error"},
		{name: "bad status", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Status": "abc"}, wantCode: 400, wantType: "invalid_request_error", wantInMsg: "X-Fake-Status"},
		{name: "status out of range", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Status": "200"}, wantCode: 400, wantType: "invalid_request_error"},
		{name: "delay", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Delay": "150ms"}, wantCode: 200, wantMin: 150 * time.Millisecond},
		{name: "delay then status", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Delay": "100ms", "X-Fake-Status": "502"}, wantCode: 502, wantType: "server_error", wantMin: 100 * time.Millisecond},
		{name: "bad delay", path: "/v1/chat/completions", headers: map[string]string{"X-Fake-Delay": "soon"}, wantCode: 400, wantType: "invalid_request_error", wantInMsg: "X-Fake-Delay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, _, body := do(t, http.MethodPost, srv.URL+tc.path, chat, tc.headers)
			if elapsed := time.Since(start); elapsed < tc.wantMin {
				t.Errorf("answered after %v, want at least %v", elapsed, tc.wantMin)
			}
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", code, tc.wantCode, body)
			}
			if tc.wantType == "" {
				return
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if e.Error.Type != tc.wantType || e.Error.Message == "" || e.Error.Code == "" {
				t.Errorf("error = %+v, want type %q with message and code", e.Error, tc.wantType)
			}
			if !strings.Contains(e.Error.Message, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", e.Error.Message, tc.wantInMsg)
			}
		})
	}
}

func TestLatencyRespectsCancellation(t *testing.T) {
	srv := newServer(t, Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/models", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("request with one-hour latency succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still sleeping after the client left")
	}
}

func TestEcho(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		name, method, path, query, body string
	}{
		{name: "post with subpath", method: http.MethodPost, path: "/echo/sas2py/convert", query: "a=1&b=two", body: `{"x":1}`},
		{name: "bare get", method: http.MethodGet, path: "/echo"},
		{name: "delete ignores hooks", method: http.MethodDelete, path: "/echo/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.URL + tc.path
			if tc.query != "" {
				url += "?" + tc.query
			}
			code, _, body := do(t, tc.method, url, tc.body, map[string]string{"X-Test": "yes", "X-Fake-Status": "500"})
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			var got EchoResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if got.Method != tc.method || got.Path != tc.path || got.RawQuery != tc.query || got.Body != tc.body {
				t.Errorf("echo = %+v", got)
			}
			if got.Host != strings.TrimPrefix(srv.URL, "http://") {
				t.Errorf("host = %q", got.Host)
			}
			if v := got.Headers["X-Test"]; len(v) != 1 || v[0] != "yes" {
				t.Errorf("headers[X-Test] = %v", v)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantAllow                string
	}{
		{name: "bad json", method: http.MethodPost, path: "/v1/chat/completions", body: `{"messages":`, wantCode: 400},
		{name: "wrong content type", method: http.MethodPost, path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":5}]}`, wantCode: 400},
		{name: "no messages", method: http.MethodPost, path: "/v1/chat/completions", body: `{"model":"m"}`, wantCode: 400},
		{name: "no prompt", method: http.MethodPost, path: "/v1/completions", body: `{}`, wantCode: 400},
		{name: "no input", method: http.MethodPost, path: "/v1/embeddings", body: `{"input":[]}`, wantCode: 400},
		{name: "bad encoding format", method: http.MethodPost, path: "/v1/embeddings", body: `{"input":"x","encoding_format":"hex"}`, wantCode: 400},
		{name: "get chat", method: http.MethodGet, path: "/v1/chat/completions", wantCode: 405, wantAllow: "POST"},
		{name: "post models", method: http.MethodPost, path: "/v1/models", body: `{}`, wantCode: 405, wantAllow: "GET"},
		{name: "unknown path", method: http.MethodPost, path: "/v1/unknown", body: `{}`, wantCode: 404},
		{name: "root", method: http.MethodGet, path: "/", wantCode: 404},
		{name: "openai prefix without v1", method: http.MethodGet, path: "/openai/models", wantCode: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, tc.method, srv.URL+tc.path, tc.body, nil)
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", code, tc.wantCode, body)
			}
			if got := hdr.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("body %s is not an OpenAI error (%v)", body, err)
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	srv := newServer(t, Options{})
	t.Run("non-stream prompt array", func(t *testing.T) {
		code, _, body := do(t, http.MethodPost, srv.URL+"/v1/completions", `{"model":"m","prompt":["one two","three"],"max_tokens":2}`, nil)
		if code != http.StatusOK {
			t.Fatalf("status = %d, body %s", code, body)
		}
		var got struct {
			Object  string `json:"object"`
			Model   string `json:"model"`
			Choices []struct {
				Text         string `json:"text"`
				Index        int    `json:"index"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Object != "text_completion" || got.Model != "m" || len(got.Choices) != 2 {
			t.Fatalf("response = %+v", got)
		}
		if c := got.Choices[0]; c.Text != "echo: one" || c.FinishReason != "length" || c.Index != 0 {
			t.Errorf("choice 0 = %+v", c)
		}
		if c := got.Choices[1]; c.Text != "echo: three" || c.FinishReason != "stop" || c.Index != 1 {
			t.Errorf("choice 1 = %+v", c)
		}
		if want := (usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}); got.Usage != want {
			t.Errorf("usage = %+v, want %+v", got.Usage, want)
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/v1/completions", "application/json",
			strings.NewReader(`{"prompt":"x y","stream":true,"stream_options":{"include_usage":true}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := readSSE(t, resp.Body)
		if len(events) != 6 || events[5].data != "[DONE]" {
			t.Fatalf("events = %v, want 3 words, stop, usage, [DONE]", events)
		}
		var text strings.Builder
		for _, ev := range events[:3] {
			var c struct {
				Choices []struct {
					Text string `json:"text"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(ev.data), &c); err != nil || len(c.Choices) != 1 {
				t.Fatalf("chunk %q: %v", ev.data, err)
			}
			text.WriteString(c.Choices[0].Text)
		}
		if text.String() != "echo: x y" {
			t.Errorf("streamed text = %q", text.String())
		}
		if !strings.Contains(events[3].data, `"finish_reason":"stop"`) || !strings.Contains(events[4].data, `"total_tokens":5`) {
			t.Errorf("tail events = %q, %q", events[3].data, events[4].data)
		}
	})
}

func TestEmbeddings(t *testing.T) {
	srv := newServer(t, Options{})
	type embResp struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	tests := []struct {
		name       string
		body       string
		wantInputs []string
		base64     bool
	}{
		{name: "string", body: `{"model":"e","input":"hello world"}`, wantInputs: []string{"hello world"}},
		{name: "array", body: `{"model":"e","input":["a","b c","a"]}`, wantInputs: []string{"a", "b c", "a"}},
		{name: "base64", body: `{"model":"e","input":["a"],"encoding_format":"base64"}`, wantInputs: []string{"a"}, base64: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, http.MethodPost, srv.URL+"/v1/embeddings", tc.body, nil)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			var got embResp
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Object != "list" || got.Model != "e" || len(got.Data) != len(tc.wantInputs) {
				t.Fatalf("response = %s", body)
			}
			words := 0
			for i, d := range got.Data {
				words += len(strings.Fields(tc.wantInputs[i]))
				var vec []float32
				if tc.base64 {
					var s string
					if err := json.Unmarshal(d.Embedding, &s); err != nil {
						t.Fatalf("embedding %d is not a base64 string: %s", i, d.Embedding)
					}
					raw, err := base64.StdEncoding.DecodeString(s)
					if err != nil || len(raw) != 4*EmbeddingDims {
						t.Fatalf("decoding base64 embedding: %d bytes, %v", len(raw), err)
					}
					for j := 0; j < len(raw); j += 4 {
						vec = append(vec, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else if err := json.Unmarshal(d.Embedding, &vec); err != nil {
					t.Fatalf("embedding %d: %v", i, err)
				}
				if d.Object != "embedding" || d.Index != i || len(vec) != EmbeddingDims {
					t.Errorf("data[%d] object=%q index=%d dims=%d", i, d.Object, d.Index, len(vec))
				}
				want := Embed(tc.wantInputs[i])
				var norm float64
				for j := range vec {
					if vec[j] != want[j] {
						t.Fatalf("data[%d] = %v, want %v", i, vec, want)
					}
					norm += float64(vec[j]) * float64(vec[j])
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Errorf("data[%d] norm² = %v, want 1", i, norm)
				}
			}
			if got.Usage.PromptTokens != words || got.Usage.TotalTokens != words {
				t.Errorf("usage = %+v, want %d", got.Usage, words)
			}
		})
	}
	t.Run("different inputs differ", func(t *testing.T) {
		a, b := Embed("a"), Embed("b")
		same := true
		for i := range a {
			same = same && a[i] == b[i]
		}
		if same {
			t.Error("Embed(a) == Embed(b)")
		}
	})
}

func TestModels(t *testing.T) {
	srv := newServer(t, Options{Model: "custom"})
	tests := []struct {
		name, path, want string
	}{
		{name: "list", path: "/v1/models", want: `{"data":[{"created":1700000000,"id":"custom","object":"model","owned_by":"fakellm"}],"object":"list"}`},
		{name: "list on groq path", path: "/openai/v1/models", want: `{"data":[{"created":1700000000,"id":"custom","object":"model","owned_by":"fakellm"}],"object":"list"}`},
		{name: "one", path: "/v1/models/llama", want: `{"created":1700000000,"id":"llama","object":"model","owned_by":"fakellm"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, http.MethodGet, srv.URL+tc.path, "", nil)
			if code != http.StatusOK || strings.TrimSpace(string(body)) != tc.want {
				t.Errorf("GET %s = %d %s, want %s", tc.path, code, body, tc.want)
			}
		})
	}
}

func TestChatForcedToolCall(t *testing.T) {
	srv := newServer(t, Options{})
	const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}]`
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}}`
	status, _, b := do(t, "POST", srv.URL+"/v1/chat/completions", body+`}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	var res struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct {
				ToolCalls []struct {
					ID       string `json:"id"`
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 1 || res.Choices[0].FinishReason != "tool_calls" || len(res.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("%s", b)
	}
	call := res.Choices[0].Message.ToolCalls[0]
	if call.Function.Name != "get_weather" || call.Function.Arguments != `{"city":"x","days":1}` || !strings.HasPrefix(call.ID, "call_") {
		t.Fatalf("call %+v", call)
	}

	status, _, b = do(t, "POST", srv.URL+"/v1/chat/completions", body+`,"stream":true}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	var args strings.Builder
	pieces := 0
	for _, ev := range readSSE(t, bytes.NewReader(b)) {
		if ev.data == "[DONE]" {
			continue
		}
		if a := gjson.Get(ev.data, "choices.0.delta.tool_calls.0.function.arguments"); a.Exists() && a.Str != "" {
			args.WriteString(a.Str)
			pieces++
		}
	}
	if args.String() != `{"city":"x","days":1}` || pieces != 2 {
		t.Fatalf("streamed arguments %q in %d pieces", args.String(), pieces)
	}

	status, _, b = do(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],`+tools+`,"tool_choice":{"type":"function","function":{"name":"nope"}}}`, nil)
	if status != 400 {
		t.Fatalf("unknown forced tool: %d %s", status, b)
	}
}
