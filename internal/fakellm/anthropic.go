// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
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

// anthropicRequest is the part of a Messages request the fake reads. System and message contents are a
// string or an array of blocks; only text blocks count (see content).
type anthropicRequest struct {
	Model     string  `json:"model"`
	MaxTokens *int    `json:"max_tokens"`
	System    content `json:"system"`
	Messages  []struct {
		Role    string  `json:"role"`
		Content content `json:"content"`
	} `json:"messages"`
	Stream bool `json:"stream"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// anthropicMessage is a non-streamed Messages answer, fields in Anthropic's order.
type anthropicMessage struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []anthropicText `json:"content"`
	StopReason   string          `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        anthropicUsage  `json:"usage"`
}

// serveAnthropic serves POST /v1/messages.
func (s *server) serveAnthropic(w http.ResponseWriter, r *http.Request) {
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
	switch {
	case req.MaxTokens == nil:
		anthropicError(w, http.StatusBadRequest, "max_tokens: Field required", "")
		return
	case *req.MaxTokens < 1:
		anthropicError(w, http.StatusBadRequest, "max_tokens: Input should be greater than or equal to 1", "")
		return
	case len(req.Messages) == 0:
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
	words, finish := reply(last, req.MaxTokens)
	stop := "end_turn"
	if finish == "length" {
		stop = "max_tokens"
	}
	id, model := "msg_"+randomHex(), s.modelOr(req.Model)
	if !req.Stream {
		writeJSON(w, http.StatusOK, anthropicMessage{
			ID: id, Type: "message", Role: "assistant", Model: model,
			Content:    []anthropicText{{Type: "text", Text: strings.Join(words, " ")}},
			StopReason: stop,
			Usage:      anthropicUsage{InputTokens: promptTokens, OutputTokens: len(words)},
		})
		return
	}
	s.anthropicStream(w, r, id, model, words, stop, promptTokens)
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
	buf := make([]byte, 0, 512)
	buf = append(buf, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	buf = appendJSONString(buf, id)
	buf = append(buf, `,"type":"message","role":"assistant","model":`...)
	buf = appendJSONString(buf, model)
	// Anthropic's message_start reports one output token before any is streamed; message_delta has the total.
	buf = append(buf, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	buf = strconv.AppendInt(buf, int64(inputTokens), 10)
	buf = append(buf, ",\"output_tokens\":1}}}\n\n"...)
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
	buf = append(buf[:0], "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	buf = appendJSONString(buf, stop)
	buf = append(buf, `,"stop_sequence":null},"usage":{"output_tokens":`...)
	buf = strconv.AppendInt(buf, int64(len(words)), 10)
	buf = append(buf, "}}\n\n"...)
	if !sw.send(buf) {
		return
	}
	sw.last(anthropicStop)
}
