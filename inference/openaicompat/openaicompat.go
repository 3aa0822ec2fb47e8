// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package openaicompat is the inference.Provider for every API that speaks the OpenAI wire format:
// OpenAI itself, Azure OpenAI, Groq, Together, Mistral, DeepSeek, vLLM, Ollama and the like. Requests
// and responses pass through unchanged (streams included, event by event, never buffered); only errors
// are normalised into *inference.ProviderError so the router can decide on fallback.
package openaicompat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/internal/watchdog"
)

// Errors reported while reading a response body, for errors.Is.
var (
	// ErrIdleTimeout ends a response body whose upstream sent nothing for Config.IdleTimeout.
	ErrIdleTimeout = errors.New("upstream idle timeout")
	// errFirstByteTimeout cancels a request whose response headers took longer than FirstByteTimeout.
	errFirstByteTimeout = errors.New("upstream first byte timeout")
	// errClosed cancels the upstream request when the caller closes the body early.
	errClosed = errors.New("response body closed")
)

// Config configures one OpenAI-compatible deployment.
type Config struct {
	// Name is the deployment's name (a metric label and the breaker key). Required.
	Name string
	// BaseURL is the API root the endpoint path is appended to, e.g. https://api.openai.com/v1,
	// https://api.groq.com/openai/v1 or http://localhost:11434/v1 (Ollama). For Azure it is the resource
	// endpoint, https://{resource}.openai.azure.com. Required.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" unless AuthHeader or AuthQuery say otherwise. It
	// may be empty (vLLM, Ollama). It never appears in errors or logs.
	APIKey string
	// AuthHeader sends APIKey, as is, in this header instead, e.g. "api-key" or "x-api-key". Azure mode
	// defaults it to "api-key".
	AuthHeader string
	// AuthQuery sends APIKey in this query parameter instead, e.g. "key".
	AuthQuery string
	// Headers are extra static headers sent on every request; they override forwarded client headers.
	Headers map[string]string
	// Azure, if set, switches to Azure OpenAI's URL scheme and api-key header.
	Azure *Azure
	// FirstByteTimeout bounds the wait for response headers, counted from the end of the request
	// upload (so large audio uploads are not cut short). Default 60s.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds each wait for response body bytes, so a stalled stream errors instead of
	// hanging the client. Default 60s.
	IdleTimeout time.Duration
	// Client sends the requests. Default: a shared client with a tuned transport (keep-alives,
	// HTTP/2) and no overall timeout, since streams may legitimately last minutes.
	Client *http.Client
	// Now is the clock used to interpret Retry-After dates. Default time.Now.
	Now func() time.Time
}

// Azure configures Azure OpenAI mode: URLs are
// {BaseURL}/openai/deployments/{deployment}/{endpoint}?api-version={APIVersion}.
type Azure struct {
	// APIVersion is the api-version query parameter. Default "2024-10-21" (the latest GA version).
	APIVersion string
	// Deployments maps a model name (Request.Model) to its Azure deployment name; a model not listed is
	// used as the deployment name.
	Deployments map[string]string
}

// defaultClient is shared by every provider without its own, so connections to the same host are
// pooled across deployments and config reloads.
var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1000
	t.MaxIdleConnsPerHost = 100
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	return t
}()}

// maxErrorBody caps how much of an error response is read: the message is all we need, and a
// misbehaving upstream must not make us buffer megabytes.
const maxErrorBody = 64 << 10

// forwardHeaders are the client headers passed to the provider (canonical form). Everything else —
// in particular the client's credentials for FD2 — stays behind.
var forwardHeaders = []string{"Openai-Organization", "Openai-Project", "Openai-Beta", "Idempotency-Key", "X-Request-Id", "Traceparent", "Tracestate", "Baggage"}

// responseHeaders are the provider's response headers passed back to the client.
var responseHeaders = []string{"Content-Type", "Content-Disposition", "X-Request-Id", "Openai-Processing-Ms", "Openai-Version"}

type provider struct {
	cfg  Config
	base *url.URL
}

// New returns a provider for cfg. Its Kind is "azure" in Azure mode, "openai" otherwise.
func New(cfg Config) (inference.Provider, error) {
	if cfg.Name == "" {
		return nil, errors.New("openaicompat: name is required")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("openaicompat %s: parsing base_url: %w", cfg.Name, err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("openaicompat %s: base_url %q: want an absolute http(s) URL", cfg.Name, cfg.BaseURL)
	}
	if cfg.AuthHeader != "" && cfg.AuthQuery != "" {
		return nil, fmt.Errorf("openaicompat %s: auth_header and auth_query are exclusive", cfg.Name)
	}
	if cfg.Azure != nil {
		az := *cfg.Azure
		if az.APIVersion == "" {
			az.APIVersion = "2024-10-21"
		}
		cfg.Azure = &az
		if cfg.AuthHeader == "" && cfg.AuthQuery == "" {
			cfg.AuthHeader = "api-key"
		}
	}
	if cfg.FirstByteTimeout <= 0 {
		cfg.FirstByteTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &provider{cfg: cfg, base: base}, nil
}

func (p *provider) Name() string { return p.cfg.Name }

func (p *provider) Kind() string {
	if p.cfg.Azure != nil {
		return "azure"
	}
	return "openai"
}

// buildURL returns the request URL, with the API key in it when AuthQuery is set.
func (p *provider) buildURL(req *inference.Request) (*url.URL, error) {
	ep := strings.TrimPrefix(req.Endpoint, "/")
	if ep == "" {
		return nil, errors.New("empty endpoint")
	}
	for seg := range strings.SplitSeq(ep, "/") {
		// A pass-through path must not climb out of the base URL.
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("endpoint %q: dot segment", req.Endpoint)
		}
	}
	u := *p.base
	q := url.Values{}
	for k, v := range req.Query {
		q[k] = append([]string(nil), v...)
	}
	switch {
	case p.cfg.Azure == nil:
		u.Path += "/" + ep
	case ep == inference.EndpointModels || strings.HasPrefix(ep, inference.EndpointModels+"/"):
		// Model listing is per resource, not per deployment.
		u.Path += "/openai/" + ep
	default:
		dep := p.cfg.Azure.Deployments[req.Model]
		if dep == "" {
			dep = req.Model
		}
		if dep == "" {
			return nil, fmt.Errorf("endpoint %q: azure needs a model to pick the deployment", req.Endpoint)
		}
		u.Path += "/openai/deployments/" + dep + "/" + ep
		u.RawPath = p.base.EscapedPath() + "/openai/deployments/" + url.PathEscape(dep) + "/" + ep
	}
	if p.cfg.Azure != nil {
		q.Set("api-version", p.cfg.Azure.APIVersion)
	}
	if p.cfg.AuthQuery != "" && p.cfg.APIKey != "" {
		q.Set(p.cfg.AuthQuery, p.cfg.APIKey)
	}
	u.RawQuery = q.Encode()
	return &u, nil
}

func (p *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	u, err := p.buildURL(req)
	if err != nil {
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: err.Error()}
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	// The request context lives as long as the response body: cancelling it (caller's ctx, Close,
	// a timeout) aborts the upstream connection at once instead of draining it.
	rctx, cancel := context.WithCancelCause(ctx)
	fb := &firstByteTimer{}
	fb.t = time.AfterFunc(p.cfg.FirstByteTimeout, func() { cancel(errFirstByteTimeout) })
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { fb.reset(p.cfg.FirstByteTimeout) },
	})
	var body io.Reader
	switch {
	case req.BodyReader != nil:
		body = req.BodyReader
	case req.Body != nil:
		body = bytes.NewReader(req.Body)
	}
	// The URL is built already: rendering it to a string for NewRequest to parse again costs a
	// microsecond per call for nothing.
	hreq, err := http.NewRequestWithContext(rctx, method, "/", body)
	if err == nil {
		hreq.URL, hreq.Host = u, u.Host
	}
	if err != nil {
		fb.stop()
		cancel(nil)
		return nil, &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: "building upstream request failed", Cause: p.redact(err)}
	}
	if req.BodyReader != nil {
		// Streamed upload: unknown length, sent chunked; never buffered.
		hreq.ContentLength = -1
	}
	p.setHeaders(hreq, req)

	resp, err := p.cfg.Client.Do(hreq)
	fb.stop()
	if err == nil && context.Cause(rctx) == errFirstByteTimeout {
		// The timer fired in the instant the headers arrived: the body is already cancelled.
		resp.Body.Close()
		err = errFirstByteTimeout
	}
	if err != nil {
		cause := context.Cause(rctx)
		cancel(nil)
		if ctx.Err() != nil {
			// The caller gave up; that is not the provider's failure.
			return nil, fmt.Errorf("calling %s: %w", p.cfg.Name, ctx.Err())
		}
		return nil, p.transportError(err, cause)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel(nil)
		defer resp.Body.Close()
		return nil, p.errorFromResponse(resp)
	}
	out := &inference.Response{
		Status: resp.StatusCode,
		Header: http.Header{},
		Stream: strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Type")), "text/event-stream"),
		Body:   newBody(resp.Body, cancel, rctx, p.cfg.IdleTimeout),
	}
	for _, h := range responseHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			out.Header[h] = append([]string(nil), v...)
		}
	}
	return out, nil
}

func (p *provider) setHeaders(hreq *http.Request, req *inference.Request) {
	for _, h := range forwardHeaders {
		if v := req.Header.Values(h); len(v) > 0 {
			hreq.Header[h] = append([]string(nil), v...)
		}
	}
	for k, v := range p.cfg.Headers {
		hreq.Header.Set(k, v)
	}
	switch {
	case req.BodyReader != nil:
		hreq.Header.Set("Content-Type", req.ContentType)
	case req.Body != nil:
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
		// A compressed stream would be decompressed in blocks, delaying events; ask for none.
		hreq.Header.Set("Accept-Encoding", "identity")
	}
	if p.cfg.APIKey != "" && p.cfg.AuthQuery == "" {
		if p.cfg.AuthHeader != "" {
			hreq.Header.Set(p.cfg.AuthHeader, p.cfg.APIKey)
		} else {
			hreq.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
		}
	}
}

// transportError maps a failed round trip to a retryable 502, or 504 for timeouts.
func (p *provider) transportError(err, cause error) *inference.ProviderError {
	pe := &inference.ProviderError{Provider: p.cfg.Name, Status: http.StatusBadGateway, Type: "api_error",
		Message: "upstream connection failed", Retryable: true, Cause: p.redact(err)}
	var ne net.Error
	if errors.Is(cause, errFirstByteTimeout) || errors.Is(err, errFirstByteTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		pe.Status = http.StatusGatewayTimeout
		pe.Message = "upstream timed out"
		if errors.Is(cause, errFirstByteTimeout) {
			pe.Cause = fmt.Errorf("%w: %w", errFirstByteTimeout, pe.Cause)
		}
	}
	return pe
}

// redact removes the API key from an error, since url.Error prints the URL, query string included.
func (p *provider) redact(err error) error {
	if err == nil || p.cfg.APIKey == "" {
		return err
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, url.QueryEscape(p.cfg.APIKey), "REDACTED"),
			Err: p.redact(ue.Err)}
	}
	if msg := err.Error(); strings.Contains(msg, p.cfg.APIKey) {
		return errors.New(strings.ReplaceAll(msg, p.cfg.APIKey, "REDACTED"))
	}
	return err
}

// errorFromResponse turns a non-2xx answer into a *ProviderError.
func (p *provider) errorFromResponse(resp *http.Response) *inference.ProviderError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	pe := &inference.ProviderError{
		Provider:   p.cfg.Name,
		Status:     resp.StatusCode,
		Retryable:  inference.RetryableStatus(resp.StatusCode),
		RetryAfter: retryAfter(resp.Header, p.cfg.Now()),
	}
	parseErrorBody(raw, pe)
	if pe.Message == "" {
		pe.Message = http.StatusText(resp.StatusCode)
	}
	if pe.Type == "" {
		pe.Type = errorType(resp.StatusCode)
	}
	if p.cfg.APIKey != "" {
		// Some providers echo the key they rejected.
		pe.Message = strings.ReplaceAll(pe.Message, p.cfg.APIKey, "REDACTED")
	}
	return pe
}

// parseErrorBody reads the OpenAI error shape {"error":{"message","type","code"}} and the variants
// other servers use ({"error":"text"}, {"message":…}, {"detail":…}), else takes the body as text.
func parseErrorBody(raw []byte, pe *inference.ProviderError) {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &env) != nil {
		pe.Message = truncate(strings.TrimSpace(string(raw)))
		return
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	var s string
	switch {
	case len(env.Error) > 0 && json.Unmarshal(env.Error, &obj) == nil:
		pe.Message, pe.Type = obj.Message, obj.Type
		// Codes are strings at OpenAI and numbers elsewhere (Azure, some proxies).
		if json.Unmarshal(obj.Code, &s) == nil {
			pe.Code = s
		} else if c := strings.TrimSpace(string(obj.Code)); c != "null" {
			pe.Code = c
		}
	case len(env.Error) > 0 && json.Unmarshal(env.Error, &s) == nil:
		pe.Message = s
	case env.Message != "":
		pe.Message = env.Message
	case len(env.Detail) > 0:
		if json.Unmarshal(env.Detail, &s) == nil {
			pe.Message = s
		} else {
			pe.Message = truncate(string(env.Detail))
		}
	}
	pe.Message = truncate(pe.Message)
}

func truncate(s string) string {
	const limit = 2048
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// errorType is the OpenAI error type of a status, the gateway's own mapping.
func errorType(status int) string { return apierr.TypeFor(status) }

// retryAfter reads retry-after-ms (OpenAI, Azure) and Retry-After (seconds or an HTTP date, RFC 9110
// §10.2.3).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// firstByteTimer is the FirstByteTimeout timer. It is re-armed when the request upload ends, and the
// mutex keeps a late WroteRequest (HTTP/2 may answer before the upload is done) from re-arming it
// after the headers arrived.
type firstByteTimer struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (f *firstByteTimer) reset(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.t.Reset(d)
	}
}

func (f *firstByteTimer) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	f.t.Stop()
}

// body wraps a response body: each Read must complete within the idle timeout (a watchdog), and Close
// cancels the request so the upstream connection is torn down rather than drained.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelCauseFunc
	ctx    context.Context
	wd     *watchdog.Reader
	once   sync.Once
}

func newBody(rc io.ReadCloser, cancel context.CancelCauseFunc, ctx context.Context, idle time.Duration) *body {
	return &body{rc: rc, cancel: cancel, ctx: ctx, wd: watchdog.New(rc, idle, func() { cancel(ErrIdleTimeout) })}
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.wd.Read(p)
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil && cause != context.Canceled {
			return n, fmt.Errorf("reading upstream body: %w", cause)
		}
	}
	return n, err
}

func (b *body) Close() error {
	b.once.Do(func() {
		b.wd.Stop()
		b.cancel(errClosed)
	})
	return b.rc.Close()
}
