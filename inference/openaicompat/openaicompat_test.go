// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaicompat

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

const testKey = "sk-secret-123"

func newProvider(t *testing.T, cfg Config) inference.Provider {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func chat(model string, stream bool) *inference.Request {
	return &inference.Request{Endpoint: inference.EndpointChat, Method: http.MethodPost, Model: model, Stream: stream,
		Body: []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`)}
}

// captured is what the fake upstream saw.
type captured struct {
	uri    string
	header http.Header
	body   string
}

func recordingServer(t *testing.T, got chan<- captured) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- captured{uri: r.URL.RequestURI(), header: r.Header.Clone(), body: string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1")
		w.Header().Set("Set-Cookie", "upstream=1")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no name", Config{BaseURL: "http://x"}},
		{"relative URL", Config{Name: "n", BaseURL: "/v1"}},
		{"bad scheme", Config{Name: "n", BaseURL: "ftp://x/v1"}},
		{"two auth modes", Config{Name: "n", BaseURL: "http://x", AuthHeader: "a", AuthQuery: "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestURLBuilding(t *testing.T) {
	tests := []struct {
		name     string
		base     string // appended to the server URL
		azure    *Azure
		req      *inference.Request
		wantURI  string
		wantKind string
	}{
		{"openai chat", "/v1/", nil, chat("gpt-4o", false), "/v1/chat/completions", "openai"},
		{"groq-style base path", "/openai/v1", nil, chat("llama", false), "/openai/v1/chat/completions", "openai"},
		{"pass-through with query", "/v1", nil, &inference.Request{Endpoint: "files/abc/content", Method: "GET",
			Query: url.Values{"limit": {"2"}}}, "/v1/files/abc/content?limit=2", "openai"},
		{"azure mapped deployment", "", &Azure{Deployments: map[string]string{"gpt-4o": "prod 4o"}}, chat("gpt-4o", false),
			"/openai/deployments/prod%204o/chat/completions?api-version=2024-10-21", "azure"},
		{"azure model as deployment", "", &Azure{APIVersion: "2025-01-01-preview"}, chat("gpt-4o-mini", false),
			"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2025-01-01-preview", "azure"},
		{"azure models", "", &Azure{}, &inference.Request{Endpoint: inference.EndpointModels, Method: "GET"},
			"/openai/models?api-version=2024-10-21", "azure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan captured, 1)
			srv := recordingServer(t, got)
			p := newProvider(t, Config{BaseURL: srv.URL + tc.base, Azure: tc.azure})
			if p.Kind() != tc.wantKind {
				t.Errorf("Kind = %q, want %q", p.Kind(), tc.wantKind)
			}
			resp, err := p.Do(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			if c := <-got; c.uri != tc.wantURI {
				t.Errorf("URI = %q, want %q", c.uri, tc.wantURI)
			}
		})
	}
	t.Run("dot segments rejected", func(t *testing.T) {
		p := newProvider(t, Config{BaseURL: "http://127.0.0.1:1/v1"})
		_, err := p.Do(context.Background(), &inference.Request{Endpoint: "../admin", Method: "GET"})
		var pe *inference.ProviderError
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Retryable {
			t.Fatalf("err = %v, want a non-retryable 400", err)
		}
	})
}

func TestAuthAndHeaders(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		wantHeader map[string]string // "" = must be absent
		wantQuery  string
	}{
		{"bearer", Config{APIKey: testKey}, map[string]string{"Authorization": "Bearer " + testKey}, ""},
		{"custom header", Config{APIKey: testKey, AuthHeader: "x-api-key"},
			map[string]string{"X-Api-Key": testKey, "Authorization": ""}, ""},
		{"query", Config{APIKey: testKey, AuthQuery: "key"}, map[string]string{"Authorization": ""}, "key=" + testKey},
		{"azure api-key", Config{APIKey: testKey, Azure: &Azure{}},
			map[string]string{"Api-Key": testKey, "Authorization": ""}, "api-version=2024-10-21"},
		{"no key", Config{}, map[string]string{"Authorization": ""}, ""},
		{"static and forwarded headers", Config{APIKey: testKey, Headers: map[string]string{"X-Tenant": "t1"}},
			map[string]string{"X-Tenant": "t1", "Openai-Organization": "org-1", "Cookie": "", "Content-Type": "application/json",
				"Authorization": "Bearer " + testKey}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan captured, 1)
			srv := recordingServer(t, got)
			tc.cfg.BaseURL = srv.URL
			p := newProvider(t, tc.cfg)
			req := chat("m", false)
			// The client's own credentials for FD2 must never reach the provider.
			req.Header = http.Header{"Authorization": {"Bearer client-key"}, "Openai-Organization": {"org-1"}, "Cookie": {"c=1"}}
			resp, err := p.Do(context.Background(), req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			c := <-got
			for k, want := range tc.wantHeader {
				if v := c.header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if tc.wantQuery != "" && !strings.Contains(c.uri, tc.wantQuery) {
				t.Errorf("URI %q lacks %q", c.uri, tc.wantQuery)
			}
			if c.body != string(req.Body) {
				t.Errorf("body = %s", c.body)
			}
			if resp.Header.Get("X-Request-Id") != "req-1" || resp.Header.Get("Set-Cookie") != "" || resp.Stream {
				t.Errorf("response headers = %v, stream %v", resp.Header, resp.Stream)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		want    inference.ProviderError
		wantMsg string
	}{
		{"openai 429 with retry-after-ms", 429, map[string]string{"retry-after-ms": "1500", "Retry-After": "2"},
			`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded","param":null}}`,
			inference.ProviderError{Status: 429, Type: "requests", Code: "rate_limit_exceeded", RetryAfter: 1500 * time.Millisecond, Retryable: true},
			"Rate limit reached"},
		{"503 retry-after seconds", 503, map[string]string{"Retry-After": "7"}, `upstream overloaded`,
			inference.ProviderError{Status: 503, Type: "api_error", RetryAfter: 7 * time.Second, Retryable: true}, "upstream overloaded"},
		{"retry-after date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, `{}`,
			inference.ProviderError{Status: 429, Type: "rate_limit_error", RetryAfter: 90 * time.Second, Retryable: true}, "Too Many Requests"},
		{"400 numeric code", 400, nil, `{"error":{"message":"bad param","type":"invalid_request_error","code":400}}`,
			inference.ProviderError{Status: 400, Type: "invalid_request_error", Code: "400"}, "bad param"},
		{"401 echoing the key", 401, nil, `{"error":{"message":"Incorrect API key provided: ` + testKey + `"}}`,
			inference.ProviderError{Status: 401, Type: "authentication_error"}, "Incorrect API key provided: REDACTED"},
		{"error as a string", 404, nil, `{"error":"model not found"}`,
			inference.ProviderError{Status: 404, Type: "not_found_error"}, "model not found"},
		{"vllm detail", 422, nil, `{"detail":"field required"}`,
			inference.ProviderError{Status: 422, Type: "invalid_request_error"}, "field required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newProvider(t, Config{Name: "up", BaseURL: srv.URL, APIKey: testKey, Now: func() time.Time { return now }})
			_, err := p.Do(context.Background(), chat("m", false))
			var pe *inference.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ProviderError", err)
			}
			if pe.Status != tc.want.Status || pe.Type != tc.want.Type || pe.Code != tc.want.Code ||
				pe.RetryAfter != tc.want.RetryAfter || pe.Retryable != tc.want.Retryable || pe.Provider != "up" {
				t.Errorf("got %+v, want %+v", *pe, tc.want)
			}
			if pe.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", pe.Message, tc.wantMsg)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		p := newProvider(t, Config{BaseURL: addr, APIKey: testKey, AuthQuery: "key"})
		_, err := p.Do(context.Background(), chat("m", false))
		var pe *inference.ProviderError
		if !errors.As(err, &pe) || pe.Status != 502 || !pe.Retryable || pe.Cause == nil {
			t.Fatalf("err = %v, want a retryable 502 with a cause", err)
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("the API key leaked into the error: %v", err)
		}
	})
	t.Run("first byte timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) // the server notices a closed connection only once the body is consumed
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		defer srv.Close()
		p := newProvider(t, Config{BaseURL: srv.URL, FirstByteTimeout: 50 * time.Millisecond})
		start := time.Now()
		_, err := p.Do(context.Background(), chat("m", false))
		var pe *inference.ProviderError
		if !errors.As(err, &pe) || pe.Status != 504 || !pe.Retryable {
			t.Fatalf("err = %v, want a retryable 504", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("timeout took %v", time.Since(start))
		}
	})
	t.Run("caller cancellation is not a provider error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			<-r.Context().Done()
		}))
		defer srv.Close()
		p := newProvider(t, Config{BaseURL: srv.URL})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.Do(ctx, chat("m", false))
		var pe *inference.ProviderError
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &pe) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})
}

// streamServer sends one SSE event, then waits for next (or the request's end) before finishing.
// done receives when the handler saw the request context end.
func streamServer(t *testing.T, next <-chan struct{}, done chan<- time.Time, gotAE chan<- string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gotAE != nil {
			gotAE <- r.Header.Get("Accept-Encoding")
		}
		io.ReadAll(r.Body) // the server notices a closed connection only once the body is consumed
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
			io.WriteString(w, "data: [DONE]\n\n")
		case <-r.Context().Done():
			if done != nil {
				done <- time.Now()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamingPassThrough(t *testing.T) {
	next := make(chan struct{})
	gotAE := make(chan string, 1)
	srv := streamServer(t, next, nil, gotAE)
	p := newProvider(t, Config{BaseURL: srv.URL})
	resp, err := p.Do(context.Background(), chat("m", true))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	if !resp.Stream || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %v, headers %v", resp.Stream, resp.Header)
	}
	if ae := <-gotAE; ae != "identity" {
		t.Errorf("Accept-Encoding = %q, want identity", ae)
	}
	br := bufio.NewReader(resp.Body)
	// The first event must be readable while the server is still holding the response open.
	line, err := br.ReadString('\n')
	if err != nil || line != "data: {\"n\":1}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(next)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: [DONE]\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestCancellationReachesServer(t *testing.T) {
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc, body io.Closer)
	}{
		{"body closed", func(_ context.CancelFunc, body io.Closer) { body.Close() }},
		{"context cancelled", func(cancel context.CancelFunc, _ io.Closer) { cancel() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan time.Time, 1)
			srv := streamServer(t, nil, done, nil)
			p := newProvider(t, Config{BaseURL: srv.URL})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := p.Do(ctx, chat("m", true))
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 64)
			if _, err := resp.Body.Read(buf); err != nil {
				t.Fatalf("Read: %v", err)
			}
			start := time.Now()
			tc.stop(cancel, resp.Body)
			select {
			case at := <-done:
				if d := at.Sub(start); d > 100*time.Millisecond {
					t.Errorf("server saw the cancellation after %v", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("server never saw the cancellation")
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := streamServer(t, nil, nil, nil)
	p := newProvider(t, Config{BaseURL: srv.URL, IdleTimeout: 50 * time.Millisecond})
	resp, err := p.Do(context.Background(), chat("m", true))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	// A consumer slower than IdleTimeout must not be mistaken for a stalled upstream.
	time.Sleep(100 * time.Millisecond)
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatalf("first Read: %v", err)
	}
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("err = %v, want ErrIdleTimeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("idle timeout took %v", d)
	}
}

func TestMultipartStreamed(t *testing.T) {
	firstPart := make(chan string, 1)
	gotCT := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotCT <- r.Header.Get("Content-Type")
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("reading first part: %v", err)
		}
		firstPart <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"text":"`+string(buf)+string(rest)+`"}`)
	}))
	defer srv.Close()
	p := newProvider(t, Config{BaseURL: srv.URL})
	pr, pw := io.Pipe()
	req := &inference.Request{Endpoint: inference.EndpointTranscription, Method: http.MethodPost, Model: "whisper-1",
		BodyReader: pr, ContentType: "multipart/form-data; boundary=xyz"}
	go func() {
		pw.Write([]byte("part1"))
		// The server must see the first part before the upload ends: nothing is buffered.
		select {
		case <-firstPart:
			pw.Write([]byte("-part2"))
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(errors.New("upload was buffered"))
		}
	}()
	resp, err := p.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != `{"text":"part1-part2"}` {
		t.Fatalf("body %s, %v", b, err)
	}
	if ct := <-gotCT; ct != "multipart/form-data; boundary=xyz" {
		t.Errorf("Content-Type = %q", ct)
	}
}
