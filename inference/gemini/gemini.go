// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package gemini is FD2's provider for the Google Gemini API (generativelanguage.googleapis.com). It
// serves OpenAI-shaped chat completions (plain and streamed) and embeddings by translating them to
// generateContent, streamGenerateContent?alt=sse and batchEmbedContents, and translating the answers back,
// streams event by event. Every other OpenAI endpoint is inference.ErrUnsupported, so the router can try
// another deployment.
package gemini

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/dsp-ai/fd2/inference"
)

// DefaultBaseURL is the public Gemini API endpoint.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// maxResponseBytes caps a buffered (non-streamed) answer, so a misbehaving upstream cannot exhaust memory.
const maxResponseBytes = 64 << 20

// Config configures one Gemini deployment.
type Config struct {
	// Name is the deployment's name, used as a bounded metric label and in errors. Default "gemini".
	Name string
	// BaseURL is the API root, without the /v1beta suffix. Default DefaultBaseURL; tests and proxies point
	// it elsewhere.
	BaseURL string
	// APIKey is the Gemini API key. It is sent as the x-goog-api-key header rather than the ?key= query
	// parameter, so it never appears in URLs, and thus never in transport errors or logs. Empty sends no
	// key (for a proxy that adds its own).
	APIKey string
	// Client performs the HTTP calls. Default: a client without an overall timeout, because streams may
	// legitimately last minutes; use FirstByteTimeout to bound the wait for an answer.
	Client *http.Client
	// FirstByteTimeout bounds the wait for the first byte of the answer (the first SSE event when
	// streaming). Exceeding it fails the call with a retryable 504 while a fallback is still possible.
	// Zero means no limit beyond ctx.
	FirstByteTimeout time.Duration
	// Now is the clock behind the "created" field. Default time.Now; tests inject a fixed clock.
	Now func() time.Time
	// NewID returns a fresh unique ID for completion and tool-call IDs ("chatcmpl-<id>", "call_<id>").
	// Default: random text from crypto/rand; tests inject a counter for golden output.
	NewID func() string
}

// Provider is a Gemini deployment. It is safe for concurrent use.
type Provider struct {
	name             string
	baseURL          string
	apiKey           string
	client           *http.Client
	firstByteTimeout time.Duration
	now              func() time.Time
	newID            func() string
}

// New checks cfg and returns the provider.
func New(cfg Config) (inference.Provider, error) {
	p := &Provider{
		name:             cfg.Name,
		baseURL:          strings.TrimRight(cfg.BaseURL, "/"),
		apiKey:           cfg.APIKey,
		client:           cfg.Client,
		firstByteTimeout: cfg.FirstByteTimeout,
		now:              cfg.Now,
		newID:            cfg.NewID,
	}
	if p.name == "" {
		p.name = "gemini"
	}
	if p.baseURL == "" {
		p.baseURL = DefaultBaseURL
	}
	u, err := url.Parse(p.baseURL)
	if err != nil {
		return nil, fmt.Errorf("parsing gemini base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parsing gemini base URL %q: want an absolute http(s) URL", p.baseURL)
	}
	if cfg.FirstByteTimeout < 0 {
		return nil, fmt.Errorf("checking first byte timeout: %v is negative", cfg.FirstByteTimeout)
	}
	if p.client == nil {
		p.client = &http.Client{}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.newID == nil {
		p.newID = rand.Text
	}
	return p, nil
}

// Name implements inference.Provider.
func (p *Provider) Name() string { return p.name }

// Kind implements inference.Provider.
func (p *Provider) Kind() string { return "gemini" }

// Do implements inference.Provider.
func (p *Provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	switch req.Endpoint {
	case inference.EndpointChat:
		return p.chat(ctx, req)
	case inference.EndpointEmbeddings:
		return p.embeddings(ctx, req)
	case inference.EndpointModels:
		return p.models(ctx, req)
	default:
		return nil, fmt.Errorf("gemini %s: %w", req.Endpoint, inference.ErrUnsupported)
	}
}

// modelPath returns the escaped model segment of a URL. Gemini names models "models/x" in its own
// listings, and clients copy that, so the prefix is accepted and stripped.
func modelPath(model string) string {
	return url.PathEscape(strings.TrimPrefix(model, "models/"))
}

// errFirstByteTimeout is the cancellation cause when FirstByteTimeout fires.
var errFirstByteTimeout = errors.New("no first byte within the first byte timeout")

// upstream is an answered call: a 2xx response whose body is buffered behind a bufio.Reader, and the
// cancel function that tears it down.
type upstream struct {
	ctx    context.Context
	body   *bufio.Reader
	closer io.Closer
	cancel context.CancelCauseFunc
}

// post sends body to path and waits for the first byte of a 2xx answer (non-2xx answers and transport
// failures become *inference.ProviderError). Waiting for the first body byte rather than the headers
// lets FirstByteTimeout cover a stream that opens but never produces an event, while the call can still
// fall back to another deployment.
func (p *Provider) post(ctx context.Context, path string, body []byte, stream bool) (*upstream, error) {
	return p.call(ctx, http.MethodPost, path, body, stream)
}

// call is post for any method; a GET has no body.
func (p *Provider) call(ctx context.Context, method, path string, body []byte, stream bool) (*upstream, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, p.baseURL+path, rd)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("building gemini request: %w", err)
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if p.apiKey != "" {
		hreq.Header.Set("x-goog-api-key", p.apiKey)
	}
	// W3C trace context of the router's span for this call, so the provider joins the trace.
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(hreq.Header))
	var timer *time.Timer
	if p.firstByteTimeout > 0 {
		timer = time.AfterFunc(p.firstByteTimeout, func() { cancel(errFirstByteTimeout) })
	}
	stop := func() {
		if timer != nil {
			timer.Stop()
		}
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		stop()
		perr := p.transportError(ctx, err)
		cancel(nil)
		return nil, perr
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		stop()
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		cancel(nil)
		if rerr != nil && len(raw) == 0 {
			return nil, p.transportError(ctx, rerr)
		}
		return nil, p.statusError(resp.StatusCode, resp.Header, raw)
	}
	br := upstreamReaders.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	if _, err := br.Peek(1); err != nil && !errors.Is(err, io.EOF) {
		stop()
		perr := p.transportError(ctx, err)
		_ = resp.Body.Close()
		cancel(nil)
		br.Reset(nil)
		upstreamReaders.Put(br)
		return nil, perr
	}
	stop()
	return &upstream{ctx: ctx, body: br, closer: resp.Body, cancel: cancel}, nil
}

// close releases the upstream connection; calling it early aborts the call.
func (u *upstream) close() {
	u.cancel(context.Canceled)
	_ = u.closer.Close()
}

// upstreamReaders recycles the 64 KiB read buffers of upstream bodies: allocating and zeroing one per
// call costs more than translating a short streamed answer.
var upstreamReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upstreamBufSize) }}

const upstreamBufSize = 64 << 10

// release closes the upstream and recycles its read buffer. Only the one goroutine that reads body
// may call it, once it is done reading; close stays safe to call from others at any time.
func (u *upstream) release() {
	u.close()
	if u.body != nil && u.body.Size() == upstreamBufSize { // not a test's own reader
		u.body.Reset(nil)
		upstreamReaders.Put(u.body)
	}
	u.body = nil
}

// decodeAnswer reads a whole JSON answer into v: a read that fails is the transport's (up.ctx carries the
// call's cancellation cause, a first-byte timeout among them, which transportError inspects), an answer
// that does not decode a retryable 502.
func (p *Provider) decodeAnswer(up *upstream, v any) error {
	raw, err := io.ReadAll(io.LimitReader(up.body, maxResponseBytes))
	if err != nil {
		return p.transportError(up.ctx, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &inference.ProviderError{Provider: p.name, Status: http.StatusBadGateway, Type: "api_error",
			Message: "gemini sent an unreadable answer", Retryable: true, Cause: err}
	}
	return nil
}

// transportError maps a failure to reach Gemini: 504 for timeouts, 502 for everything else. The error
// chain never holds the API key, because the key travels in a header, not in the URL.
func (p *Provider) transportError(ctx context.Context, err error) error {
	if context.Cause(ctx) == errFirstByteTimeout {
		return &inference.ProviderError{Provider: p.name, Status: http.StatusGatewayTimeout, Type: "timeout_error",
			Message: "gemini did not answer within the first byte timeout", Retryable: true, Cause: errFirstByteTimeout}
	}
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return &inference.ProviderError{Provider: p.name, Status: http.StatusGatewayTimeout, Type: "timeout_error",
			Message: "gemini request timed out", Retryable: true, Cause: err}
	}
	return &inference.ProviderError{Provider: p.name, Status: http.StatusBadGateway, Type: "api_error",
		Message: "gemini request failed", Retryable: true, Cause: err}
}

// apiError is Gemini's error body, google.rpc.Status in JSON.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

// statusTypes maps Gemini's canonical status names to OpenAI error types.
var statusTypes = map[string]string{
	"INVALID_ARGUMENT":    "invalid_request_error",
	"FAILED_PRECONDITION": "invalid_request_error",
	"OUT_OF_RANGE":        "invalid_request_error",
	"UNAUTHENTICATED":     "authentication_error",
	"PERMISSION_DENIED":   "permission_error",
	"NOT_FOUND":           "not_found_error",
	"RESOURCE_EXHAUSTED":  "rate_limit_error",
	"INTERNAL":            "api_error",
	"UNAVAILABLE":         "api_error",
	"DEADLINE_EXCEEDED":   "timeout_error",
}

// statusCodes is the HTTP status of each canonical status name, used when the HTTP status and the body
// disagree in kind (a proxy answering 200-less garbage) or the body is all we trust.
var statusCodes = map[string]int{
	"INVALID_ARGUMENT":    400,
	"FAILED_PRECONDITION": 400,
	"OUT_OF_RANGE":        400,
	"UNAUTHENTICATED":     401,
	"PERMISSION_DENIED":   403,
	"NOT_FOUND":           404,
	"RESOURCE_EXHAUSTED":  429,
	"INTERNAL":            500,
	"UNAVAILABLE":         503,
	"DEADLINE_EXCEEDED":   504,
}

// typeForHTTP is the OpenAI error type of an HTTP status when Gemini sent no status name.
func typeForHTTP(status int) string {
	switch {
	case status == 400 || status == 422:
		return "invalid_request_error"
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 429:
		return "rate_limit_error"
	case status == 504 || status == 408:
		return "timeout_error"
	default:
		return "api_error"
	}
}

// statusError turns a non-2xx answer into a *inference.ProviderError.
func (p *Provider) statusError(status int, h http.Header, raw []byte) error {
	perr := &inference.ProviderError{Provider: p.name, Status: status}
	var ae apiError
	if json.Unmarshal(raw, &ae) == nil && (ae.Error.Message != "" || ae.Error.Status != "") {
		perr.Message = ae.Error.Message
		perr.Code = ae.Error.Status
		// RetryInfo is how Gemini tells a rate-limited caller when to come back; Retry-After is rarely set.
		for _, d := range ae.Error.Details {
			if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && d.RetryDelay != "" {
				if dur, err := time.ParseDuration(d.RetryDelay); err == nil {
					perr.RetryAfter = dur
				}
			}
		}
	} else {
		perr.Message = strings.TrimSpace(string(raw))
		if len(perr.Message) > 512 {
			perr.Message = perr.Message[:512]
		}
	}
	if perr.Message == "" {
		perr.Message = http.StatusText(status)
	}
	perr.Message = p.redact(perr.Message)
	perr.Type = typeForHTTP(status)
	if t, ok := statusTypes[perr.Code]; ok {
		perr.Type = t
		if status < 400 {
			perr.Status = statusCodes[perr.Code]
		}
	}
	if ra := parseRetryAfter(h.Get("Retry-After")); ra > 0 {
		perr.RetryAfter = ra
	}
	perr.Retryable = inference.RetryableStatus(perr.Status)
	switch perr.Code {
	case "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED":
		perr.Retryable = true
	}
	return perr
}

// redact removes the API key should an upstream message ever echo it.
func (p *Provider) redact(s string) string {
	if p.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, p.apiKey, "[redacted]")
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// badRequest is the error for an OpenAI request this provider cannot translate: the client's fault, so
// no fallback would help.
func (p *Provider) badRequest(format string, args ...any) error {
	return &inference.ProviderError{Provider: p.name, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Message: fmt.Sprintf(format, args...)}
}

// jsonHeader is the header set of a buffered JSON answer.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}
