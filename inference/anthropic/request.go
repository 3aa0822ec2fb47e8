// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dsp-ai/fd2/inference/openai"
)

// The OpenAI side of the translation is package openai's ChatRequest, extended by chatRequest with the
// fields this package must see in order to refuse them. A field Anthropic cannot honour is refused with a
// 400 (code "unsupported_parameter") rather than dropped, since an answer that silently ignores part of
// the request looks like a model error to the client: seed, a non-empty logit_bias, logprobs true, a
// non-zero top_logprobs, non-zero presence_penalty or frequency_penalty, n > 1 (Anthropic returns
// exactly one answer per call, and quietly returning fewer choices than asked would break clients that
// index choices[i]), audio output and modalities other than text. The null, zero and false values SDKs
// send by default ask for nothing and stay accepted. Fields that only tune delivery or bookkeeping
// (store, service_tier, prediction, metadata …) are still ignored.
//
// response_format json_schema (and json_object, as the schema {"type":"object"}) becomes a forced tool:
// one tool carrying the schema, which tool_choice makes the model call, and whose input comes back as
// the message content, as OpenAI returns structured output. A client's own tools cannot be offered
// beside it (the forced call would leave them unusable), so that combination is refused too.
//
// Only text, image_url and file content parts have Anthropic counterparts; userBlocks refuses the
// others (input_audio, …) for the same reason. A replayed tool call's ID is reused verbatim as the
// tool_use id, so the tool_call_id of the matching tool message becomes a tool_use_id Anthropic can
// pair with it. OpenAI nests a tool's function under "function" and names its schema "parameters";
// Anthropic's client tools are flat, with the schema under "input_schema".

// Anthropic Messages request. Field order is the wire order, which keeps golden files readable.
//
// max_tokens has no omitempty: Anthropic requires it, unlike OpenAI. system is a top-level field and
// not a message role, because Anthropic's messages hold only user and assistant turns. Every other
// optional field is omitted when unset, so Anthropic's per-model defaults apply rather than ours.
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

// anMessage is one turn, role "user" or "assistant". Tool calls travel as tool_use blocks in
// assistant turns and their results as tool_result blocks in the following user turn.
type anMessage struct {
	Role string `json:"role"`
	// Content is a string for a lone text block (the compact form), else a list of blocks.
	Content any   `json:"content"`
	blocks  []any // accumulated while merging same-role turns
}

// The block types below are the content blocks this translator sends. Each carries its own "type"
// discriminator because a turn's content is a heterogeneous list ([]any) marshalled as is.
type anText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// anSource says where an image or document comes from: type "base64" with media_type and the raw
// base64 data, or type "url", which Anthropic downloads itself.
type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// anMedia is an image block, or for PDFs a document block; both take the same source shapes.
type anMedia struct {
	Type   string   `json:"type"` // image or document
	Source anSource `json:"source"`
}

// anToolUse replays a tool call. Input must be a JSON object, not a string holding one as in OpenAI,
// hence a json.RawMessage filled from the validated arguments.
type anToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// anToolResult answers the tool_use with the same id. Anthropic rejects a request unless every
// tool_use is answered in the user turn that immediately follows it.
type anToolResult struct {
	Type      string `json:"type"`
	ToolUseID string `json:"tool_use_id"`
	Content   string `json:"content,omitempty"`
}

// anTool is a client tool definition; input_schema is a JSON Schema object and is mandatory.
type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// anToolChoice is Anthropic's tool_choice: auto, any (some tool must be called), tool (Name must be
// called) or none. Parallel tool use is on by default and can only be turned off in here, where
// OpenAI has the separate parallel_tool_calls flag.
type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// anMetadata carries the end user's id. Anthropic asks for an opaque value (a hash or uuid, never a
// name or e-mail), which is also what OpenAI recommends for user, so the value passes unchanged.
type anMetadata struct {
	UserID string `json:"user_id"`
}

// translated is a request ready to send, with what the answer's translation needs to know.
type translated struct {
	out          anRequest
	clientModel  string // echoed in responses: the client must see the model it asked for
	includeUsage bool
	// schemaTool names the forced tool standing for response_format; its input is the answer's content.
	schemaTool string
}

// chatRequest is the OpenAI request with the fields read only to refuse them, and a response_format
// that keeps json_schema's name. Its own fields win over the embedded ones of the same JSON name.
type chatRequest struct {
	openai.ChatRequest
	ResponseFormat *responseFormat `json:"response_format"`
	LogitBias      json.RawMessage `json:"logit_bias"`
	Logprobs       *bool           `json:"logprobs"`
	TopLogprobs    *int64          `json:"top_logprobs"`
	Modalities     []string        `json:"modalities"`
	Audio          json.RawMessage `json:"audio"`
}

// responseFormat is OpenAI's response_format: text, json_object, or json_schema with a named schema.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		// Strict is accepted but cannot be enforced: Anthropic steers the forced call by the schema
		// without guaranteeing it.
		Strict *bool `json:"strict"`
	} `json:"json_schema"`
}

// unsupportedError is a request field Anthropic cannot honour; Do reports it with the code
// "unsupported_parameter" so clients can tell it from a malformed request.
type unsupportedError struct {
	msg string // names the field
}

func (e *unsupportedError) Error() string { return e.msg }

// refuseUnsupported returns the first field of in that Anthropic cannot honour, nil if none.
func refuseUnsupported(in *chatRequest) error {
	switch {
	case in.Seed != nil:
		// Even seed 0 asks for reproducible sampling, which Anthropic does not offer.
		return &unsupportedError{"seed is not supported by anthropic: its sampling cannot be made reproducible"}
	case !isNull(in.LogitBias) && !isEmptyObject(in.LogitBias):
		return &unsupportedError{"logit_bias is not supported by anthropic: it takes no token biases"}
	case in.Logprobs != nil && *in.Logprobs:
		return &unsupportedError{"logprobs is not supported by anthropic: it returns no token log probabilities"}
	case in.TopLogprobs != nil && *in.TopLogprobs != 0:
		return &unsupportedError{"top_logprobs is not supported by anthropic: it returns no token log probabilities"}
	case in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return &unsupportedError{"presence_penalty is not supported by anthropic: it takes no repetition penalties"}
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0:
		return &unsupportedError{"frequency_penalty is not supported by anthropic: it takes no repetition penalties"}
	case in.N != nil && *in.N > 1:
		// n=1 (some SDKs always send it) is fine; more choices would take several upstream calls at
		// a multiple of the cost, which a gateway should not do behind the client's back.
		return &unsupportedError{"n > 1 is not supported by anthropic: it returns one choice per call"}
	case !isNull(in.Audio):
		return &unsupportedError{"audio output is not supported by anthropic: it answers in text only"}
	}
	for _, m := range in.Modalities {
		if m != "text" {
			return &unsupportedError{fmt.Sprintf("modalities: output modality %q is not supported by anthropic, which answers in text only", m)}
		}
	}
	return nil
}

// translateRequest turns an OpenAI chat completion body into a Messages request. model, when set, is
// the provider-side model name and wins over the body's.
func translateRequest(body []byte, model string, defaultMaxTokens int, stream bool) (*translated, error) {
	var in chatRequest
	if err := jsonUnmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("parsing chat completion request: %w", err)
	}
	if err := refuseUnsupported(&in); err != nil {
		return nil, err
	}
	tr := &translated{clientModel: in.Model}
	out := &tr.out
	out.Model = in.Model
	if model != "" {
		out.Model = model
	}
	// Anthropic has no "until the context is full" default: max_tokens is mandatory, so a request
	// without a limit gets the deployment's default. max_completion_tokens wins over max_tokens when
	// both are sent, as in OpenAI's API.
	out.MaxTokens = defaultMaxTokens
	switch {
	case in.MaxCompletionTokens != nil:
		out.MaxTokens = int(*in.MaxCompletionTokens)
	case in.MaxTokens != nil:
		out.MaxTokens = int(*in.MaxTokens)
	}
	// OpenAI allows temperature up to 2 and Anthropic up to 1; we pass it unchanged so an out-of-range
	// value is reported by the provider rather than silently altered.
	out.Temperature, out.TopP = in.Temperature, in.TopP
	// stream is the engine's own reading of the same client flag (req.Stream); honouring either keeps
	// the answer's shape in line with how the engine will forward it.
	out.Stream = in.Stream || stream
	// The engine turns include_usage on for every chat stream, since the usage chunk is its only
	// reliable token count, and strips that chunk again when the client did not ask for it.
	tr.includeUsage = in.StreamOptions != nil && in.StreamOptions.IncludeUsage
	// Anthropic uses metadata.user_id for abuse detection, the same purpose as OpenAI's user.
	if in.User != "" {
		out.Metadata = &anMetadata{UserID: in.User}
	}

	// stop and stop_sequences both end generation without emitting the sequence; a hit comes back as
	// stop_reason "stop_sequence", which finishReason maps to "stop".
	stops, err := parseStop(in.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stops

	// System and developer messages (developer is the name OpenAI's reasoning models use for the
	// same role) become the top-level system prompt.
	if out.System, out.Messages, err = translateMessages(in.Messages); err != nil {
		return nil, err
	}
	// A conversation of only system prompts is valid for OpenAI but Anthropic needs at least one turn;
	// saying so here is clearer than Anthropic's 400 about an empty messages list.
	if len(out.Messages) == 0 {
		return nil, errors.New("messages: at least one user or assistant message is required")
	}

	// Names and descriptions carry over unchanged: both APIs allow the same tool-name characters
	// (letters, digits, "_" and "-", at most 64), so no renaming, and no reverse mapping of answers.
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
	// An invalid tool_choice is the client's mistake even without tools, so it is checked first.
	if out.ToolChoice, err = parseToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	if len(out.Tools) == 0 {
		out.ToolChoice = nil // Anthropic rejects tool_choice without tools
	} else if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		// parallel_tool_calls=false becomes disable_parallel_tool_use, which Anthropic only takes
		// inside tool_choice: a client that set no tool_choice gets an explicit "auto" to carry it.
		if out.ToolChoice == nil {
			out.ToolChoice = &anToolChoice{Type: "auto"}
		}
		// Anthropic's none choice has no such field (and calls no tool anyway).
		if out.ToolChoice.Type != "none" {
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	if err := tr.forceSchema(in.ResponseFormat); err != nil {
		return nil, err
	}
	return tr, nil
}

// defaultSchemaTool names the response_format tool when json_schema has no usable name.
const defaultSchemaTool = "json_response"

// forceSchema turns response_format into the forced tool, after the client's tools are translated.
func (tr *translated) forceSchema(rf *responseFormat) error {
	if rf == nil {
		return nil
	}
	var name, description string
	var schema json.RawMessage
	switch rf.Type {
	case "", "text":
		return nil
	case "json_object":
		name, schema = defaultSchemaTool, json.RawMessage(`{"type":"object"}`)
	case "json_schema":
		js := rf.JSONSchema
		if js == nil {
			return errors.New("response_format: json_schema is required when type is json_schema")
		}
		name, description, schema = toolName(js.Name), js.Description, js.Schema
		if isNull(schema) {
			schema = json.RawMessage(`{"type":"object"}`)
		}
	default:
		return &unsupportedError{fmt.Sprintf("response_format type %q is not supported by anthropic", rf.Type)}
	}
	if len(tr.out.Tools) > 0 {
		return &unsupportedError{"response_format cannot be combined with tools on anthropic: it answers in a schema only by a forced tool call, which leaves the other tools unusable"}
	}
	if description == "" {
		description = "Respond by calling this tool: its input is your complete answer, as JSON matching the schema."
	}
	tr.out.Tools = []anTool{{Name: name, Description: description, InputSchema: schema}}
	// One call carries the whole answer: a second, parallel one would have no place in the content.
	tr.out.ToolChoice = &anToolChoice{Type: "tool", Name: name, DisableParallelToolUse: true}
	tr.schemaTool = name
	return nil
}

// toolName makes name a valid Anthropic tool name (letters, digits, "_" and "-", at most 64): other
// characters become "_", and an empty name the default. The name is never shown to the client, so
// the rewrite needs no reverse mapping.
func toolName(name string) string {
	b := []byte(name)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return defaultSchemaTool
	}
	return string(b)
}

// parseStop reads OpenAI's stop: one string or a list. OpenAI's own limit of 4 sequences is not
// applied, since it is not Anthropic's rule and a gateway should not be stricter than its provider.
func parseStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		// "" is how some clients spell "no stop"; as a sequence Anthropic would reject it.
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

// parseToolChoice maps tool_choice: "auto"→auto, "required"→any (some tool must be called), "none"→none
// and {"type":"function","function":{"name":n}}→{"type":"tool","name":n}. nil means unset, which
// leaves Anthropic's default (auto when tools are present).
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
	// Only the function form is understood; newer forms (allowed_tools, custom tools) have no
	// function name and fall into the error below rather than being half-translated.
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
func translateMessages(msgs []openai.Message) (string, []anMessage, error) {
	// Anthropic has one system prompt for the whole request, so system messages found mid-conversation
	// move to the front. That may change their weight for the model, but dropping or refusing them
	// would be worse.
	var system []string
	var out []anMessage
	add := func(role string, blocks []any) {
		if len(blocks) == 0 {
			return // Anthropic rejects empty content
		}
		// Same-role neighbours (user after tool, an assistant text turn followed by an assistant
		// tool-call turn, two user messages) merge into one turn of several blocks.
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
	// Second pass, once every turn is complete: block order and the wire form of Content can only be
	// decided when no more blocks will be merged in.
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
			// A user message written after the tool messages (agent loops often add one) would
			// otherwise put text before the results and get the request rejected.
			m.blocks = append(results, rest...)
		}
		// A lone text block is sent in the compact string form, as Anthropic's own examples do.
		// blocks[0] is safe: add never records a turn without blocks.
		if t, ok := m.blocks[0].(anText); ok && len(m.blocks) == 1 {
			m.Content = t.Text
		} else {
			m.Content = m.blocks
		}
	}
	// Separate system messages stay separate paragraphs.
	return strings.Join(system, "\n\n"), out, nil
}

// textOf reads content that may only hold text: a string or a list of text parts.
// System, developer and tool messages take this path: the system field is sent as plain text, and so
// is tool_result content. Non-text parts are refused instead of dropped.
func textOf(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []openai.Part
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
	// A newline keeps adjacent parts from running into each other's words.
	return strings.Join(texts, "\n"), nil
}

// userBlocks translates a user message's content into blocks. Empty texts are skipped because
// Anthropic rejects empty text blocks, while OpenAI clients do send them (an empty caption next to an
// image, a blank follow-up).
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
	var parts []openai.Part
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
			// OpenAI's detail hint (low/high/auto) has no Anthropic equivalent and is ignored;
			// Anthropic scales large images down itself.
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
			// file_data is a base64 data URL; its media type becomes the document's, and Anthropic
			// reports a type it cannot read (base64 documents are PDFs).
			src, err := mediaSource(p.File.FileData, false)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anMedia{Type: "document", Source: src})
		default:
			// input_audio and anything newer: refused, for the reason given above anRequest.
			return nil, fmt.Errorf("content part type %q is not supported by anthropic", p.Type)
		}
	}
	return blocks, nil
}

// mediaSource turns a data: URL into a base64 source and, when allowed, an http(s) URL into a url source.
// Only base64 data URLs are taken: a base64 source needs the raw payload plus a media type, and the
// percent-encoded form of RFC 2397 would need re-encoding that no image client produces.
func mediaSource(u string, allowURL bool) (anSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isB64 := strings.CutSuffix(meta, ";base64")
		if !found || !isB64 || mediaType == "" {
			return anSource{}, errors.New("data URL: want data:<media type>;base64,<data>")
		}
		return anSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	// A url source is downloaded by Anthropic, not by the gateway, so no request leaves our network for
	// a client-supplied address.
	if allowURL && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		return anSource{Type: "url", URL: u}, nil
	}
	return anSource{}, errors.New("media URL: want a data: or http(s) URL")
}

// assistantBlocks replays an assistant turn: its text, then one tool_use block per tool call, the order
// in which Anthropic itself produces them.
func assistantBlocks(m openai.Message) ([]any, error) {
	var blocks []any
	if !isNull(m.Content) {
		var s string
		if err := json.Unmarshal(m.Content, &s); err == nil {
			if s != "" {
				blocks = append(blocks, anText{Type: "text", Text: s})
			}
		} else {
			var parts []openai.Part
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return nil, errors.New("content: want a string or a list of parts")
			}
			for _, p := range parts {
				// A refusal part is what the assistant said, so it stays in the history as text. OpenAI
				// carries its text under "refusal", not "text".
				switch {
				case p.Type == "text" && p.Text != "":
					blocks = append(blocks, anText{Type: "text", Text: p.Text})
				case p.Type == "refusal" && p.Refusal != "":
					blocks = append(blocks, anText{Type: "text", Text: p.Refusal})
				}
			}
		}
	}
	// OpenAI carries tool arguments as a JSON string, Anthropic as an object; a history whose arguments
	// are not an object cannot be replayed faithfully, so it is refused rather than guessed at.
	for j, tc := range m.ToolCalls {
		// Empty arguments (some clients store "" for a call without parameters) replay as {}.
		input := json.RawMessage(`{}`)
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
				return nil, fmt.Errorf("tool_calls[%d]: arguments must be a JSON object", j)
			}
			// Compacting makes the replayed input independent of the whitespace the client stored it
			// with, so the same history always yields the same request body.
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

// isNull reports whether an optional raw field was absent or an explicit null; clients send both for
// "unset" and they must mean the same.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// isEmptyObject reports whether raw is {} (with any whitespace inside).
func isEmptyObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) >= 2 && t[0] == '{' && len(bytes.TrimSpace(t[1:len(t)-1])) == 0 && t[len(t)-1] == '}'
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
