// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/inference/openai"
)

type anUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// openAI converts usage. Anthropic counts cached prompt tokens apart from input_tokens while OpenAI's
// prompt_tokens includes them, so they are added back for billing and quotas to see the whole prompt.
func (u anUsage) openAI() *openai.Usage {
	prompt := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	out := &openai.Usage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	if u.CacheReadInputTokens > 0 {
		out.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens}
	}
	return out
}

// anResponse is a non-streamed Messages answer; unknown block types (thinking, server tools) are
// decoded but skipped.
type anResponse struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Content []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	StopReason string  `json:"stop_reason"`
	Usage      anUsage `json:"usage"`
}

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason. schema is true when the request's
// response_format became a forced tool and the answer made no other tool call: that tool's call is the
// answer, not a tool call, so it ends the answer the way OpenAI ends structured output.
func finishReason(stop string, schema bool) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		if schema {
			return "stop"
		}
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn
}

func completionID(anthropicID string, newID func() string) string {
	if anthropicID == "" {
		anthropicID = newID()
	}
	return "chatcmpl-" + anthropicID
}

// translateResponse turns a Messages answer into a chat.completion body.
func translateResponse(raw []byte, tr *translated, now time.Time, newID func() string) ([]byte, error) {
	var in anResponse
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	if in.Type != "message" {
		return nil, errors.New("unexpected response type " + in.Type)
	}
	msg := openai.ChatMessage{Role: "assistant"}
	var text strings.Builder
	for _, b := range in.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args := "{}"
			if !isNull(b.Input) {
				var buf bytes.Buffer
				if err := json.Compact(&buf, b.Input); err != nil {
					return nil, err
				}
				args = buf.String()
			}
			// The response_format tool's input is the structured answer itself.
			if tr.schemaTool != "" && b.Name == tr.schemaTool {
				text.WriteString(args)
				continue
			}
			tc := openai.ToolCall{ID: b.ID, Type: "function"}
			tc.Function.Name = b.Name
			tc.Function.Arguments = args
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
		// thinking and server-tool blocks have no chat completion equivalent.
	}
	// Text blocks are pieces of one answer (split around citations or tool calls), so they are
	// concatenated without a separator.
	if s := text.String(); s != "" || len(msg.ToolCalls) == 0 {
		msg.Content = &s
	}
	fr := finishReason(in.StopReason, tr.schemaTool != "" && len(msg.ToolCalls) == 0)
	return marshal(openai.ChatCompletion{
		ID:      completionID(in.ID, newID),
		Object:  "chat.completion",
		Created: now.Unix(),
		Model:   tr.clientModel,
		Choices: []openai.Choice{{Index: 0, Message: &msg, Logprobs: openai.JSONNull, FinishReason: &fr}},
		Usage:   in.Usage.openAI(),
	})
}
