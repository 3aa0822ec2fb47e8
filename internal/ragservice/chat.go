// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model                *string           `json:"model"`
	Messages             []json.RawMessage `json:"messages"`
	Stream               bool              `json:"stream"`
	K                    *int              `json:"k"`
	SimilarityThreshold  *float64          `json:"similarity_threshold"`
	Filter               map[string]any    `json:"filter"`
	FilterAfterReranking *bool             `json:"filter_after_reranking"`
	IncludeSources       *bool             `json:"include_sources"`
}

var chatRoles = map[string]bool{"system": true, "user": true, "assistant": true, "function": true}

// parseMessages applies ChatMessage's pydantic rules: a known role and a string content.
func parseMessages(raw []json.RawMessage) ([]chatMessage, []validationError) {
	var errs []validationError
	msgs := make([]chatMessage, len(raw))
	for i, m := range raw {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m, &fields); err != nil {
			errs = append(errs, validationError{Type: "model_type", Loc: []any{"body", "messages", i}, Msg: "Input should be a valid dictionary or instance of ChatMessage"})
			continue
		}
		if err := json.Unmarshal(fields["role"], &msgs[i].Role); err != nil || !chatRoles[msgs[i].Role] {
			errs = append(errs, validationError{Type: "literal_error", Loc: []any{"body", "messages", i, "role"}, Msg: "Input should be 'system', 'user', 'assistant' or 'function'"})
		}
		c, ok := fields["content"]
		if !ok {
			errs = append(errs, missing("body", "messages", i, "content"))
		} else if err := json.Unmarshal(c, &msgs[i].Content); err != nil {
			errs = append(errs, validationError{Type: "string_type", Loc: []any{"body", "messages", i, "content"}, Msg: "Input should be a valid string"})
		}
	}
	return msgs, errs
}

// chat is POST /v1/chat/completions: model names the configuration (404 when unknown), the query is the last
// user message, earlier non-system messages become context items. Streaming is simulated (see the package
// doc); once a stream has started, errors arrive as an error event in a 200 stream.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Messages == nil {
		writeValidation(w, missing("body", "messages"))
		return
	}
	msgs, errs := parseMessages(req.Messages)
	if req.K != nil && (*req.K < 1 || *req.K > 20) {
		errs = append(errs, validationError{Type: "less_than_equal", Loc: []any{"body", "k"}, Msg: "Input should be between 1 and 20", Input: *req.K})
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	model := deref(req.Model, "default")
	if model == "" {
		s.writeError(w, http.StatusBadRequest, "Model parameter is required")
		return
	}
	if _, _, ok := s.get(model); !ok {
		s.writeError(w, http.StatusNotFound, fmt.Sprintf("Model (configuration) '%s' not found. Use GET /v1/models to see available models.", model))
		return
	}
	id := "chatcmpl-" + randomHex(12)
	created := s.opts.Now().Unix()
	start := time.Now()
	if req.Stream {
		s.stream(w, r, req, msgs, model, id, created)
		return
	}
	resp, err := s.complete(r, req, msgs, model, id, created, start)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		var he *httpError
		if errors.As(err, &he) {
			s.writeError(w, he.status, he.detail)
			return
		}
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
	Logprobs     any         `json:"logprobs"`
}

type chatResponse struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []chatChoice   `json:"choices"`
	Usage             map[string]int `json:"usage"`
	SystemFingerprint any            `json:"system_fingerprint"`
	Sources           []any          `json:"sources"`
	ProcessingTime    float64        `json:"processing_time"`
}

// complete is OpenAIChatService.create_chat_completion.
func (s *Server) complete(r *http.Request, req chatRequest, msgs []chatMessage, model, id string, created int64, start time.Time) (*chatResponse, error) {
	query, ok := userQuery(msgs)
	if !ok {
		return nil, detailError("No user message found in the conversation")
	}
	var history []map[string]any
	if len(msgs) > 0 {
		for i, m := range msgs[:len(msgs)-1] {
			if m.Role != "system" {
				history = append(history, map[string]any{"content": m.Content, "role": m.Role, "timestamp": s.timestamp(), "metadata": map[string]any{"message_index": i}})
			}
		}
	}
	answer, sources, err := s.answer(r.Context(), ragRequest{
		configuration: model, query: query, k: deref(req.K, 5), threshold: deref(req.SimilarityThreshold, 0),
		filter: req.Filter, authorization: r.Header.Get("Authorization"), contextItems: history,
		filterAfterRR: deref(req.FilterAfterReranking, true),
	})
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		parts[i] = m.Content
	}
	prompt, completion := estimateTokens(strings.Join(parts, " ")), estimateTokens(answer)
	resp := &chatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices:        []chatChoice{{Index: 0, Message: chatMessage{Role: "assistant", Content: answer}, FinishReason: "stop"}},
		Usage:          map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		ProcessingTime: time.Since(start).Seconds(),
	}
	if deref(req.IncludeSources, true) {
		resp.Sources = sources
	}
	return resp, nil
}

// userQuery is the last user message, else the last message.
func userQuery(msgs []chatMessage) (string, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content, true
		}
	}
	if len(msgs) > 0 {
		return msgs[len(msgs)-1].Content, true
	}
	return "", false
}

// estimateTokens is RAG2's len(text) // 4, counting characters as Python does.
func estimateTokens(text string) int { return utf8.RuneCountInString(text) / 4 }

// stream is create_chat_completion_stream: the whole answer first, then one chunk per word.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req chatRequest, msgs []chatMessage, model, id string, created int64) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(v any) {
		_, _ = fmt.Fprintf(w, "data: %s\n\n", pyJSON(v))
		_ = rc.Flush()
	}
	resp, err := s.complete(r, req, msgs, model, id, created, time.Now())
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		send(map[string]any{"error": ordered{{"message", err.Error()}, {"type", "internal_error"}, {"code", "internal_error"}}})
		return
	}
	chunk := func(delta any, finish any) ordered {
		return ordered{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
			{"choices", []any{ordered{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}
	}
	words := strings.Fields(resp.Choices[0].Message.Content)
	for i, word := range words {
		if i < len(words)-1 {
			word += " "
		}
		send(chunk(ordered{{"content", word}}, nil))
		if s.opts.WordDelay > 0 && !sleep(r.Context(), s.opts.WordDelay) {
			return
		}
	}
	send(chunk(ordered{}, "stop"))
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ordered is a JSON object that keeps its key order, as a Python dict does.
type ordered []struct {
	k string
	v any
}

// MarshalJSON writes the pairs in order.
func (o ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		buf.Write(k)
		buf.WriteByte(':')
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, fmt.Errorf("encoding %q: %w", p.k, err)
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// pyJSON renders v as Python's json.dumps does by default: ", " and ": " separators and non-ASCII escaped
// as \uXXXX (ensure_ascii), which is what RAG2's stream events look like on the wire.
func pyJSON(v any) []byte {
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"error": {"message": "encoding event", "type": "internal_error", "code": "internal_error"}}`)
	}
	src := bytes.TrimRight(raw.Bytes(), "\n")
	var out bytes.Buffer
	inString, escaped := false, false
	for _, r := range string(src) {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
			if r > 0x7f {
				for _, u := range utf16Units(r) {
					fmt.Fprintf(&out, `\u%04x`, u)
				}
				continue
			}
			out.WriteRune(r)
		case r == '"':
			inString = true
			out.WriteRune(r)
		case r == ',' || r == ':':
			out.WriteRune(r)
			out.WriteByte(' ')
		default:
			out.WriteRune(r)
		}
	}
	return out.Bytes()
}

func utf16Units(r rune) []rune {
	if r < 0x10000 {
		return []rune{r}
	}
	r -= 0x10000
	return []rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
}
