// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var anthropicID = regexp.MustCompile(`msg_[0-9a-f]{16}`)

// stableAnthropic replaces the random message id with msg_ID and checks it was one id throughout.
func stableAnthropic(t *testing.T, body []byte) string {
	t.Helper()
	ids := map[string]bool{}
	for _, id := range anthropicID.FindAll(body, -1) {
		ids[string(id)] = true
	}
	if len(ids) > 1 {
		t.Errorf("several message ids in one answer: %v", ids)
	}
	return anthropicID.ReplaceAllString(string(body), "msg_ID")
}

func TestAnthropicMessage(t *testing.T) {
	srv := newServer(t, Options{Model: "default-model"})
	key := map[string]string{"X-Api-Key": "k"}
	tests := []struct {
		name, body, want string
	}{
		{
			name: "string content and system",
			body: `{"model":"claude-sonnet-4-5","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"hello big world"}]}`,
			want: `{"id":"msg_ID","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"echo: hello big world"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":4}}`,
		},
		{
			name: "blocks, system blocks and default model",
			body: `{"max_tokens":100,"system":[{"type":"text","text":"x y","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"one two"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},{"type":"text","text":"three"}]}]}`,
			want: `{"id":"msg_ID","type":"message","role":"assistant","model":"default-model","content":[{"type":"text","text":"echo: one two three"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":4}}`,
		},
		{
			name: "max_tokens cuts the answer",
			body: `{"model":"c","max_tokens":3,"messages":[{"role":"user","content":"a b c d e"}]}`,
			want: `{"id":"msg_ID","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"echo: a b"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":3}}`,
		},
		{
			name: "a tool result turn is not the question",
			body: `{"model":"c","max_tokens":100,"messages":[{"role":"user","content":"weather in <Paris>?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"w","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"}]}]}`,
			want: `{"id":"msg_ID","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"echo: weather in \u003cParis\u003e?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, srv.URL+"/v1/messages", tc.body, key)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := strings.TrimSpace(stableAnthropic(t, body)); got != tc.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAnthropicStream(t *testing.T) {
	srv := newServer(t, Options{})
	key := map[string]string{"X-Api-Key": "k"}
	tests := []struct {
		name, body, want string
	}{
		{
			name: "end_turn",
			body: `{"model":"claude","max_tokens":100,"stream":true,"system":"x","messages":[{"role":"user","content":"red \"green\""}]}`,
			want: "event: message_start\n" +
				`data: {"type":"message_start","message":{"id":"msg_ID","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
				"event: content_block_start\n" +
				`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
				"event: ping\n" +
				`data: {"type":"ping"}` + "\n\n" +
				"event: content_block_delta\n" +
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"echo: "}}` + "\n\n" +
				"event: content_block_delta\n" +
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"red "}}` + "\n\n" +
				"event: content_block_delta\n" +
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\"green\""}}` + "\n\n" +
				"event: content_block_stop\n" +
				`data: {"type":"content_block_stop","index":0}` + "\n\n" +
				"event: message_delta\n" +
				`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}` + "\n\n" +
				"event: message_stop\n" +
				`data: {"type":"message_stop"}` + "\n\n",
		},
		{
			name: "max_tokens",
			body: `{"model":"claude","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"a b"}]}`,
			want: "event: message_start\n" +
				`data: {"type":"message_start","message":{"id":"msg_ID","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2,"output_tokens":1}}}` + "\n\n" +
				"event: content_block_start\n" +
				`data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
				"event: ping\n" +
				`data: {"type":"ping"}` + "\n\n" +
				"event: content_block_delta\n" +
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"echo:"}}` + "\n\n" +
				"event: content_block_stop\n" +
				`data: {"type":"content_block_stop","index":0}` + "\n\n" +
				"event: message_delta\n" +
				`data: {"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":1}}` + "\n\n" +
				"event: message_stop\n" +
				`data: {"type":"message_stop"}` + "\n\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, srv.URL+"/v1/messages", tc.body, key)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			if ct, cc := hdr.Get("Content-Type"), hdr.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-cache" {
				t.Errorf("Content-Type = %q, Cache-Control = %q", ct, cc)
			}
			if got := stableAnthropic(t, body); got != tc.want {
				t.Errorf("stream =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAnthropicErrors(t *testing.T) {
	srv := newServer(t, Options{})
	const ok = `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	key := func(h map[string]string) map[string]string {
		out := map[string]string{"X-Api-Key": "k"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name, method, body string
		headers            map[string]string
		wantCode           int
		want               string
		wantAllow          string
		wantMin            time.Duration
	}{
		{name: "no api key", body: ok, wantCode: 401,
			want: `{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}`},
		{name: "bad json", body: `{"messages":`, headers: key(nil), wantCode: 400,
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"We could not parse the JSON body of your request: unexpected end of JSON input"}}`},
		{name: "missing max_tokens", body: `{"messages":[{"role":"user","content":"hi"}]}`, headers: key(nil), wantCode: 400,
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`},
		{name: "zero max_tokens", body: `{"max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, headers: key(nil), wantCode: 400,
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Input should be greater than or equal to 1"}}`},
		{name: "missing messages", body: `{"max_tokens":10}`, headers: key(nil), wantCode: 400,
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}`},
		{name: "get", method: http.MethodGet, headers: key(nil), wantCode: 405, wantAllow: "POST",
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"Method GET not allowed for /v1/messages"}}`},
		{name: "injected 429", body: ok, headers: key(map[string]string{"X-Fake-Status": "429"}), wantCode: 429,
			want: `{"type":"error","error":{"type":"rate_limit_error","message":"injected failure: 429 Too Many Requests"}}`},
		{name: "injected 529", body: ok, headers: key(map[string]string{"X-Fake-Status": "529"}), wantCode: 529,
			want: `{"type":"error","error":{"type":"overloaded_error","message":"injected failure: 529"}}`},
		{name: "injected 500", body: ok, headers: key(map[string]string{"X-Fake-Status": "500"}), wantCode: 500,
			want: `{"type":"error","error":{"type":"api_error","message":"injected failure: 500 Internal Server Error"}}`},
		{name: "injected 403", body: ok, headers: key(map[string]string{"X-Fake-Status": "403"}), wantCode: 403,
			want: `{"type":"error","error":{"type":"permission_error","message":"injected failure: 403 Forbidden"}}`},
		{name: "injected 413", body: ok, headers: key(map[string]string{"X-Fake-Status": "413"}), wantCode: 413,
			want: `{"type":"error","error":{"type":"request_too_large","message":"injected failure: 413 Request Entity Too Large"}}`},
		{name: "bad fake status", body: ok, headers: key(map[string]string{"X-Fake-Status": "abc"}), wantCode: 400,
			want: `{"type":"error","error":{"type":"invalid_request_error","message":"invalid X-Fake-Status \"abc\": want 400-599"}}`},
		{name: "delay then status", body: ok, headers: key(map[string]string{"X-Fake-Delay": "100ms", "X-Fake-Status": "503"}), wantCode: 503, wantMin: 100 * time.Millisecond,
			want: `{"type":"error","error":{"type":"api_error","message":"injected failure: 503 Service Unavailable"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			start := time.Now()
			code, hdr, body := do(t, method, srv.URL+"/v1/messages", tc.body, tc.headers)
			if elapsed := time.Since(start); elapsed < tc.wantMin {
				t.Errorf("answered after %v, want at least %v", elapsed, tc.wantMin)
			}
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", code, tc.wantCode, body)
			}
			if got := strings.TrimSpace(string(body)); got != tc.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tc.want)
			}
			if got := hdr.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

// TestAnthropicDelayApplies checks X-Fake-Delay on a successful call too.
func TestAnthropicDelayApplies(t *testing.T) {
	srv := newServer(t, Options{})
	start := time.Now()
	code, _, body := do(t, http.MethodPost, srv.URL+"/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"X-Api-Key": "k", "X-Fake-Delay": "120ms"})
	if code != http.StatusOK {
		t.Fatalf("status = %d, body %s", code, body)
	}
	if elapsed := time.Since(start); elapsed < 120*time.Millisecond {
		t.Errorf("answered after %v, want at least 120ms", elapsed)
	}
}
