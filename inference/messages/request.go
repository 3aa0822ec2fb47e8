// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/inference/openai"
)

// Error codes of the client's request errors (ProviderError.Code).
const (
	codeUnsupported = "unsupported_parameter" // valid Anthropic, but OpenAI cannot honour it
	codeInvalid     = "invalid_request"       // not a valid Messages request
)

// requestError is a client request the translation refuses; Do turns it into a 400.
type requestError struct {
	code string
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func unsupported(format string, args ...any) error {
	return &requestError{code: codeUnsupported, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error {
	return &requestError{code: codeInvalid, msg: fmt.Sprintf(format, args...)}
}

// knownFields are the top-level request fields the translation honours. Every other field (top_k,
// service_tier, container, mcp_servers, context_management, …) is refused by name: OpenAI has no
// equivalent, and an answer that silently ignored part of the request would look like model behaviour.
var knownFields = map[string]bool{
	"model": true, "messages": true, "system": true, "max_tokens": true, "metadata": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "tools": true,
	"tool_choice": true, "thinking": true,
}

// mRequest is a Messages request. System and content stay raw: each is a string or a list of blocks.
type mRequest struct {
	Model         string          `json:"model"`
	Messages      []mMessage      `json:"messages"`
	System        json.RawMessage `json:"system"`
	MaxTokens     *int64          `json:"max_tokens"`
	Metadata      json.RawMessage `json:"metadata"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Tools         []mTool         `json:"tools"`
	ToolChoice    *mToolChoice    `json:"tool_choice"`
	Thinking      *mThinking      `json:"thinking"`
}

type mMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// mBlock is any content block; Type says which fields are set. cache_control and citations are not
// read: both are hints with no OpenAI counterpart that change nothing in the answer's meaning.
type mBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Source    *mSource        `json:"source"`
	Title     string          `json:"title"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

type mSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type mTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// toolFields are the fields of a client tool; cache_control is a caching hint, dropped.
var toolFields = map[string]bool{"type": true, "name": true, "description": true, "input_schema": true, "cache_control": true}

type mToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

type mThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens"`
}

// chatRequest is the chat/completions request sent to the provider. Unlike openai.ChatRequest, which is
// made for reading, every optional field is omitted when unset, so the provider's defaults apply.
type chatRequest struct {
	Model             string                `json:"model"`
	Messages          []chatMessage         `json:"messages"`
	Tools             []openai.Tool         `json:"tools,omitempty"`
	ToolChoice        any                   `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool                 `json:"parallel_tool_calls,omitempty"`
	MaxTokens         *int64                `json:"max_tokens,omitempty"`
	Temperature       *float64              `json:"temperature,omitempty"`
	TopP              *float64              `json:"top_p,omitempty"`
	Stop              []string              `json:"stop,omitempty"`
	ReasoningEffort   string                `json:"reasoning_effort,omitempty"`
	User              string                `json:"user,omitempty"`
	Stream            bool                  `json:"stream,omitempty"`
	StreamOptions     *openai.StreamOptions `json:"stream_options,omitempty"`
}

// chatMessage is one message: Content is a string, a []chatPart, or nil (null, for an assistant turn
// made only of tool calls).
type chatMessage struct {
	Role       string            `json:"role"`
	Content    any               `json:"content"`
	ToolCalls  []openai.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string            `json:"tool_call_id,omitempty"`
}

type chatPart struct {
	Type     string    `json:"type"`
	Text     *string   `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
	File     *filePart `json:"file,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

type filePart struct {
	FileData string `json:"file_data"`
	Filename string `json:"filename"`
}

func textPart(s string) chatPart { return chatPart{Type: "text", Text: &s} }

// decodeRequest parses and checks a Messages request body: one JSON object whose top-level fields are
// all known (null counts as absent: it asks for nothing).
func decodeRequest(body []byte) (*mRequest, error) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() || !gjson.ValidBytes(body) {
		return nil, invalid("the request body must be a JSON object")
	}
	var bad []string
	root.ForEach(func(k, v gjson.Result) bool {
		if !knownFields[k.String()] && v.Type != gjson.Null {
			bad = append(bad, k.String())
		}
		return true
	})
	if len(bad) > 0 {
		return nil, unsupported("%s: not supported by this model's provider (it does not speak the Messages API)",
			strings.Join(bad, ", "))
	}
	var r mRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, invalid("decoding the request: %s", jsonError(err))
	}
	return &r, nil
}

// jsonError names the field of a decoding error, for the client.
func jsonError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return te.Field + ": must be " + te.Type.String() + ", not " + te.Value
	}
	return err.Error()
}

// translateRequest turns a Messages request into a chat/completions body for model.
func translateRequest(r *mRequest, body []byte, model string, stream bool) ([]byte, error) {
	out := chatRequest{Model: model, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP,
		Stop: r.StopSequences}
	if stream {
		// Usage is always asked for: message_delta must carry both token counts.
		out.Stream, out.StreamOptions = true, &openai.StreamOptions{IncludeUsage: true}
	}
	if len(r.Metadata) > 0 && !isNull(r.Metadata) {
		user, err := metadataUser(r.Metadata)
		if err != nil {
			return nil, err
		}
		out.User = user
	}
	if r.Thinking != nil {
		switch r.Thinking.Type {
		case "enabled":
			out.ReasoningEffort = effort(r.Thinking.BudgetTokens)
		case "disabled", "adaptive":
			// adaptive lets the model decide how much to think, which is what OpenAI reasoning models do
			// without reasoning_effort.
		default:
			return nil, invalid("thinking.type: %q is not one of enabled, disabled, adaptive", r.Thinking.Type)
		}
	}
	if len(r.System) > 0 && !isNull(r.System) {
		sys, err := systemText(r.System)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: sys})
	}
	if len(r.Messages) == 0 {
		return nil, invalid("messages: at least one message is required")
	}
	for i := range r.Messages {
		var err error
		if out.Messages, err = appendMessage(out.Messages, &r.Messages[i], i); err != nil {
			return nil, err
		}
	}
	tools, err := translateTools(r.Tools, body)
	if err != nil {
		return nil, err
	}
	out.Tools = tools
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
			out.ToolChoice = "auto"
		case "any":
			out.ToolChoice = "required"
		case "none":
			out.ToolChoice = "none"
		case "tool":
			if tc.Name == "" {
				return nil, invalid("tool_choice.name: required when tool_choice.type is tool")
			}
			out.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}}
		default:
			return nil, invalid("tool_choice.type: %q is not one of auto, any, tool, none", tc.Type)
		}
		if tc.DisableParallelToolUse && tc.Type != "none" {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	return marshal(out)
}

// effort maps a thinking budget onto OpenAI's three reasoning efforts.
func effort(budget int64) string {
	switch {
	case budget <= 4096:
		return "low"
	case budget <= 16384:
		return "medium"
	}
	return "high"
}

// metadataUser reads metadata, whose only field is user_id; any other is refused like an unknown
// top-level field.
func metadataUser(raw json.RawMessage) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", invalid("metadata: must be an object")
	}
	var user string
	for k, v := range m {
		if k != "user_id" {
			if !isNull(v) {
				return "", unsupported("metadata.%s: not supported", k)
			}
			continue
		}
		if !isNull(v) && json.Unmarshal(v, &user) != nil {
			return "", invalid("metadata.user_id: must be a string")
		}
	}
	return user, nil
}

// systemText reads system, a string or a list of text blocks. Blocks are joined with blank lines into
// one string: several OpenAI-compatible servers accept only a string for a system message.
func systemText(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	blocks, err := decodeBlocks(raw, "system")
	if err != nil {
		return "", invalid("system: must be a string or a list of text blocks")
	}
	texts := make([]string, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "text" {
			return "", invalid("system[%d].type: %q, want text", i, b.Type)
		}
		texts = append(texts, b.Text)
	}
	return strings.Join(texts, "\n\n"), nil
}

// blocksOf reads a message content: a string is one text block.
func blocksOf(raw json.RawMessage, field string) ([]mBlock, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, invalid("%s: required", field)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("%s: %s", field, jsonError(err))
		}
		return []mBlock{{Type: "text", Text: s}}, nil
	}
	return decodeBlocks(raw, field)
}

// knownBlocks are the block types the translation reads; any other is only named in the refusal, so
// its fields need not be decodable as mBlock's.
var knownBlocks = map[string]bool{
	"text": true, "image": true, "document": true, "tool_use": true, "tool_result": true, "thinking": true,
	"redacted_thinking": true,
}

// decodeBlocks reads a list of content blocks.
func decodeBlocks(raw json.RawMessage, field string) ([]mBlock, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("%s: must be a string or a list of content blocks", field)
	}
	blocks := make([]mBlock, len(list))
	for j, r := range list {
		typ := gjson.GetBytes(r, "type")
		if !knownBlocks[typ.String()] {
			if len(r) == 0 || r[0] != '{' {
				return nil, invalid("%s[%d]: must be a content block object", field, j)
			}
			blocks[j].Type = typ.String()
			continue
		}
		if err := json.Unmarshal(r, &blocks[j]); err != nil {
			return nil, invalid("%s[%d]: %s", field, j, jsonError(err))
		}
	}
	return blocks, nil
}

// appendMessage appends the chat messages of the Messages turn m (messages[i]).
func appendMessage(out []chatMessage, m *mMessage, i int) ([]chatMessage, error) {
	field := "messages[" + strconv.Itoa(i) + "]"
	blocks, err := blocksOf(m.Content, field+".content")
	if err != nil {
		return nil, err
	}
	switch m.Role {
	case "user":
		return appendUser(out, blocks, field)
	case "assistant":
		return appendAssistant(out, blocks, field)
	}
	return nil, invalid("%s.role: %q, want user or assistant", field, m.Role)
}

// appendUser appends a user turn. Its tool_result blocks become role "tool" messages placed before the
// rest of the turn, because OpenAI wants tool messages right after the assistant's tool_calls. OpenAI
// tool messages hold text only, so images in a tool result follow in the user message after them.
func appendUser(out []chatMessage, blocks []mBlock, field string) ([]chatMessage, error) {
	var parts []chatPart
	onlyText := true
	for j := range blocks {
		b := &blocks[j]
		bf := field + ".content[" + strconv.Itoa(j) + "]"
		switch b.Type {
		case "text":
			parts = append(parts, textPart(b.Text))
		case "image", "document":
			p, err := mediaPart(b, bf)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
			onlyText = false
		case "tool_result":
			if b.ToolUseID == "" {
				return nil, invalid("%s.tool_use_id: required", bf)
			}
			text, media, err := toolResult(b, bf)
			if err != nil {
				return nil, err
			}
			out = append(out, chatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: text})
			if len(media) > 0 {
				onlyText = false
				parts = append(parts, media...)
			}
		default:
			return nil, unknownBlock(b.Type, bf, "user")
		}
	}
	switch {
	case len(parts) == 0:
		// A turn of tool results only.
		return out, nil
	case len(parts) == 1 && onlyText:
		return append(out, chatMessage{Role: "user", Content: *parts[0].Text}), nil
	}
	return append(out, chatMessage{Role: "user", Content: parts}), nil
}

// appendAssistant appends an assistant turn: its text blocks concatenated (pieces of one answer, split
// around tool calls) and its tool_use blocks as tool_calls.
func appendAssistant(out []chatMessage, blocks []mBlock, field string) ([]chatMessage, error) {
	var text strings.Builder
	hasText := false
	var calls []openai.ToolCall
	for j := range blocks {
		b := &blocks[j]
		bf := field + ".content[" + strconv.Itoa(j) + "]"
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
			hasText = true
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return nil, invalid("%s: a tool_use block needs an id and a name", bf)
			}
			args := "{}"
			if len(b.Input) > 0 && !isNull(b.Input) {
				var buf bytes.Buffer
				if err := json.Compact(&buf, b.Input); err != nil {
					return nil, invalid("%s.input: %s", bf, err)
				}
				args = buf.String()
			}
			calls = append(calls, openai.ToolCall{ID: b.ID, Type: "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		case "thinking", "redacted_thinking":
			// Thinking blocks are signed by, and only meaningful to, the Anthropic model that wrote
			// them; another provider can neither verify nor use them, so they are dropped.
		default:
			return nil, unknownBlock(b.Type, bf, "assistant")
		}
	}
	if !hasText && len(calls) == 0 {
		// A turn made only of thinking: nothing is left to send, and an empty assistant message is
		// refused by several providers.
		return out, nil
	}
	msg := chatMessage{Role: "assistant", ToolCalls: calls}
	if hasText || len(calls) == 0 {
		msg.Content = text.String()
	}
	return append(out, msg), nil
}

// unknownBlock refuses a block type the translation has no equivalent for (server tool results,
// search results, container uploads, …), or one that does not belong in the turn's role.
func unknownBlock(typ, field, role string) error {
	switch typ {
	case "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking":
		return invalid("%s.type: a %s block is not allowed in a %s turn", field, typ, role)
	case "":
		return invalid("%s.type: required", field)
	}
	return unsupported("%s.type: %q blocks are not supported by this model's provider", field, typ)
}

// mediaPart translates an image (base64 or URL) or a PDF document (base64).
func mediaPart(b *mBlock, field string) (chatPart, error) {
	src := b.Source
	if src == nil {
		return chatPart{}, invalid("%s.source: required", field)
	}
	if b.Type == "image" {
		switch src.Type {
		case "base64":
			if src.MediaType == "" || src.Data == "" {
				return chatPart{}, invalid("%s.source: media_type and data are required", field)
			}
			return chatPart{Type: "image_url", ImageURL: &imageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, nil
		case "url":
			if src.URL == "" {
				return chatPart{}, invalid("%s.source.url: required", field)
			}
			return chatPart{Type: "image_url", ImageURL: &imageURL{URL: src.URL}}, nil
		}
		return chatPart{}, unsupported("%s.source.type: %q image sources are not supported by this model's provider", field, src.Type)
	}
	if src.Type != "base64" || src.MediaType != "application/pdf" {
		return chatPart{}, unsupported("%s.source: only base64 PDF documents are supported by this model's provider", field)
	}
	if src.Data == "" {
		return chatPart{}, invalid("%s.source.data: required", field)
	}
	name := b.Title
	if name == "" {
		name = "document.pdf"
	}
	return chatPart{Type: "file", File: &filePart{FileData: "data:application/pdf;base64," + src.Data, Filename: name}}, nil
}

// toolResult reads a tool_result block: its text for the tool message, and its images for the user
// message that follows. is_error is told to the model in words, as OpenAI has no flag for it.
func toolResult(b *mBlock, field string) (string, []chatPart, error) {
	var text strings.Builder
	if b.IsError {
		text.WriteString("Error: ")
	}
	var media []chatPart
	switch {
	case len(b.Content) == 0 || isNull(b.Content):
	case b.Content[0] == '"':
		var s string
		if err := json.Unmarshal(b.Content, &s); err != nil {
			return "", nil, invalid("%s.content: %s", field, jsonError(err))
		}
		text.WriteString(s)
	default:
		blocks, err := decodeBlocks(b.Content, field+".content")
		if err != nil {
			return "", nil, err
		}
		first := true
		for k := range blocks {
			c := &blocks[k]
			cf := field + ".content[" + strconv.Itoa(k) + "]"
			switch c.Type {
			case "text":
				if !first {
					text.WriteString("\n")
				}
				text.WriteString(c.Text)
				first = false
			case "image", "document":
				p, err := mediaPart(c, cf)
				if err != nil {
					return "", nil, err
				}
				media = append(media, p)
			default:
				return "", nil, unknownBlock(c.Type, cf, "tool_result")
			}
		}
	}
	return text.String(), media, nil
}

// translateTools turns client tools into function tools; server tools (web search, code execution,
// bash, computer use, …) run on Anthropic's side and are refused by name.
func translateTools(tools []mTool, body []byte) ([]openai.Tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	raw := gjson.GetBytes(body, "tools").Array()
	out := make([]openai.Tool, 0, len(tools))
	for i, t := range tools {
		field := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "" && t.Type != "custom" {
			return nil, unsupported("%s: server tool %q (type %s) is not supported by this model's provider", field, t.Name, t.Type)
		}
		if i < len(raw) {
			var err error
			raw[i].ForEach(func(k, v gjson.Result) bool {
				if !toolFields[k.String()] && v.Type != gjson.Null {
					err = unsupported("%s.%s: not supported by this model's provider", field, k.String())
					return false
				}
				return true
			})
			if err != nil {
				return nil, err
			}
		}
		if t.Name == "" {
			return nil, invalid("%s.name: required", field)
		}
		if len(t.InputSchema) == 0 || isNull(t.InputSchema) {
			return nil, invalid("%s.input_schema: required", field)
		}
		var ft openai.Tool
		ft.Type = "function"
		ft.Function.Name, ft.Function.Description, ft.Function.Parameters = t.Name, t.Description, t.InputSchema
		out = append(out, ft)
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// marshal encodes without escaping <, > and &: prompts are full of tags, and \u003c would only bloat
// them.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
