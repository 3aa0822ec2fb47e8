// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dsp-ai/fd2/inference"
)

// request is what FD2 reads of a Responses API request. Fields the Responses API has and chat cannot
// honour are read too, to be refused.
type request struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       json.RawMessage   `json:"instructions"`
	Tools              []json.RawMessage `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	MaxOutputTokens    *int64            `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	User               *string           `json:"user"`
	Metadata           json.RawMessage   `json:"metadata"`
	Text               json.RawMessage   `json:"text"`
	Reasoning          *reasoningConf    `json:"reasoning"`
	Store              *bool             `json:"store"`
	Stream             bool              `json:"stream"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Background         *bool             `json:"background"`
	Truncation         *string           `json:"truncation"`
	Include            []string          `json:"include"`
	Prompt             json.RawMessage   `json:"prompt"`
	Conversation       json.RawMessage   `json:"conversation"`
	TopLogprobs        *int              `json:"top_logprobs"`
	ServiceTier        string            `json:"service_tier"`
	PromptCacheKey     string            `json:"prompt_cache_key"`
	SafetyIdentifier   string            `json:"safety_identifier"`
}

type reasoningConf struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// textConf is the request's text parameter.
type textConf struct {
	Format    json.RawMessage `json:"format"`
	Verbosity string          `json:"verbosity"`
}

type formatConf struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// chatRequest is the chat/completions body sent to the provider.
type chatRequest struct {
	Model             string          `json:"model"`
	Messages          []chatMessage   `json:"messages"`
	Tools             []chatTool      `json:"tools,omitempty"`
	ToolChoice        any             `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls,omitempty"`
	MaxTokens         *int64          `json:"max_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	User              string          `json:"user,omitempty"`
	ResponseFormat    json.RawMessage `json:"response_format,omitempty"`
	ReasoningEffort   string          `json:"reasoning_effort,omitempty"`
	Verbosity         string          `json:"verbosity,omitempty"`
	ServiceTier       string          `json:"service_tier,omitempty"`
	PromptCacheKey    string          `json:"prompt_cache_key,omitempty"`
	SafetyIdentifier  string          `json:"safety_identifier,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *streamOptions  `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatMessage's Content is a string or a list of parts; an assistant turn with only tool calls has
// none.
type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content,omitempty"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type chatPart struct {
	Type       string          `json:"type"`
	Text       *string         `json:"text,omitempty"`
	ImageURL   *chatImage      `json:"image_url,omitempty"`
	File       *chatFile       `json:"file,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
}

type chatImage struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type chatFile struct {
	FileData string `json:"file_data"`
	Filename string `json:"filename,omitempty"`
}

type chatTool struct {
	Type     string          `json:"type"`
	Function chatToolFuncDef `json:"function"`
}

type chatToolFuncDef struct {
	Name        string          `json:"name"`
	Description *string         `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// translation is a Responses request read and translated: the chat body, and what the answer echoes
// and the store keeps.
type translation struct {
	req      *request
	chatBody []byte
	stream   bool
	store    bool
	model    string
	owner    string
	// input is the request's input items, normalised (ids, content as parts); history the previous
	// response's conversation.
	input, history []json.RawMessage
	instructions   *string
	tools          []json.RawMessage
	toolChoice     json.RawMessage
	text           json.RawMessage
	metadata       json.RawMessage
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// translate reads a Responses request and builds its chat/completions body, with the previous
// response's conversation in front of the input.
func (o *provider) translate(ctx context.Context, req *inference.Request) (*translation, error) {
	var r request
	if err := json.Unmarshal(req.Body, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, o.badRequest("invalid_type", fmt.Sprintf("%s: expected %s, got %s", te.Field, te.Type, te.Value))
		}
		return nil, o.badRequest("invalid_json", "the request body is not a valid Responses API request: "+
			strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := o.refuseUnsupported(&r); err != nil {
		return nil, err
	}
	tr := &translation{req: &r, stream: r.Stream || req.Stream, store: o.store != nil && (r.Store == nil || *r.Store),
		owner: ownerFrom(ctx), model: r.Model, tools: r.Tools, toolChoice: r.ToolChoice, metadata: r.Metadata}
	if tr.model == "" {
		tr.model = req.Model
	}
	if !isNull(r.Instructions) {
		var s string
		if err := json.Unmarshal(r.Instructions, &s); err != nil {
			return nil, o.badRequest("invalid_type", "instructions: expected a string")
		}
		tr.instructions = &s
	}
	if !isNull(r.Metadata) {
		var m map[string]string
		if err := json.Unmarshal(r.Metadata, &m); err != nil {
			return nil, o.badRequest("invalid_type", "metadata: expected an object of strings")
		}
	}

	cr := chatRequest{
		Model: tr.model, ParallelToolCalls: r.ParallelToolCalls, MaxTokens: r.MaxOutputTokens,
		Temperature: r.Temperature, TopP: r.TopP, ServiceTier: r.ServiceTier, PromptCacheKey: r.PromptCacheKey,
		SafetyIdentifier: r.SafetyIdentifier,
	}
	if r.User != nil {
		cr.User = *r.User
	}
	if r.Reasoning != nil && r.Reasoning.Effort != nil {
		cr.ReasoningEffort = *r.Reasoning.Effort
	}
	if tr.stream {
		// The usage chunk is the only token count of a stream, and response.completed must carry it.
		cr.Stream, cr.StreamOptions = true, &streamOptions{IncludeUsage: true}
	}
	var err error
	if cr.ResponseFormat, cr.Verbosity, tr.text, err = o.textFormat(r.Text); err != nil {
		return nil, err
	}
	if cr.Tools, err = o.chatTools(r.Tools); err != nil {
		return nil, err
	}
	if cr.ToolChoice, err = o.chatToolChoice(r.ToolChoice); err != nil {
		return nil, err
	}

	if tr.input, err = o.normaliseInput(r.Input); err != nil {
		return nil, err
	}
	// The store is asked last: a request refused anyway costs no round trip to it.
	if r.PreviousResponseID != nil && *r.PreviousResponseID != "" {
		if tr.history, err = o.history(ctx, *r.PreviousResponseID); err != nil {
			return nil, err
		}
	}
	if tr.instructions != nil && *tr.instructions != "" {
		cr.Messages = append(cr.Messages, chatMessage{Role: "system", Content: *tr.instructions})
	}
	if cr.Messages, err = o.chatMessages(cr.Messages, tr.history, "conversation of previous_response_id"); err != nil {
		return nil, err
	}
	if cr.Messages, err = o.chatMessages(cr.Messages, tr.input, "input"); err != nil {
		return nil, err
	}
	if len(cr.Messages) == 0 {
		return nil, o.badRequest("missing_input", "input: the request has no input")
	}
	if tr.chatBody, err = json.Marshal(&cr); err != nil {
		return nil, fmt.Errorf("encoding chat request: %w", err)
	}
	return tr, nil
}

// refuseUnsupported answers 400 for the parameters whose meaning FD2 cannot honour over chat: dropping
// them would answer a different question than the one asked.
func (o *provider) refuseUnsupported(r *request) error {
	switch {
	case r.Background != nil && *r.Background:
		return o.badRequest("unsupported_parameter",
			"background: background responses are not supported for this model (its provider is not OpenAI-compatible)")
	case r.Truncation != nil && *r.Truncation != "disabled" && *r.Truncation != "":
		return o.badRequest("unsupported_parameter",
			fmt.Sprintf("truncation: %q is not supported for this model; only \"disabled\"", *r.Truncation))
	case len(r.Include) > 0:
		return o.badRequest("unsupported_parameter",
			fmt.Sprintf("include: %q cannot be provided for this model (its provider is not OpenAI-compatible)", r.Include))
	case !isNull(r.Prompt):
		return o.badRequest("unsupported_parameter", "prompt: prompt templates are not supported for this model")
	case !isNull(r.Conversation):
		return o.badRequest("unsupported_parameter",
			"conversation: conversations are not supported for this model; use previous_response_id")
	case r.TopLogprobs != nil && *r.TopLogprobs > 0:
		return o.badRequest("unsupported_parameter", "top_logprobs: log probabilities are not supported for this model")
	}
	return nil
}

// history returns the conversation a previous response ended with.
func (o *provider) history(ctx context.Context, id string) ([]json.RawMessage, error) {
	var rec *Record
	err := ErrNotFound
	if o.store != nil {
		rec, err = o.store.Get(ctx, id)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, o.badRequest("previous_response_not_found", fmt.Sprintf("previous_response_id: previous response "+
			"with id '%s' not found (responses created with store: false, or older than FD2 keeps them, cannot be continued)", id))
	}
	if err != nil {
		return nil, errStore(o.p.Name(), err)
	}
	if rec.Response == nil {
		return nil, o.badRequest("previous_response_not_found", fmt.Sprintf("previous_response_id: previous response "+
			"with id '%s' was created by a provider that keeps it itself; it cannot be continued on this model", id))
	}
	return rec.Conversation, nil
}

// errStore reports a store that failed to answer: not the client's fault, and not the deployment's (the
// router must not try another one over the same store).
func errStore(provider string, err error) error {
	return &inference.ProviderError{Provider: provider, Status: http.StatusServiceUnavailable, Type: "api_error",
		Code: "response_store_unavailable", Message: "the response store is unavailable", Cause: err}
}

// textFormat maps text.format to response_format; the text parameter echoed in the answer is returned
// too.
func (o *provider) textFormat(raw json.RawMessage) (format json.RawMessage, verbosity string, echo json.RawMessage, err error) {
	echo = json.RawMessage(`{"format":{"type":"text"}}`)
	if isNull(raw) {
		return nil, "", echo, nil
	}
	var t textConf
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, "", nil, o.badRequest("invalid_type", "text: expected an object with format")
	}
	if isNull(t.Format) {
		return nil, t.Verbosity, raw, nil
	}
	var f formatConf
	if err := json.Unmarshal(t.Format, &f); err != nil {
		return nil, "", nil, o.badRequest("invalid_type", "text.format: expected an object with a type")
	}
	switch f.Type {
	case "text":
	case "json_object":
		format = json.RawMessage(`{"type":"json_object"}`)
	case "json_schema":
		if f.Name == "" {
			return nil, "", nil, o.badRequest("missing_required_parameter", "text.format.name: required for json_schema")
		}
		if isNull(f.Schema) {
			return nil, "", nil, o.badRequest("missing_required_parameter", "text.format.schema: required for json_schema")
		}
		js := struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict,omitempty"`
		}{f.Name, f.Description, f.Schema, f.Strict}
		b, err := json.Marshal(map[string]any{"type": "json_schema", "json_schema": js})
		if err != nil {
			return nil, "", nil, o.badRequest("invalid_type", "text.format.schema: "+err.Error())
		}
		format = b
	default:
		return nil, "", nil, o.badRequest("invalid_value", fmt.Sprintf("text.format.type: %q is not supported", f.Type))
	}
	return format, t.Verbosity, raw, nil
}

// builtinTool reports whether typ is one of OpenAI's hosted tools, which run inside OpenAI.
func builtinTool(typ string) bool {
	switch {
	case strings.HasPrefix(typ, "web_search"), strings.HasPrefix(typ, "computer_use"):
		return true
	}
	switch typ {
	case "file_search", "code_interpreter", "mcp", "image_generation", "local_shell", "shell", "apply_patch":
		return true
	}
	return false
}

type responsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

func (o *provider) chatTools(tools []json.RawMessage) ([]chatTool, error) {
	out := make([]chatTool, 0, len(tools))
	for i, raw := range tools {
		var t responsesTool
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, o.badRequest("invalid_type", fmt.Sprintf("tools[%d]: expected a tool object", i))
		}
		switch {
		case t.Type == "function":
		case builtinTool(t.Type):
			return nil, o.badRequest("unsupported_tool", fmt.Sprintf("tools[%d].type: the built-in tool %q runs inside "+
				"OpenAI and is not available for this model; declare a function tool instead", i, t.Type))
		default:
			return nil, o.badRequest("unsupported_tool", fmt.Sprintf("tools[%d].type: %q is not supported for this model", i, t.Type))
		}
		if t.Name == "" {
			return nil, o.badRequest("missing_required_parameter", fmt.Sprintf("tools[%d].name: required", i))
		}
		params := t.Parameters
		if isNull(params) {
			params = nil
		}
		out = append(out, chatTool{Type: "function", Function: chatToolFuncDef{Name: t.Name, Description: t.Description,
			Parameters: params, Strict: t.Strict}})
	}
	return out, nil
}

func (o *provider) chatToolChoice(raw json.RawMessage) (any, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return s, nil
		}
		return nil, o.badRequest("invalid_value", fmt.Sprintf("tool_choice: %q is not one of auto, none, required", s))
	}
	var c struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, o.badRequest("invalid_type", "tool_choice: expected a string or an object")
	}
	if c.Type != "function" {
		return nil, o.badRequest("unsupported_parameter", fmt.Sprintf("tool_choice.type: %q is not supported for this model", c.Type))
	}
	if c.Name == "" {
		return nil, o.badRequest("missing_required_parameter", "tool_choice.name: required")
	}
	return map[string]any{"type": "function", "function": map[string]string{"name": c.Name}}, nil
}

// inputItem is one item of a Responses input (or of a stored conversation).
type inputItem struct {
	Type      string          `json:"type,omitempty"`
	ID        string          `json:"id,omitempty"`
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	Status    string          `json:"status,omitempty"`
	CallID    string          `json:"call_id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments *string         `json:"arguments,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
}

// inputPart is one content part of a message.
type inputPart struct {
	Type       string          `json:"type"`
	Text       *string         `json:"text,omitempty"`
	Refusal    *string         `json:"refusal,omitempty"`
	ImageURL   *string         `json:"image_url,omitempty"`
	Detail     string          `json:"detail,omitempty"`
	FileID     *string         `json:"file_id,omitempty"`
	FileData   *string         `json:"file_data,omitempty"`
	FileURL    *string         `json:"file_url,omitempty"`
	Filename   string          `json:"filename,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
}

// normaliseInput checks the request's input and returns its items as stored: every item with a type and
// an id, message content as a list of parts. A string input is one user message.
func (o *provider) normaliseInput(raw json.RawMessage) ([]json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		b, err := json.Marshal(inputItem{Type: "message", ID: o.idFor("msg_"), Role: "user",
			Content: textParts("input_text", s)})
		if err != nil {
			return nil, fmt.Errorf("encoding input: %w", err)
		}
		return []json.RawMessage{b}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, o.badRequest("invalid_type", "input: expected a string or an array of items")
	}
	out := make([]json.RawMessage, 0, len(items))
	for i, it := range items {
		n, err := o.normaliseItem(it, fmt.Sprintf("input[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func textParts(typ, text string) json.RawMessage {
	b, _ := json.Marshal([]inputPart{{Type: typ, Text: &text}})
	return b
}

func (o *provider) normaliseItem(raw json.RawMessage, at string) (json.RawMessage, error) {
	var it inputItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, o.badRequest("invalid_type", at+": expected an input item object")
	}
	if it.Type == "" && it.Role != "" {
		it.Type = "message" // the "easy" input message: role and content only
	}
	switch it.Type {
	case "message":
		switch it.Role {
		case "user", "assistant", "system", "developer":
		default:
			return nil, o.badRequest("invalid_value", fmt.Sprintf("%s.role: %q is not one of user, assistant, system, developer", at, it.Role))
		}
		var s string
		if json.Unmarshal(it.Content, &s) == nil {
			typ := "input_text"
			if it.Role == "assistant" {
				typ = "output_text"
			}
			it.Content = textParts(typ, s)
		} else if _, err := o.parseParts(it.Content, at+".content"); err != nil {
			return nil, err
		}
		if it.ID == "" {
			it.ID = o.idFor("msg_")
		}
	case "function_call":
		if it.CallID == "" || it.Name == "" || it.Arguments == nil {
			return nil, o.badRequest("missing_required_parameter", at+": a function_call needs call_id, name and arguments")
		}
		if it.ID == "" {
			it.ID = o.idFor("fc_")
		}
	case "function_call_output":
		if it.CallID == "" {
			return nil, o.badRequest("missing_required_parameter", at+".call_id: required")
		}
		if _, err := o.toolOutput(it.Output, at+".output"); err != nil {
			return nil, err
		}
		if it.ID == "" {
			it.ID = o.idFor("fco_")
		}
	case "reasoning":
		// Reasoning is provider-specific (encrypted or summarised): kept as sent for input_items, never
		// sent to another provider.
		return raw, nil
	case "":
		return nil, o.badRequest("missing_required_parameter", at+".type: required")
	default:
		return nil, o.badRequest("unsupported_input_item", fmt.Sprintf("%s.type: input items of type %q are not supported for this model", at, it.Type))
	}
	b, err := json.Marshal(&it)
	if err != nil {
		return nil, fmt.Errorf("encoding input item: %w", err)
	}
	return b, nil
}

// parseParts checks a message's content parts and returns them as chat parts.
func (o *provider) parseParts(raw json.RawMessage, at string) ([]chatPart, error) {
	var parts []inputPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, o.badRequest("invalid_type", at+": expected a string or an array of content parts")
	}
	out := make([]chatPart, 0, len(parts))
	for j, p := range parts {
		pat := fmt.Sprintf("%s[%d]", at, j)
		switch p.Type {
		case "input_text", "output_text":
			if p.Text == nil {
				return nil, o.badRequest("missing_required_parameter", pat+".text: required")
			}
			out = append(out, chatPart{Type: "text", Text: p.Text})
		case "refusal":
			if p.Refusal == nil {
				return nil, o.badRequest("missing_required_parameter", pat+".refusal: required")
			}
			out = append(out, chatPart{Type: "text", Text: p.Refusal})
		case "input_image":
			if p.FileID != nil && *p.FileID != "" {
				return nil, o.badRequest("unsupported_parameter", pat+".file_id: file ids cannot be used with this model; send image_url (a URL or a data URL)")
			}
			if p.ImageURL == nil || *p.ImageURL == "" {
				return nil, o.badRequest("missing_required_parameter", pat+".image_url: required")
			}
			detail := p.Detail
			if detail == "auto" {
				detail = ""
			}
			out = append(out, chatPart{Type: "image_url", ImageURL: &chatImage{URL: *p.ImageURL, Detail: detail}})
		case "input_file":
			switch {
			case p.FileID != nil && *p.FileID != "":
				return nil, o.badRequest("unsupported_parameter", pat+".file_id: file ids cannot be used with this model; send file_data")
			case p.FileURL != nil && *p.FileURL != "":
				return nil, o.badRequest("unsupported_parameter", pat+".file_url: file URLs cannot be used with this model; send file_data")
			case p.FileData == nil || *p.FileData == "":
				return nil, o.badRequest("missing_required_parameter", pat+".file_data: required")
			}
			out = append(out, chatPart{Type: "file", File: &chatFile{FileData: *p.FileData, Filename: p.Filename}})
		case "input_audio":
			if isNull(p.InputAudio) {
				return nil, o.badRequest("missing_required_parameter", pat+".input_audio: required")
			}
			out = append(out, chatPart{Type: "input_audio", InputAudio: p.InputAudio})
		default:
			return nil, o.badRequest("invalid_value", fmt.Sprintf("%s.type: content parts of type %q are not supported", pat, p.Type))
		}
	}
	return out, nil
}

// toolOutput returns a function_call_output's output as a tool message's content: a string, or its
// text parts joined.
func (o *provider) toolOutput(raw json.RawMessage, at string) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	if isNull(raw) {
		return "", o.badRequest("missing_required_parameter", at+": required")
	}
	parts, err := o.parseParts(raw, at)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", o.badRequest("unsupported_parameter", fmt.Sprintf("%s[%d]: only text can be returned by a function for this model", at, j))
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

// chatMessages appends the chat turns of normalised items to msgs. Consecutive function calls, and an
// assistant message followed by function calls, make one assistant turn, as chat models produced them.
func (o *provider) chatMessages(msgs []chatMessage, items []json.RawMessage, what string) ([]chatMessage, error) {
	for i, raw := range items {
		at := fmt.Sprintf("%s[%d]", what, i)
		var it inputItem
		if err := json.Unmarshal(raw, &it); err != nil {
			return nil, o.badRequest("invalid_type", at+": expected an input item object")
		}
		last := len(msgs) - 1
		switch it.Type {
		case "message":
			parts, err := o.parseParts(it.Content, at+".content")
			if err != nil {
				return nil, err
			}
			m := chatMessage{Role: it.Role}
			switch {
			case it.Role == "user" && !(len(parts) == 1 && parts[0].Type == "text"):
				m.Content = parts
			default:
				text, ok := joinText(parts, it.Role)
				if !ok {
					return nil, o.badRequest("invalid_value", fmt.Sprintf("%s.content: a %s message can only hold text", at, it.Role))
				}
				m.Content = text
			}
			msgs = append(msgs, m)
		case "function_call":
			tc := chatToolCall{ID: it.CallID, Type: "function", Function: chatFunction{Name: it.Name}}
			if it.Arguments != nil {
				tc.Function.Arguments = *it.Arguments
			}
			if last >= 0 && msgs[last].Role == "assistant" {
				msgs[last].ToolCalls = append(msgs[last].ToolCalls, tc)
				continue
			}
			msgs = append(msgs, chatMessage{Role: "assistant", ToolCalls: []chatToolCall{tc}})
		case "function_call_output":
			out, err := o.toolOutput(it.Output, at+".output")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, chatMessage{Role: "tool", Content: out, ToolCallID: it.CallID})
		case "reasoning":
		default:
			return nil, o.badRequest("unsupported_input_item", fmt.Sprintf("%s.type: input items of type %q are not supported for this model", at, it.Type))
		}
	}
	return msgs, nil
}

// joinText returns the text of text-only parts: joined as written for an assistant (its output was one
// text), one paragraph each otherwise.
func joinText(parts []chatPart, role string) (string, bool) {
	if len(parts) == 1 && parts[0].Type == "text" {
		return *parts[0].Text, true
	}
	sep := "\n\n"
	if role == "assistant" {
		sep = ""
	}
	var b strings.Builder
	for i, p := range parts {
		if p.Type != "text" {
			return "", false
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), true
}
