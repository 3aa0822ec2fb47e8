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
	Latency time.Duration
	// TokenDelay is waited between streamed tokens.
	TokenDelay time.Duration
	// Tokens is the number of completion tokens to emit, one per word of Text, cycling through Text when
	// it has fewer words. Default: the number of words of Text. A request's max_tokens or
	// max_completion_tokens lowers it (finish_reason "length").
	Tokens int
	// FailureRate is the fraction of calls, 0 to 1, answered with FailStatus instead, at random.
	FailureRate float64
	// FailStatus is the status of injected failures. Default 503.
	FailStatus int
	// Dimensions is the length of embedding vectors when the request does not set "dimensions".
	// Default 256.
	Dimensions int
	// Models are the ids listed by GET /v1/models. Default ["mock"].
	Models []string
	// Now is the clock for "created" timestamps. Default time.Now.
	Now func() time.Time
}

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

func (p *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	if err := sleep(ctx, p.cfg.Latency); err != nil {
		return nil, fmt.Errorf("mock %s: %w", p.cfg.Name, err)
	}
	if p.cfg.FailureRate > 0 && rand.Float64() < p.cfg.FailureRate {
		return nil, p.fail(p.cfg.FailStatus, "mock failure injected")
	}
	ep := strings.Trim(req.Endpoint, "/")
	var b body
	switch ep {
	case inference.EndpointChat, inference.EndpointCompletions, inference.EndpointEmbeddings:
		if err := json.Unmarshal(req.Body, &b); err != nil {
			return nil, p.fail(http.StatusBadRequest, "request body is not valid JSON")
		}
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
			return nil, p.fail(http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id))
		}
		return jsonResponse(model{ID: id, Object: "model", OwnedBy: "fd2-mock"})
	default:
		return nil, inference.ErrUnsupported
	}
}

type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type message struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type choice struct {
	Index        int       `json:"index"`
	Message      *message  `json:"message,omitempty"`
	Delta        *delta    `json:"delta,omitempty"`
	Text         *string   `json:"text,omitempty"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

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
	n, finish := p.cfg.Tokens, "stop"
	for _, limit := range []*int{b.MaxTokens, b.MaxCompletionTokens} {
		if limit != nil && *limit > 0 && *limit < n {
			n, finish = *limit, "length"
		}
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = p.words[i%len(p.words)]
		if i > 0 {
			tokens[i] = " " + tokens[i]
		}
	}
	prompt := 0
	if chat {
		for _, m := range b.Messages {
			prompt += countWords(m.Content)
		}
	} else {
		prompt = countWords(b.Prompt)
	}
	u := usage{PromptTokens: prompt, CompletionTokens: n, TotalTokens: prompt + n}
	h := fnv.New64a()
	h.Write(req.Body)
	id, object := fmt.Sprintf("chatcmpl-mock%016x", h.Sum64()), "chat.completion"
	if !chat {
		id, object = fmt.Sprintf("cmpl-mock%016x", h.Sum64()), "text_completion"
	}
	base := completion{ID: id, Object: object, Created: p.cfg.Now().Unix(), Model: b.Model}

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

	if chat {
		base.Object = "chat.completion.chunk"
	}
	includeUsage := b.StreamOptions != nil && b.StreamOptions.IncludeUsage
	if includeUsage {
		// OpenAI sends "usage": null on every chunk but the last when usage is requested.
		base.Usage = json.RawMessage("null")
	}
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
		empty := ""
		return chunk(&empty, "", &finish)
	})
	if includeUsage {
		events = append(events, func() completion {
			c := base
			c.Choices = []choice{}
			c.Usage, _ = json.Marshal(u)
			return c
		})
	}

	pr, pw := io.Pipe()
	go func() {
		for i, ev := range events {
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
		io.WriteString(pw, "data: [DONE]\n\n")
		pw.Close()
	}()
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
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(input))
	seed := h.Sum64()
	// A private generator, seeded per input, is what makes the vector reproducible.
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vec := make([]float32, dims)
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
