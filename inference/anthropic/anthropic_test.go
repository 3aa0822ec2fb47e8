// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

const (
	testKey   = "sk-ant-secret-key-123"
	testModel = "claude-sonnet-4-5" // provider-side name; bodies carry the client's alias
)

var testNow = time.Unix(1767225600, 0)

func newTestProvider(t *testing.T, url string, mod func(*Config)) inference.Provider {
	t.Helper()
	cfg := Config{
		Name: "claude", BaseURL: url, APIKey: testKey,
		Now: func() time.Time { return testNow }, NewID: func() string { return "generated" },
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normJSON decodes JSON into generic values so documents compare regardless of layout and key order.
func normJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return v
}

func assertJSONEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !reflect.DeepEqual(normJSON(t, got), normJSON(t, want)) {
		g, _ := json.MarshalIndent(normJSON(t, got), "", "  ")
		w, _ := json.MarshalIndent(normJSON(t, want), "", "  ")
		t.Errorf("%s mismatch\n got: %s\nwant: %s", what, g, w)
	}
}

// fakeAnthropic checks the request it receives against a golden body and answers with a fixture.
func fakeAnthropic(t *testing.T, wantBody []byte, contentType string, answer []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
			t.Errorf("got %s %s, want POST /v1/messages", r.Method, r.URL.Path)
		}
		for h, want := range map[string]string{"X-Api-Key": testKey, "Anthropic-Version": "2023-06-01", "Content-Type": "application/json"} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("header %s = %q, want %q", h, got, want)
			}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request: %v", err)
		}
		assertJSONEqual(t, "anthropic request", body, wantBody)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGoldenConversations(t *testing.T) {
	for _, name := range []string{"plain", "tool_call", "image", "multi_turn_tool_result", "json_schema"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			srv := fakeAnthropic(t, readFile(t, filepath.Join(dir, "anthropic_request.json")),
				"application/json", readFile(t, filepath.Join(dir, "anthropic_response.json")))
			p := newTestProvider(t, srv.URL, nil)
			resp, err := p.Do(context.Background(), &inference.Request{
				Endpoint: inference.EndpointChat, Method: http.MethodPost, Model: testModel,
				Body: readFile(t, filepath.Join(dir, "openai_request.json")),
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusOK || resp.Stream || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d stream %v content-type %q", resp.Status, resp.Stream, resp.Header.Get("Content-Type"))
			}
			assertJSONEqual(t, "openai response", got, readFile(t, filepath.Join(dir, "openai_response.json")))
		})
	}
}

func TestStreamGolden(t *testing.T) {
	// json_schema_stream is response_format's forced tool, whose input streams as content.
	for _, name := range []string{"stream", "json_schema_stream"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			srv := fakeAnthropic(t, readFile(t, filepath.Join(dir, "anthropic_request.json")),
				"text/event-stream", readFile(t, filepath.Join(dir, "anthropic.sse")))
			p := newTestProvider(t, srv.URL, nil)
			resp, err := p.Do(context.Background(), &inference.Request{
				Endpoint: inference.EndpointChat, Method: http.MethodPost, Model: testModel, Stream: true,
				Body: readFile(t, filepath.Join(dir, "openai_request.json")),
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			if !resp.Stream || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("stream %v content-type %q", resp.Stream, resp.Header.Get("Content-Type"))
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading stream: %v", err)
			}
			if want := readFile(t, filepath.Join(dir, "openai.sse")); !bytes.Equal(got, want) {
				t.Errorf("stream mismatch\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// streamServer sends the given SSE events one at a time, each after the test releases it, so tests can
// observe what the provider emits in between. It reports when the client's request context ends.
type streamServer struct {
	*httptest.Server
	release chan struct{}
	gone    chan struct{}
}

func newStreamServer(t *testing.T, events []string) *streamServer {
	t.Helper()
	s := &streamServer{release: make(chan struct{}), gone: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a client hang-up (and cancels r.Context) only once the body is consumed.
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		for _, ev := range events {
			select {
			case <-s.release:
			case <-r.Context().Done():
				close(s.gone)
				return
			}
			_, _ = io.WriteString(w, ev)
			_ = rc.Flush()
		}
		<-r.Context().Done()
		close(s.gone)
	}))
	t.Cleanup(s.Close)
	return s
}

var (
	evStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
	evText  = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
)

func startStream(t *testing.T, url string) *inference.Response {
	t.Helper()
	p := newTestProvider(t, url, nil)
	resp, err := p.Do(context.Background(), &inference.Request{
		Endpoint: inference.EndpointChat, Model: testModel, Stream: true,
		Body: []byte(`{"model":"claude-fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`),
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	return resp
}

// readLine reads one line with a deadline, so a provider that buffers the stream fails instead of hanging.
func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := br.ReadString('\n'); ch <- res{s, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading stream: %v", r.err)
		}
		return r.s
	case <-time.After(5 * time.Second):
		t.Fatal("no translated chunk before the upstream sent more events")
		return ""
	}
}

func TestStreamPerEvent(t *testing.T) {
	srv := newStreamServer(t, []string{evStart, evText})
	resp := startStream(t, srv.URL)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)

	srv.release <- struct{}{} // message_start only
	if line := readLine(t, br); !strings.Contains(line, `"delta":{"role":"assistant","content":""}`) {
		t.Fatalf("first chunk = %q", line)
	}
	if line := readLine(t, br); line != "\n" {
		t.Fatalf("want event terminator, got %q", line)
	}
	srv.release <- struct{}{} // the text delta is sent only now
	if line := readLine(t, br); !strings.Contains(line, `"delta":{"content":"Hi"}`) {
		t.Fatalf("second chunk = %q", line)
	}
}

func TestStreamCloseCancelsUpstream(t *testing.T) {
	srv := newStreamServer(t, []string{evStart, evText})
	resp := startStream(t, srv.URL)
	br := bufio.NewReader(resp.Body)
	srv.release <- struct{}{}
	readLine(t, br)

	start := time.Now()
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-srv.gone:
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("upstream saw cancellation after %v, want ≤ 100ms", d)
		}
	case <-time.After(100 * time.Millisecond):
		t.Fatal("upstream request not cancelled within 100ms of Close")
	}
}

func TestStreamErrorsAndTruncation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sse     string
		want    string // expected tail of the translated stream
		wantErr error
	}{
		{
			name: "error event becomes an OpenAI error event and ends the stream",
			sse: evStart + evText + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n" +
				evText, // never translated: the stream ended at the error
			want: "data: {\"error\":{\"code\":\"overloaded_error\",\"message\":\"Overloaded\",\"type\":\"api_error\"}}\n\n",
		},
		{
			name:    "upstream hanging up before message_stop is an error, not a clean end",
			sse:     evStart + evText,
			want:    `"delta":{"content":"Hi"},"finish_reason":null}]}` + "\n\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name: "CRLF line endings and multi-line data are understood",
			sse: strings.ReplaceAll(evStart, "\n", "\r\n") +
				"data: {\"type\":\"content_block_delta\",\"index\":0,\n data: \"delta\":{\"type\":\"text_delta\",\"text\":\"Yo\"}}\n\n" +
				"data: {\"type\":\"message_stop\"}",
			want: `"delta":{"content":"Yo"},"finish_reason":null}]}` + "\n\ndata: [DONE]\n\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, strings.ReplaceAll(tc.sse, "\n data: ", "\ndata: "))
			}))
			defer srv.Close()
			resp := startStream(t, srv.URL)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("read error = %v, want %v", err, tc.wantErr)
			}
			if !strings.HasSuffix(string(got), tc.want) {
				t.Errorf("stream does not end with %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		retryAfter string
		want       inference.ProviderError
	}{
		{"overloaded 529 reported as 503", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "",
			inference.ProviderError{Status: 503, Type: "api_error", Code: "overloaded_error", Message: "Overloaded", Retryable: true}},
		{"rate limit with retry-after", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}`, "7",
			inference.ProviderError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_error", Message: "Slow down", Retryable: true, RetryAfter: 7 * time.Second}},
		{"invalid request", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}`, "",
			inference.ProviderError{Status: 400, Type: "invalid_request_error", Code: "invalid_request_error", Message: "max_tokens: too large"}},
		{"authentication never leaks the key", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + testKey + `"}}`, "",
			inference.ProviderError{Status: 401, Type: "authentication_error", Code: "authentication_error", Message: "invalid x-api-key [redacted]"}},
		{"permission", 403, `{"type":"error","error":{"type":"permission_error","message":"no access"}}`, "",
			inference.ProviderError{Status: 403, Type: "permission_error", Code: "permission_error", Message: "no access"}},
		{"not found", 404, `{"type":"error","error":{"type":"not_found_error","message":"model: nope"}}`, "",
			inference.ProviderError{Status: 404, Type: "not_found_error", Code: "not_found_error", Message: "model: nope"}},
		{"api error", 500, `{"type":"error","error":{"type":"api_error","message":"Internal"}}`, "",
			inference.ProviderError{Status: 500, Type: "api_error", Code: "api_error", Message: "Internal", Retryable: true}},
		{"non-JSON gateway error", 502, `<html>Bad Gateway</html>`, "",
			inference.ProviderError{Status: 502, Type: "api_error", Message: "<html>Bad Gateway</html>", Retryable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p := newTestProvider(t, srv.URL, nil)
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Model: testModel,
				Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)})
			var pe *inference.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ProviderError", err)
			}
			want := tc.want
			want.Provider = "claude"
			if *pe != want {
				t.Errorf("got  %+v\nwant %+v", *pe, want)
			}
			if strings.Contains(pe.Error(), testKey) {
				t.Errorf("error leaks the API key: %v", pe)
			}
		})
	}
}

// hangHandler never answers; it consumes the body first because net/http notices a client hang-up (and
// cancels r.Context) only once the request body has been read.
func hangHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestTransportErrors(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(hangHandler))
	defer hang.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name       string
		url        string
		timeout    time.Duration
		wantStatus int
	}{
		{"first byte timeout is a 504", hang.URL, 50 * time.Millisecond, http.StatusGatewayTimeout},
		{"connection refused is a 502", closedURL, 0, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProvider(t, tc.url, func(c *Config) { c.FirstByteTimeout = tc.timeout })
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Model: testModel,
				Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)})
			var pe *inference.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ProviderError", err)
			}
			if pe.Status != tc.wantStatus || !pe.Retryable {
				t.Errorf("status %d retryable %v, want %d retryable", pe.Status, pe.Retryable, tc.wantStatus)
			}
			if strings.Contains(pe.Error(), testKey) {
				t.Errorf("error leaks the API key: %v", pe)
			}
		})
	}
}

func TestCallerCancellationIsNotAProviderFailure(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(hangHandler))
	defer hang.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := newTestProvider(t, hang.URL, nil)
	_, err := p.Do(ctx, &inference.Request{Endpoint: inference.EndpointChat, Model: testModel,
		Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)})
	var pe *inference.ProviderError
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  inference.Request
		want error  // sentinel, when not a 400
		msg  string // substring of the 400's message
	}{
		{"embeddings unsupported", inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(`{}`)}, inference.ErrUnsupported, ""},
		{"models unsupported", inference.Request{Endpoint: inference.EndpointModels, Method: http.MethodGet}, inference.ErrUnsupported, ""},
		{"audio part", inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`)}, nil, "input_audio"},
		{"bad data URL", inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`)}, nil, "data URL"},
		{"bad tool arguments", inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`)}, nil, "arguments"},
		{"n > 1", inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"n":2,"messages":[{"role":"user","content":"x"}]}`)}, nil, "n > 1"},
		{"no messages", inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"messages":[{"role":"system","content":"x"}]}`)}, nil, "at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("invalid request reached the upstream")
			}))
			defer srv.Close()
			_, err := newTestProvider(t, srv.URL, nil).Do(context.Background(), &tc.req)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
				return
			}
			var pe *inference.ProviderError
			if !errors.As(err, &pe) || pe.Status != 400 || pe.Retryable || !strings.Contains(pe.Message, tc.msg) {
				t.Errorf("err = %v, want a non-retryable 400 mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{APIKey: "k"}, false},
		{"relative base URL", Config{BaseURL: "api.anthropic.com"}, true},
		{"negative max tokens", Config{DefaultMaxTokens: -1}, true},
		{"negative timeout", Config{FirstByteTimeout: -time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (p.Kind() != "anthropic" || p.Name() != "anthropic") {
				t.Errorf("Kind %q Name %q", p.Kind(), p.Name())
			}
		})
	}
}

// TestRefusalInHistory: an assistant refusal part (OpenAI puts its text under "refusal") stays in the
// replayed history as the assistant's text.
func TestRefusalInHistory(t *testing.T) {
	body := `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"do the bad thing"},
	  {"role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}]},
	  {"role":"user","content":"ok, something else"}]}`
	tr, err := translateRequest([]byte(body), "c", 100, false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(tr.out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"role":"assistant","content":"I can't help with that."`) {
		t.Fatalf("the refusal is not in the translated history: %s", out)
	}
}
