// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openai

import (
	"encoding/json"
	"testing"
)

// TestWireConventions pins the null and omitted keys OpenAI clients (and the translators' goldens)
// depend on.
func TestWireConventions(t *testing.T) {
	text, stop, idx := "hi", "stop", 0
	tc := ToolCall{Index: &idx, Function: FunctionCall{Arguments: `{"a"`}}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{
			name: "completion: logprobs null, content null beside tool calls",
			v: ChatCompletion{ID: "c", Object: "chat.completion", Model: "m", Choices: []Choice{{Message: &ChatMessage{Role: "assistant",
				ToolCalls: []ToolCall{{ID: "call_1", Type: "function", Function: FunctionCall{Name: "f", Arguments: "{}"}}}}, Logprobs: JSONNull, FinishReason: &stop}},
				Usage: &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
			want: `{"id":"c","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,` +
				`"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null,"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		},
		{
			name: "chunk: no usage, no logprobs key, finish_reason null",
			v:    ChatCompletion{ID: "c", Object: "chat.completion.chunk", Choices: []Choice{{Delta: &Delta{Content: &text}}}},
			want: `{"id":"c","object":"chat.completion.chunk","created":0,"model":"","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`,
		},
		{
			name: "tool call continuation chunk: index and arguments only",
			v:    Delta{ToolCalls: []ToolCall{tc}},
			want: `{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}`,
		},
		{
			name: "usage chunk: empty choices, details when set",
			v: ChatCompletion{Choices: []Choice{}, Usage: &Usage{PromptTokensDetails: &PromptTokensDetails{CachedTokens: 4},
				CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 5}}},
			want: `{"id":"","object":"","created":0,"model":"","choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,` +
				`"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":5}}}`,
		},
		{name: "finish delta is {}", v: Delta{}, want: `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestChatRequestDecodes(t *testing.T) {
	var r ChatRequest
	body := `{"model":"m","messages":[{"role":"tool","content":"r","tool_call_id":"call_1"},{"role":"assistant","content":null,
		"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}],"max_completion_tokens":9,"n":1,
		"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_schema","json_schema":{"schema":{}}},"logit_bias":{}}`
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Messages[0].ToolCallID != "call_1" || r.Messages[1].ToolCalls[0].Function.Name != "f" || *r.MaxCompletionTokens != 9 ||
		!r.StreamOptions.IncludeUsage || r.ResponseFormat.JSONSchema == nil || string(r.Messages[1].Content) != "null" {
		t.Fatalf("decoded %+v", r)
	}
}
