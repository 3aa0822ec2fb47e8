// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/inference"
)

const userTurn = `"messages":[{"role":"user","content":"hi"}]`

// TestRefusedFields checks that every field Anthropic cannot honour is refused before any upstream
// call, as a non-retryable 400 with the unsupported_parameter code and a message naming the field.
func TestRefusedFields(t *testing.T) {
	for _, tc := range []struct{ field, body string }{
		{"seed", `"seed":42`},
		{"seed", `"seed":0`},
		{"logit_bias", `"logit_bias":{"50256":-100}`},
		{"logprobs", `"logprobs":true`},
		{"top_logprobs", `"top_logprobs":3`},
		{"presence_penalty", `"presence_penalty":0.5`},
		{"frequency_penalty", `"frequency_penalty":-1`},
		{"n > 1", `"n":3`},
		{"audio", `"audio":{"voice":"alloy","format":"wav"}`},
		{"modalities", `"modalities":["text","audio"]`},
		{"response_format", `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},"tools":[{"type":"function","function":{"name":"f"}}]`},
		{"response_format", `"response_format":{"type":"json_object"},"tools":[{"type":"function","function":{"name":"f"}}]`},
		{"response_format", `"response_format":{"type":"grammar"}`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("a refused request reached the upstream")
			}))
			defer srv.Close()
			_, err := newTestProvider(t, srv.URL, nil).Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat,
				Method: http.MethodPost, Model: testModel, Body: []byte(`{"model":"m",` + tc.body + `,` + userTurn + `}`)})
			var pe *inference.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ProviderError", err)
			}
			if pe.Status != http.StatusBadRequest || pe.Type != "invalid_request_error" || pe.Code != "unsupported_parameter" ||
				pe.Retryable || pe.Provider != "claude" || !strings.HasPrefix(pe.Message, tc.field) {
				t.Errorf("got %+v, want a non-retryable 400 invalid_request_error unsupported_parameter starting with %q", *pe, tc.field)
			}
		})
	}
}

// TestSDKDefaultsAccepted checks that the unset, null, zero and false values clients send by default are
// not mistaken for requests Anthropic cannot honour, and do not reach Anthropic either.
func TestSDKDefaultsAccepted(t *testing.T) {
	for _, fields := range []string{
		`"seed":null,"logit_bias":null,"logprobs":null,"top_logprobs":null,"presence_penalty":null,"frequency_penalty":null,"n":null,"audio":null,"modalities":null,"response_format":null`,
		`"logit_bias":{ },"logprobs":false,"top_logprobs":0,"presence_penalty":0,"frequency_penalty":0.0,"n":1,"modalities":["text"],"response_format":{"type":"text"}`,
	} {
		t.Run(fields, func(t *testing.T) {
			want := `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]}`
			srv := fakeAnthropic(t, []byte(want), "application/json", readFile(t, "testdata/plain/anthropic_response.json"))
			resp, err := newTestProvider(t, srv.URL, nil).Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat,
				Method: http.MethodPost, Model: testModel, Body: []byte(`{"model":"m",` + fields + `,` + userTurn + `}`)})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
		})
	}
}

// TestInvalidResponseFormat: a malformed response_format is the client's mistake, not an unsupported
// feature.
func TestInvalidResponseFormat(t *testing.T) {
	_, err := translateRequest([]byte(`{"response_format":{"type":"json_schema"},`+userTurn+`}`), "m", 10, false)
	var ue *unsupportedError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "json_schema is required") {
		t.Errorf("err = %v, want a plain error asking for json_schema", err)
	}
}

func TestSchemaToolTranslation(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		wantTool     string // the tools entry, compact
		wantChoice   string
	}{
		{"json_object", `{"type":"json_object"}`,
			`{"name":"json_response","description":"Respond by calling this tool: its input is your complete answer, as JSON matching the schema.","input_schema":{"type":"object"}}`,
			`{"type":"tool","name":"json_response","disable_parallel_tool_use":true}`},
		{"named schema with its description", `{"type":"json_schema","json_schema":{"name":"Person","description":"A person.","schema":{"type":"object","properties":{"age":{"type":"integer"}}}}}`,
			`{"name":"Person","description":"A person.","input_schema":{"type":"object","properties":{"age":{"type":"integer"}}}}`,
			`{"type":"tool","name":"Person","disable_parallel_tool_use":true}`},
		{"name sanitised", `{"type":"json_schema","json_schema":{"name":"résumé v2/final","schema":{"type":"object"}}}`,
			`{"name":"r__sum___v2_final","description":"Respond by calling this tool: its input is your complete answer, as JSON matching the schema.","input_schema":{"type":"object"}}`,
			`{"type":"tool","name":"r__sum___v2_final","disable_parallel_tool_use":true}`},
		{"no name, no schema", `{"type":"json_schema","json_schema":{"strict":false}}`,
			`{"name":"json_response","description":"Respond by calling this tool: its input is your complete answer, as JSON matching the schema.","input_schema":{"type":"object"}}`,
			`{"type":"tool","name":"json_response","disable_parallel_tool_use":true}`},
		{"long name cut to 64", `{"type":"json_schema","json_schema":{"name":"` + strings.Repeat("a", 70) + `","schema":{"type":"object"}}}`,
			`{"name":"` + strings.Repeat("a", 64) + `","description":"Respond by calling this tool: its input is your complete answer, as JSON matching the schema.","input_schema":{"type":"object"}}`,
			`{"type":"tool","name":"` + strings.Repeat("a", 64) + `","disable_parallel_tool_use":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A tool_choice the client sent without tools is overridden by the schema's.
			tr, err := translateRequest([]byte(`{"tool_choice":"none","response_format":`+tc.format+`,`+userTurn+`}`), "m", 10, false)
			if err != nil {
				t.Fatal(err)
			}
			tools, _ := marshal(tr.out.Tools)
			choice, _ := marshal(tr.out.ToolChoice)
			if string(tools) != "["+tc.wantTool+"]" || string(choice) != tc.wantChoice {
				t.Errorf("tools %s\nwant [%s]\ntool_choice %s\nwant %s", tools, tc.wantTool, choice, tc.wantChoice)
			}
			if want := tr.out.ToolChoice.Name; tr.schemaTool != want {
				t.Errorf("schemaTool = %q, want %q", tr.schemaTool, want)
			}
		})
	}
}

// TestSchemaAnswer covers the non-streamed answers around the golden one: text beside the forced call,
// a cut answer, and a tool_use of another name staying a tool call.
func TestSchemaAnswer(t *testing.T) {
	tr := &translated{clientModel: "c", schemaTool: "json_response"}
	for _, tc := range []struct {
		name, content, stop string
		wantContent         *string
		wantCalls           int
		wantFinish          string
	}{
		{"formatted input is compacted", `[{"type":"tool_use","id":"t","name":"json_response","input":{ "a" : [1, 2] }}]`, "tool_use",
			ptr(`{"a":[1,2]}`), 0, "stop"},
		{"cut by max_tokens", `[{"type":"tool_use","id":"t","name":"json_response","input":{}}]`, "max_tokens", ptr(`{}`), 0, "length"},
		{"text first is kept", `[{"type":"text","text":"Here: "},{"type":"tool_use","id":"t","name":"json_response","input":{"x":1}}]`, "tool_use",
			ptr(`Here: {"x":1}`), 0, "stop"},
		{"another tool stays a call", `[{"type":"tool_use","id":"t","name":"other","input":{}}]`, "tool_use", nil, 1, "tool_calls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"id":"m1","type":"message","content":` + tc.content + `,"stop_reason":"` + tc.stop + `","usage":{"input_tokens":1,"output_tokens":2}}`
			out, err := translateResponse([]byte(raw), tr, testNow, func() string { return "x" })
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Choices []struct {
					Message struct {
						Content   *string           `json:"content"`
						ToolCalls []json.RawMessage `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(out, &c); err != nil || len(c.Choices) != 1 {
				t.Fatalf("answer %s: %v", out, err)
			}
			m := c.Choices[0].Message
			if (m.Content == nil) != (tc.wantContent == nil) || m.Content != nil && *m.Content != *tc.wantContent ||
				len(m.ToolCalls) != tc.wantCalls || c.Choices[0].FinishReason != tc.wantFinish {
				t.Errorf("answer %s, want content %v, %d tool calls, finish %q", out, deref(tc.wantContent), tc.wantCalls, tc.wantFinish)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// TestSchemaStreamPathsAgree runs a structured-output stream with text and another tool's call beside
// the forced one through the stream reader, with and without the fast path: the schema tool's input
// must come out as content either way.
func TestSchemaStreamPathsAgree(t *testing.T) {
	in := evStart +
		"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"json_response\",\"input\":{}}}\n\n" +
		deltaEvent("0", `{"type":"input_json_delta","partial_json":"{\"a\":"}`) +
		deltaEvent("0", `{"type":"input_json_delta","partial_json":"1}"}`) +
		"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		deltaEvent("1", `{"type":"text_delta","text":" ok"}`) +
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\n" + msgStop
	var outs []string
	for _, noFast := range []bool{false, true} {
		tr := &translated{clientModel: "c", schemaTool: "json_response"}
		s := newStreamReader(io.NopCloser(strings.NewReader(in)), func(error) {}, tr, testNow, func() string { return "x" })
		s.noFast = noFast
		out, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(out))
	}
	if outs[0] != outs[1] {
		t.Fatalf("fast and decoding paths differ:\n%s\n%s", outs[0], outs[1])
	}
	for _, want := range []string{`"delta":{"content":"{\"a\":"}`, `"delta":{"content":"1}"}`, `"delta":{"content":" ok"}`, `"finish_reason":"stop"`} {
		if !strings.Contains(outs[0], want) {
			t.Errorf("stream lacks %s:\n%s", want, outs[0])
		}
	}
	if strings.Contains(outs[0], "tool_calls") {
		t.Errorf("the schema tool surfaced as a tool call:\n%s", outs[0])
	}
}
