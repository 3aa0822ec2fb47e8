// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// anthropicError writes Anthropic's error envelope, {"type":"error","error":{"type","message"}}.
func anthropicError(w http.ResponseWriter, status int, msg, _ string) {
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Type, e.Error.Type, e.Error.Message = "error", anthropicErrorType(status), msg
	writeJSON(w, status, e)
}

// anthropicErrorType is the error type Anthropic documents for a status.
func anthropicErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// anthropicRequest is the part of a Messages (or count_tokens) request the fake reads. System and message
// contents are a string or an array of blocks; only text blocks count (see content).
type anthropicRequest struct {
	Model     string  `json:"model"`
	MaxTokens *int    `json:"max_tokens"`
	System    content `json:"system"`
	Messages  []struct {
		Role    string  `json:"role"`
		Content content `json:"content"`
	} `json:"messages"`
	Stream bool `json:"stream"`
	Tools  []struct {
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// anthropicMessage is a non-streamed Messages answer, fields in Anthropic's order. Content holds
// anthropicText or anthropicToolUse blocks.
type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []any          `json:"content"`
	StopReason   string         `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
}

// serveAnthropic serves POST /v1/messages and /v1/messages/count_tokens.
func (s *server) serveAnthropic(w http.ResponseWriter, r *http.Request) {
	// Echoed first, so that even an error answer shows a test which version and betas came through.
	if v := r.Header.Get("Anthropic-Version"); v != "" {
		w.Header().Set("X-Fake-Anthropic-Version", v)
	}
	for _, v := range r.Header.Values("Anthropic-Beta") {
		w.Header().Add("X-Fake-Anthropic-Beta", v)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		anthropicError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s not allowed for %s", r.Method, r.URL.Path), "")
		return
	}
	if !s.hooks(w, r, anthropicError) {
		return
	}
	if r.Header.Get("X-Api-Key") == "" {
		anthropicError(w, http.StatusUnauthorized, "x-api-key header is required", "")
		return
	}
	var req anthropicRequest
	if !decode(w, r, &req, anthropicError) {
		return
	}
	if !modelHooks(w, r, req.Model, anthropicError) {
		return
	}
	countOnly := r.URL.Path == "/v1/messages/count_tokens"
	switch {
	case countOnly:
		// count_tokens takes no max_tokens.
	case req.MaxTokens == nil:
		anthropicError(w, http.StatusBadRequest, "max_tokens: Field required", "")
		return
	case *req.MaxTokens < 1:
		anthropicError(w, http.StatusBadRequest, "max_tokens: Input should be greater than or equal to 1", "")
		return
	}
	if len(req.Messages) == 0 {
		anthropicError(w, http.StatusBadRequest, "messages: at least one message is required", "")
		return
	}
	// Tool results arrive in user turns; like chat's tool messages they are not the question, so the last
	// user turn with text is echoed.
	promptTokens, last := len(strings.Fields(req.System.text)), ""
	for _, m := range req.Messages {
		promptTokens += len(strings.Fields(m.Content.text))
		if m.Role == "user" && m.Content.text != "" {
			last = m.Content.text
		}
	}
	if countOnly {
		writeJSON(w, http.StatusOK, map[string]int{"input_tokens": promptTokens})
		return
	}
	id, model := "msg_"+randomHex(), s.modelOr(req.Model)
	if tc := req.ToolChoice; tc != nil && tc.Type == "tool" {
		var schema json.RawMessage
		found := false
		for _, t := range req.Tools {
			if t.Name == tc.Name {
				schema, found = t.InputSchema, true
				break
			}
		}
		if !found {
			anthropicError(w, http.StatusBadRequest, fmt.Sprintf("tool_choice.name: tool %q is not among tools", tc.Name), "")
			return
		}
		input, props := toolInput(schema)
		call := anthropicToolUse{Type: "tool_use", ID: "toolu_" + randomHex(), Name: tc.Name, Input: input}
		u := anthropicUsage{InputTokens: promptTokens, OutputTokens: max(props, 1)}
		if !req.Stream {
			writeJSON(w, http.StatusOK, anthropicMessage{
				ID: id, Type: "message", Role: "assistant", Model: model,
				Content: []any{call}, StopReason: "tool_use", Usage: u,
			})
			return
		}
		s.anthropicToolStream(w, r, id, model, call, u)
		return
	}
	words, finish := reply(last, req.MaxTokens)
	stop := "end_turn"
	if finish == "length" {
		stop = "max_tokens"
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, anthropicMessage{
			ID: id, Type: "message", Role: "assistant", Model: model,
			Content:    []any{anthropicText{Type: "text", Text: strings.Join(words, " ")}},
			StopReason: stop,
			Usage:      anthropicUsage{InputTokens: promptTokens, OutputTokens: len(words)},
		})
		return
	}
	s.anthropicStream(w, r, id, model, words, stop, promptTokens)
}

// toolInput is the input the fake "calls" a forced tool with: an object holding, for each property of
// the schema, a value of its type (string "x", number and integer 1, boolean true, object {}, array [],
// anything else null), keys sorted. It also returns the number of properties.
func toolInput(schema json.RawMessage) (json.RawMessage, int) {
	var sc struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &sc) // a schema without properties is answered {}
	in := make(map[string]any, len(sc.Properties))
	for name, p := range sc.Properties {
		in[name] = sampleValue(p.Type)
	}
	b, _ := json.Marshal(in) // strings, numbers and empty containers always encode
	return b, len(sc.Properties)
}

// sampleValue is a value of a JSON Schema type: "string" or a list of types, the first that is not
// "null" being used.
func sampleValue(typ json.RawMessage) any {
	var one string
	if json.Unmarshal(typ, &one) != nil {
		var list []string
		_ = json.Unmarshal(typ, &list)
		for _, t := range list {
			if t != "null" {
				one = t
				break
			}
		}
	}
	switch one {
	case "string":
		return "x"
	case "number", "integer":
		return 1
	case "boolean":
		return true
	case "object":
		return struct{}{}
	case "array":
		return []any{}
	}
	return nil
}

// jsonFragments cuts a JSON text into three pieces of about equal size (two for "{}"), at character
// boundaries, the way Anthropic streams a tool's input in input_json_delta pieces that are not JSON
// by themselves.
func jsonFragments(js []byte) [][]byte {
	size := max((len(js)+2)/3, 1)
	var out [][]byte
	for len(js) > 0 {
		n := min(size, len(js))
		for n < len(js) && !utf8.RuneStart(js[n]) {
			n++
		}
		out = append(out, js[:n])
		js = js[n:]
	}
	return out
}

// Events of an Anthropic stream that do not depend on the request.
var (
	anthropicBlockStart = []byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	anthropicPing       = []byte("event: ping\ndata: {\"type\":\"ping\"}\n\n")
	anthropicBlockStop  = []byte("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	anthropicStop       = []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
)

// anthropicStream writes the Messages event sequence: message_start, one text block (start, a ping as the
// real API sends, a text_delta per word, stop), message_delta with the stop reason and output tokens, and
// message_stop. Events are rendered by hand into one buffer, like the chat stream.
func (s *server) anthropicStream(w http.ResponseWriter, r *http.Request, id, model string, words []string, stop string, inputTokens int) {
	sw := s.startStream(w, r, "text/event-stream")
	defer sw.close()
	buf := appendAnthropicStart(make([]byte, 0, 512), id, model, inputTokens)
	if !sw.send(buf) || !sw.send(anthropicBlockStart) || !sw.send(anthropicPing) {
		return
	}
	for i, word := range words {
		buf = append(buf[:0], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"...)
		buf = appendWordString(buf, word, i == len(words)-1)
		buf = append(buf, "}}\n\n"...)
		if !sw.send(buf) {
			return
		}
	}
	if !sw.send(anthropicBlockStop) {
		return
	}
	if !sw.send(appendAnthropicDelta(buf[:0], stop, len(words))) {
		return
	}
	sw.last(anthropicStop)
}

// appendAnthropicStart renders the message_start event.
func appendAnthropicStart(buf []byte, id, model string, inputTokens int) []byte {
	buf = append(buf, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	buf = appendJSONString(buf, id)
	buf = append(buf, `,"type":"message","role":"assistant","model":`...)
	buf = appendJSONString(buf, model)
	// Anthropic's message_start reports one output token before any is streamed; message_delta has the total.
	buf = append(buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	buf = strconv.AppendInt(buf, int64(inputTokens), 10)
	return append(buf, ",\"output_tokens\":1}}}\n\n"...)
}

// appendAnthropicDelta renders the message_delta event that ends the answer.
func appendAnthropicDelta(buf []byte, stop string, outputTokens int) []byte {
	buf = append(buf, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	buf = appendJSONString(buf, stop)
	buf = append(buf, `,"stop_sequence":null},"usage":{"output_tokens":`...)
	buf = strconv.AppendInt(buf, int64(outputTokens), 10)
	return append(buf, "}}\n\n"...)
}

// anthropicToolStream streams a forced tool call: message_start, a tool_use block (start with an empty
// input, ping, the input in input_json_delta fragments, stop), message_delta with stop_reason tool_use,
// and message_stop. This path serves tests, not load, so the block events go through encoding/json.
func (s *server) anthropicToolStream(w http.ResponseWriter, r *http.Request, id, model string, call anthropicToolUse, u anthropicUsage) {
	type delta struct {
		Type        string `json:"type"`
		PartialJSON string `json:"partial_json"`
	}
	type blockEvent struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock any    `json:"content_block,omitempty"`
		Delta        any    `json:"delta,omitempty"`
	}
	start := call
	start.Input = json.RawMessage(`{}`)
	events := [][]byte{appendAnthropicStart(nil, id, model, u.InputTokens), anthropicEvent("content_block_start", blockEvent{Type: "content_block_start", ContentBlock: start}), anthropicPing}
	for _, f := range jsonFragments(call.Input) {
		events = append(events, anthropicEvent("content_block_delta", blockEvent{Type: "content_block_delta", Delta: delta{Type: "input_json_delta", PartialJSON: string(f)}}))
	}
	events = append(events, anthropicBlockStop, appendAnthropicDelta(nil, "tool_use", u.OutputTokens))
	sw := s.startStream(w, r, "text/event-stream")
	defer sw.close()
	for _, ev := range events {
		if !sw.send(ev) {
			return
		}
	}
	sw.last(anthropicStop)
}

// anthropicEvent frames v as an Anthropic event: its "event:" line, then its JSON as data.
func anthropicEvent(name string, v any) []byte {
	b, _ := json.Marshal(v) // plain structs of strings and raw JSON objects always encode
	out := append([]byte("event: "+name+"\ndata: "), b...)
	return append(out, "\n\n"...)
}
