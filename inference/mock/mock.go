// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package mock is an inference.Provider that answers locally, in the exact shapes of the OpenAI API,
// for tests, demos and load tests of the gateway without a paid upstream. It is deterministic (the
// same request gets the same answer, embeddings included), except for the injected FailureRate.
package mock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

// Config configures a mock deployment.
type Config struct {
	// Name is the deployment's name. Default "mock".
	Name string
	// Text is the completion returned for chat and text completions. Default "This is a mock response.".
	Text string
	// Latency is waited before answering (time to first byte).
	// The wait honours ctx, so a cancelled request returns at once, as with a real upstream.
	Latency time.Duration
	// TokenDelay is waited between streamed tokens.
	// For chat, the role chunk goes out right after Latency and each token after a further
	// TokenDelay, so a stream lasts about Latency + Tokens×TokenDelay, a realistic shape for load
	// tests of streaming and time-to-first-token metrics.
	TokenDelay time.Duration
	// Tokens is the number of completion tokens to emit, one per word of Text, cycling through Text when
	// it has fewer words. Default: the number of words of Text. A request's max_tokens or
	// max_completion_tokens lowers it (finish_reason "length").
	Tokens int
	// FailureRate is the fraction of calls, 0 to 1, answered with FailStatus instead, at random.
	// The failure comes after Latency and before the body is read, like an upstream answering with an
	// error status, so router retries, fallbacks and circuit breakers can be exercised.
	FailureRate float64
	// FailStatus is the status of injected failures. Default 503.
	// 408, 409, 429 and 5xx are retryable for the router, which then tries another deployment; other
	// statuses reach the client as they are.
	FailStatus int
	// Dimensions is the length of embedding vectors when the request does not set "dimensions".
	// Default 256.
	// Vectors have unit length at any size, as OpenAI's have after dimension reduction.
	Dimensions int
	// Models are the ids listed by GET /v1/models. Default ["mock"].
	Models []string
	// Now is the clock for "created" timestamps. Default time.Now.
	Now func() time.Time
}

// provider splits Text into words once: each word is one mock token, so the usage reported and the
// chunks streamed always agree.
type provider struct {
	cfg   Config
	words []string
}

// New returns a mock provider; its Kind is "mock".
func New(cfg Config) inference.Provider {
	if cfg.Name == "" {
		cfg.Name = "mock"
	}
	if cfg.Text == "" {
		cfg.Text = "This is a mock response."
	}
	if cfg.FailStatus == 0 {
		cfg.FailStatus = http.StatusServiceUnavailable
	}
	if cfg.Dimensions <= 0 {
		cfg.Dimensions = 256
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"mock"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	words := strings.Fields(cfg.Text)
	if len(words) == 0 {
		// A Text of only whitespace stays one token, so an answer is never empty.
		words = []string{cfg.Text}
	}
	if cfg.Tokens <= 0 {
		cfg.Tokens = len(words)
	}
	return &provider{cfg: cfg, words: words}
}

func (p *provider) Name() string { return p.cfg.Name }
func (p *provider) Kind() string { return "mock" }

// body holds the request fields the mock looks at; the rest is ignored.
type body struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	Input               json.RawMessage `json:"input"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Dimensions          int             `json:"dimensions"`
	EncodingFormat      string          `json:"encoding_format"`
}

// Do answers like an OpenAI deployment: Latency first (failures included, so a slow failing upstream
// can be simulated), then the injected failure, then the endpoint. Endpoints the mock does not serve
// are ErrUnsupported, so a router with the mock next to a real provider falls through to the latter.
func (p *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	if err := sleep(ctx, p.cfg.Latency); err != nil {
		return nil, fmt.Errorf("mock %s: %w", p.cfg.Name, err)
	}
	// The shared generator, not a seeded one: failures are meant to be random, unlike the answers.
	if p.cfg.FailureRate > 0 && rand.Float64() < p.cfg.FailureRate {
		return nil, p.fail(p.cfg.FailStatus, "mock failure injected")
	}
	ep := strings.Trim(req.Endpoint, "/")
	var b body
	// Only endpoints with a JSON body are parsed; model listings are GETs without one.
	switch ep {
	case inference.EndpointChat, inference.EndpointCompletions, inference.EndpointEmbeddings:
		if err := json.Unmarshal(req.Body, &b); err != nil {
			return nil, p.fail(http.StatusBadRequest, "request body is not valid JSON")
		}
		// The body's model is echoed, as a client expects; the routed name only fills a gap.
		if b.Model == "" {
			b.Model = req.Model
		}
	}
	switch {
	case ep == inference.EndpointChat:
		return p.complete(ctx, req, &b, true)
	case ep == inference.EndpointCompletions:
		return p.complete(ctx, req, &b, false)
	case ep == inference.EndpointEmbeddings:
		return p.embeddings(req, &b)
	case ep == inference.EndpointModels:
		data := make([]model, 0, len(p.cfg.Models))
		for _, id := range p.cfg.Models {
			data = append(data, model{ID: id, Object: "model", OwnedBy: "fd2-mock"})
		}
		return jsonResponse(map[string]any{"object": "list", "data": data})
	case strings.HasPrefix(ep, inference.EndpointModels+"/"):
		id := strings.TrimPrefix(ep, inference.EndpointModels+"/")
		if !slices.Contains(p.cfg.Models, id) {
			// Unknown ids get OpenAI's 404 and wording, so clients' model checks behave as in production.
			return nil, p.fail(http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id))
		}
		return jsonResponse(model{ID: id, Object: "model", OwnedBy: "fd2-mock"})
	default:
		return nil, inference.ErrUnsupported
	}
}

// model is an entry of GET /v1/models. Created stays 0: the mock has no release dates, and 0 keeps
// listings deterministic.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// usage counts words as tokens (see countWords): deterministic, and close enough for quotas and metrics
// in tests.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// message is a chat answer. Refusal is always null but present, as in OpenAI's messages.
type message struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

// delta omits empty fields: the role appears only in the first chunk and the finish chunk's delta is
// {}, as in OpenAI streams.
type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// choice serves chat (message or delta) and legacy completions (text). Logprobs and FinishReason encode
// as null rather than disappearing, since OpenAI sends both keys on every choice.
type choice struct {
	Index        int       `json:"index"`
	Message      *message  `json:"message,omitempty"`
	Delta        *delta    `json:"delta,omitempty"`
	Text         *string   `json:"text,omitempty"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

// completion is a chat.completion, text_completion or chunk. Usage is raw so a stream can send the
// literal null OpenAI puts on chunks before the usage chunk, and leave the key out otherwise.
// SystemFingerprint is always null, which OpenAI clients accept.
type completion struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	Choices           []choice        `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
	SystemFingerprint *string         `json:"system_fingerprint"`
}

// complete answers chat (chat=true) and legacy text completions, streamed or not.
func (p *provider) complete(ctx context.Context, req *inference.Request, b *body, chat bool) (*inference.Response, error) {
	// The smaller positive limit of max_tokens and max_completion_tokens cuts the answer, with
	// finish_reason "length" as a real model would report.
	n, finish := p.cfg.Tokens, "stop"
	for _, limit := range []*int{b.MaxTokens, b.MaxCompletionTokens} {
		if limit != nil && *limit > 0 && *limit < n {
			n, finish = *limit, "length"
		}
	}
	// Tokens after the first carry their leading space, the way BPE tokenizers attach it, so the
	// concatenated deltas rebuild the text exactly.
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = p.words[i%len(p.words)]
		if i > 0 {
			tokens[i] = " " + tokens[i]
		}
	}
	// The prompt is counted in words like the completion, so both counts are on the same scale and
	// reproducible without a tokenizer.
	prompt := 0
	if chat {
		for _, m := range b.Messages {
			prompt += countWords(m.Content)
		}
	} else {
		prompt = countWords(b.Prompt)
	}
	u := usage{PromptTokens: prompt, CompletionTokens: n, TotalTokens: prompt + n}
	// The id is a hash of the request body: the same request gets the same id, which keeps golden
	// tests and load-test logs comparable, while different requests get different ids.
	h := fnv.New64a()
	h.Write(req.Body)
	id, object := fmt.Sprintf("chatcmpl-mock%016x", h.Sum64()), "chat.completion"
	if !chat {
		id, object = fmt.Sprintf("cmpl-mock%016x", h.Sum64()), "text_completion"
	}
	base := completion{ID: id, Object: object, Created: p.cfg.Now().Unix(), Model: b.Model}

	// Either the engine's stream flag or the body's selects streaming, as with the real providers.
	if !(req.Stream || b.Stream) {
		text := strings.Join(tokens, "")
		c := choice{FinishReason: &finish}
		if chat {
			c.Message = &message{Role: "assistant", Content: text}
		} else {
			c.Text = &text
		}
		base.Choices = []choice{c}
		base.Usage, _ = json.Marshal(u)
		return jsonResponse(base)
	}

	// Streamed chat uses chat.completion.chunk; streamed legacy completions keep text_completion, as
	// OpenAI's do.
	if chat {
		base.Object = "chat.completion.chunk"
	}
	includeUsage := b.StreamOptions != nil && b.StreamOptions.IncludeUsage
	if includeUsage {
		// OpenAI sends "usage": null on every chunk but the last when usage is requested.
		base.Usage = json.RawMessage("null")
	}
	// chunk builds each event from base, so every chunk shares id, created and model as OpenAI's do.
	chunk := func(content *string, role string, finish *string) completion {
		c := base
		ch := choice{FinishReason: finish}
		if chat {
			ch.Delta = &delta{Role: role, Content: content}
		} else {
			text := ""
			if content != nil {
				text = *content
			}
			ch.Text = &text
		}
		c.Choices = []choice{ch}
		return c
	}
	// Events go out in order: the role chunk (chat only), one chunk per token, the finish chunk, then
	// the usage chunk when it was asked for.
	var events []func() completion
	if chat {
		empty := ""
		events = append(events, func() completion { return chunk(&empty, "assistant", nil) })
	}
	for i := range tokens {
		events = append(events, func() completion { return chunk(&tokens[i], "", nil) })
	}
	events = append(events, func() completion {
		if chat {
			return chunk(nil, "", &finish)
		}
		// A legacy completion's finish chunk still carries text "", which is not optional there.
		empty := ""
		return chunk(&empty, "", &finish)
	})
	if includeUsage {
		events = append(events, func() completion {
			c := base
			// choices is [] on the usage chunk: that is how clients recognise it, and how the
			// engine finds it to strip when the client did not ask for usage.
			c.Choices = []choice{}
			c.Usage, _ = json.Marshal(u)
			return c
		})
	}

	// The body is a pipe fed by a goroutine, so chunks are spaced in real time. The goroutine ends when
	// the events run out, when ctx ends during a delay, or when a write fails because the reader
	// closed the body.
	pr, pw := io.Pipe()
	go func() {
		for i, ev := range events {
			// len(tokens) delays, each before an event after the first: for chat that is every
			// token (event 0 is the role chunk); for text completions every token but the first,
			// plus the finish chunk.
			if i > 0 && i < len(tokens)+1 {
				if err := sleep(ctx, p.cfg.TokenDelay); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			data, _ := json.Marshal(ev())
			if _, err := fmt.Fprintf(pw, "data: %s\n\n", data); err != nil {
				return // the reader closed the body
			}
		}
		// [DONE] is the sentinel OpenAI clients stop on; a stream cut before it reads as an error.
		io.WriteString(pw, "data: [DONE]\n\n")
		pw.Close()
	}()
	// Only Content-Type is set: the engine adds the SSE headers (no-cache, no proxy buffering) to
	// every stream it forwards.
	return &inference.Response{Status: http.StatusOK, Stream: true, Body: pr,
		Header: http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}}, nil
}

// embeddings returns deterministic unit vectors: each is seeded by a hash of the model and the input,
// so equal inputs get equal vectors and similarity searches over mock embeddings are reproducible.
func (p *provider) embeddings(req *inference.Request, b *body) (*inference.Response, error) {
	inputs, tokens, err := parseInput(b.Input)
	if err != nil {
		return nil, p.fail(http.StatusBadRequest, err.Error())
	}
	// dimensions overrides the configured length, as OpenAI's shortens text-embedding-3 vectors.
	dims := p.cfg.Dimensions
	if b.Dimensions > 0 {
		dims = b.Dimensions
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(inputs))
	for i, in := range inputs {
		// Seeded by model and input only, so the same text gets the same vector in every request and
		// batch position, which is what makes similarity search over mock vectors testable.
		vec := Vector(b.Model, in, dims)
		var emb any = vec
		if b.EncodingFormat == "base64" {
			// The official Python SDK asks for base64 by default: little-endian float32s.
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = item{Object: "embedding", Index: i, Embedding: emb}
	}
	return jsonResponse(map[string]any{
		"object": "list", "data": data, "model": b.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// Vector is the mock's embedding of input for model: a deterministic unit vector of length dims.
func Vector(model, input string, dims int) []float32 {
	// The NUL separator keeps (model "ab", input "c") and (model "a", input "bc") from hashing alike.
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(input))
	seed := h.Sum64()
	// A private generator, seeded per input, is what makes the vector reproducible.
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vec := make([]float32, dims)
	// Normal draws, once normalised, give directions uniform on the sphere, so unrelated inputs get
	// nearly orthogonal vectors, as unrelated texts do in a real embedding space.
	var norm float64
	for i := range vec {
		f := r.NormFloat64()
		vec[i] = float32(f)
		norm += f * f
	}
	norm = math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
	return vec
}

// parseInput accepts the embeddings input shapes: a string, strings, a token array or token arrays.
// Token arrays are embedded by their textual form.
// Tokens are words for text and the array length for token input, so usage stays deterministic without
// a tokenizer.
func parseInput(raw json.RawMessage) (inputs []string, tokens int, err error) {
	var s string
	var ss []string
	var ts []int
	var tss [][]int
	switch {
	case json.Unmarshal(raw, &s) == nil:
		return []string{s}, len(strings.Fields(s)), nil
	case json.Unmarshal(raw, &ss) == nil && len(ss) > 0:
		for _, s := range ss {
			tokens += len(strings.Fields(s))
		}
		return ss, tokens, nil
	case json.Unmarshal(raw, &ts) == nil && len(ts) > 0:
		return []string{fmt.Sprint(ts)}, len(ts), nil
	case json.Unmarshal(raw, &tss) == nil && len(tss) > 0:
		for _, t := range tss {
			inputs = append(inputs, fmt.Sprint(t))
			tokens += len(t)
		}
		return inputs, tokens, nil
	}
	return nil, 0, fmt.Errorf("'input' must be a non-empty string, array of strings or array of token arrays")
}

// countWords approximates prompt tokens: words in a string, or in the "text" parts of a content array.
// Non-text parts (images, audio) count nothing: the mock has no notion of their token cost.
func countWords(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return len(strings.Fields(s))
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		n := 0
		for _, s := range ss {
			n += len(strings.Fields(s))
		}
		return n
	}
	var parts []struct {
		Text string `json:"text"`
	}
	n := 0
	if json.Unmarshal(raw, &parts) == nil {
		for _, part := range parts {
			n += len(strings.Fields(part.Text))
		}
	}
	return n
}

// fail builds the error the engine turns into an OpenAI error body. The type follows OpenAI's name for
// the status, so clients branch on it as they would with OpenAI, and Retryable uses the engine's own
// rule, so injected failures exercise fallback exactly as real ones do.
func (p *provider) fail(status int, msg string) *inference.ProviderError {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status == http.StatusNotFound:
		typ = "not_found_error"
	case status >= 500:
		typ = "api_error"
	}
	return &inference.ProviderError{Provider: p.cfg.Name, Status: status, Type: typ, Message: msg,
		Retryable: inference.RetryableStatus(status)}
}

func jsonResponse(v any) (*inference.Response, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding mock response: %w", err)
	}
	return &inference.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(data))}, nil
}

// sleep waits d unless ctx ends first. A zero delay still reports a cancelled ctx, so a request whose
// client has gone is not answered.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
