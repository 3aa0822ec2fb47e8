// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

func claudeClient(baseURL, key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(baseURL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

// weatherTool is a client tool with a schema: the fakes answer a forced call of it with an input derived
// from the schema (a string property is "x").
var weatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}},
		Required: []string{"city"}}}}

func textOf(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// TestAnthropicMessagesAPI drives FD2 with the official Anthropic Go SDK, unmodified: messages, streams,
// forced tool use and count_tokens on a dsp_openai site whose models go to an Anthropic provider (passed
// through natively) and to an OpenAI-compatible one (translated both ways), FD2's API key sent as
// x-api-key, errors in Anthropic's shape, and usage metered as on chat/completions.
func TestAnthropicMessagesAPI(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	plain, rec, err := newKey("claude-code-user", 0)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, keyFile, rec)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	handle /metrics {
		metrics
	}
	route /v1/* {
		dsp_auth {
			name parity
			api_keys file %[2]s
		}
		dsp_openai {
			provider claude anthropic {
				base_url %[1]s
				api_key sk-ant-upstream
			}
			provider gpt openai {
				base_url %[1]s/v1
			}
			model claude-fake claude:claude-3-haiku
			model gpt-fake gpt:fake-gpt
		}
	}
}
`, llm.URL, keyFile))
	ctx := context.Background()
	c := claudeClient(f.url("/"), plain)
	for _, model := range []string{"claude-fake", "gpt-fake"} {
		t.Run(model, func(t *testing.T) {
			params := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello from claude code"))}}
			m, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if textOf(m) != "echo: hello from claude code" || m.StopReason != "end_turn" || m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
				t.Fatalf("message %s", m.RawJSON())
			}

			stream := c.Messages.NewStreaming(ctx, params)
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if textOf(&acc) != "echo: hello from claude code" || acc.Usage.OutputTokens == 0 || acc.StopReason != "end_turn" {
				t.Fatalf("streamed message %+v", acc)
			}

			tp := params
			tp.Tools = []anthropic.ToolUnionParam{weatherTool}
			tp.ToolChoice = anthropic.ToolChoiceParamOfTool("get_weather")
			m, err = c.Messages.New(ctx, tp)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Content) == 0 || m.Content[len(m.Content)-1].Type != "tool_use" || m.StopReason != "tool_use" {
				t.Fatalf("tool use answer %s", m.RawJSON())
			}
			call := m.Content[len(m.Content)-1]
			if call.Name != "get_weather" || string(call.Input) != `{"city":"x"}` || call.ID == "" {
				t.Fatalf("tool call %s %s %s", call.ID, call.Name, call.Input)
			}
			// The tool's result goes back, and the model answers from it.
			tp.ToolChoice = anthropic.ToolChoiceUnionParam{}
			tp.Messages = append(tp.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "sunny", false),
				anthropic.NewTextBlock("so?")))
			if m, err = c.Messages.New(ctx, tp); err != nil || textOf(m) != "echo: so?" {
				t.Fatalf("after the tool result: %v %v", err, m)
			}

			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: anthropic.Model(model),
				Messages: params.Messages})
			if err != nil || n.InputTokens <= 0 {
				t.Fatalf("count_tokens %+v %v", n, err)
			}
		})
	}
	t.Run("errors in Anthropic's shape", func(t *testing.T) {
		var ae *anthropic.Error
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "no-such-model", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.RawJSON(), `"type":"not_found_error"`) {
			t.Fatalf("unknown model: %v", err)
		}
		wrong := claudeClient(f.url("/"), "fd2_wrong")
		_, err = wrong.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-fake", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.RawJSON(), `"type":"authentication_error"`) {
			t.Fatalf("bad key: %v", err)
		}
		r := do(t, "POST", f.url("/v1/messages"), `{"model":"gpt-fake","max_tokens":10,"top_k":3,"messages":[{"role":"user","content":"x"}]}`,
			"X-Api-Key", plain, "Content-Type", "application/json")
		if r.status != 400 || !strings.Contains(string(r.body), `"type":"error"`) || !strings.Contains(string(r.body), "top_k") {
			t.Fatalf("a field an OpenAI-compatible provider cannot honour: %d %s", r.status, r.body)
		}
	})
	t.Run("usage is metered", func(t *testing.T) {
		for _, series := range []string{
			`fd2_tokens_total{model="` + metrics.Models.Value("claude-3-haiku") + `",project="parity",provider="claude",source="provider",type="completion"}`,
			`fd2_tokens_total{model="` + metrics.Models.Value("fake-gpt") + `",project="parity",provider="gpt",source="provider",type="completion"}`,
		} {
			if v := metricLine(t, f, series); v == "" || v == "0" {
				t.Errorf("%s = %q", series, v)
			}
		}
	})
}

// TestResponsesAPIOverEveryProvider drives the Responses API with the official OpenAI Go SDK against
// models served by Claude and Gemini fakes: answers, streams with usage, previous_response_id, and GET and
// DELETE of the responses FD2 stored.
func TestResponsesAPIOverEveryProvider(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_openai {
			provider claude anthropic {
				base_url %[1]s
				api_key sk-ant-upstream
			}
			provider gemini {
				type gemini
				base_url %[1]s
				api_key gm-upstream
			}
			model claude-fake claude:claude-3-haiku
			model gemini-fake gemini:gemini-2.0-flash
		}
	}
	handle_errors {
		dsp_error
	}
}
`, llm.URL))
	ctx := context.Background()
	c := sdk(f.url("/v1/"))
	for _, model := range []string{"claude-fake", "gemini-fake"} {
		t.Run(model, func(t *testing.T) {
			first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("first question")}})
			if err != nil {
				t.Fatal(err)
			}
			if first.OutputText() != "echo: first question" || first.Usage.TotalTokens == 0 || !strings.HasPrefix(first.ID, "resp_") {
				t.Fatalf("response %s", first.RawJSON())
			}
			// Continued by id: FD2's store holds the conversation.
			second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: openai.String(first.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("second question")}})
			if err != nil || second.OutputText() != "echo: second question" || second.Usage.InputTokens <= first.Usage.InputTokens {
				t.Fatalf("continued: %v %+v", err, second)
			}
			stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: model,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("stream it")}})
			var text string
			var completed *responses.Response
			for stream.Next() {
				ev := stream.Current()
				switch ev.Type {
				case "response.output_text.delta":
					text += ev.Delta
				case "response.completed":
					r := ev.Response
					completed = &r
				}
			}
			if err := stream.Err(); err != nil || text != "echo: stream it" || completed == nil || completed.Usage.OutputTokens == 0 {
				t.Fatalf("stream: %v %q %+v", err, text, completed)
			}
			got, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
			if err != nil || got.ID != first.ID || got.OutputText() != first.OutputText() {
				t.Fatalf("GET: %v %+v", err, got)
			}
			if err := c.Responses.Delete(ctx, first.ID); err != nil {
				t.Fatal(err)
			}
			var oe *openai.Error
			if _, err := c.Responses.Get(ctx, first.ID, responses.ResponseGetParams{}); !errors.As(err, &oe) || oe.StatusCode != 404 {
				t.Fatalf("GET after DELETE: %v", err)
			}
		})
	}
}

// TestAnthropicMessagesOnManifestModule: a manifest inference_endpoint module serves the Messages API at
// /{project}/{module}/v1/messages, the project's key-auth key sent by the Anthropic SDK as x-api-key, the
// module's model_name and system_prompt applied, errors in Anthropic's shape.
func TestAnthropicMessagesOnManifestModule(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	registerSecret("claude-module-key-1")
	writeManifest(t, dir, "claudeproj", `{"project_id":"claudeproj","modules":[
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[],
	    "consumer":{"username":"coder","plugins":{"key-auth":{"key":"claude-module-key-1"}}},
	    "global_plugins":{"key-auth":{}}}},
	  {"module_type":"inference_endpoint","name":"llm","config":{"endpoint_url":"http://`+hostOf(llm)+`/v1","model_name":"fake-gpt",
	    "system_prompt":"Be brief.","max_tokens":50}}]}`)
	f := startFD2(t, "manifests file "+dir, `
:{{HTTP}} {
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit
		dsp_dispatch
	}
}`)
	ctx := context.Background()
	c := claudeClient(f.url("/claudeproj/llm/"), "claude-module-key-1")
	params := anthropic.MessageNewParams{Model: "fake-gpt", MaxTokens: 20,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("through the module"))}}
	m, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	// The fake counts the module's system prompt among the prompt's words.
	if textOf(m) != "echo: through the module" || m.Usage.InputTokens != 5 {
		t.Fatalf("message %s", m.RawJSON())
	}
	stream := c.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || textOf(&acc) != "echo: through the module" {
		t.Fatalf("stream: %v %+v", err, acc)
	}
	wrong := claudeClient(f.url("/claudeproj/llm/"), "not-the-key")
	var ae *anthropic.Error
	if _, err := wrong.Messages.New(ctx, params); !errors.As(err, &ae) || ae.StatusCode != 401 ||
		!strings.Contains(ae.RawJSON(), `"type":"authentication_error"`) {
		t.Fatalf("a wrong key: %v", err)
	}
	// The key is FD2's credential: it never reaches the provider.
	r := do(t, "POST", f.url("/claudeproj/llm/v1/messages"), `{"model":"fake-gpt","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
		"X-Api-Key", "claude-module-key-1", "Content-Type", "application/json")
	expectStatus(t, r, 200)
}
