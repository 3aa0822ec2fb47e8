// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/inference/internal/rawjson"
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

// mRequest is a Messages request. It is read as raw values (jv), not with encoding/json: a Claude Code
// request is hundreds of kilobytes, and decoding it (strings, nested blocks, tool results) cost
// milliseconds before the first byte. Messages, system and tools stay raw, walked once by the
// translation.
type mRequest struct {
	Model         string
	Messages      []jv
	System        jv
	MaxTokens     string // raw JSON numbers, "" when unset
	Metadata      jv
	StopSequences []esc
	Stream        bool
	Temperature   string
	TopP          string
	Tools         jv
	ToolChoice    *mToolChoice
	Thinking      *mThinking
}

// esc is a JSON string's contents as the client wrote them, escapes included, without the quotes. Text
// goes from the client's request into the provider's in this form, copied rather than decoded and
// encoded again: it is most of a request's bytes.
type esc string

// escape returns the escaped contents of s.
func escape(s string) esc {
	b, _ := marshal(s) // a string always encodes
	return esc(b[1 : len(b)-1])
}

// text decodes e.
func (e esc) text() string {
	if strings.IndexByte(string(e), '\\') < 0 {
		return string(e)
	}
	return gjson.Parse(`"` + string(e) + `"`).Str
}

// mBlock is a content block of a known type; Type says which fields are set. cache_control, and the
// citations of text blocks, are not kept: hints with no OpenAI counterpart that change nothing in the
// answer's meaning.
type mBlock struct {
	Type      string
	Text      esc
	Source    *mSource
	Title     esc
	ID        esc
	Name      esc
	Input     string // raw JSON
	ToolUseID esc
	Content   jv
	IsError   bool
}

// mSource is an image's or document's source. Type and MediaType are compared as written: a client
// escaping plain words (base\u0036\u0034) is refused, not understood.
type mSource struct {
	Type      esc
	MediaType esc
	Data      esc
	URL       esc
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

// chatRequest is the chat/completions request sent to the provider, encoded by appendJSON. Every
// optional field is omitted when unset, so the provider's defaults apply.
type chatRequest struct {
	Model             esc
	Messages          []chatMessage
	Tools             []chatTool
	ToolChoice        string // raw JSON
	ParallelToolCalls *bool
	MaxTokens         string // raw JSON numbers
	Temperature       string
	TopP              string
	Stop              []esc
	ReasoningEffort   string
	User              esc
	Stream            bool // with stream_options.include_usage
}

// chatMessage is one message: Content is an esc, a []chatPart, or nil (null, for an assistant turn
// made only of tool calls).
type chatMessage struct {
	Role       string
	Content    any
	ToolCalls  []chatToolCall
	ToolCallID esc
}

type chatToolCall struct {
	ID, Name, Arguments esc
}

// chatPart is a content part: text, image_url (URL) or file (FileData, Filename).
type chatPart struct {
	Type                    string
	Text                    esc
	URL, FileData, Filename esc
}

type chatTool struct {
	Name, Description esc
	Parameters        string // raw JSON, compact
}

// decodeRequest parses and checks a Messages request body: one JSON object whose fields have the
// types the API gives them. When strict, every top-level field must be known (null counts as absent: it
// asks for nothing); count_tokens is not strict, since counting asks nothing of the provider.
func decodeRequest(body []byte, strict bool) (*mRequest, error) {
	if !rawjson.Valid(body) {
		return nil, invalid("the request body must be a JSON object")
	}
	root := jv(bytes.TrimSpace(body))
	if !root.IsObject() {
		return nil, invalid("the request body must be a JSON object")
	}
	var r mRequest
	var bad []string
	var err error
	root.ForEach(func(k esc, v jv) bool {
		if v.Null() {
			return true
		}
		switch name := string(k); name {
		case "model":
			r.Model, err = stringField(v, name)
		case "messages":
			if !v.IsArray() {
				err = invalid("messages: must be a list of messages")
			}
			r.Messages = v.Array()
		case "system":
			r.System = v
		case "max_tokens":
			_, err = intField(v, name)
			r.MaxTokens = v.Raw()
		case "metadata":
			r.Metadata = v
		case "stop_sequences":
			if !v.IsArray() {
				err = invalid("stop_sequences: must be a list of strings")
				break
			}
			for i, s := range v.Array() {
				if _, err = stringField(s, "stop_sequences["+strconv.Itoa(i)+"]"); err != nil {
					break
				}
				r.StopSequences = append(r.StopSequences, s.esc())
			}
		case "stream":
			if !v.IsBool() {
				err = invalid("stream: must be a boolean")
			}
			r.Stream = v.True()
		case "temperature", "top_p":
			if !v.IsNumber() {
				err = invalid("%s: must be a number", name)
				break
			}
			if name == "temperature" {
				r.Temperature = v.Raw()
			} else {
				r.TopP = v.Raw()
			}
		case "tools":
			if !v.IsArray() {
				err = invalid("tools: must be a list of tools")
			}
			r.Tools = v
		case "tool_choice":
			r.ToolChoice = new(mToolChoice)
			err = smallObject(v, name, r.ToolChoice)
		case "thinking":
			r.Thinking = new(mThinking)
			err = smallObject(v, name, r.Thinking)
		default:
			// Every other field (top_k, service_tier, container, mcp_servers, context_management, …)
			// is refused by name: OpenAI has no equivalent, and an answer that silently ignored part of
			// the request would look like model behaviour.
			if strict {
				bad = append(bad, name)
			}
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		return nil, unsupported("%s: not supported by this model's provider (it does not speak the Messages API)",
			strings.Join(bad, ", "))
	}
	if len(r.Messages) == 0 {
		return nil, invalid("messages: at least one message is required")
	}
	return &r, nil
}

func stringField(v jv, field string) (string, error) {
	if !v.IsString() {
		return "", invalid("%s: must be a string", field)
	}
	return v.String(), nil
}

// escField is stringField without decoding the string.
func escField(v jv, field string) (esc, error) {
	if !v.IsString() {
		return "", invalid("%s: must be a string", field)
	}
	return v.esc(), nil
}

func intField(v jv, field string) (int64, error) {
	n, err := strconv.ParseInt(v.Raw(), 10, 64)
	if !v.IsNumber() || err != nil {
		return 0, invalid("%s: must be an integer", field)
	}
	return n, nil
}

// smallObject decodes a small object field (tool_choice, thinking) with encoding/json.
func smallObject(v jv, field string, dst any) error {
	if !v.IsObject() {
		return invalid("%s: must be an object", field)
	}
	if err := json.Unmarshal([]byte(v.Raw()), dst); err != nil {
		return invalid("%s.%s", field, jsonError(err))
	}
	return nil
}

// jsonError names the field of a decoding error, for the client.
func jsonError(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return te.Field + ": must be " + te.Type.String() + ", not " + te.Value
	}
	return err.Error()
}

// translateRequest turns a Messages request into a chat/completions body for model.
func translateRequest(r *mRequest, model string, stream bool) ([]byte, error) {
	out := chatRequest{Model: escape(model), MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP,
		Stop: r.StopSequences, Stream: stream}
	if r.Metadata.Exists() {
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
	if r.System.Exists() {
		sys, err := systemText(r.System)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, chatMessage{Role: "system", Content: sys})
	}
	out.Messages = slices.Grow(out.Messages, len(r.Messages))
	for i, m := range r.Messages {
		var err error
		if out.Messages, err = appendMessage(out.Messages, m, i); err != nil {
			return nil, err
		}
	}
	tools, err := translateTools(r.Tools)
	if err != nil {
		return nil, err
	}
	out.Tools = tools
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
			out.ToolChoice = `"auto"`
		case "any":
			out.ToolChoice = `"required"`
		case "none":
			out.ToolChoice = `"none"`
		case "tool":
			if tc.Name == "" {
				return nil, invalid("tool_choice.name: required when tool_choice.type is tool")
			}
			out.ToolChoice = `{"type":"function","function":{"name":"` + string(escape(tc.Name)) + `"}}`
		default:
			return nil, invalid("tool_choice.type: %q is not one of auto, any, tool, none", tc.Type)
		}
		if tc.DisableParallelToolUse && tc.Type != "none" {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	return out.appendJSON(make([]byte, 0, requestSize(r))), nil
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
func metadataUser(v jv) (esc, error) {
	if !v.IsObject() {
		return "", invalid("metadata: must be an object")
	}
	var user esc
	var err error
	v.ForEach(func(k esc, val jv) bool {
		switch {
		case val.Null():
		case string(k) == "user_id":
			user, err = escField(val, "metadata.user_id")
		default:
			err = unsupported("metadata.%s: not supported", string(k))
		}
		return err == nil
	})
	return user, err
}

// systemText reads system, a string or a list of text blocks. Blocks are joined with blank lines into
// one string: several OpenAI-compatible servers accept only a string for a system message.
func systemText(v jv) (esc, error) {
	if v.IsString() {
		return v.esc(), nil
	}
	blocks, err := blocksOf(v, "system")
	if err != nil {
		return "", err
	}
	texts := make([]string, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "text" {
			return "", invalid("system[%d].type: %q, want text", i, b.Type)
		}
		texts = append(texts, string(b.Text))
	}
	return esc(strings.Join(texts, `\n\n`)), nil
}

// knownBlocks are the block types the translation reads; any other is only named in the refusal, so
// its fields need not be read.
var knownBlocks = map[string]bool{
	"text": true, "image": true, "document": true, "tool_use": true, "tool_result": true, "thinking": true,
	"redacted_thinking": true,
}

// blocksOf reads a content: a string is one text block.
func blocksOf(v jv, field string) ([]mBlock, error) {
	switch {
	case !v.Exists() || v.Null():
		return nil, invalid("%s: required", field)
	case v.IsString():
		return []mBlock{{Type: "text", Text: v.esc()}}, nil
	case !v.IsArray():
		return nil, invalid("%s: must be a string or a list of content blocks", field)
	}
	var blocks []mBlock
	var err error
	j := 0
	v.ForEach(func(_ esc, el jv) bool {
		var b mBlock
		b, err = blockOf(el, field+"["+strconv.Itoa(j)+"]")
		blocks = append(blocks, b)
		j++
		return err == nil
	})
	return blocks, err
}

// blockOf reads one content block, checking the types of the fields it reads.
func blockOf(v jv, field string) (mBlock, error) {
	var b mBlock
	if !v.IsObject() {
		return b, invalid("%s: must be a content block object", field)
	}
	// One pass collects the fields (the first of a repeated one); they are checked once the type is
	// known, since a block of an unknown type is refused by its type whatever its fields.
	var typ, text, title, id, name, toolUseID, input, content, isError, source, citations jv
	v.ForEach(func(k esc, val jv) bool {
		var dst *jv
		switch string(k) {
		case "type":
			dst = &typ
		case "text":
			dst = &text
		case "title":
			dst = &title
		case "id":
			dst = &id
		case "name":
			dst = &name
		case "tool_use_id":
			dst = &toolUseID
		case "input":
			dst = &input
		case "content":
			dst = &content
		case "is_error":
			dst = &isError
		case "source":
			dst = &source
		case "citations":
			dst = &citations
		}
		if dst != nil && *dst == nil && !val.Null() {
			*dst = val
		}
		return true
	})
	if typ.Exists() && !typ.IsString() {
		return b, invalid("%s.type: must be a string", field)
	}
	b.Type = typ.String()
	if !knownBlocks[b.Type] {
		return b, nil
	}
	for _, f := range []struct {
		v    jv
		name string
		dst  *esc
	}{{text, "text", &b.Text}, {title, "title", &b.Title}, {id, "id", &b.ID}, {name, "name", &b.Name}, {toolUseID, "tool_use_id", &b.ToolUseID}} {
		if f.v.Exists() {
			var err error
			if *f.dst, err = escField(f.v, field+"."+f.name); err != nil {
				return b, err
			}
		}
	}
	b.Input, b.Content, b.IsError = input.Raw(), content, isError.True()
	if b.Type == "document" && citations.Get("enabled").True() {
		// Citations on earlier text blocks are dropped (they describe an answer already given), but a
		// document asking for them asks for an answer OpenAI cannot give.
		return b, unsupported("%s.citations: not supported by this model's provider", field)
	}
	if source.Exists() {
		if !source.IsObject() {
			return b, invalid("%s.source: must be an object", field)
		}
		src := &mSource{}
		var err error
		source.ForEach(func(k esc, sv jv) bool {
			var dst *esc
			switch string(k) {
			case "type":
				dst = &src.Type
			case "media_type":
				dst = &src.MediaType
			case "data":
				dst = &src.Data
			case "url":
				dst = &src.URL
			}
			if dst != nil && *dst == "" && !sv.Null() {
				*dst, err = escField(sv, field+".source."+string(k))
			}
			return err == nil
		})
		if err != nil {
			return b, err
		}
		b.Source = src
	}
	return b, nil
}

// appendMessage appends the chat messages of the Messages turn m (messages[i]).
func appendMessage(out []chatMessage, m jv, i int) ([]chatMessage, error) {
	field := "messages[" + strconv.Itoa(i) + "]"
	if !m.IsObject() {
		return nil, invalid("%s: must be a message object", field)
	}
	var role, content jv
	m.ForEach(func(k esc, v jv) bool {
		switch string(k) {
		case "role":
			if role == nil {
				role = v
			}
		case "content":
			if content == nil {
				content = v
			}
		}
		return true
	})
	blocks, err := blocksOf(content, field+".content")
	if err != nil {
		return nil, err
	}
	switch role.String() {
	case "user":
		return appendUser(out, blocks, field)
	case "assistant":
		return appendAssistant(out, blocks, field)
	default:
		return nil, invalid("%s.role: %q, want user or assistant", field, role.String())
	}
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
			parts = append(parts, chatPart{Type: "text", Text: b.Text})
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
		return append(out, chatMessage{Role: "user", Content: parts[0].Text}), nil
	}
	return append(out, chatMessage{Role: "user", Content: parts}), nil
}

// appendAssistant appends an assistant turn: its text blocks concatenated (pieces of one answer, split
// around tool calls) and its tool_use blocks as tool_calls.
func appendAssistant(out []chatMessage, blocks []mBlock, field string) ([]chatMessage, error) {
	var text strings.Builder
	hasText := false
	var calls []chatToolCall
	for j := range blocks {
		b := &blocks[j]
		bf := field + ".content[" + strconv.Itoa(j) + "]"
		switch b.Type {
		case "text":
			text.WriteString(string(b.Text))
			hasText = true
		case "tool_use":
			if b.ID == "" || b.Name == "" {
				return nil, invalid("%s: a tool_use block needs an id and a name", bf)
			}
			args := esc("{}")
			if b.Input != "" && b.Input != "null" {
				args = escape(string(compact(nil, b.Input)))
			}
			calls = append(calls, chatToolCall{ID: b.ID, Name: b.Name, Arguments: args})
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
		msg.Content = esc(text.String())
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
			return chatPart{Type: "image_url", URL: "data:" + src.MediaType + ";base64," + src.Data}, nil
		case "url":
			if src.URL == "" {
				return chatPart{}, invalid("%s.source.url: required", field)
			}
			return chatPart{Type: "image_url", URL: src.URL}, nil
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
	return chatPart{Type: "file", FileData: "data:application/pdf;base64," + src.Data, Filename: name}, nil
}

// toolResult reads a tool_result block: its text for the tool message, and its images for the user
// message that follows. is_error is told to the model in words, as OpenAI has no flag for it.
func toolResult(b *mBlock, field string) (esc, []chatPart, error) {
	var text strings.Builder
	if b.IsError {
		text.WriteString("Error: ")
	}
	var media []chatPart
	switch c := b.Content; {
	case !c.Exists() || c.Null():
	case c.IsString():
		text.WriteString(string(c.esc()))
	default:
		blocks, err := blocksOf(c, field+".content")
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
					text.WriteString(`\n`)
				}
				text.WriteString(string(c.Text))
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
	return esc(text.String()), media, nil
}

// translateTools turns client tools into function tools; server tools (web search, code execution,
// bash, computer use, …) run on Anthropic's side and are refused by name.
func translateTools(tools jv) ([]chatTool, error) {
	if !tools.Exists() {
		return nil, nil
	}
	list := tools.Array()
	out := make([]chatTool, 0, len(list))
	for i, t := range list {
		field := "tools[" + strconv.Itoa(i) + "]"
		if !t.IsObject() {
			return nil, invalid("%s: must be a tool object", field)
		}
		if typ := t.Get("type"); typ.Exists() && !typ.Null() && typ.String() != "custom" {
			return nil, unsupported("%s: server tool %q (type %s) is not supported by this model's provider",
				field, t.Get("name").String(), typ.String())
		}
		var err error
		t.ForEach(func(k esc, v jv) bool {
			if !toolFields[string(k)] && !v.Null() {
				err = unsupported("%s.%s: not supported by this model's provider", field, string(k))
			}
			return err == nil
		})
		if err != nil {
			return nil, err
		}
		var ft chatTool
		if ft.Name, err = escField(t.Get("name"), field+".name"); err != nil || ft.Name == "" {
			return nil, invalid("%s.name: required, a string", field)
		}
		if d := t.Get("description"); d.Exists() && !d.Null() {
			if ft.Description, err = escField(d, field+".description"); err != nil {
				return nil, err
			}
		}
		schema := t.Get("input_schema")
		if !schema.IsObject() {
			return nil, invalid("%s.input_schema: required, an object", field)
		}
		ft.Parameters = schema.Raw()
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
