// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// engineProvider names a deployment; the fake backend never calls it.
type engineProvider struct{ name, kind string }

func (p engineProvider) Name() string { return p.name }
func (p engineProvider) Kind() string { return p.kind }
func (p engineProvider) Do(context.Context, *Request) (*Response, error) {
	return nil, errors.New("not called")
}

// fakeBackend answers with do and records the last call.
type fakeBackend struct {
	models []string
	do     func(ctx context.Context, model string, req *Request) (*Response, error)

	mu       sync.Mutex
	calls    int
	gotModel string
	gotReq   *Request
}

func (b *fakeBackend) Do(ctx context.Context, model string, req *Request) (*Response, Deployment, error) {
	b.mu.Lock()
	b.calls++
	b.gotModel, b.gotReq = model, req
	b.mu.Unlock()
	dep := Deployment{Provider: engineProvider{name: "dep1", kind: "openai"}, Model: "gpt-4o-2024"}
	if b.do == nil {
		return jsonResponse(`{"ok":true}`), dep, nil
	}
	resp, err := b.do(ctx, model, req)
	return resp, dep, err
}

func (b *fakeBackend) ListModels(context.Context) []string { return b.models }

func (b *fakeBackend) HasModel(_ context.Context, id string) bool { return b.Known(id) }

func (b *fakeBackend) Known(model string) bool {
	for _, m := range b.models {
		if m == model || m == "*" {
			return true
		}
	}
	return false
}

func (b *fakeBackend) last() (string, *Request, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gotModel, b.gotReq, b.calls
}

func jsonResponse(body string) *Response {
	return &Response{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Ratelimit-Remaining-Tokens": {"99"}},
		Body:   io.NopCloser(strings.NewReader(body)),
	}
}

// usageRecorder collects the hooks' calls.
type usageRecorder struct {
	mu     sync.Mutex
	usages []Usage
	done   []int
	failed []int // OnRouteFailed statuses
	ttft   int
}

func (u *usageRecorder) hooks() Hooks {
	return Hooks{
		OnUsage: func(provider, kind, model string, us Usage) {
			u.mu.Lock()
			defer u.mu.Unlock()
			if provider != "dep1" || kind != "openai" || model != "gpt-4o-2024" {
				us.Source = fmt.Sprintf("bad labels %s/%s/%s", provider, kind, model)
			}
			u.usages = append(u.usages, us)
		},
		OnProviderDone: func(_, _, _ string, status int, _ time.Duration) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.done = append(u.done, status)
		},
		OnRouteFailed: func(_, _, _ string, status int) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.failed = append(u.failed, status)
		},
		OnFirstToken: func(_, _, _ string, _ time.Duration) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.ttft++
		},
	}
}

func (u *usageRecorder) only(t *testing.T) Usage {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.usages) != 1 {
		t.Fatalf("OnUsage called %d times, want once", len(u.usages))
	}
	return u.usages[0]
}

func serve(t *testing.T, e *Engine, method, endpoint, body string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "/v1/"+endpoint, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	err := e.ServeHTTP(w, r, endpoint)
	return w, err
}

func wantAPIErr(t *testing.T, err error, status int, code string) *apierr.Error {
	t.Helper()
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v; want *apierr.Error %d %s", err, status, code)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("error = %d %s (%s); want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

func TestEngineModels(t *testing.T) {
	e := &Engine{
		Backend:    &fakeBackend{models: []string{"gpt-4o", "claude", "secret"}},
		AllowModel: func(m string) bool { return m != "secret" },
	}
	t.Run("list", func(t *testing.T) {
		w, err := serve(t, e, http.MethodGet, "models", "")
		if err != nil {
			t.Fatal(err)
		}
		want := `{"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"fd2"},` +
			`{"id":"claude","object":"model","created":0,"owned_by":"fd2"}]}`
		if got := w.Body.String(); got != want {
			t.Fatalf("body = %s; want %s", got, want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type = %q", ct)
		}
	})
	tests := []struct {
		name     string
		method   string
		endpoint string
		status   int
		code     string
		body     string
	}{
		{name: "get known", method: http.MethodGet, endpoint: "models/gpt-4o", status: 200,
			body: `{"id":"gpt-4o","object":"model","created":0,"owned_by":"fd2"}`},
		{name: "get unknown", method: http.MethodGet, endpoint: "models/nope", status: 404, code: "model_not_found"},
		{name: "get not allowed hides it", method: http.MethodGet, endpoint: "models/secret", status: 404, code: "model_not_found"},
		{name: "post list", method: http.MethodPost, endpoint: "models", status: 405, code: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := serve(t, e, tc.method, tc.endpoint, "")
			if tc.code != "" {
				wantAPIErr(t, err, tc.status, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Fatalf("got %d %s; want %d %s", w.Code, w.Body.String(), tc.status, tc.body)
			}
		})
	}
}

func TestEngineErrors(t *testing.T) {
	pe := func(status int, retryable bool, cause error) *ProviderError {
		return &ProviderError{Provider: "dep1", Status: status, Type: "provider_type", Code: "provider_code",
			Message: "boom", Retryable: retryable, Cause: cause}
	}
	tests := []struct {
		name    string
		body    string
		maxBody int64
		allow   func(string) bool
		err     error
		slow    bool // the backend waits for its context
		fbt     time.Duration
		status  int
		code    string
		typ     string
		msg     string
		// retryAfter is the Retry-After header wanted; providerStatus the status OnRouteFailed reports.
		retryAfter     string
		providerStatus int
	}{
		{name: "invalid json", body: `{"model":`, status: 400, code: "invalid_json", typ: "invalid_request_error",
			msg: "the request body is not valid JSON: unexpected end of JSON input"},
		{name: "empty body", body: "", status: 400, code: "invalid_json"},
		{name: "not an object", body: `["gpt-4o"]`, status: 400, code: "invalid_json", msg: "the request body must be a JSON object"},
		{name: "missing model", body: `{"messages":[]}`, status: 400, code: "missing_model"},
		{name: "model not a string", body: `{"model":4}`, status: 400, code: "invalid_model"},
		{name: "unknown model", body: `{"model":"nope"}`, status: 404, code: "model_not_found", typ: "not_found_error"},
		{name: "model not allowed", body: `{"model":"gpt-4o"}`, allow: func(string) bool { return false },
			status: 403, code: "model_not_allowed", typ: "permission_error"},
		{name: "too large", body: `{"model":"gpt-4o","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, maxBody: 20,
			status: 413, code: "request_too_large"},
		{name: "router unknown model", body: `{"model":"gpt-4o"}`, err: fmt.Errorf("routing: %w", ErrUnknownModel),
			status: 404, code: "model_not_found"},
		{name: "provider client error kept", body: `{"model":"gpt-4o"}`,
			err: fmt.Errorf("routing: %w", pe(400, false, nil)), status: 400, code: "provider_code", typ: "provider_type", msg: "boom",
			providerStatus: 400},
		{name: "all failed", body: `{"model":"gpt-4o"}`,
			err: fmt.Errorf("%w: %w", ErrAllFailed, pe(500, true, nil)), status: 502, code: "upstream_error",
			typ: "api_error", msg: "all providers failed: boom", providerStatus: 500},
		{name: "all failed by timeout", body: `{"model":"gpt-4o"}`,
			err: fmt.Errorf("%w: %w", ErrAllFailed, pe(502, true, context.DeadlineExceeded)), status: 504, code: "upstream_error",
			msg: "all providers failed: boom", providerStatus: 502},
		{name: "all failed bare", body: `{"model":"gpt-4o"}`, err: ErrAllFailed, status: 502, code: "upstream_error",
			msg: "all providers failed"},
		{name: "rate limited", body: `{"model":"gpt-4o"}`,
			err:    fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{Provider: "dep1", Status: 429, Retryable: true, RetryAfter: 1500 * time.Millisecond}),
			status: 429, code: "rate_limit_exceeded", typ: "rate_limit_error", msg: "the provider's rate limit was reached; retry after 2s",
			retryAfter: "2", providerStatus: 429},
		{name: "rate limited without Retry-After", body: `{"model":"gpt-4o"}`,
			err:    fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{Provider: "dep1", Status: 429, Retryable: true}),
			status: 429, code: "rate_limit_exceeded", msg: "the provider's rate limit was reached", providerStatus: 429},
		{name: "every deployment resting", body: `{"model":"gpt-4o"}`,
			err: fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{Provider: "dep1", Status: 429, Retryable: true,
				RetryAfter: 3 * time.Second, Cause: ErrResting}),
			status: 429, code: "rate_limit_exceeded", retryAfter: "3"},
		{name: "provider refused our key", body: `{"model":"gpt-4o"}`,
			err:    fmt.Errorf("%w: %w", ErrAllFailed, pe(401, false, nil)),
			status: 502, code: "provider_auth_failed", typ: "api_error", providerStatus: 401},
		{name: "provider forbids our key", body: `{"model":"gpt-4o"}`, err: fmt.Errorf("routing: %w", pe(403, false, nil)),
			status: 502, code: "provider_auth_failed", providerStatus: 403},
		{name: "circuit open", body: `{"model":"gpt-4o"}`,
			err:    fmt.Errorf("%w: %w", ErrAllFailed, &ProviderError{Provider: "dep1", Status: 503, Retryable: true, Cause: ErrCircuitOpen}),
			status: 502, code: "upstream_error"},
		{name: "unsupported", body: `{"model":"gpt-4o"}`, err: fmt.Errorf("routing: %w", ErrUnsupported),
			status: 400, code: "unsupported_endpoint"},
		{name: "client canceled", body: `{"model":"gpt-4o"}`, err: fmt.Errorf("routing: %w", context.Canceled),
			status: 499, code: "client_closed_request"},
		{name: "first byte timeout", body: `{"model":"gpt-4o"}`, slow: true, fbt: 20 * time.Millisecond,
			status: 504, code: "upstream_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec usageRecorder
			b := &fakeBackend{models: []string{"gpt-4o"}, do: func(ctx context.Context, _ string, _ *Request) (*Response, error) {
				if tc.slow {
					<-ctx.Done()
					return nil, fmt.Errorf("waiting: %w", ctx.Err())
				}
				if tc.err != nil {
					return nil, tc.err
				}
				return jsonResponse(`{}`), nil
			}}
			e := &Engine{Backend: b, MaxBody: tc.maxBody, AllowModel: tc.allow, FirstByteTimeout: tc.fbt, Hooks: rec.hooks()}
			w, err := serve(t, e, http.MethodPost, EndpointChat, tc.body)
			ae := wantAPIErr(t, err, tc.status, tc.code)
			if tc.typ != "" && ae.Type != tc.typ {
				t.Errorf("type = %q; want %q", ae.Type, tc.typ)
			}
			if tc.msg != "" && ae.Message != tc.msg {
				t.Errorf("message = %q; want %q", ae.Message, tc.msg)
			}
			if w.Body.Len() != 0 {
				t.Errorf("something was written before the error: %d %q", w.Code, w.Body.String())
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q; want %q", got, tc.retryAfter)
			}
			if len(rec.done) != 0 {
				t.Errorf("OnProviderDone called for a failed route: %v", rec.done)
			}
			if tc.err != nil || tc.slow {
				if len(rec.failed) != 1 || rec.failed[0] != tc.providerStatus {
					t.Errorf("OnRouteFailed statuses = %v; want [%d]", rec.failed, tc.providerStatus)
				}
			}
			if len(rec.usages) != 0 {
				t.Errorf("OnUsage called for a failed call")
			}
		})
	}
}

func TestEngineDefaults(t *testing.T) {
	maxTok, temp := int64(256), 0.5
	defaults := Defaults{Model: "gpt-4o", SystemPrompt: "Be \"brief\".", MaxTokens: &maxTok, Temperature: &temp}
	tests := []struct {
		name string
		body string
		want string // body the backend receives
	}{
		{
			name: "all applied, vendor fields byte for byte",
			body: `{"model":"gpt-4o", "messages":[{"role":"user","content":"hi"}],"x_vendor":{"a":1.50,"b":[ 1 ,2]}}`,
			want: `{"model":"gpt-4o", "messages":[{"role":"system","content":"Be \"brief\"."},{"role":"user","content":"hi"}],` +
				`"x_vendor":{"a":1.50,"b":[ 1 ,2]},"max_tokens":256,"temperature":0.5}`,
		},
		{
			name: "client system message suppresses the default prompt",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"system","content":"mine"}],"max_tokens":9,"temperature":1}`,
			want: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"},{"role":"system","content":"mine"}],"max_tokens":9,"temperature":1}`,
		},
		{
			name: "developer message suppresses the default prompt, max_completion_tokens the max_tokens",
			body: `{"model":"gpt-4o","messages":[{"role":"developer","content":"mine"}],"max_completion_tokens":9,"temperature":0}`,
			want: `{"model":"gpt-4o","messages":[{"role":"developer","content":"mine"}],"max_completion_tokens":9,"temperature":0}`,
		},
		{
			name: "default model added",
			body: `{"messages":[],"temperature":2}`,
			want: `{"messages":[{"role":"system","content":"Be \"brief\"."}],"temperature":2,"model":"gpt-4o","max_tokens":256}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{models: []string{"gpt-4o"}}
			e := &Engine{Backend: b, Defaults: defaults}
			if _, err := serve(t, e, http.MethodPost, EndpointChat, tc.body); err != nil {
				t.Fatal(err)
			}
			model, req, _ := b.last()
			if model != "gpt-4o" || req.Model != "gpt-4o" {
				t.Errorf("model = %q / %q", model, req.Model)
			}
			if got := string(req.Body); got != tc.want {
				t.Errorf("upstream body\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	t.Run("other endpoints untouched", func(t *testing.T) {
		b := &fakeBackend{models: []string{"gpt-4o"}}
		e := &Engine{Backend: b, Defaults: defaults}
		body := `{"model":"gpt-4o","input":"x"}`
		if _, err := serve(t, e, http.MethodPost, EndpointEmbeddings, body); err != nil {
			t.Fatal(err)
		}
		if _, req, _ := b.last(); string(req.Body) != body {
			t.Errorf("embeddings body changed: %s", req.Body)
		}
	})
}

func TestEngineNonStreamUsage(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		reqBody  string
		respBody string
		want     Usage
	}{
		{
			name: "chat provider usage", endpoint: EndpointChat,
			reqBody:  `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			respBody: `{"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
			want:     Usage{PromptTokens: 11, CompletionTokens: 7, TotalTokens: 18, Source: "provider"},
		},
		{
			name: "responses input/output tokens", endpoint: EndpointResponses,
			reqBody:  `{"model":"gpt-4o","input":"hi"}`,
			respBody: `{"output":[],"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}}`,
			want:     Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8, Source: "provider"},
		},
		{
			name: "chat counted by the tokenizer", endpoint: EndpointChat,
			reqBody:  `{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}]}`,
			respBody: `{"choices":[{"message":{"role":"assistant","content":"hello world"}}]}`,
			// 2 tokens of content, plus 3 per message and 3 for the reply's priming.
			want: Usage{PromptTokens: 2 + 3 + 3, CompletionTokens: 2, TotalTokens: 10, Source: "tokenizer"},
		},
		{
			name: "embeddings counted by the tokenizer", endpoint: EndpointEmbeddings,
			reqBody:  `{"model":"gpt-4o","input":["hello world","hello world"]}`,
			respBody: `{"data":[]}`,
			want:     Usage{PromptTokens: 4, CompletionTokens: 0, TotalTokens: 4, Source: "tokenizer"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec usageRecorder
			b := &fakeBackend{models: []string{"gpt-4o"}, do: func(context.Context, string, *Request) (*Response, error) {
				return jsonResponse(tc.respBody), nil
			}}
			e := &Engine{Backend: b, Hooks: rec.hooks()}
			w, err := serve(t, e, http.MethodPost, tc.endpoint, tc.reqBody)
			if err != nil {
				t.Fatal(err)
			}
			if w.Body.String() != tc.respBody {
				t.Errorf("client body = %s", w.Body.String())
			}
			if w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Ratelimit-Remaining-Tokens") != "" {
				t.Errorf("headers = %v", w.Header())
			}
			if got := rec.only(t); got != tc.want {
				t.Errorf("usage = %+v; want %+v", got, tc.want)
			}
			if rec.ttft != 1 || len(rec.done) != 1 || rec.done[0] != 200 {
				t.Errorf("hooks: ttft %d, done %v", rec.ttft, rec.done)
			}
		})
	}
}

func TestEnginePassThrough(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		target    string
		ct        string
		body      string
		wantModel string
		wantBody  string
		status    int
		code      string
	}{
		{name: "get with query", method: http.MethodGet, target: "files?limit=2&purpose=batch", status: 200},
		{name: "json body model", method: http.MethodPost, target: "batches", ct: "application/json",
			body: `{"model":"gpt-4o","x":1}`, wantModel: "gpt-4o", wantBody: `{"model":"gpt-4o","x":1}`, status: 200},
		{name: "json body unknown model", method: http.MethodPost, target: "batches", ct: "application/json",
			body: `{"model":"nope"}`, status: 404, code: "model_not_found"},
		{name: "binary body streamed", method: http.MethodPost, target: "files", ct: "application/octet-stream",
			body: "raw bytes", wantBody: "raw bytes", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotBody string
			b := &fakeBackend{models: []string{"gpt-4o"}, do: func(_ context.Context, _ string, req *Request) (*Response, error) {
				switch {
				case req.BodyReader != nil:
					data, err := io.ReadAll(req.BodyReader)
					if err != nil {
						return nil, err
					}
					gotBody = string(data)
				default:
					gotBody = string(req.Body)
				}
				return jsonResponse(`{"data":[]}`), nil
			}}
			e := &Engine{Backend: b}
			var rd io.Reader
			if tc.body != "" {
				rd = strings.NewReader(tc.body)
			}
			r := httptest.NewRequest(tc.method, "/v1/"+tc.target, rd)
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			r.Header.Set("Authorization", "Bearer client-key")
			r.Header.Set("OpenAI-Beta", "assistants=v2")
			w := httptest.NewRecorder()
			endpoint, _, _ := strings.Cut(tc.target, "?")
			err := e.ServeHTTP(w, r, endpoint)
			if tc.code != "" {
				wantAPIErr(t, err, tc.status, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			model, req, _ := b.last()
			if model != tc.wantModel || req.Endpoint != endpoint || req.Method != tc.method {
				t.Errorf("call = %q %s %s", model, req.Method, req.Endpoint)
			}
			if req.Query.Encode() != r.URL.Query().Encode() {
				t.Errorf("query = %v", req.Query)
			}
			if req.Header.Get("Authorization") != "" || req.Header.Get("OpenAI-Beta") != "assistants=v2" {
				t.Errorf("forwarded headers = %v", req.Header)
			}
			if gotBody != tc.wantBody {
				t.Errorf("body = %q; want %q", gotBody, tc.wantBody)
			}
			if w.Code != 200 || w.Body.String() != `{"data":[]}` {
				t.Errorf("response = %d %s", w.Code, w.Body.String())
			}
		})
	}
}

// patternReader produces n bytes without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// multipartBody streams a form with a size-byte file through a pipe; modelFirst orders the fields.
func multipartBody(size int64, modelFirst bool) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		writeModel := func() error { return mw.WriteField("model", "whisper-1") }
		var err error
		if modelFirst {
			err = writeModel()
		}
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("file", "audio.mp3"); err == nil {
				_, err = io.Copy(fw, &patternReader{n: size})
			}
		}
		if err == nil && !modelFirst {
			err = writeModel()
		}
		if err == nil {
			err = mw.WriteField("language", "en")
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func TestEngineMultipart(t *testing.T) {
	const size = 20 << 20
	tests := []struct {
		name       string
		modelFirst bool
	}{
		{name: "model before file", modelFirst: true},
		{name: "model after file (spooled)", modelFirst: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fileBytes int64
			var fields []string
			var gotCT string
			b := &fakeBackend{models: []string{"whisper-1"}, do: func(_ context.Context, _ string, req *Request) (*Response, error) {
				if req.Body != nil {
					return nil, errors.New("multipart body was buffered")
				}
				gotCT = req.ContentType
				_, params, _ := strings.Cut(req.ContentType, "boundary=")
				mr := multipart.NewReader(req.BodyReader, strings.Trim(params, `"`))
				for {
					p, err := mr.NextPart()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return nil, err
					}
					fields = append(fields, p.FormName())
					if p.FileName() != "" {
						check := &patternReader{n: size}
						want := make([]byte, 32<<10)
						got := make([]byte, 32<<10)
						for {
							n, err := io.ReadFull(p, got)
							if n > 0 {
								if _, err := io.ReadFull(check, want[:n]); err != nil || !bytes.Equal(got[:n], want[:n]) {
									return nil, errors.New("file content changed")
								}
								fileBytes += int64(n)
							}
							if err != nil {
								break
							}
						}
					}
				}
				return &Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"text":"hi"}`))}, nil
			}}
			e := &Engine{Backend: b, MaxUploadBody: 25 << 20}
			body, ct := multipartBody(size, tc.modelFirst)
			r := httptest.NewRequest(http.MethodPost, "/v1/audio/transcriptions", body)
			r.Header.Set("Content-Type", ct)
			w := httptest.NewRecorder()

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := e.ServeHTTP(w, r, EndpointTranscription)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d bytes in total for a %d-byte upload", alloc, size)
			if alloc > 5<<20 {
				t.Errorf("allocated %d bytes for a %d-byte upload; want < 5 MiB", alloc, size)
			}
			model, req, _ := b.last()
			if model != "whisper-1" || req.Model != "whisper-1" || gotCT != ct {
				t.Errorf("model %q, content type %q", model, gotCT)
			}
			if fileBytes != size {
				t.Errorf("provider read %d file bytes; want %d", fileBytes, size)
			}
			wantFields := "model,file,language"
			if !tc.modelFirst {
				wantFields = "file,model,language"
			}
			if got := strings.Join(fields, ","); got != wantFields {
				t.Errorf("fields = %s; want %s", got, wantFields)
			}
			if w.Body.String() != `{"text":"hi"}` {
				t.Errorf("response = %s", w.Body.String())
			}
		})
	}
	errTests := []struct {
		name   string
		body   string
		ct     string
		maxUp  int64
		status int
		code   string
	}{
		{name: "no model", body: "--b\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--b--\r\n",
			ct: "multipart/form-data; boundary=b", status: 400, code: "missing_model"},
		{name: "unknown model", body: "--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nnope\r\n--b--\r\n",
			ct: "multipart/form-data; boundary=b", status: 404, code: "model_not_found"},
		{name: "not multipart", body: `{"model":"whisper-1"}`, ct: "application/json", status: 400, code: "invalid_multipart"},
		{name: "too large", body: strings.Repeat("x", 100), ct: "multipart/form-data; boundary=b", maxUp: 10,
			status: 413, code: "request_too_large"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Engine{Backend: &fakeBackend{models: []string{"whisper-1"}}, MaxUploadBody: tc.maxUp}
			r := httptest.NewRequest(http.MethodPost, "/v1/audio/transcriptions", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			err := e.ServeHTTP(httptest.NewRecorder(), r, EndpointTranscription)
			wantAPIErr(t, err, tc.status, tc.code)
		})
	}
}

// An upload without Content-Length that outgrows MaxUploadBody is cut off mid-stream; the client must
// learn why (413), not see the provider's resulting failure.
func TestEngineMultipartLimitMidStream(t *testing.T) {
	b := &fakeBackend{models: []string{"whisper-1"}, do: func(_ context.Context, _ string, req *Request) (*Response, error) {
		if _, err := io.Copy(io.Discard, req.BodyReader); err != nil {
			return nil, &ProviderError{Provider: "dep1", Status: 502, Message: "upload failed", Retryable: true, Cause: err}
		}
		return jsonResponse(`{"text":"hi"}`), nil
	}}
	e := &Engine{Backend: b, MaxUploadBody: 1 << 20}
	body, ct := multipartBody(2<<20, true)
	r := httptest.NewRequest(http.MethodPost, "/v1/audio/translations", body)
	r.Header.Set("Content-Type", ct)
	r.ContentLength = -1
	err := e.ServeHTTP(httptest.NewRecorder(), r, EndpointTranslation)
	wantAPIErr(t, err, http.StatusRequestEntityTooLarge, "request_too_large")
}

// Guard against the models list rendering null for an empty backend: SDKs iterate data.
func TestEngineModelsEmpty(t *testing.T) {
	w, err := serve(t, &Engine{Backend: &fakeBackend{}}, http.MethodGet, "models", "")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Data []any }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Data == nil {
		t.Fatalf("body = %s (%v)", w.Body.String(), err)
	}
}

// cutBody yields its bytes, then fails as a provider connection that drops does.
type cutBody struct{ r io.Reader }

func (c *cutBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
func (c *cutBody) Close() error { return nil }

// TestEngineTruncatedReply: a non-streamed answer cut off by the provider is never a clean 200 — a 502
// before anything is sent, or ErrResponseAborted once the response has begun (issue 12, item 6).
func TestEngineTruncatedReply(t *testing.T) {
	cut := func(n int, declared string) func(context.Context, string, *Request) (*Response, error) {
		return func(context.Context, string, *Request) (*Response, error) {
			doc := `{"id":"x","choices":[{"message":{"content":"` + strings.Repeat("a", n) + `"}}]}`
			h := http.Header{"Content-Type": {"application/json"}}
			if declared != "" {
				h.Set("Content-Length", declared)
			}
			return &Response{Status: http.StatusOK, Header: h, Body: &cutBody{r: strings.NewReader(doc[:len(doc)-10])}}, nil
		}
	}
	t.Run("small body", func(t *testing.T) {
		rec := &usageRecorder{}
		e := &Engine{Backend: &fakeBackend{models: []string{"*"}, do: cut(100, "")}, Hooks: rec.hooks()}
		w, err := serve(t, e, "POST", "chat/completions", `{"model":"m","messages":[]}`)
		wantAPIErr(t, err, http.StatusBadGateway, "upstream_error")
		if w.Code != http.StatusOK || w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Fatalf("something was written before the error: %d %q %v", w.Code, w.Body.String(), w.Header())
		}
		if rec.done[0] != http.StatusBadGateway {
			t.Fatalf("provider status recorded as %v", rec.done)
		}
	})
	t.Run("large body", func(t *testing.T) {
		n := 2 * replyWindow
		e := &Engine{Backend: &fakeBackend{models: []string{"*"}, do: cut(n, strconv.Itoa(n+50))}}
		w, err := serve(t, e, "POST", "chat/completions", `{"model":"m","messages":[]}`)
		if !errors.Is(err, ErrResponseAborted) {
			t.Fatalf("error = %v, want ErrResponseAborted", err)
		}
		if got := w.Header().Get("Content-Length"); got != strconv.Itoa(n+50) {
			t.Fatalf("Content-Length = %q: the provider's declared length must reach the client", got)
		}
	})
	t.Run("whole body gets an exact length", func(t *testing.T) {
		e := &Engine{Backend: &fakeBackend{models: []string{"*"}}}
		w, err := serve(t, e, "POST", "chat/completions", `{"model":"m","messages":[]}`)
		if err != nil {
			t.Fatal(err)
		}
		if w.Header().Get("Content-Length") != "11" || w.Body.String() != `{"ok":true}` {
			t.Fatalf("got %q with Content-Length %q", w.Body.String(), w.Header().Get("Content-Length"))
		}
	})
}
