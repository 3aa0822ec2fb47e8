// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"testing"

	"github.com/tidwall/gjson"
)

func TestTokenCount(t *testing.T) {
	tests := []struct {
		name     string
		model    string
		text     string
		want     int64
		encoding string
	}{
		{name: "gpt-4o hello world", model: "gpt-4o", text: "hello world", want: 2, encoding: "o200k_base"},
		{name: "gpt-3.5 hello world", model: "gpt-3.5-turbo", text: "hello world", want: 2, encoding: "cl100k_base"},
		{name: "o3 family", model: "o3-mini", text: "hello world", want: 2, encoding: "o200k_base"},
		{name: "prefixed gpt-4.1", model: "azure/GPT-4.1-mini", text: "", want: 0, encoding: "o200k_base"},
		{name: "gpt-5", model: "gpt-5-nano", text: "hello", want: 1, encoding: "o200k_base"},
		{name: "other vendors use cl100k", model: "claude-3-5-sonnet", text: "hello world", want: 2, encoding: "cl100k_base"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := codecFor(tc.model).GetName(); got != tc.encoding {
				t.Errorf("encoding = %s; want %s", got, tc.encoding)
			}
			for range 2 { // deterministic, and the cached codec gives the same answer
				if got := CountTokens(tc.model, tc.text); got != tc.want {
					t.Fatalf("CountTokens(%q, %q) = %d; want %d", tc.model, tc.text, got, tc.want)
				}
			}
		})
	}
	// The two encodings differ: a test that mixed them up would pass on "hello world" alone.
	const text = "Привет, как дела? これはテストです。"
	if CountTokens("gpt-4o", text) == CountTokens("gpt-4", text) {
		t.Errorf("o200k and cl100k gave the same count for %q", text)
	}
}

func TestUsageParse(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Usage
		ok   bool
	}{
		{name: "chat", json: `{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}`,
			want: Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7, Source: "provider"}, ok: true},
		{name: "total derived", json: `{"prompt_tokens":3,"completion_tokens":4}`,
			want: Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7, Source: "provider"}, ok: true},
		{name: "embeddings", json: `{"prompt_tokens":5,"total_tokens":5}`,
			want: Usage{PromptTokens: 5, TotalTokens: 5, Source: "provider"}, ok: true},
		{name: "responses", json: `{"input_tokens":2,"output_tokens":6,"total_tokens":8}`,
			want: Usage{PromptTokens: 2, CompletionTokens: 6, TotalTokens: 8, Source: "provider"}, ok: true},
		{name: "null", json: `null`},
		{name: "unrelated object", json: `{"foo":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseUsage(gjson.Parse(tc.json))
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseUsage = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUsageMarkers(t *testing.T) {
	tests := []struct {
		name      string
		ev        string
		usage     bool
		firstTok  bool
		wantData  string
		dataCheck bool
	}{
		{name: "usage null", ev: `data: {"choices":[{"delta":{"content":""}}],"usage":null}`},
		{name: "usage object", ev: `data: {"choices":[],"usage" : {"prompt_tokens":1}}`, usage: true},
		{name: "usage inside a string", ev: `data: {"choices":[{"delta":{"content":"say \"usage\": {x}"}}]}`, firstTok: true},
		{name: "content", ev: `data: {"choices":[{"delta":{"content": "a"}}]}`, firstTok: true},
		{name: "role only", ev: `data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`},
		{name: "tool arguments", ev: `data: {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{"}}]}}]}`, firstTok: true},
		{name: "multi-line data", ev: "event: x\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n", wantData: "{\"a\":\n1}", dataCheck: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := []byte(tc.ev)
			if _, got := scanEvent(nil, ev); got != tc.usage {
				t.Errorf("scanEvent usage = %v; want %v", got, tc.usage)
			}
			if got := hasFirstToken(ev); got != tc.firstTok {
				t.Errorf("hasFirstToken = %v; want %v", got, tc.firstTok)
			}
			if tc.dataCheck {
				if got := string(eventData(ev)); got != tc.wantData {
					t.Errorf("eventData = %q; want %q", got, tc.wantData)
				}
			}
		})
	}
}

func TestUsagePromptTokens(t *testing.T) {
	hw := CountTokens("gpt-4o", "hello world")
	tests := []struct {
		name     string
		endpoint string
		body     string
		want     int64
	}{
		{name: "chat parts", endpoint: EndpointChat,
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"x"}}]}]}`,
			want: hw + 3 + 3},
		{name: "completions prompt", endpoint: EndpointCompletions, body: `{"prompt":"hello world"}`, want: CountTokens("gpt-4o", "hello world")},
		{name: "embeddings token ids", endpoint: EndpointEmbeddings, body: `{"input":[[1,2,3],[4]]}`, want: 4},
		{name: "responses", endpoint: EndpointResponses, body: `{"input":[{"role":"user","content":"hello world"}]}`, want: hw},
		{name: "not json", endpoint: EndpointChat, body: `{`, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := promptTokens("gpt-4o", tc.endpoint, []byte(tc.body)); got != tc.want {
				t.Errorf("promptTokens = %d; want %d", got, tc.want)
			}
		})
	}
}

func TestUsageBoundedBuffer(t *testing.T) {
	b := &boundedBuffer{max: 5}
	for _, s := range []string{"abc", "defg", "h"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if string(b.buf) != "abcde" || !b.truncated {
		t.Errorf("buf = %q, truncated %v", b.buf, b.truncated)
	}
}

func TestUsageStreamText(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   string // the text counted
	}{
		{name: "chat deltas with escapes", events: []string{
			`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`,
			`data: {"choices":[{"delta":{"content":"say \"hi\"\n"}}]}`,
			`data: {"choices":[{"delta":{"content": "ok\\"}}]}`,
		}, want: "say \"hi\"\nok\\"},
		{name: "tool arguments and legacy text", events: []string{
			`data: {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"a\":1}"}}]}}]}`,
			`data: {"choices":[{"text":"xyz","index":0}]}`,
		}, want: `{"a":1}xyz`},
		{name: "nothing", events: []string{`data: [DONE]`}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var text []byte
			for _, ev := range tc.events {
				text = appendTokenText(text, []byte(ev))
			}
			if got, want := countEscapedText("gpt-4o", text), CountTokens("gpt-4o", tc.want); got != want {
				t.Errorf("counted %d tokens of %q; want %d (%q)", got, text, want, tc.want)
			}
		})
	}
}
