// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Endpoints of the OpenAI API that FD2 serves (relative to /v1/). Any other path is passed through to
// OpenAI-compatible providers untouched.
const (
	EndpointChat          = "chat/completions"
	EndpointCompletions   = "completions"
	EndpointEmbeddings    = "embeddings"
	EndpointModels        = "models"
	EndpointResponses     = "responses"
	EndpointModerations   = "moderations"
	EndpointImages        = "images/generations"
	EndpointTranscription = "audio/transcriptions"
	EndpointTranslation   = "audio/translations"
	EndpointSpeech        = "audio/speech"
	// EndpointMessages and EndpointCountTokens are Anthropic's Messages API, served to Claude clients.
	// Their request and response bodies are Anthropic-shaped: a provider speaking that API natively
	// (Kind "anthropic") passes them through, and every other provider is reached through package
	// messages, which translates them to and from chat/completions.
	EndpointMessages    = "messages"
	EndpointCountTokens = "messages/count_tokens"
)

// Request is one call to a provider, always in the OpenAI API's shape: providers with another wire
// format (Anthropic, Gemini) translate it.
type Request struct {
	// Endpoint is the path under /v1/, e.g. "chat/completions" (see the Endpoint constants), or any other
	// path for pass-through.
	Endpoint string
	// Method is the HTTP method (POST for most endpoints, GET for models).
	Method string
	// Body is the JSON body, already rewritten for this provider (model mapped, defaults applied). Nil
	// for bodiless requests and for streamed multipart bodies (see BodyReader).
	Body []byte
	// BodyReader streams a non-JSON body (multipart audio uploads) without buffering it; ContentType
	// carries its boundary. Such a request cannot be retried on another provider once read.
	BodyReader  io.Reader
	ContentType string
	// Model is the provider-side model name (after alias mapping), also present in Body.
	Model string
	// Stream is true when the client asked for server-sent events.
	Stream bool
	// Header holds client headers worth forwarding (OpenAI-Organization, OpenAI-Beta, …); never the
	// client's Authorization, which is the gateway's credential, not the provider's.
	Header http.Header
	// Query is the client's query string (pass-through and GET endpoints).
	Query url.Values

	bodyObject bool // Body was checked to be one JSON object: a model rewrite need not check it again
}

// Response is a provider's answer, in the OpenAI API's shape.
type Response struct {
	// Status is the HTTP status to send the client (2xx; errors come back as *ProviderError instead).
	Status int
	// Header holds response headers to pass on (Content-Type at least; hop-by-hop headers removed).
	Header http.Header
	// Body is the response body: JSON, binary (audio/speech) or, when Stream, OpenAI-shaped SSE
	// ("data: {chunk}\n\n" … "data: [DONE]\n\n"), produced event by event as the provider sends them.
	// The caller closes it; closing it early cancels the upstream request.
	Body io.ReadCloser
	// Stream is true when Body is an SSE stream.
	Stream bool
}

// Provider is one deployment of an LLM API: a base URL with its credentials (and, for Azure, deployment
// names). Implementations must be safe for concurrent use and must honour ctx cancellation at once,
// including while streaming (the client went away).
type Provider interface {
	// Name is the deployment's configured name; it is a bounded metric label.
	Name() string
	// Kind is the provider family: "openai" (any OpenAI-compatible API), "azure", "anthropic", "gemini"
	// or "mock".
	Kind() string
	// Do performs the request. A provider-side failure (non-2xx answer, connection error, timeout) is
	// returned as a *ProviderError so the router can decide on fallback.
	Do(ctx context.Context, req *Request) (*Response, error)
}

// ProviderError is a failed provider call, normalised to the OpenAI error shape.
type ProviderError struct {
	Provider string // deployment name
	Status   int    // the status to report (the provider's, or 502/504 for transport failures)
	Type     string // OpenAI error type, e.g. "rate_limit_error", "invalid_request_error", "api_error"
	Code     string // provider's error code when it sent one
	Message  string // provider's message, kept for the client (never contains our credentials)
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Retryable is true for 408, 409, 429, 5xx, timeouts and connection errors — the cases a fallback to
	// another deployment may fix — and false for the client's own 4xx errors.
	Retryable bool
	// Cause is the transport error, if any (logged, not sent to clients).
	Cause error
}

func (e *ProviderError) Error() string {
	s := fmt.Sprintf("provider %s: %d %s", e.Provider, e.Status, e.Message)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the transport cause.
func (e *ProviderError) Unwrap() error { return e.Cause }

// ErrUnsupported is returned by a provider for an endpoint its API has no equivalent of (e.g. embeddings
// on Anthropic); the router treats it as "try the next deployment", and as 400 when none can serve it.
var ErrUnsupported = errors.New("endpoint not supported by this provider")

// RetryableStatus reports whether a provider status may succeed on another deployment.
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}

// Usage is token usage of one call, as the provider reported it or as FD2 counted it.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	// Source is "provider" when the provider reported it, "tokenizer" when FD2 counted it.
	Source string
}
