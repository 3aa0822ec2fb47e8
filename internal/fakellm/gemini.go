// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// geminiError writes Gemini's error body, google.rpc.Status in JSON: {"error":{"code","message","status"}}.
func geminiError(w http.ResponseWriter, status int, msg, _ string) {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message, e.Error.Status = status, msg, geminiStatus(status)
	writeJSON(w, status, e)
}

// geminiStatus is the canonical status name Google APIs send with an HTTP status. A status without one is
// UNKNOWN, so a client falls back to the HTTP status rather than trusting a made-up name.
func geminiStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	default:
		return "UNKNOWN"
	}
}

type geminiContent struct {
	Role  string `json:"role"`
	Parts []struct {
		Text string `json:"text"`
	} `json:"parts"`
}

// text joins the text parts with spaces, as content does for OpenAI parts.
func (c *geminiContent) text() string {
	if c == nil {
		return ""
	}
	texts := make([]string, 0, len(c.Parts))
	for _, p := range c.Parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

type geminiGenerationConfig struct {
	MaxOutputTokens *int `json:"maxOutputTokens"`
	// The proto3 JSON mapping accepts the original snake_case names too, and Google's curl examples use them.
	MaxOutputTokensSnake *int `json:"max_output_tokens"`
}

// geminiRequest is the part of a GenerateContentRequest the fake reads.
type geminiRequest struct {
	Contents               []geminiContent         `json:"contents"`
	SystemInstruction      *geminiContent          `json:"systemInstruction"`
	SystemInstructionSnake *geminiContent          `json:"system_instruction"`
	GenerationConfig       *geminiGenerationConfig `json:"generationConfig"`
	GenerationConfigSnake  *geminiGenerationConfig `json:"generation_config"`
}

// maxOutputTokens returns generationConfig.maxOutputTokens under either spelling, or nil.
func (g *geminiRequest) maxOutputTokens() *int {
	for _, c := range []*geminiGenerationConfig{g.GenerationConfig, g.GenerationConfigSnake} {
		if c == nil {
			continue
		}
		if c.MaxOutputTokens != nil {
			return c.MaxOutputTokens
		}
		if c.MaxOutputTokensSnake != nil {
			return c.MaxOutputTokensSnake
		}
	}
	return nil
}

type geminiText struct {
	Text string `json:"text"`
}

type geminiCandidate struct {
	Content struct {
		Parts []geminiText `json:"parts"`
		Role  string       `json:"role"`
	} `json:"content"`
	FinishReason string `json:"finishReason"`
	Index        int    `json:"index"`
}

type geminiUsage struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount"`
	TotalTokenCount      int `json:"totalTokenCount"`
}

// geminiResponse is a GenerateContentResponse, fields in Gemini's order.
type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsage       `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

// serveGemini serves POST /v1beta/models/{model}:generateContent and :streamGenerateContent.
func (s *server) serveGemini(w http.ResponseWriter, r *http.Request, p string) {
	rest, ok := strings.CutPrefix(p, "/v1beta/models/")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 {
		geminiError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "")
		return
	}
	model, action := rest[:i], rest[i+1:]
	if action != "generateContent" && action != "streamGenerateContent" {
		geminiError(w, http.StatusNotFound, fmt.Sprintf("Method %q is not served by fakellm", action), "")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		geminiError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s not allowed for %s", r.Method, r.URL.Path), "")
		return
	}
	// alt=sse streams Server-Sent Events; without it Gemini streams one JSON array of responses.
	alt := r.URL.Query().Get("alt")
	if alt != "" && alt != "sse" && alt != "json" {
		geminiError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'alt' (%q)", alt), "")
		return
	}
	if !s.hooks(w, r, geminiError) {
		return
	}
	if r.Header.Get("X-Goog-Api-Key") == "" && r.URL.Query().Get("key") == "" {
		geminiError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "")
		return
	}
	var req geminiRequest
	if !decode(w, r, &req, geminiError) {
		return
	}
	if !modelHooks(w, r, model, geminiError) {
		return
	}
	if len(req.Contents) == 0 {
		geminiError(w, http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified", "")
		return
	}
	limit := req.maxOutputTokens()
	if limit != nil && *limit < 0 {
		geminiError(w, http.StatusBadRequest, "* GenerateContentRequest.generation_config.max_output_tokens: must not be negative", "")
		return
	}
	system := req.SystemInstruction
	if system == nil {
		system = req.SystemInstructionSnake
	}
	// Function responses arrive in user turns; they are not the question, so the last user turn with
	// text is echoed. A turn without a role is a user turn, as in single-turn requests.
	promptTokens, last := len(strings.Fields(system.text())), ""
	for i := range req.Contents {
		c := &req.Contents[i]
		t := c.text()
		promptTokens += len(strings.Fields(t))
		if (c.Role == "user" || c.Role == "") && t != "" {
			last = t
		}
	}
	words, finish := reply(last, limit)
	reason := "STOP"
	if finish == "length" {
		reason = "MAX_TOKENS"
	}
	u := geminiUsage{PromptTokenCount: promptTokens, CandidatesTokenCount: len(words), TotalTokenCount: promptTokens + len(words)}
	id := randomHex()
	if action == "generateContent" {
		resp := geminiResponse{Candidates: make([]geminiCandidate, 1), UsageMetadata: u, ModelVersion: model, ResponseID: id}
		c := &resp.Candidates[0]
		c.Content.Parts, c.Content.Role, c.FinishReason = []geminiText{{Text: strings.Join(words, " ")}}, "model", reason
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.geminiStream(w, r, alt == "sse", model, id, words, reason, u)
}

// geminiStream writes one GenerateContentResponse per word, the last carrying finishReason and
// usageMetadata, as SSE ("data: …" and CRLF line ends, as Google's servers send) or as the elements of a
// JSON array ("[{…}\n", ",\r\n{…}\n", …, "\n]"). An answer cut to no words still sends one response, with
// empty text, for its finishReason. Events are rendered by hand into one buffer, like the chat stream.
func (s *server) geminiStream(w http.ResponseWriter, r *http.Request, sse bool, model, id string, words []string, reason string, u geminiUsage) {
	// tail ends every response but the last.
	tail := []byte(`,"index":0}],"modelVersion":`)
	tail = appendJSONString(tail, model)
	tail = append(tail, `,"responseId":`...)
	tail = appendJSONString(tail, id)
	tail = append(tail, '}')
	var sw *sseWriter
	if sse {
		sw = s.startStream(w, r, "text/event-stream")
	} else {
		sw = s.startStream(w, r, "application/json")
	}
	defer sw.close()
	buf := make([]byte, 0, 256+len(tail))
	n := max(len(words), 1)
	for i := range n {
		word, last := "", i == n-1
		if i < len(words) {
			word = words[i]
		}
		buf = buf[:0]
		switch {
		case sse:
			buf = append(buf, "data: "...)
		case i == 0:
			buf = append(buf, '[')
		default:
			buf = append(buf, ",\r\n"...)
		}
		buf = append(buf, `{"candidates":[{"content":{"parts":[{"text":`...)
		buf = appendWordString(buf, word, last)
		buf = append(buf, `}],"role":"model"}`...)
		if !last {
			buf = append(buf, tail...)
		} else {
			buf = append(buf, `,"finishReason":`...)
			buf = appendJSONString(buf, reason)
			buf = append(buf, `,"index":0}],"usageMetadata":{"promptTokenCount":`...)
			buf = strconv.AppendInt(buf, int64(u.PromptTokenCount), 10)
			buf = append(buf, `,"candidatesTokenCount":`...)
			buf = strconv.AppendInt(buf, int64(u.CandidatesTokenCount), 10)
			buf = append(buf, `,"totalTokenCount":`...)
			buf = strconv.AppendInt(buf, int64(u.TotalTokenCount), 10)
			buf = append(buf, `},"modelVersion":`...)
			buf = appendJSONString(buf, model)
			buf = append(buf, `,"responseId":`...)
			buf = appendJSONString(buf, id)
			buf = append(buf, '}')
		}
		switch {
		case sse:
			buf = append(buf, "\r\n\r\n"...)
		case last:
			buf = append(buf, "\n]"...)
		default:
			// Each element ends its line, so a line reader sees it as soon as it is flushed.
			buf = append(buf, '\n')
		}
		if last {
			sw.last(buf)
			return
		}
		if !sw.send(buf) {
			return
		}
	}
}
