// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package messages serves Anthropic's Messages API (POST /v1/messages and /v1/messages/count_tokens)
// over any provider, so Claude clients (Anthropic SDKs, Claude Code) use FD2 unmodified whatever model
// answers them. Over wraps a provider that speaks only OpenAI's chat/completions: a Messages request is
// translated into a chat completion request, and the answer, streamed or not, back into a Messages
// answer. Providers that speak the Messages API natively (Anthropic's) are not wrapped.
//
// The translation refuses, with a 400 naming the field, whatever the OpenAI API cannot honour (top_k,
// server tools, search results, …), rather than answer a request it silently changed. The few things it
// drops are hints that change nothing in the answer's meaning: cache_control (OpenAI-compatible providers
// cache on their own), citations of earlier turns, and thinking blocks of earlier turns (see
// appendAssistant).
package messages

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/dsp-ai/fd2/inference"
)

// maxBodyBytes caps what is buffered of a non-streamed answer, so a misbehaving provider cannot
// exhaust memory.
const maxBodyBytes = 64 << 20

// Over returns p able to serve the Messages API: Do answers EndpointMessages and EndpointCountTokens by
// translating to chat/completions for p and back; every other endpoint goes to p unchanged. A provider
// that speaks the Messages API natively (Kind() == "anthropic") is returned as is, as is one Over
// already wrapped.
func Over(p inference.Provider) inference.Provider {
	if p == nil || p.Kind() == "anthropic" {
		return p
	}
	if _, ok := p.(*provider); ok {
		return p
	}
	return &provider{inner: p}
}

// provider is a Provider wrapped by Over; it keeps the inner provider's Name and Kind, which are metric
// labels and the router's view of the deployment.
type provider struct {
	inner inference.Provider
}

func (p *provider) Name() string { return p.inner.Name() }
func (p *provider) Kind() string { return p.inner.Kind() }

// newID returns a fresh message id; tests replace it.
var newID = func() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "msg_" + hex.EncodeToString(b[:])
}

// Do serves the Messages API endpoints and passes every other request to the wrapped provider.
func (p *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	switch req.Endpoint {
	case inference.EndpointMessages, inference.EndpointCountTokens:
	default:
		return p.inner.Do(ctx, req)
	}
	if req.Method != "" && req.Method != http.MethodPost {
		return nil, inference.ErrUnsupported
	}
	if req.Endpoint == inference.EndpointCountTokens {
		out, err := countRequest(req.Body, req.Model)
		if err != nil {
			return nil, p.requestError(err)
		}
		return jsonResponse(out), nil
	}
	return p.messages(ctx, req)
}

// messages answers a Messages request through the wrapped provider's chat/completions.
//
// The answer names req.Model, the provider-side model: the model the client asked for is no longer
// known here (the engine rewrote the body's model before calling the provider).
func (p *provider) messages(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	r, err := decodeRequest(req.Body, true)
	if err != nil {
		return nil, p.requestError(err)
	}
	model := req.Model
	if model == "" {
		model = r.Model
	}
	stream := req.Stream || r.Stream
	body, err := translateRequest(r, model, stream)
	if err != nil {
		return nil, p.requestError(err)
	}
	prompt := func() int64 { return promptTokens(model, r) }
	// The client's query string is not passed on: it is the Messages API's (Claude Code sends
	// ?beta=true), meaningless to chat/completions and refused by some providers.
	resp, err := p.inner.Do(ctx, &inference.Request{
		Endpoint:    inference.EndpointChat,
		Method:      http.MethodPost,
		Body:        body,
		ContentType: "application/json",
		Model:       model,
		Stream:      stream,
		Header:      req.Header,
	})
	if err != nil {
		return nil, err
	}
	id := newID()
	if stream && resp.Stream {
		return &inference.Response{
			Status: http.StatusOK,
			Header: responseHeader(resp.Header, "text/event-stream"),
			Body:   newStreamReader(resp.Body, id, model, prompt),
			Stream: true,
		}, nil
	}
	defer resp.Body.Close()
	if resp.Stream {
		// Every provider answers a request without stream as a whole; one that does not is broken.
		return nil, p.providerError("the provider answered with a stream to a request without one")
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading the answer of %s: %w", p.Name(), ctx.Err())
		}
		return nil, &inference.ProviderError{Provider: p.Name(), Status: http.StatusBadGateway, Type: "api_error",
			Message: "the provider's answer broke off", Retryable: true, Cause: err}
	}
	if len(raw) > maxBodyBytes {
		return nil, p.providerError("the provider's answer is too large")
	}
	m, err := translateMessage(raw, id, model, prompt)
	if err != nil {
		return nil, &inference.ProviderError{Provider: p.Name(), Status: http.StatusBadGateway, Type: "api_error",
			Message: "the provider's answer is not a chat completion", Retryable: true, Cause: err}
	}
	if stream {
		return &inference.Response{Status: http.StatusOK, Header: responseHeader(resp.Header, "text/event-stream"),
			Body: io.NopCloser(bytes.NewReader(renderStream(m))), Stream: true}, nil
	}
	out, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding the answer: %w", err)
	}
	return &inference.Response{Status: http.StatusOK, Header: responseHeader(resp.Header, "application/json"),
		Body: io.NopCloser(bytes.NewReader(out))}, nil
}

// requestError is a client request the translation refused: a 400 naming the field, never retried on
// another deployment, since every one would refuse it alike.
func (p *provider) requestError(err error) error {
	code := codeInvalid
	var re *requestError
	if errors.As(err, &re) {
		code = re.code
	}
	return &inference.ProviderError{Provider: p.Name(), Status: http.StatusBadRequest, Type: "invalid_request_error",
		Code: code, Message: err.Error()}
}

// providerError is an answer of the provider that cannot be translated. Another deployment may answer
// properly, so it is retryable.
func (p *provider) providerError(msg string) error {
	return &inference.ProviderError{Provider: p.Name(), Status: http.StatusBadGateway, Type: "api_error",
		Message: msg, Retryable: true}
}

func jsonResponse(body []byte) *inference.Response {
	return &inference.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body))}
}

// responseHeader keeps the provider's headers but those describing the body, which is a new one.
func responseHeader(in http.Header, contentType string) http.Header {
	out := make(http.Header, len(in)+1)
	for k, v := range in {
		switch k {
		case "Content-Type", "Content-Length", "Content-Encoding":
			continue
		}
		out[k] = v
	}
	out["Content-Type"] = []string{contentType}
	if contentType == "text/event-stream" {
		out["Cache-Control"] = []string{"no-cache"}
	}
	return out
}

// errorType maps an OpenAI error type (or, failing that, its code) onto Anthropic's error types.
func errorType(typ, code string) string {
	for _, t := range []string{typ, code} {
		switch t {
		case "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
			"request_too_large", "rate_limit_error", "api_error", "overloaded_error":
			return t
		case "rate_limit_exceeded", "insufficient_quota", "tokens", "requests":
			return "rate_limit_error"
		case "invalid_api_key":
			return "authentication_error"
		case "server_overloaded", "overloaded", "engine_overloaded":
			return "overloaded_error"
		}
	}
	return "api_error"
}
