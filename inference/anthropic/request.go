// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// OpenAI chat completion request, reduced to what has an Anthropic equivalent. Fields without one
// (frequency_penalty, logit_bias, seed, response_format …) are dropped rather than rejected, the way
// OpenAI-compatible gateways behave, so SDK defaults do not break Anthropic deployments.
type oaRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools             []oaTool        `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	User              string          `json:"user"`
	N                 *int            `json:"n"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaToolCall    `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	File *struct {
		FileData string `json:"file_data"`
	} `json:"file"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// Anthropic Messages request. Field order is the wire order, which keeps golden files readable.
type anRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int           `json:"max_tokens"`
	System        string        `json:"system,omitempty"`
	Messages      []anMessage   `json:"messages"`
	Tools         []anTool      `json:"tools,omitempty"`
	ToolChoice    *anToolChoice `json:"tool_choice,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Metadata      *anMetadata   `json:"metadata,omitempty"`
}

type anMessage struct {
	Role string `json:"role"`
	// Content is a string for a lone text block (the compact form), else a list of blocks.
	Content any   `json:"content"`
	blocks  []any // accumulated while merging same-role turns
}

type anText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anMedia struct {
	Type   string   `json:"type"` // image or document
	Source anSource `json:"source"`
}

type anToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type anToolResult struct {
	Type      string `json:"type"`
	ToolUseID string `json:"tool_use_id"`
	Content   string `json:"content,omitempty"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anMetadata struct {
	UserID string `json:"user_id"`
}

// translated is a request ready to send, with what the answer's translation needs to know.
type translated struct {
	out          anRequest
	clientModel  string // echoed in responses: the client must see the model it asked for
	includeUsage bool
}

// translateRequest turns an OpenAI chat completion body into a Messages request. model, when set, is
// the provider-side model name and wins over the body's.
func translateRequest(body []byte, model string, defaultMaxTokens int, stream bool) (*translated, error) {
	var in oaRequest
	if err := jsonUnmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("parsing chat completion request: %w", err)
	}
	if in.N != nil && *in.N > 1 {
		return nil, errors.New("n > 1 is not supported by anthropic")
	}
	tr := &translated{clientModel: in.Model}
	out := &tr.out
	out.Model = in.Model
	if model != "" {
		out.Model = model
	}
	out.MaxTokens = defaultMaxTokens
	switch {
	case in.MaxCompletionTokens != nil:
		out.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		out.MaxTokens = *in.MaxTokens
	}
	// OpenAI allows temperature up to 2 and Anthropic up to 1; we pass it unchanged so an out-of-range
	// value is reported by the provider rather than silently altered.
	out.Temperature, out.TopP = in.Temperature, in.TopP
	out.Stream = in.Stream || stream
	tr.includeUsage = in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	// Anthropic uses metadata.user_id for abuse detection, the same purpose as OpenAI's user.
	if in.User != "" {
		out.Metadata = &anMetadata{UserID: in.User}
	}

	stops, err := parseStop(in.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stops

	if out.System, out.Messages, err = translateMessages(in.Messages); err != nil {
		return nil, err
	}
	if len(out.Messages) == 0 {
		return nil, errors.New("messages: at least one user or assistant message is required")
	}

	for i, t := range in.Tools {
		if t.Type != "function" {
			return nil, fmt.Errorf("tools[%d]: type %q is not supported", i, t.Type)
		}
		schema := t.Function.Parameters
		if isNull(schema) {
			// Anthropic requires a schema; OpenAI's "no parameters" is an empty object schema.
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, anTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if out.ToolChoice, err = parseToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	if len(out.Tools) == 0 {
		out.ToolChoice = nil // Anthropic rejects tool_choice without tools
	} else if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if out.ToolChoice == nil {
			out.ToolChoice = &anToolChoice{Type: "auto"}
		}
		if out.ToolChoice.Type != "none" {
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	return tr, nil
}

func parseStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("stop: want a string or a list of strings")
	}
	var out []string
	for _, s := range list {
		if s != "" { // Anthropic rejects empty stop sequences; OpenAI ignores them
			out = append(out, s)
		}
	}
	return out, nil
}

func parseToolChoice(raw json.RawMessage) (*anToolChoice, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "auto":
			return &anToolChoice{Type: "auto"}, nil
		case "none":
			// Keeping the tools with type none (rather than dropping them) preserves the prompt
			// cache, whose prefix includes the tool definitions.
			return &anToolChoice{Type: "none"}, nil
		case "required":
			return &anToolChoice{Type: "any"}, nil
		}
		return nil, fmt.Errorf("tool_choice: unknown value %q", s)
	}
	var obj struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		return nil, errors.New(`tool_choice: want "auto", "none", "required" or {"type":"function","function":{"name":…}}`)
	}
	return &anToolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

// translateMessages splits system prompts out and builds strictly alternating turns, since Anthropic
// rejects two consecutive messages with the same role.
func translateMessages(msgs []oaMessage) (string, []anMessage, error) {
	var system []string
	var out []anMessage
	add := func(role string, blocks []any) {
		if len(blocks) == 0 {
			return // Anthropic rejects empty content
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].blocks = append(out[n-1].blocks, blocks...)
			return
		}
		out = append(out, anMessage{Role: role, blocks: blocks})
	}
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			text, err := textOf(m.Content)
			if err != nil {
				return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			if text != "" {
				system = append(system, text)
			}
		case "user":
			blocks, err := userBlocks(m.Content)
			if err != nil {
				return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			add("user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(m)
			if err != nil {
				return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			add("assistant", blocks)
		case "tool":
			// Anthropic has no tool role: results travel in the next user turn, and consecutive
			// tool messages merge into one turn holding every result of a parallel call.
			text, err := textOf(m.Content)
			if err != nil {
				return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			if m.ToolCallID == "" {
				return "", nil, fmt.Errorf("messages[%d]: tool message without tool_call_id", i)
			}
			add("user", []any{anToolResult{Type: "tool_result", ToolUseID: m.ToolCallID, Content: text}})
		default:
			return "", nil, fmt.Errorf("messages[%d]: role %q is not supported", i, m.Role)
		}
	}
	for i := range out {
		m := &out[i]
		if m.Role == "user" {
			// Tool results must open the user turn that follows the tool calls.
			var results, rest []any
			for _, b := range m.blocks {
				if _, ok := b.(anToolResult); ok {
					results = append(results, b)
				} else {
					rest = append(rest, b)
				}
			}
			m.blocks = append(results, rest...)
		}
		// A lone text block is sent in the compact string form, as Anthropic's own examples do.
		if t, ok := m.blocks[0].(anText); ok && len(m.blocks) == 1 {
			m.Content = t.Text
		} else {
			m.Content = m.blocks
		}
	}
	return strings.Join(system, "\n\n"), out, nil
}

// textOf reads content that may only hold text: a string or a list of text parts.
func textOf(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content: want a string or a list of parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not allowed here", p.Type)
		}
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

func userBlocks(raw json.RawMessage) ([]any, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return nil, nil
		}
		return []any{anText{Type: "text", Text: s}}, nil
	}
	var parts []oaPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, errors.New("content: want a string or a list of parts")
	}
	var blocks []any
	for _, p := range parts {
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, anText{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, errors.New("image_url part without image_url")
			}
			src, err := mediaSource(p.ImageURL.URL, true)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anMedia{Type: "image", Source: src})
		case "file":
			// Inline PDFs map to document blocks; uploaded file ids live in OpenAI and cannot.
			if p.File == nil || p.File.FileData == "" {
				return nil, errors.New("file parts need inline file_data")
			}
			src, err := mediaSource(p.File.FileData, false)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anMedia{Type: "document", Source: src})
		default:
			return nil, fmt.Errorf("content part type %q is not supported by anthropic", p.Type)
		}
	}
	return blocks, nil
}

// mediaSource turns a data: URL into a base64 source and, when allowed, an http(s) URL into a url source.
func mediaSource(u string, allowURL bool) (anSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isB64 := strings.CutSuffix(meta, ";base64")
		if !found || !isB64 || mediaType == "" {
			return anSource{}, errors.New("data URL: want data:<media type>;base64,<data>")
		}
		return anSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if allowURL && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return anSource{Type: "url", URL: u}, nil
	}
	return anSource{}, errors.New("media URL: want a data: or http(s) URL")
}

func assistantBlocks(m oaMessage) ([]any, error) {
	var blocks []any
	if !isNull(m.Content) {
		var s string
		if err := json.Unmarshal(m.Content, &s); err == nil {
			if s != "" {
				blocks = append(blocks, anText{Type: "text", Text: s})
			}
		} else {
			var parts []oaPart
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return nil, errors.New("content: want a string or a list of parts")
			}
			for _, p := range parts {
				// A refusal part is what the assistant said, so it stays in the history as text.
				if (p.Type == "text" || p.Type == "refusal") && p.Text != "" {
					blocks = append(blocks, anText{Type: "text", Text: p.Text})
				}
			}
		}
	}
	// OpenAI carries tool arguments as a JSON string, Anthropic as an object; a history whose arguments
	// are not an object cannot be replayed faithfully, so it is refused rather than guessed at.
	for j, tc := range m.ToolCalls {
		input := json.RawMessage(`{}`)
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
				return nil, fmt.Errorf("tool_calls[%d]: arguments must be a JSON object", j)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(args)); err != nil {
				return nil, fmt.Errorf("tool_calls[%d]: %w", j, err)
			}
			input = buf.Bytes()
		}
		blocks = append(blocks, anToolUse{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// marshal encodes without HTML escaping: prompts and answers are not HTML, and "<" escaped as \u003c
// only makes them harder to read in logs and golden files.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
