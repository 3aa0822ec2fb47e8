// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package anthropic implements inference.Provider for Anthropic's Messages API. FD2 speaks the OpenAI
// API to most of its clients, so this package translates OpenAI chat completion requests into Messages
// requests, and Messages responses (streamed or not) back into chat completions, event by event. Claude
// clients speak the Messages API itself (inference.EndpointMessages and EndpointCountTokens): those calls
// pass through untouched, body, query string and answer alike, with the deployment's key, the client's
// anthropic-version (else the configured one) and every anthropic-beta value the client sent.
//
// A chat request field Anthropic cannot honour (seed, logprobs, penalties, audio …) is refused with a 400
// whose code is "unsupported_parameter", never silently dropped; response_format's JSON schemas are
// honoured through a forced tool call (see request.go).
//
// Only chat/completions and the Messages endpoints have an Anthropic equivalent; every other endpoint
// returns inference.ErrUnsupported so the router can try another deployment.
package anthropic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/dsp-ai/fd2/inference"
)

// Defaults applied by New.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01"
	DefaultMaxTokens = 4096
)

// maxBodyBytes caps what we buffer of a non-streamed answer or an error body, so a misbehaving upstream
// cannot exhaust memory.
const maxBodyBytes = 64 << 20

// Config configures one Anthropic deployment.
type Config struct {
	// Name is the deployment's name, used in errors and as a metric label. Default "anthropic".
	Name string
	// BaseURL is the API root, without /v1. Default https://api.anthropic.com.
	BaseURL string
	// APIKey is sent as x-api-key. It never appears in errors.
	APIKey string
	// Version is the anthropic-version header. Default "2023-06-01".
	Version string
	// DefaultMaxTokens is used when the client sets neither max_tokens nor max_completion_tokens:
	// OpenAI makes the limit optional but Anthropic requires it. Default 4096.
	DefaultMaxTokens int
	// Client performs the HTTP calls. Default http.DefaultClient. It must not set a Timeout shorter
	// than the longest stream, since a client timeout also covers reading the body.
	Client *http.Client
	// FirstByteTimeout, when positive, bounds the wait for the response headers (a stalled or
	// overloaded upstream); the body, a long stream included, is not bounded. Exceeding it is reported
	// as a retryable 504.
	FirstByteTimeout time.Duration
	// Now is the clock for the `created` field of translated responses. Default time.Now; tests inject a
	// fixed clock to compare against golden files.
	Now func() time.Time
	// NewID returns a fresh identifier, used for the completion id when Anthropic sent no message id.
	// Default: 24 random hex digits.
	NewID func() string
}

type provider struct {
	cfg      Config
	endpoint string
}

// New returns a Provider for one Anthropic deployment.
func New(cfg Config) (inference.Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "anthropic"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("parsing base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.DefaultMaxTokens < 0 {
		return nil, fmt.Errorf("default max tokens %d: must not be negative", cfg.DefaultMaxTokens)
	}
	if cfg.DefaultMaxTokens == 0 {
		cfg.DefaultMaxTokens = DefaultMaxTokens
	}
	if cfg.FirstByteTimeout < 0 {
		return nil, fmt.Errorf("first byte timeout %v: must not be negative", cfg.FirstByteTimeout)
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	return &provider{cfg: cfg, endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/v1/messages"}, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func (p *provider) Name() string { return p.cfg.Name }
func (p *provider) Kind() string { return "anthropic" }

// errFirstByteTimeout is the cancellation cause when FirstByteTimeout expires, telling it apart from the
// caller's own cancellation.
var errFirstByteTimeout = errors.New("timed out waiting for response headers")

// Do serves chat/completions by translation, and Anthropic's own Messages endpoints (messages,
// messages/count_tokens) by passing the client's body through untouched.
func (p *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	if req.Method != "" && req.Method != http.MethodPost {
		return nil, inference.ErrUnsupported
	}
	switch req.Endpoint {
	case inference.EndpointChat:
		return p.chat(ctx, req)
	case inference.EndpointMessages, inference.EndpointCountTokens:
		return p.native(ctx, req)
	}
	return nil, inference.ErrUnsupported
}

// chat translates an OpenAI chat completion request into a Messages call and its answer back.
func (p *provider) chat(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	tr, err := translateRequest(req.Body, req.Model, p.cfg.DefaultMaxTokens, req.Stream)
	if err != nil {
		pe := &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: err.Error()}
		var ue *unsupportedError
		if errors.As(err, &ue) {
			pe.Code = "unsupported_parameter"
		}
		return nil, pe
	}
	body, err := marshal(tr.out)
	if err != nil {
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: "encoding anthropic request: " + err.Error()}
	}
	// The translation is written against one API version, so the client's anthropic-version (an OpenAI
	// client has no reason to send one) does not apply here.
	up, err := p.post(ctx, p.endpoint, body, p.cfg.Version, req.Header, tr.out.Stream)
	if err != nil {
		return nil, err
	}
	if tr.out.Stream {
		return &inference.Response{
			Status: http.StatusOK,
			Header: http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
			Body:   newStreamReader(up.resp.Body, up.cancel, tr, p.cfg.Now(), p.cfg.NewID),
			Stream: true,
		}, nil
	}
	raw, err := p.readAll(ctx, up)
	if err != nil {
		return nil, err
	}
	out, err := translateResponse(raw, tr, p.cfg.Now(), p.cfg.NewID)
	if err != nil {
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadGateway,
			Type: "api_error", Message: "malformed anthropic response", Retryable: true, Cause: err}
	}
	return &inference.Response{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(bytes.NewReader(out)),
	}, nil
}

// native passes a Messages API call through: the body goes upstream byte for byte (the engine has
// already put the provider-side model in it) and the answer comes back unparsed, so every feature the
// client uses (cache_control, thinking blocks, tool use, images, betas) works without this package
// knowing it.
func (p *provider) native(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	target := p.endpoint
	if req.Endpoint == inference.EndpointCountTokens {
		target += "/count_tokens"
	}
	// Anthropic's SDKs mark beta calls with ?beta=true (Claude Code does); the query is the client's
	// to make, like the body.
	if len(req.Query) > 0 {
		target += "?" + req.Query.Encode()
	}
	// A Claude client knows which API version its body is written for.
	version := req.Header.Get("Anthropic-Version")
	if version == "" {
		version = p.cfg.Version
	}
	// count_tokens never streams, whatever the engine read from the body.
	stream := req.Stream && req.Endpoint == inference.EndpointMessages
	up, err := p.post(ctx, target, req.Body, version, req.Header, stream)
	if err != nil {
		return nil, err
	}
	if stream {
		return &inference.Response{
			Status: http.StatusOK,
			Header: http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
			Body:   &passThroughBody{body: up.resp.Body, cancel: up.cancel},
			Stream: true,
		}, nil
	}
	raw, err := p.readAll(ctx, up)
	if err != nil {
		return nil, err
	}
	return &inference.Response{
		Status: up.resp.StatusCode,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(bytes.NewReader(raw)),
	}, nil
}

// upstream is a 2xx answer whose body is still to be read. cancel ends the call: whoever finishes with
// the body calls it.
type upstream struct {
	resp   *http.Response
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// post sends body to target with the deployment's credentials and classifies the answer: a transport
// failure or a non-2xx status comes back as an error (the call already released), a 2xx as an upstream
// whose body the caller reads. Both the translating and the pass-through paths go through it, so they
// authenticate, time out and report errors alike.
func (p *provider) post(ctx context.Context, target string, body []byte, version string, clientHeader http.Header, stream bool) (*upstream, error) {
	// The upstream call gets its own cancellable context: a stream outlives Do, and closing the
	// response body must abort the upstream request at once.
	upCtx, cancel := context.WithCancelCause(ctx)
	hreq, err := http.NewRequestWithContext(upCtx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		cancel(nil)
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadGateway,
			Type: "api_error", Message: "building upstream request", Retryable: false, Cause: err}
	}
	hreq.Header.Set("x-api-key", p.cfg.APIKey)
	hreq.Header.Set("anthropic-version", version)
	hreq.Header.Set("content-type", "application/json")
	if stream {
		hreq.Header.Set("accept", "text/event-stream")
	}
	// W3C trace context of the router's span for this call, so the provider joins the trace.
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(hreq.Header))
	// Clients opting into Anthropic beta features (prompt caching variants, long context) keep them.
	for _, v := range clientHeader.Values("Anthropic-Beta") {
		hreq.Header.Add("anthropic-beta", v)
	}

	var timer *time.Timer
	if p.cfg.FirstByteTimeout > 0 {
		timer = time.AfterFunc(p.cfg.FirstByteTimeout, func() { cancel(errFirstByteTimeout) })
	}
	resp, err := p.cfg.Client.Do(hreq)
	if timer != nil && !timer.Stop() && err == nil {
		// The timer fired just as the headers arrived: the context is gone, so is the body.
		resp.Body.Close()
		err = errFirstByteTimeout
	}
	if err != nil {
		defer cancel(nil)
		return nil, p.transportError(ctx, upCtx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel(nil)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, p.statusError(resp, raw)
	}
	return &upstream{resp: resp, ctx: upCtx, cancel: cancel}, nil
}

// readAll reads a non-streamed answer whole and releases the call. An answer beyond maxBodyBytes is an
// error rather than a truncated body.
func (p *provider) readAll(ctx context.Context, up *upstream) ([]byte, error) {
	defer up.cancel(nil)
	defer up.resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(up.resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, p.transportError(ctx, up.ctx, err)
	}
	if len(raw) > maxBodyBytes {
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadGateway,
			Type: "api_error", Message: "anthropic response too large", Retryable: false}
	}
	return raw, nil
}

// passThroughBody is a native stream's body: the upstream's bytes as they arrive. Close aborts the
// upstream call at once; the end of the stream releases it too, without waiting for Close.
type passThroughBody struct {
	body   io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *passThroughBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil {
		b.cancel(nil)
	}
	return n, err
}

// Close is safe to call concurrently with a blocked Read, which then fails.
func (b *passThroughBody) Close() error {
	b.cancel(errStreamClosed)
	return b.body.Close()
}

// transportError classifies a failed call. The caller's own cancellation or deadline is not a provider
// failure, so it is returned as the bare context error and must not count against this deployment.
func (p *provider) transportError(parent, upCtx context.Context, err error) error {
	if errors.Is(context.Cause(upCtx), errFirstByteTimeout) || errors.Is(err, errFirstByteTimeout) {
		return &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusGatewayTimeout,
			Type: "api_error", Code: "timeout", Message: "anthropic did not answer in time",
			Retryable: true, Cause: errFirstByteTimeout}
	}
	if err := parent.Err(); err != nil {
		// The caller gave up (client gone, or its own deadline): another deployment would not help.
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusGatewayTimeout,
			Type: "api_error", Code: "timeout", Message: "anthropic request timed out", Retryable: true, Cause: err}
	}
	return &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadGateway,
		Type: "api_error", Code: "connection_error", Message: "cannot reach anthropic", Retryable: true, Cause: err}
}

// statusError maps a non-2xx Messages answer ({"type":"error","error":{"type","message"}}) to the
// OpenAI error shape.
func (p *provider) statusError(resp *http.Response, raw []byte) error {
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if jsonUnmarshal(raw, &env) == nil {
		msg = env.Error.Message
	}
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
	}
	status := resp.StatusCode
	// 529 is Anthropic's "overloaded"; OpenAI clients and load balancers know it as 503.
	if status == 529 || env.Error.Type == "overloaded_error" {
		status = http.StatusServiceUnavailable
	}
	return &inference.ProviderError{
		Provider:   p.cfg.Name,
		Status:     status,
		Type:       openAIErrorType(env.Error.Type, status),
		Code:       env.Error.Type,
		Message:    p.redact(msg),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), p.cfg.Now()),
		Retryable:  inference.RetryableStatus(status),
	}
}

// redact removes the API key should an upstream (or a proxy in front of it) ever echo it back.
func (p *provider) redact(s string) string {
	if p.cfg.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, p.cfg.APIKey, "[redacted]")
}

// openAIErrorType maps Anthropic error types to OpenAI ones; Anthropic's type survives in Code.
func openAIErrorType(anthropicType string, status int) string {
	switch anthropicType {
	case "invalid_request_error", "request_too_large":
		return "invalid_request_error"
	case "authentication_error", "permission_error", "not_found_error", "rate_limit_error":
		return anthropicType
	case "api_error", "overloaded_error":
		return "api_error"
	}
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	}
	return "api_error"
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
