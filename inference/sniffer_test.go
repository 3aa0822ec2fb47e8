// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"strconv"
	"strings"
	"testing"
)

const (
	sseHead = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

: keep-alive

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" wörld, data: \"x\"\n"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

`
	sseUsage = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

`
	sseDone = "data: [DONE]\n\n"
	// "Hello" + ` wörld, data: "x"` + "\n" = 5 + 18 + 1 bytes.
	sseContentBytes = 5 + 18 + 1
)

func TestUsageSnifferSSE(t *testing.T) {
	est := (int64(sseContentBytes) + 3) / 4
	tests := []struct {
		name         string
		stream       string
		maxBody      int
		want         Usage
		wantReported bool
		wantEstimate int64
	}{
		{name: "with usage chunk", stream: sseHead + sseUsage + sseDone, want: Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17, Source: UsageSourceProvider}, wantReported: true, wantEstimate: est},
		{name: "without usage chunk", stream: sseHead + sseDone, want: Usage{CompletionTokens: est, TotalTokens: est}, wantEstimate: est},
		{name: "crlf line endings", stream: strings.ReplaceAll(sseHead+sseUsage+sseDone, "\n\n", "\r\n\r\n"), want: Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17, Source: UsageSourceProvider}, wantReported: true, wantEstimate: est},
		{name: "stream cut before the final blank line", stream: sseHead + strings.TrimRight(sseUsage, "\n"), want: Usage{PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17, Source: UsageSourceProvider}, wantReported: true, wantEstimate: est},
		{name: "event larger than maxBody is skipped", stream: sseHead + sseUsage, maxBody: 100, want: Usage{}, wantEstimate: 0},
		{
			name:   "multi-line data event and completions text",
			stream: "data: {\"choices\":[{\"text\":\"abcdefgh\"}],\ndata: \"usage\":{\"input_tokens\":3,\"output_tokens\":4}}\n\n",
			want:   Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7, Source: UsageSourceProvider}, wantReported: true, wantEstimate: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(t *testing.T, s *UsageSniffer, how string) {
				t.Helper()
				got, reported := s.Usage()
				if got != tc.want || reported != tc.wantReported {
					t.Fatalf("%s: Usage() = %+v, %v; want %+v, %v", how, got, reported, tc.want, tc.wantReported)
				}
				if e := s.CompletionEstimate(); e != tc.wantEstimate {
					t.Fatalf("%s: CompletionEstimate() = %d, want %d", how, e, tc.wantEstimate)
				}
			}
			// Every split point, since a proxy hands over whatever its reads return.
			for i := 0; i <= len(tc.stream); i++ {
				s := NewUsageSniffer("text/event-stream; charset=utf-8", tc.maxBody)
				for _, part := range []string{tc.stream[:i], tc.stream[i:]} {
					if n, err := s.Write([]byte(part)); n != len(part) || err != nil {
						t.Fatalf("Write = %d, %v", n, err)
					}
				}
				check(t, s, "split at "+strconv.Itoa(i))
			}
			s := NewUsageSniffer("text/event-stream", tc.maxBody)
			for i := range len(tc.stream) {
				_, _ = s.Write([]byte{tc.stream[i]})
			}
			check(t, s, "byte at a time")
		})
	}
}

func TestUsageSnifferJSON(t *testing.T) {
	const body = `{"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`
	const noUsage = `{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi there, friend!","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}`
	tests := []struct {
		name         string
		contentType  string
		body         string
		maxBody      int
		want         Usage
		wantReported bool
	}{
		{name: "chat completion with usage", contentType: "application/json", body: body, want: Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12, Source: UsageSourceProvider}, wantReported: true},
		{name: "content type parameters and case", contentType: "Application/JSON; charset=utf-8", body: body, want: Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12, Source: UsageSourceProvider}, wantReported: true},
		{name: "responses api names", contentType: "application/json", body: `{"usage":{"input_tokens":5,"output_tokens":6,"total_tokens":11}}`, want: Usage{PromptTokens: 5, CompletionTokens: 6, TotalTokens: 11, Source: UsageSourceProvider}, wantReported: true},
		{name: "no usage falls back to the estimate", contentType: "application/json", body: noUsage, want: Usage{CompletionTokens: 6, TotalTokens: 6}},
		{name: "body above maxBody reports nothing", contentType: "application/json", body: body, maxBody: 64, want: Usage{}},
		{name: "other content types are ignored", contentType: "text/plain", body: body, want: Usage{}},
		{name: "malformed json", contentType: "application/json", body: `{"usage":`, want: Usage{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewUsageSniffer(tc.contentType, tc.maxBody)
			mid := len(tc.body) / 2
			_, _ = s.Write([]byte(tc.body[:mid]))
			_, _ = s.Write([]byte(tc.body[mid:]))
			got, reported := s.Usage()
			if got != tc.want || reported != tc.wantReported {
				t.Errorf("Usage() = %+v, %v; want %+v, %v", got, reported, tc.want, tc.wantReported)
			}
		})
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int64
	}{
		{name: "empty", text: "", want: 0},
		{name: "one byte is one token", text: "a", want: 1},
		{name: "four bytes", text: "abcd", want: 1},
		{name: "rounds up", text: "abcde", want: 2},
		{name: "counts bytes not runes", text: "ééé", want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateTokens(tc.text); got != tc.want {
				t.Errorf("EstimateTokens(%q) = %d, want %d", tc.text, got, tc.want)
			}
		})
	}
}

func TestEstimateRequest(t *testing.T) {
	const msgs = `[{"role":"user","content":"hello"}]`
	tests := []struct {
		name                string
		body                string
		wantPrompt, wantMax int64
	}{
		{name: "chat messages as raw json", body: `{"model":"m","max_tokens":40,"messages":` + msgs + `}`, wantPrompt: EstimateTokens(msgs), wantMax: 40},
		{name: "max_completion_tokens wins", body: `{"max_tokens":40,"max_completion_tokens":7,"messages":` + msgs + `}`, wantPrompt: EstimateTokens(msgs), wantMax: 7},
		{name: "non-positive limits keep the default", body: `{"max_tokens":0,"prompt":"abcdefgh"}`, wantPrompt: EstimateTokens(`"abcdefgh"`), wantMax: 100},
		{name: "prompt and input add up", body: `{"prompt":"abcd","input":"efgh"}`, wantPrompt: EstimateTokens(`"abcd""efgh"`), wantMax: 100},
		{name: "no text fields: the whole body", body: `{"model":"abcdefghijkl"}`, wantPrompt: EstimateTokens(`{"model":"abcdefghijkl"}`), wantMax: 100},
		{name: "not json: the whole body", body: `hello world`, wantPrompt: 3, wantMax: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, m := EstimateRequest([]byte(tc.body), 100)
			if p != tc.wantPrompt || m != tc.wantMax {
				t.Fatalf("EstimateRequest = %d, %d; want %d, %d", p, m, tc.wantPrompt, tc.wantMax)
			}
		})
	}
}
