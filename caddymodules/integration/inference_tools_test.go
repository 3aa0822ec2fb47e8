// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// toolProvider is an OpenAI-compatible provider that answers tool calls (streamed or not) and the Responses
// API, so the SDK's parsing of those shapes through FD2 is checked.
func toolProvider(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Stream bool              `json:"stream"`
			Tools  []json.RawMessage `json:"tools"`
		}
		_ = json.Unmarshal(body, &req)
		switch {
		case strings.HasSuffix(r.URL.Path, "/responses"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed","model":"tool-model",
			  "output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"responses work","annotations":[]}]}],
			  "usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}},
			  "parallel_tool_calls":true,"tool_choice":"auto","tools":[]}`)
		case len(req.Tools) == 0:
			http.Error(w, `{"error":{"message":"tools expected","type":"invalid_request_error"}}`, 400)
		case req.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			for _, ev := range []string{
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"tool-model","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"tool-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"tool-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}`,
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"tool-model","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
				`{"id":"c","object":"chat.completion.chunk","created":1,"model":"tool-model","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`,
			} {
				fmt.Fprintf(w, "data: %s\n\n", ev)
				http.NewResponseController(w).Flush()
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"tool-model","choices":[{"index":0,"message":{"role":"assistant","content":null,
			  "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestInferenceToolsAndResponsesWithSDK: tool calls (plain and streamed) and the Responses API through
// dsp_openai, as the official SDK parses them.
func TestInferenceToolsAndResponsesWithSDK(t *testing.T) {
	requireIntegration(t)
	up := toolProvider(t)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	dsp_openai {
		provider tools openai {
			base_url %s/v1
		}
		model tool-model tools
	}
}
`, up.URL))
	c := sdk(f.url("/v1/"))
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "tool-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})}}

	res, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	tc := res.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris"}` || res.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool call parsed as %+v", res.Choices[0])
	}

	stream := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if calls := acc.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("streamed tool call accumulated as %+v", acc.Choices[0].Message)
	}

	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "tool-model",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "responses work" || resp.Usage.TotalTokens != 5 {
		t.Fatalf("responses parsed as %q / %+v", resp.OutputText(), resp.Usage)
	}
}
