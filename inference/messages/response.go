// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// chatCompletion is the part of a chat.completion the translation reads. reasoning_content (DeepSeek,
// vLLM) and reasoning (OpenRouter, Ollama) are the same thing under two names.
type chatCompletion struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content          json.RawMessage `json:"content"`
			Refusal          *string         `json:"refusal"`
			ReasoningContent *string         `json:"reasoning_content"`
			Reasoning        *string         `json:"reasoning"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *chatUsage `json:"usage"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// usage is Anthropic's usage. Anthropic counts cache reads apart from input_tokens, while OpenAI's
// prompt_tokens includes its cached tokens, so they are taken out of input_tokens: input plus both cache
// counts is the whole prompt, as with Anthropic itself.
type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
}

func (u *chatUsage) anthropic() usage {
	out := usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil && d.CachedTokens > 0 && d.CachedTokens <= u.PromptTokens {
		out.InputTokens -= d.CachedTokens
		out.CacheReadInputTokens = d.CachedTokens
	}
	return out
}

// message is a Messages answer. Content blocks are raw so each keeps its own shape.
type message struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Role         string            `json:"role"`
	Model        string            `json:"model"`
	Content      []json.RawMessage `json:"content"`
	StopReason   string            `json:"stop_reason"`
	StopSequence *string           `json:"stop_sequence"`
	Usage        usage             `json:"usage"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// thinkingBlock carries a provider's reasoning. Its signature is empty: nobody signed it, and Anthropic
// SDKs accept an empty one (the translation drops thinking blocks sent back in later turns anyway).
type thinkingBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type toolUseBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// stopReason maps OpenAI's finish_reason. OpenAI does not tell which stop sequence ended an answer (or
// whether one did), so "stop" is always end_turn; a "stop" with tool calls (some servers say so) is
// tool_use, which is what clients look at to run the tools.
func stopReason(finish string, toolCalls bool) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	if toolCalls {
		return "tool_use"
	}
	return "end_turn"
}

// toolInput is a tool call's arguments as a tool_use input. Arguments that are not a JSON object (a
// model's broken output) become {}: input must be an object, and a client validating it against the
// tool's schema then reports the missing fields to the model, which can retry; the broken text is not
// kept under a made-up key that a strict schema would refuse as well.
func toolInput(args []byte) json.RawMessage {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || args[0] != '{' || !json.Valid(args) {
		return json.RawMessage("{}")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, args) != nil {
		return json.RawMessage("{}")
	}
	return buf.Bytes()
}

var errNoChoice = errors.New("the provider's answer has no choices")

// translateResponse turns a chat.completion into a Messages answer. promptTokens counts the prompt
// when the provider reported no usage.
func translateResponse(raw []byte, id, model string, promptTokens func() int64) ([]byte, error) {
	m, err := translateMessage(raw, id, model, promptTokens)
	if err != nil {
		return nil, err
	}
	return marshal(m)
}

// translateMessage is translateResponse before encoding.
func translateMessage(raw []byte, id, model string, promptTokens func() int64) (*message, error) {
	var c chatCompletion
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if len(c.Choices) == 0 {
		return nil, errNoChoice
	}
	ch := &c.Choices[0]
	m := &ch.Message
	out := message{ID: id, Type: "message", Role: "assistant", Model: model, Content: []json.RawMessage{}}
	var generated strings.Builder
	add := func(v any) {
		b, _ := marshal(v) // plain structs of strings: cannot fail
		out.Content = append(out.Content, b)
	}
	// Servers in transition between the two names send both, with the same text.
	reasoning := m.ReasoningContent
	if reasoning == nil || *reasoning == "" {
		reasoning = m.Reasoning
	}
	if reasoning != nil && *reasoning != "" {
		add(thinkingBlock{Type: "thinking", Thinking: *reasoning})
		generated.WriteString(*reasoning)
	}
	text, err := contentText(m.Content)
	if err != nil {
		return nil, err
	}
	if m.Refusal != nil && *m.Refusal != "" {
		text += *m.Refusal
	}
	if text != "" {
		add(textBlock{Type: "text", Text: text})
		generated.WriteString(text)
	}
	for i, tc := range m.ToolCalls {
		tid := tc.ID
		if tid == "" {
			tid = toolID(id, i)
		}
		add(toolUseBlock{Type: "tool_use", ID: tid, Name: tc.Function.Name, Input: toolInput([]byte(tc.Function.Arguments))})
		generated.WriteString(tc.Function.Name)
		generated.WriteString(tc.Function.Arguments)
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	out.StopReason = stopReason(finish, len(m.ToolCalls) > 0)
	if m.Refusal != nil && *m.Refusal != "" {
		out.StopReason = "refusal"
	}
	if c.Usage != nil {
		out.Usage = c.Usage.anthropic()
	} else {
		out.Usage = usage{InputTokens: promptTokens(), OutputTokens: countTokens(model, generated.String())}
	}
	return &out, nil
}

// renderStream writes a complete answer as the Messages event stream of it, one delta per block, for a
// provider that answered a streamed request with a whole completion (some OpenAI-compatible servers
// ignore stream): the client asked for events and gets them, only later.
func renderStream(m *message) []byte {
	s := &streamReader{bufs: &streamBufs{}, id: m.ID, model: m.Model, stop: m.StopReason, usage: m.Usage, hasUsage: true}
	s.start()
	for _, raw := range m.Content {
		var b struct {
			Type     string          `json:"type"`
			Text     string          `json:"text"`
			Thinking string          `json:"thinking"`
			ID       string          `json:"id"`
			Name     string          `json:"name"`
			Input    json.RawMessage `json:"input"`
		}
		_ = json.Unmarshal(raw, &b) // made by translateMessage: always decodes
		switch b.Type {
		case "text":
			s.delta(blockText, escaped(b.Text))
		case "thinking":
			s.delta(blockThinking, escaped(b.Thinking))
		case "tool_use":
			s.closeBlock()
			s.tools = append(s.tools, int64(len(s.tools)))
			id, _ := marshal(b.ID)
			name, _ := marshal(b.Name)
			s.openTool(id, name)
			s.delta(blockTool, escaped(string(b.Input)))
		}
	}
	s.end()
	return s.bufs.out
}

// escaped returns the JSON-escaped contents of the string s, without its quotes.
func escaped(s string) []byte {
	b, _ := marshal(s) // a string always encodes
	return b[1 : len(b)-1]
}

// toolID makes an id for a tool call the provider sent without one: unique within the message, which
// is all a client needs to pair the tool_result with it.
func toolID(msgID string, i int) string {
	return "toolu_" + strings.TrimPrefix(msgID, "msg_") + "_" + itoa(i)
}

// contentText reads an answer's content: a string, null, or (some servers) a list of text parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("the provider's message content is neither text nor a list of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}
