// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package mock

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

var fixed = time.Unix(1767225600, 0)

func newMock(cfg Config) inference.Provider {
	cfg.Now = func() time.Time { return fixed }
	return New(cfg)
}

func do(t *testing.T, p inference.Provider, endpoint, body string) *inference.Response {
	t.Helper()
	resp, err := p.Do(context.Background(), &inference.Request{Endpoint: endpoint, Method: http.MethodPost, Body: []byte(body)})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	return resp
}

func decode(t *testing.T, resp *inference.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return m
}

// events reads an SSE body into its data payloads, [DONE] included.
func events(t *testing.T, resp *inference.Response) []string {
	t.Helper()
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		} else if sc.Text() != "" {
			t.Fatalf("unexpected SSE line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	return out
}

func TestChatCompletion(t *testing.T) {
	p := newMock(Config{})
	if p.Kind() != "mock" || p.Name() != "mock" {
		t.Fatalf("Kind %q Name %q", p.Kind(), p.Name())
	}
	body := `{"model":"m1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there friend"}]}]}`
	resp := do(t, p, inference.EndpointChat, body)
	if resp.Stream || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stream %v header %v", resp.Stream, resp.Header)
	}
	got := decode(t, resp)
	want := map[string]any{
		"object": "chat.completion", "created": float64(fixed.Unix()), "model": "m1", "system_fingerprint": nil,
		"choices": []any{map[string]any{"index": float64(0), "logprobs": nil, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": "This is a mock response.", "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": float64(5), "completion_tokens": float64(5), "total_tokens": float64(10)},
	}
	id, _ := got["id"].(string)
	delete(got, "id")
	if !strings.HasPrefix(id, "chatcmpl-") {
		t.Errorf("id = %q", id)
	}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("got  %s\nwant %s", mustJSON(t, got), mustJSON(t, want))
	}
	again := decode(t, do(t, p, inference.EndpointChat, body))
	if again["id"] != id {
		t.Errorf("id not deterministic: %v vs %v", again["id"], id)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestChatStream(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		body         string
		wantText     string
		wantFinish   string
		includeUsage bool
	}{
		{"plain", Config{}, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			"This is a mock response.", "stop", false},
		{"with usage", Config{Text: "a b"}, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			"a b", "stop", true},
		{"tokens cycle and max_tokens cuts", Config{Text: "x y", Tokens: 10}, `{"model":"m","stream":true,"max_tokens":3,"messages":[]}`,
			"x y x", "length", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, newMock(tc.cfg), inference.EndpointChat, tc.body)
			if !resp.Stream || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream %v header %v", resp.Stream, resp.Header)
			}
			evs := events(t, resp)
			if evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("last event %q", evs[len(evs)-1])
			}
			var text, finish string
			var sawRole, sawUsage bool
			for _, ev := range evs[:len(evs)-1] {
				var c struct {
					Object  string          `json:"object"`
					Usage   json.RawMessage `json:"usage"`
					Choices []struct {
						Delta struct {
							Role    string  `json:"role"`
							Content *string `json:"content"`
						} `json:"delta"`
						FinishReason *string `json:"finish_reason"`
					} `json:"choices"`
				}
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatalf("chunk %s: %v", ev, err)
				}
				if c.Object != "chat.completion.chunk" {
					t.Errorf("object %q", c.Object)
				}
				hasUsageKey := strings.Contains(ev, `"usage":`)
				if hasUsageKey != tc.includeUsage {
					t.Errorf("chunk %s: usage key present = %v", ev, hasUsageKey)
				}
				if len(c.Choices) == 0 {
					var u map[string]int
					if err := json.Unmarshal(c.Usage, &u); err != nil || u["completion_tokens"] != 2 || u["total_tokens"] != 3 {
						t.Errorf("usage chunk %s", ev)
					}
					sawUsage = true
					continue
				}
				if sawUsage {
					t.Error("a chunk followed the usage chunk")
				}
				ch := c.Choices[0]
				if ch.Delta.Role == "assistant" {
					sawRole = true
				}
				if ch.Delta.Content != nil {
					text += *ch.Delta.Content
				}
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
			if !sawRole || text != tc.wantText || finish != tc.wantFinish || sawUsage != tc.includeUsage {
				t.Errorf("role %v text %q finish %q usage %v", sawRole, text, finish, sawUsage)
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	p := newMock(Config{Text: "one two"})
	got := decode(t, do(t, p, inference.EndpointCompletions, `{"model":"m","prompt":"say it"}`))
	choices := got["choices"].([]any)
	c := choices[0].(map[string]any)
	if got["object"] != "text_completion" || c["text"] != "one two" || c["finish_reason"] != "stop" {
		t.Errorf("got %v", got)
	}
	if u := got["usage"].(map[string]any); u["prompt_tokens"] != float64(2) || u["total_tokens"] != float64(4) {
		t.Errorf("usage %v", u)
	}
	evs := events(t, do(t, p, inference.EndpointCompletions, `{"model":"m","prompt":"x","stream":true}`))
	var text string
	for _, ev := range evs[:len(evs)-1] {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev), &c); err != nil || c.Object != "text_completion" {
			t.Fatalf("chunk %s: %v", ev, err)
		}
		text += c.Choices[0].Text
	}
	if text != "one two" || evs[len(evs)-1] != "[DONE]" {
		t.Errorf("streamed %q, events %v", text, evs)
	}
}

func TestEmbeddings(t *testing.T) {
	p := newMock(Config{Dimensions: 8})
	type result struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage map[string]int `json:"usage"`
	}
	get := func(body string) result {
		t.Helper()
		resp := do(t, p, inference.EndpointEmbeddings, body)
		defer resp.Body.Close()
		var r result
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get(`{"model":"e","input":["hello world","other"]}`)
	if r.Object != "list" || r.Model != "e" || len(r.Data) != 2 || r.Usage["prompt_tokens"] != 3 || r.Data[1].Index != 1 {
		t.Fatalf("got %+v", r)
	}
	var v0, v1 []float32
	json.Unmarshal(r.Data[0].Embedding, &v0)
	json.Unmarshal(r.Data[1].Embedding, &v1)
	if len(v0) != 8 {
		t.Fatalf("dims %d", len(v0))
	}
	var norm float64
	for _, f := range v0 {
		norm += float64(f) * float64(f)
	}
	if math.Abs(norm-1) > 1e-4 {
		t.Errorf("norm² = %v, want 1", norm)
	}
	if mustJSON(t, v0) == mustJSON(t, v1) {
		t.Error("different inputs got the same vector")
	}
	single := get(`{"model":"e","input":"hello world","dimensions":8}`)
	var again []float32
	json.Unmarshal(single.Data[0].Embedding, &again)
	if mustJSON(t, again) != mustJSON(t, v0) {
		t.Error("embedding is not deterministic")
	}
	b64 := get(`{"model":"e","input":"hello world","encoding_format":"base64"}`)
	var s string
	if err := json.Unmarshal(b64.Data[0].Embedding, &s); err != nil {
		t.Fatalf("base64 embedding: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 {
		t.Fatalf("decoded %d bytes, %v", len(raw), err)
	}
	for i := range v0 {
		if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); f != v0[i] {
			t.Fatalf("base64[%d] = %v, want %v", i, f, v0[i])
		}
	}
	if tok := get(`{"model":"e","input":[[1,2,3],[4]],"dimensions":4}`); len(tok.Data) != 2 || tok.Usage["total_tokens"] != 4 {
		t.Errorf("token arrays: %+v", tok)
	}
	_, err = p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(`{"input":[]}`)})
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != 400 || pe.Retryable {
		t.Errorf("empty input: %v", err)
	}
}

func TestModelsAndUnsupported(t *testing.T) {
	p := newMock(Config{Models: []string{"a", "b"}})
	got := decode(t, do(t, p, inference.EndpointModels, ""))
	if data := got["data"].([]any); len(data) != 2 || data[1].(map[string]any)["id"] != "b" {
		t.Errorf("models %v", got)
	}
	if m := decode(t, do(t, p, "models/a", "")); m["id"] != "a" || m["object"] != "model" {
		t.Errorf("model %v", m)
	}
	tests := []struct {
		name, endpoint string
		check          func(error) bool
	}{
		{"unknown model", "models/zz", func(err error) bool {
			var pe *inference.ProviderError
			return errors.As(err, &pe) && pe.Status == 404
		}},
		{"images", inference.EndpointImages, func(err error) bool { return errors.Is(err, inference.ErrUnsupported) }},
		{"speech", inference.EndpointSpeech, func(err error) bool { return errors.Is(err, inference.ErrUnsupported) }},
		{"bad JSON", inference.EndpointChat, func(err error) bool {
			var pe *inference.ProviderError
			return errors.As(err, &pe) && pe.Status == 400
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: tc.endpoint, Body: []byte("{")})
			if !tc.check(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestFailureRate(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		lo, hi   float64
		wantCode int
	}{
		{"always", Config{FailureRate: 1}, 1, 1, 503},
		{"never", Config{}, 0, 0, 0},
		{"half, custom status", Config{FailureRate: 0.5, FailStatus: 429}, 0.4, 0.6, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newMock(tc.cfg)
			const n = 2000
			failed := 0
			for range n {
				resp, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointModels})
				if err == nil {
					resp.Body.Close()
					continue
				}
				var pe *inference.ProviderError
				if !errors.As(err, &pe) || pe.Status != tc.wantCode || !pe.Retryable {
					t.Fatalf("err = %v", err)
				}
				failed++
			}
			if r := float64(failed) / n; r < tc.lo || r > tc.hi {
				t.Errorf("failure share %.3f, want in [%v, %v]", r, tc.lo, tc.hi)
			}
		})
	}
}

func TestCancellation(t *testing.T) {
	t.Run("during latency", func(t *testing.T) {
		p := newMock(Config{Latency: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := p.Do(ctx, &inference.Request{Endpoint: inference.EndpointModels}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		p := newMock(Config{TokenDelay: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := p.Do(ctx, &inference.Request{Endpoint: inference.EndpointChat, Stream: true, Body: []byte(`{"model":"m","messages":[]}`)})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.ReadAll(br); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	})
}
