// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/inference"
)

const chatAnswer = `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,` +
	`"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`

// TestRequestTranslation checks the chat/completions body each Responses request becomes.
func TestRequestTranslation(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"string input and instructions",
			`{"model":"m","instructions":"Be brief.","input":"Hi"}`,
			`{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`},
		{"message items with string and part contents",
			`{"model":"m","input":[{"role":"developer","content":"Rules."},{"type":"message","role":"user","content":[{"type":"input_text","text":"Look"},{"type":"input_image","image_url":"https://x/a.png","detail":"high"},{"type":"input_image","image_url":"data:image/png;base64,AAA"}]},{"role":"assistant","content":[{"type":"output_text","text":"Seen","annotations":[]}]},{"role":"system","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}]}`,
			`{"model":"m","messages":[{"role":"developer","content":"Rules."},{"role":"user","content":[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"high"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]},{"role":"assistant","content":"Seen"},{"role":"system","content":"a\n\nb"}]}`},
		{"a file and audio",
			`{"model":"m","input":[{"role":"user","content":[{"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE"},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBE","filename":"a.pdf"}},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]}]}`},
		{"function calls merge into one assistant turn, outputs become tool messages, reasoning is dropped",
			`{"model":"m","input":[{"role":"user","content":"Weather?"},{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"xyz"},{"type":"message","role":"assistant","content":"Checking."},{"type":"function_call","call_id":"call_a","name":"w","arguments":"{\"c\":\"Paris\"}"},{"type":"function_call","call_id":"call_b","name":"w","arguments":"{}"},{"type":"function_call_output","call_id":"call_a","output":"sunny"},{"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"rain"},{"type":"input_text","text":"y"}]}]}`,
			`{"model":"m","messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":"Checking.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"w","arguments":"{\"c\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"w","arguments":"{}"}}]},{"role":"tool","content":"sunny","tool_call_id":"call_a"},{"role":"tool","content":"rainy","tool_call_id":"call_b"}]}`},
		{"a function call after a user turn opens its own assistant turn",
			`{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c1","name":"f","arguments":""}]}`,
			`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}]}`},
		{"tools, tool_choice by name, parallel_tool_calls",
			`{"model":"m","input":"x","tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true},{"type":"function","name":"g"}],"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":false}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}},{"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`},
		{"tool_choice strings",
			`{"model":"m","input":"x","tool_choice":"required"}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`},
		{"sampling, limits, user; metadata and store stay here",
			`{"model":"m","input":"x","max_output_tokens":50,"temperature":0.2,"top_p":0.9,"user":"u1","metadata":{"k":"v"},"store":false,"truncation":"disabled","include":[]}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":50,"temperature":0.2,"top_p":0.9,"user":"u1"}`},
		{"json_schema format and reasoning effort",
			`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true},"verbosity":"low"},"reasoning":{"effort":"high","summary":"auto"}}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},"reasoning_effort":"high","verbosity":"low"}`},
		{"json_object format",
			`{"model":"m","input":"x","text":{"format":{"type":"json_object"}}}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`},
		{"text format",
			`{"model":"m","input":"x","text":{"format":{"type":"text"}}}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}]}`},
		{"stream asks for usage",
			`{"model":"m","input":"x","stream":true,"service_tier":"auto","prompt_cache_key":"k","safety_identifier":"s"}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"service_tier":"auto","prompt_cache_key":"k","safety_identifier":"s","stream":true,"stream_options":{"include_usage":true}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fakeChat{body: chatAnswer}
			if strings.Contains(tt.in, `"stream":true`) {
				inner.body, inner.stream = sse(`{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}`), true
			}
			o := testOver(inner, NewMemoryStore(0, 0))
			resp, err := o.Do(context.Background(), responsesReq(tt.in))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			_ = resp.Body.Close()
			got := inner.last(t)
			if got.Endpoint != inference.EndpointChat || got.Method != http.MethodPost || got.Model != "m" {
				t.Errorf("chat request: endpoint %q method %q model %q", got.Endpoint, got.Method, got.Model)
			}
			if got.Stream != strings.Contains(tt.in, `"stream":true`) {
				t.Errorf("chat request Stream = %v", got.Stream)
			}
			assertJSONEqual(t, "chat body", got.Body, []byte(tt.want))
		})
	}
}

// TestRequestRefused checks that what chat cannot honour is a 400 naming the parameter, never dropped.
func TestRequestRefused(t *testing.T) {
	tests := []struct {
		name, in, code, field string
	}{
		{"background", `{"model":"m","input":"x","background":true}`, "unsupported_parameter", "background"},
		{"truncation auto", `{"model":"m","input":"x","truncation":"auto"}`, "unsupported_parameter", "truncation"},
		{"include", `{"model":"m","input":"x","include":["file_search_call.results"]}`, "unsupported_parameter", "include"},
		{"prompt template", `{"model":"m","prompt":{"id":"pmpt_1"}}`, "unsupported_parameter", "prompt"},
		{"conversation", `{"model":"m","input":"x","conversation":"conv_1"}`, "unsupported_parameter", "conversation"},
		{"top_logprobs", `{"model":"m","input":"x","top_logprobs":2}`, "unsupported_parameter", "top_logprobs"},
		{"web search", `{"model":"m","input":"x","tools":[{"type":"web_search_preview"}]}`, "unsupported_tool", "web_search_preview"},
		{"file search", `{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"file_search","vector_store_ids":["v"]}]}`, "unsupported_tool", "tools[1]"},
		{"code interpreter", `{"model":"m","input":"x","tools":[{"type":"code_interpreter"}]}`, "unsupported_tool", "code_interpreter"},
		{"computer use", `{"model":"m","input":"x","tools":[{"type":"computer_use_preview"}]}`, "unsupported_tool", "computer_use_preview"},
		{"mcp", `{"model":"m","input":"x","tools":[{"type":"mcp","server_label":"s"}]}`, "unsupported_tool", "mcp"},
		{"image generation", `{"model":"m","input":"x","tools":[{"type":"image_generation"}]}`, "unsupported_tool", "image_generation"},
		{"custom tool", `{"model":"m","input":"x","tools":[{"type":"custom","name":"c"}]}`, "unsupported_tool", "custom"},
		{"function without name", `{"model":"m","input":"x","tools":[{"type":"function"}]}`, "missing_required_parameter", "tools[0].name"},
		{"hosted tool_choice", `{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}`, "unsupported_parameter", "tool_choice"},
		{"bad tool_choice", `{"model":"m","input":"x","tool_choice":"sometimes"}`, "invalid_value", "tool_choice"},
		{"unknown item", `{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]}`, "unsupported_input_item", "input[0].type"},
		{"item reference", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"item_reference","id":"msg_1"}]}`, "unsupported_input_item", "input[1]"},
		{"bad role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, "invalid_value", "input[0].role"},
		{"bad part", `{"model":"m","input":[{"role":"user","content":[{"type":"video"}]}]}`, "invalid_value", "input[0].content[0].type"},
		{"image by file id", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "unsupported_parameter", "file_id"},
		{"file by url", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_url":"https://x/a.pdf"}]}]}`, "unsupported_parameter", "file_url"},
		{"image in a system message", `{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x"}]}]}`, "invalid_value", "input[0].content"},
		{"function call without call_id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "missing_required_parameter", "input[0]"},
		{"function output with an image", `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"https://x"}]}]}`, "unsupported_parameter", "input[0].output[0]"},
		{"no input", `{"model":"m"}`, "missing_input", "input"},
		{"wrong type", `{"model":"m","input":"x","temperature":"hot"}`, "invalid_type", "temperature"},
		{"bad json_schema", `{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "missing_required_parameter", "text.format.name"},
		{"bad format", `{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}`, "invalid_value", "text.format.type"},
		{"instructions not a string", `{"model":"m","input":"x","instructions":["a"]}`, "invalid_type", "instructions"},
		{"unknown previous response", `{"model":"m","input":"x","previous_response_id":"resp_nope"}`, "previous_response_not_found", "previous_response_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fakeChat{body: chatAnswer}
			o := testOver(inner, NewMemoryStore(0, 0))
			_, err := o.Do(context.Background(), responsesReq(tt.in))
			var pe *inference.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ProviderError", err)
			}
			if pe.Status != http.StatusBadRequest || pe.Type != "invalid_request_error" || pe.Retryable || pe.Code != tt.code {
				t.Errorf("error = %+v, want 400 invalid_request_error %s, not retryable", pe, tt.code)
			}
			if !strings.Contains(pe.Message, tt.field) {
				t.Errorf("message %q does not name %q", pe.Message, tt.field)
			}
			if pe.Provider != "fake" {
				t.Errorf("provider = %q", pe.Provider)
			}
			if len(inner.reqs) != 0 {
				t.Error("the provider was called for a refused request")
			}
		})
	}
}

// TestOtherEndpointsPassThrough checks that the decorator keeps the provider's name and kind and leaves
// every other call to it.
func TestOtherEndpointsPassThrough(t *testing.T) {
	inner := &fakeChat{body: chatAnswer}
	o := Over(inner, NewMemoryStore(0, 0))
	if o.Name() != "fake" || o.Kind() != "anthropic" {
		t.Errorf("Name, Kind = %q, %q", o.Name(), o.Kind())
	}
	for _, req := range []*inference.Request{
		{Endpoint: inference.EndpointChat, Method: http.MethodPost, Body: []byte(`{"model":"m","messages":[]}`)},
		{Endpoint: inference.EndpointEmbeddings, Method: http.MethodPost, Body: []byte(`{}`)},
		{Endpoint: inference.EndpointResponses, Method: http.MethodGet},
	} {
		resp, err := o.Do(context.Background(), req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if got := inner.last(t); got != req {
			t.Errorf("%s %s: the provider got %+v, not the request itself", req.Method, req.Endpoint, got)
		}
		if req.Endpoint != inference.EndpointChat && !errors.Is(err, inference.ErrUnsupported) {
			t.Errorf("%s %s: err = %v, want the provider's ErrUnsupported", req.Method, req.Endpoint, err)
		}
	}
	// A response id FD2 does not hold is not this provider's either: 404, without asking it.
	var pe *inference.ProviderError
	if _, err := o.Do(context.Background(), &inference.Request{Endpoint: "responses/resp_1/input_items", Method: http.MethodGet}); !errors.As(err, &pe) ||
		pe.Status != http.StatusNotFound || pe.Code != "response_not_found" || pe.Retryable {
		t.Errorf("GET an unknown response: %v", err)
	}
	// A provider failure on the translated call comes back as it is, for the router to judge.
	fail := &inference.ProviderError{Provider: "fake", Status: 529, Retryable: true}
	inner.err = fail
	if _, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"x"}`)); !errors.Is(err, fail) {
		t.Errorf("err = %v, want the provider's", err)
	}
}
