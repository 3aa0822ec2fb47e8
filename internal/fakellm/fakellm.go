// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package fakellm is a deterministic fake LLM provider for gateway tests, demos and load benchmarks. It
// speaks the OpenAI API, and Anthropic's Messages and Gemini's generateContent dialects too, so FD2's
// translating providers can be driven end to end over HTTP.
//
// Every answer is a pure function of the request, so tests can assert exact bodies: a chat completion (or
// Anthropic message, or Gemini candidate) answers "echo: " followed by the text of the last user message, a
// legacy completion echoes its prompt, and embeddings are 8-dimensional unit vectors derived from a SHA-256
// of each input. Token counts are word counts (strings.Fields) of the text parts, system prompt included,
// so usage arithmetic is easy to check by hand; a token limit cuts the answer to that many words.
//
// # Endpoints
//
// Every /v1 OpenAI endpoint is also served under /openai/v1, the path that the Groq routes of the Control
// Tower manifests rewrite to (proxy-rewrite uri "/openai/v1/chat/completions").
//
//	POST /v1/chat/completions  chat; "stream":true answers Server-Sent Events
//	POST /v1/completions       legacy prompt echo; streams too
//	POST /v1/embeddings        input as a string or an array; encoding_format "float" or "base64"
//	GET  /v1/models            the default model
//	GET  /v1/models/{id}       one model object
//	POST /v1/messages          Anthropic Messages (x-api-key required); "stream":true answers its SSE events
//	POST /v1/messages/count_tokens  Anthropic token count: {"input_tokens":N}, N the input_tokens of /v1/messages
//	POST /v1beta/models/{model}:generateContent        Gemini (x-goog-api-key or ?key= required)
//	POST /v1beta/models/{model}:streamGenerateContent  Gemini stream: SSE with ?alt=sse, else a JSON array
//	ANY  /echo, /echo/...      reflects what the gateway forwarded (method, path, query, host, headers, body)
//
// OpenAI errors use the envelope {"error":{"message","type","code"}}: bad JSON or a missing field is 400,
// an unknown path 404, a wrong method 405. Anthropic errors are {"type":"error","error":{"type","message"}}
// (400 for bad JSON or a missing max_tokens or messages, 401 authentication_error without x-api-key) and
// Gemini errors {"error":{"code","message","status"}} (400 INVALID_ARGUMENT, 403 PERMISSION_DENIED without
// a key, 404 NOT_FOUND). Anthropic and Gemini honour max_tokens and generationConfig.maxOutputTokens as chat
// honours max_tokens, reporting stop_reason max_tokens and finishReason MAX_TOKENS; in both, the echoed
// turn is the last user turn with text, since tool and function results also arrive as user turns.
//
// A chat request with tool_choice {"type":"function","function":{"name":N}} is answered by a call of tool N
// (400 if tools has no N) with the same schema-derived arguments as below, finish_reason tool_calls; streamed,
// the arguments arrive in two fragments.
//
// An Anthropic request with tool_choice {"type":"tool","name":N} is answered by a call of tool N (400 if
// tools has no N) instead of the echo: one tool_use block whose input holds, for each property of N's
// input_schema, a value of its type (string "x", number and integer 1, boolean true, object {}, array [],
// anything else null), keys sorted; stop_reason is tool_use, output_tokens the number of properties (at
// least 1), and max_tokens does not cut it. Streamed, the input arrives in two or more input_json_delta
// fragments. Every Anthropic answer, errors included, echoes the anthropic-version and anthropic-beta
// headers it received as X-Fake-Anthropic-Version and X-Fake-Anthropic-Beta (one value per beta header
// received), so a test can check what a gateway forwarded.
//
// # Test hooks
//
// Request headers let a test script the provider without reconfiguring it:
//
//	X-Fake-Status: 503       answer that status (400-599) with an error body instead of a completion
//	X-Fake-Retry-After: 2    with X-Fake-Status, send Retry-After: 2 (whole seconds) with the error
//	X-Fake-Delay: 250ms      sleep that long (a time.ParseDuration string) before answering
//	X-Fake-Delay: hang       never answer: the request ends only when the client gives up
//
// Through a gateway a test often controls only the model, since providers do not forward X-Fake-* headers,
// so model names script the same failures (in the body, or in Gemini's URL path):
//
//	fail-429           as X-Fake-Status: 429 (any status 400-599)
//	fail-429-retry-2   as X-Fake-Status: 429 with X-Fake-Retry-After: 2
//	fail-hang          as X-Fake-Delay: hang
//
// Any other model starting with "fail-" is answered 400, so a typo cannot pass for a real model.
//
// The error body is in the dialect of the endpoint, typed after the status: 401 is authentication_error
// (OpenAI, Anthropic) or UNAUTHENTICATED (Gemini), 403 permission_error or PERMISSION_DENIED, 429
// rate_limit_error or RESOURCE_EXHAUSTED, 529 Anthropic's overloaded_error, 500 server_error, api_error or
// INTERNAL, 503 UNAVAILABLE. The delay runs before the status hook, so a slow failure is X-Fake-Delay plus
// X-Fake-Status; the header hooks also run before the API key checks, the model hooks once the body is
// read (after the key checks). All sleeps, hangs, Options.Latency and Options.TokenDelay included, end
// early when the client goes away, so a gateway test of cancellation or of a timeout does not leave the
// fake blocked. The hooks do not apply to /echo.
//
// # Streaming
//
// A chat stream is the OpenAI chunk sequence: a role chunk (delta {"role":"assistant","content":""}), one
// chunk per word, a chunk with an empty delta and the finish_reason, a usage chunk (empty choices) only when
// stream_options.include_usage is true, then "data: [DONE]". An Anthropic stream is message_start (with
// usage.input_tokens), content_block_start, ping, one content_block_delta text_delta per word,
// content_block_stop, message_delta (stop_reason, usage.output_tokens) and message_stop, each with its
// "event:" line. A Gemini stream is one GenerateContentResponse per word, the last carrying finishReason
// and usageMetadata.
//
// Each event is flushed on its own, followed by Options.TokenDelay (the final one excepted), so a proxy
// that buffers is visible in a test's timing. The word events concatenate to exactly the non-streamed text
// ("word " for every word but the last). Stream events are rendered into one reused buffer, without
// reflection or allocation per event, because in a load benchmark the fake shares the CPU with the load
// generator.
//
// This package never imports Caddy.
package fakellm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultModel is the model id answered when a request names none.
const DefaultModel = "fake-gpt"

// maxBody caps request bodies. Large enough for any test prompt, small enough that a runaway test cannot
// exhaust memory.
const maxBody = 8 << 20

// Options configure the fake provider. The zero value is a fast, instant provider.
type Options struct {
	// TokenDelay is the pause after each streamed chunk. Zero streams as fast as the connection allows.
	TokenDelay time.Duration
	// Latency is the delay before the first byte of every completion, embedding and model answer, on top of
	// any X-Fake-Delay header.
	Latency time.Duration
	// Model is the model id used when a request has no "model". Defaults to DefaultModel.
	Model string
}

type server struct {
	opts Options
}

// New returns the fake provider as an http.Handler. It holds no state between requests, so one handler may
// serve many tests concurrently.
func New(opts Options) http.Handler {
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	return &server{opts: opts}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/echo" || strings.HasPrefix(p, "/echo/") {
		s.echo(w, r)
		return
	}
	// The Anthropic and Gemini dialects answer their own error shapes, hook failures included.
	if p == "/v1/messages" || p == "/v1/messages/count_tokens" {
		s.serveAnthropic(w, r)
		return
	}
	if strings.HasPrefix(p, "/v1beta/") {
		s.serveGemini(w, r, p)
		return
	}
	// Groq's OpenAI-compatible API lives under /openai/v1; treat it as an alias of /v1.
	if rest, ok := strings.CutPrefix(p, "/openai"); ok && strings.HasPrefix(rest, "/v1/") {
		p = rest
	}
	var (
		method string
		handle func(http.ResponseWriter, *http.Request)
	)
	switch {
	case p == "/v1/chat/completions":
		method, handle = http.MethodPost, s.chat
	case p == "/v1/completions":
		method, handle = http.MethodPost, s.completions
	case p == "/v1/embeddings":
		method, handle = http.MethodPost, s.embeddings
	case p == "/v1/models":
		method, handle = http.MethodGet, s.models
	case strings.HasPrefix(p, "/v1/models/") && len(p) > len("/v1/models/"):
		method = http.MethodGet
		handle = func(w http.ResponseWriter, r *http.Request) { s.model(w, strings.TrimPrefix(p, "/v1/models/")) }
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "unknown_url")
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %s not allowed for %s", r.Method, r.URL.Path), "invalid_request_error", "method_not_allowed")
		return
	}
	if !s.hooks(w, r, openAIError) {
		return
	}
	handle(w, r)
}

// errorFunc writes an error answer in one dialect's shape. code is a machine-readable error code, which
// only the OpenAI shape carries.
type errorFunc func(w http.ResponseWriter, status int, msg, code string)

// openAIError writes the OpenAI error envelope, typed after the status.
func openAIError(w http.ResponseWriter, status int, msg, code string) {
	writeError(w, status, msg, errorType(status), code)
}

// hooks applies Options.Latency and the X-Fake-* headers, answering failures through fail. It reports
// whether the request should proceed; when it returns false the response has been written, or the client
// is gone.
func (s *server) hooks(w http.ResponseWriter, r *http.Request, fail errorFunc) bool {
	delay := s.opts.Latency
	if v := r.Header.Get("X-Fake-Delay"); v == "hang" {
		hang(w, r)
		return false
	} else if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("invalid X-Fake-Delay %q", v), "invalid_fake_delay")
			return false
		}
		delay += d
	}
	if !sleep(r.Context(), delay) {
		return false
	}
	if v := r.Header.Get("X-Fake-Status"); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil || code < 400 || code > 599 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("invalid X-Fake-Status %q: want 400-599", v), "invalid_fake_status")
			return false
		}
		retry := r.Header.Get("X-Fake-Retry-After")
		if retry != "" && !validSeconds(retry) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("invalid X-Fake-Retry-After %q: want whole seconds", retry), "invalid_fake_retry_after")
			return false
		}
		injectFailure(w, code, retry, fail)
		return false
	}
	return true
}

// hang answers nothing until the client goes away. It reads the body first: net/http notices a client
// hang-up, and ends r.Context, only once the request body has been read.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
	<-r.Context().Done()
}

// injectFailure answers a scripted failure: status in the dialect's error shape, with Retry-After when
// retry is set.
func injectFailure(w http.ResponseWriter, code int, retry string, fail errorFunc) {
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	// strings.TrimSpace: statuses without a standard text (Anthropic's 529) end at the number.
	fail(w, code, strings.TrimSpace(fmt.Sprintf("injected failure: %d %s", code, http.StatusText(code))), "fake_status_"+strconv.Itoa(code))
}

// validSeconds reports whether v is a Retry-After delay in whole seconds.
func validSeconds(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 0 && strconv.Itoa(n) == v
}

// failModelPrefix starts the model names that script a failure (see the package comment).
const failModelPrefix = "fail-"

// modelHooks answers the failure a "fail-…" model scripts: fail-<status>, fail-<status>-retry-<seconds>
// or fail-hang. It reports whether the request should proceed, like hooks. Through a gateway, the model
// is often the only thing a test controls: providers do not forward X-Fake-* headers.
func modelHooks(w http.ResponseWriter, r *http.Request, model string, fail errorFunc) bool {
	spec, ok := strings.CutPrefix(model, failModelPrefix)
	if !ok {
		return true
	}
	if spec == "hang" {
		hang(w, r)
		return false
	}
	status, retry, hasRetry := strings.Cut(spec, "-retry-")
	code, err := strconv.Atoi(status)
	if err != nil || code < 400 || code > 599 || strconv.Itoa(code) != status || hasRetry && !validSeconds(retry) {
		// A typo must not pass for a real model: the test would check the wrong thing.
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid failure model %q: want fail-<400-599>, fail-<400-599>-retry-<seconds> or fail-hang", model), "invalid_fake_model")
		return false
	}
	injectFailure(w, code, retry, fail)
	return false
}

// errorType maps a status to the OpenAI error type a client would see for it.
func errorType(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return "authentication_error"
	case code == http.StatusForbidden:
		return "permission_error"
	case code == http.StatusNotFound:
		return "not_found_error"
	case code == http.StatusTooManyRequests:
		return "rate_limit_error"
	case code >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// sleep waits for d or until ctx ends, and reports whether the full delay elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg, typ, errCode string) {
	var e apiError
	e.Error.Message, e.Error.Type, e.Error.Code = msg, typ, errCode
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client may have gone; nothing left to report to
}

// decode reads a JSON request body into v and answers 400 (or 413) itself, through fail, when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any, fail errorFunc) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "request body too large", "body_too_large")
			return false
		}
		fail(w, http.StatusBadRequest, "reading request body: "+err.Error(), "bad_body")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		fail(w, http.StatusBadRequest, "We could not parse the JSON body of your request: "+err.Error(), "invalid_json")
		return false
	}
	return true
}

// content is an OpenAI message content: a string, an array of parts, or null.
type content struct {
	text string
}

func (c *content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		c.text = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &c.text)
	case len(b) > 0 && b[0] == '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return fmt.Errorf("decoding content parts: %w", err)
		}
		texts := make([]string, 0, len(parts))
		for _, p := range parts {
			if p.Type == "text" || p.Type == "" && p.Text != "" {
				texts = append(texts, p.Text)
			}
		}
		c.text = strings.Join(texts, " ")
		return nil
	default:
		return fmt.Errorf("content must be a string, an array of parts or null, got %s", b)
	}
}

type message struct {
	Role    string  `json:"role"`
	Content content `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatRequest struct {
	Model         string         `json:"model"`
	Messages      []message      `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	MaxTokens     *int           `json:"max_tokens"`
	// MaxCompletionTokens is the newer OpenAI name of max_tokens; the smaller of the two wins.
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	Tools               []struct {
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

// forcedTool returns the tool a chat request forces (tool_choice {"type":"function","function":{"name"}}),
// its schema, and whether it names one of the request's tools.
func (c *chatRequest) forcedTool() (name string, schema json.RawMessage, forced, known bool) {
	var tc struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(c.ToolChoice, &tc) != nil || tc.Type != "function" {
		return "", nil, false, false
	}
	for _, t := range c.Tools {
		if t.Function.Name == tc.Function.Name {
			return t.Function.Name, t.Function.Parameters, true, true
		}
	}
	return tc.Function.Name, nil, true, false
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) *usage {
	return &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// reply builds the deterministic answer to prompt: "echo: <prompt>" cut to limit words. It returns the
// words and the finish reason, "length" when the limit cut the answer as OpenAI reports it, else "stop".
func reply(prompt string, limit *int) ([]string, string) {
	words := strings.Fields("echo: " + prompt)
	if limit != nil && *limit >= 0 && len(words) > *limit {
		return words[:*limit], "length"
	}
	return words, "stop"
}

func minLimit(a, b *int) *int {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case *b < *a:
		return b
	default:
		return a
	}
}

func newID(prefix string) string {
	return prefix + "-" + randomHex()
}

// randomHex is 16 random hex digits, the unique part of response ids.
func randomHex() string {
	return fmt.Sprintf("%016x", rand.Uint64())
}

func (s *server) modelOr(m string) string {
	if m == "" {
		return s.opts.Model
	}
	return m
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !decode(w, r, &req, openAIError) {
		return
	}
	if !modelHooks(w, r, req.Model, openAIError) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "'messages' must be a non-empty array", "invalid_request_error", "missing_messages")
		return
	}
	promptTokens, last := 0, ""
	for _, m := range req.Messages {
		promptTokens += len(strings.Fields(m.Content.text))
		if m.Role == "user" {
			last = m.Content.text
		}
	}
	id, created, model := newID("chatcmpl"), time.Now().Unix(), s.modelOr(req.Model)
	if name, schema, forced, known := req.forcedTool(); forced {
		if !known {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tool_choice names %q, which is not in tools", name), "invalid_request_error", "invalid_tool_choice")
			return
		}
		s.toolCall(w, r, &req, chatStreamInfo{id: id, created: created, model: model,
			includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}, name, schema, promptTokens)
		return
	}
	words, finish := reply(last, minLimit(req.MaxTokens, req.MaxCompletionTokens))
	u := newUsage(promptTokens, len(words))
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id":      id,
			"object":  "chat.completion",
			"created": created,
			"model":   model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": strings.Join(words, " ")},
				"logprobs":      nil,
				"finish_reason": finish,
			}},
			"usage": u,
		})
		return
	}
	s.chatStream(w, r, chatStreamInfo{
		id: id, created: created, model: model, words: words, finish: finish, usage: u,
		includeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
	})
}

// toolCall answers a forced tool call: one call of name whose arguments hold a value for each property of
// its schema (toolInput), finish_reason tool_calls; streamed, the arguments arrive in two fragments.
func (s *server) toolCall(w http.ResponseWriter, r *http.Request, req *chatRequest, c chatStreamInfo, name string,
	schema json.RawMessage, promptTokens int) {
	args, n := toolInput(schema)
	u := newUsage(promptTokens, max(n, 1))
	callID := "call_" + randomHex()
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": c.id, "object": "chat.completion", "created": c.created, "model": c.model,
			"choices": []any{map[string]any{
				"index": 0, "logprobs": nil, "finish_reason": "tool_calls",
				"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
					"id": callID, "type": "function", "function": map[string]any{"name": name, "arguments": string(args)}}}},
			}},
			"usage": u,
		})
		return
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	half := len(args) / 2
	events := []any{
		chunk(map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"index": 0, "id": callID,
			"type": "function", "function": map[string]any{"name": name, "arguments": ""}}}}, nil),
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": string(args[:half])}}}}, nil),
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": string(args[half:])}}}}, nil),
		chunk(map[string]any{}, "tool_calls"),
	}
	if c.includeUsage {
		events = append(events, map[string]any{"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.model,
			"choices": []any{}, "usage": u})
	}
	s.stream(w, r, events)
}

type chatStreamInfo struct {
	id           string
	created      int64
	model        string
	words        []string
	finish       string
	usage        *usage
	includeUsage bool
}

// chatStream writes the chat chunk sequence. The chunks are rendered by hand into one buffer, byte for byte
// what encoding/json writes for the equivalent maps (keys sorted), since reflection per chunk would
// dominate the fake's CPU in a load benchmark.
func (s *server) chatStream(w http.ResponseWriter, r *http.Request, c chatStreamInfo) {
	// tail closes a chunk's only choice and carries the envelope, identical for every chunk.
	tail := []byte(`,"index":0,"logprobs":null}],"created":`)
	tail = strconv.AppendInt(tail, c.created, 10)
	tail = append(tail, `,"id":`...)
	tail = appendJSONString(tail, c.id)
	tail = append(tail, `,"model":`...)
	tail = appendJSONString(tail, c.model)
	tail = append(tail, `,"object":"chat.completion.chunk"`...)
	if c.includeUsage {
		// OpenAI sends "usage": null on every chunk but the last when include_usage is set.
		tail = append(tail, `,"usage":null`...)
	}
	tail = append(tail, "}\n\n"...)

	sw := s.startStream(w, r, "text/event-stream")
	defer sw.close()
	const open = `data: {"choices":[{"delta":`
	buf := make([]byte, 0, 256+len(tail))
	buf = append(buf, open+`{"content":"","role":"assistant"},"finish_reason":null`...)
	buf = append(buf, tail...)
	if !sw.send(buf) {
		return
	}
	for i, word := range c.words {
		buf = append(buf[:0], open+`{"content":`...)
		buf = appendWordString(buf, word, i == len(c.words)-1)
		buf = append(buf, `},"finish_reason":null`...)
		buf = append(buf, tail...)
		if !sw.send(buf) {
			return
		}
	}
	buf = append(buf[:0], open+`{},"finish_reason":`...)
	buf = appendJSONString(buf, c.finish)
	buf = append(buf, tail...)
	if !sw.send(buf) {
		return
	}
	if c.includeUsage {
		buf = append(buf[:0], `data: {"choices":[],"created":`...)
		buf = strconv.AppendInt(buf, c.created, 10)
		buf = append(buf, `,"id":`...)
		buf = appendJSONString(buf, c.id)
		buf = append(buf, `,"model":`...)
		buf = appendJSONString(buf, c.model)
		buf = append(buf, `,"object":"chat.completion.chunk","usage":`...)
		buf = appendUsage(buf, c.usage)
		buf = append(buf, "}\n\n"...)
		if !sw.send(buf) {
			return
		}
	}
	sw.last(doneEvent)
}

var doneEvent = []byte("data: [DONE]\n\n")

// appendUsage renders u as encoding/json does (struct field order).
func appendUsage(dst []byte, u *usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	return append(dst, '}')
}

// stream writes events as Server-Sent Events, flushing and pausing after each, then the [DONE] sentinel.
// It stops quietly when the client goes away or a write fails: there is nobody left to tell.
func (s *server) stream(w http.ResponseWriter, r *http.Request, events []any) {
	sw := s.startStream(w, r, "text/event-stream")
	defer sw.close()
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		if !sw.send(append(append([]byte("data: "), b...), "\n\n"...)) {
			return
		}
	}
	sw.last(doneEvent)
}

// prompts accepts the legacy completion prompt forms: a string or an array of strings. Token-id arrays
// are echoed as their JSON text.
type prompts []string

func (p *prompts) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decoding prompt: %w", err)
		}
		*p = prompts{s}
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("prompt must be a string or an array: %w", err)
	}
	out := make(prompts, 0, len(list))
	for _, item := range list {
		var s string
		if json.Unmarshal(item, &s) != nil {
			s = string(item)
		}
		out = append(out, s)
	}
	*p = out
	return nil
}

type completionRequest struct {
	Model         string         `json:"model"`
	Prompt        *prompts       `json:"prompt"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	MaxTokens     *int           `json:"max_tokens"`
}

func (s *server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if !decode(w, r, &req, openAIError) {
		return
	}
	if !modelHooks(w, r, req.Model, openAIError) {
		return
	}
	if req.Prompt == nil || len(*req.Prompt) == 0 {
		writeError(w, http.StatusBadRequest, "'prompt' is required", "invalid_request_error", "missing_prompt")
		return
	}
	id, created, model := newID("cmpl"), time.Now().Unix(), s.modelOr(req.Model)
	type answer struct {
		words  []string
		finish string
	}
	answers := make([]answer, 0, len(*req.Prompt))
	promptTokens, completionTokens := 0, 0
	for _, p := range *req.Prompt {
		promptTokens += len(strings.Fields(p))
		words, finish := reply(p, req.MaxTokens)
		completionTokens += len(words)
		answers = append(answers, answer{words, finish})
	}
	u := newUsage(promptTokens, completionTokens)
	if !req.Stream {
		choices := make([]any, 0, len(answers))
		for i, a := range answers {
			choices = append(choices, map[string]any{
				"text": strings.Join(a.words, " "), "index": i, "logprobs": nil, "finish_reason": a.finish,
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": choices, "usage": u,
		})
		return
	}
	chunk := func(i int, text string, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{map[string]any{"text": text, "index": i, "logprobs": nil, "finish_reason": finish}},
		}
	}
	var events []any
	for i, a := range answers {
		for j, word := range a.words {
			if j < len(a.words)-1 {
				word += " "
			}
			events = append(events, chunk(i, word, nil))
		}
		events = append(events, chunk(i, "", a.finish))
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		events = append(events, map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": model,
			"choices": []any{}, "usage": u,
		})
	}
	s.stream(w, r, events)
}

// embeddingInput accepts a string, an array of strings, or token arrays (hashed by their JSON text).
type embeddingInput []string

func (e *embeddingInput) UnmarshalJSON(b []byte) error {
	var p prompts
	if err := p.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("input must be a string or an array: %w", err)
	}
	*e = embeddingInput(p)
	return nil
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          *embeddingInput `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

// EmbeddingDims is the length of every fake embedding.
const EmbeddingDims = 8

// Embed returns the deterministic unit vector fakellm answers for text, so that tests (of a RAG module, a
// cache keyed by embeddings, …) can compute the expected value without a server.
func Embed(text string) []float32 {
	sum := sha256.Sum256([]byte(text))
	v := make([]float32, EmbeddingDims)
	var norm float64
	for i := range v {
		u := binary.BigEndian.Uint32(sum[i*4:])
		x := float64(u)/float64(math.MaxUint32)*2 - 1
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return v
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}

func (s *server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req embeddingRequest
	if !decode(w, r, &req, openAIError) {
		return
	}
	if !modelHooks(w, r, req.Model, openAIError) {
		return
	}
	if req.Input == nil || len(*req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "'input' is required", "invalid_request_error", "missing_input")
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid encoding_format %q", req.EncodingFormat), "invalid_request_error", "invalid_encoding_format")
		return
	}
	data := make([]any, 0, len(*req.Input))
	tokens := 0
	for i, in := range *req.Input {
		tokens += len(strings.Fields(in))
		vec := Embed(in)
		var emb any = vec
		if req.EncodingFormat == "base64" {
			// The official OpenAI clients ask for base64 by default: little-endian float32s.
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[j*4:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": emb})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  s.modelOr(req.Model),
		"usage":  map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// modelCreated is the fixed creation time of the fake model, so /v1/models is byte-for-byte stable.
const modelCreated = 1700000000

func (s *server) modelObject(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": modelCreated, "owned_by": "fakellm"}
}

func (s *server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{s.modelObject(s.opts.Model)}})
}

// model answers any id: the fake serves whatever model a gateway rewrites a request to.
func (s *server) model(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusOK, s.modelObject(id))
}

// EchoResponse is the body /echo answers: what the request looked like when it reached the fake.
type EchoResponse struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	RawQuery string              `json:"raw_query"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "reading request body: "+err.Error(), "invalid_request_error", "bad_body")
		return
	}
	headers := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		headers[k] = v
	}
	writeJSON(w, http.StatusOK, EchoResponse{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Headers:  headers,
		Body:     string(body),
	})
}
