// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

// update rewrites the expected golden files from the current output; review the diff before keeping it.
var update = flag.Bool("update", false, "rewrite golden files")

const testKey = "test-key-SECRET-123"

var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newTestProvider returns a provider against baseURL with a fixed clock and counting IDs.
func newTestProvider(t *testing.T, baseURL string, fbt time.Duration) inference.Provider {
	t.Helper()
	var n atomic.Int64
	p, err := New(Config{
		Name:             "gm-test",
		BaseURL:          baseURL,
		APIKey:           testKey,
		FirstByteTimeout: fbt,
		Now:              func() time.Time { return fixedNow },
		NewID:            func() string { return fmt.Sprintf("id%d", n.Add(1)) },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// normJSON re-encodes JSON indented with sorted keys, so goldens compare by meaning, not layout.
func normJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("parsing JSON %q: %v", b, err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("encoding JSON: %v", err)
	}
	return string(out) + "\n"
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("writing golden: %v", err)
		}
		return
	}
	want := string(readFile(t, path))
	if got != want {
		t.Errorf("%s mismatch\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// fakeGemini checks the call's path, key and translated body against the golden request, then answers.
func fakeGemini(t *testing.T, wantPath, goldenReq string, answer func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.RequestURI(); got != wantPath {
			t.Errorf("path = %q, want %q", got, wantPath)
		}
		if got := r.Header.Get("x-goog-api-key"); got != testKey {
			t.Errorf("x-goog-api-key = %q", got)
		}
		if strings.Contains(r.URL.RawQuery, testKey) {
			t.Errorf("key leaked into the query string")
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		if goldenReq != "" {
			checkGolden(t, goldenReq, normJSON(t, body))
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestChatGolden(t *testing.T) {
	tests := []struct {
		name  string
		model string // Request.Model; empty uses the body's
		path  string
	}{
		{name: "plain", model: "gemini-2.5-flash", path: "/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "tool_call", model: "gemini-2.5-flash", path: "/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "image", path: "/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "tool_result", model: "gemini-2.5-pro", path: "/v1beta/models/gemini-2.5-pro:generateContent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "chat", tc.name)
			resp := readFile(t, filepath.Join(dir, "gemini_response.json"))
			srv := fakeGemini(t, tc.path, filepath.Join(dir, "gemini_request.json"), func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(resp)
			})
			p := newTestProvider(t, srv.URL, 0)
			out, err := p.Do(context.Background(), &inference.Request{
				Endpoint: inference.EndpointChat, Method: http.MethodPost,
				Body: readFile(t, filepath.Join(dir, "openai_request.json")), Model: tc.model,
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer out.Body.Close()
			if out.Status != http.StatusOK || out.Stream || out.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d stream %v header %v", out.Status, out.Stream, out.Header)
			}
			body, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			checkGolden(t, filepath.Join(dir, "openai_response.json"), normJSON(t, body))
		})
	}
}

// normSSE normalises each data event's JSON to one sorted-key line.
func normSSE(t *testing.T, b []byte) string {
	t.Helper()
	var out strings.Builder
	for ev := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			t.Fatalf("not a data event: %q", ev)
		}
		if data != "[DONE]" {
			var v any
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			nb, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("encoding: %v", err)
			}
			data = string(nb)
		}
		out.WriteString("data: " + data + "\n\n")
	}
	return out.String()
}

func TestStreamGolden(t *testing.T) {
	tests := []struct {
		name  string
		model string
	}{
		{name: "text_and_tool", model: "gemini-2.5-flash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "stream", tc.name)
			sse := readFile(t, filepath.Join(dir, "gemini_stream.sse"))
			srv := fakeGemini(t, "/v1beta/models/"+tc.model+":streamGenerateContent?alt=sse",
				filepath.Join(dir, "gemini_request.json"), func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = w.Write(sse)
				})
			p := newTestProvider(t, srv.URL, 0)
			out, err := p.Do(context.Background(), &inference.Request{
				Endpoint: inference.EndpointChat, Method: http.MethodPost, Stream: true,
				Body: readFile(t, filepath.Join(dir, "openai_request.json")), Model: tc.model,
			})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer out.Body.Close()
			if !out.Stream || out.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("stream %v header %v", out.Stream, out.Header)
			}
			body, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatalf("reading stream: %v", err)
			}
			checkGolden(t, filepath.Join(dir, "openai_stream.sse"), normSSE(t, body))
		})
	}
}

const streamReq = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// readEvent reads one SSE event, failing the test if none arrives in time.
func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil || line == "\n" {
				ch <- result{b.String(), err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading event: %v (got %q)", r.err, r.s)
		}
		return r.s
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return ""
	}
}

// TestStreamPerEvent checks the first chunk is readable while Gemini still holds back the rest: a
// provider that buffered the stream would deadlock here.
func TestStreamPerEvent(t *testing.T) {
	release := make(chan struct{})
	srv := fakeGemini(t, "/v1beta/models/m:streamGenerateContent?alt=sse", "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}`+"\r\n\r\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}]}`+"\r\n\r\n")
	})
	p := newTestProvider(t, srv.URL, 0)
	out, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(streamReq), Model: "m", Stream: true})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer out.Body.Close()
	br := bufio.NewReader(out.Body)
	first := readEvent(t, br)
	if !strings.Contains(first, `"role":"assistant"`) || !strings.Contains(first, `"content":"Hel"`) {
		t.Errorf("first event = %q", first)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading rest: %v", err)
	}
	for _, want := range []string{`"content":"lo"`, `"finish_reason":"stop"`, "data: [DONE]\n\n"} {
		if !strings.Contains(string(rest), want) {
			t.Errorf("rest lacks %q: %s", want, rest)
		}
	}
	if strings.Contains(string(rest), `"usage"`) {
		t.Errorf("usage chunk sent without stream_options.include_usage: %s", rest)
	}
}

// TestStreamCloseCancelsUpstream checks that closing the body (the client went away) aborts the Gemini
// call promptly instead of letting it run, and bill, to the end.
func TestStreamCloseCancelsUpstream(t *testing.T) {
	done := make(chan time.Time, 1)
	srv := fakeGemini(t, "/v1beta/models/m:streamGenerateContent?alt=sse", "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			done <- time.Now()
		case <-time.After(5 * time.Second):
		}
	})
	p := newTestProvider(t, srv.URL, 0)
	out, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(streamReq), Model: "m", Stream: true})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	readEvent(t, bufio.NewReader(out.Body))
	closed := time.Now()
	if err := out.Body.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case at := <-done:
		if d := at.Sub(closed); d > 100*time.Millisecond {
			t.Errorf("upstream saw cancellation after %v", d)
		}
	case <-time.After(time.Second):
		t.Fatal("upstream never saw cancellation")
	}
}

// TestStreamInStreamError checks an error event Gemini sends after the 200 reaches the client in
// OpenAI's mid-stream error shape, without [DONE].
// TestStreamTruncated: an upstream that closes cleanly before any candidate's finishReason cut the answer
// short; the translated stream ends with an error, never with [DONE].
func TestStreamTruncated(t *testing.T) {
	srv := fakeGemini(t, "/v1beta/models/m:streamGenerateContent?alt=sse", "", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"b"}]}}]}`+"\n\n")
	})
	p := newTestProvider(t, srv.URL, 0)
	out, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(streamReq), Model: "m", Stream: true})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(string(body), "[DONE]") || !strings.Contains(string(body), `"b"`) {
		t.Errorf("err %v, body %s", err, body)
	}
}

func TestStreamInStreamError(t *testing.T) {
	srv := fakeGemini(t, "/v1beta/models/m:streamGenerateContent?alt=sse", "", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`+"\n\n")
	})
	p := newTestProvider(t, srv.URL, 0)
	out, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(streamReq), Model: "m", Stream: true})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if !strings.Contains(string(body), `data: {"error":{"code":"UNAVAILABLE","message":"overloaded","type":"api_error"}}`) ||
		strings.Contains(string(body), "[DONE]") {
		t.Errorf("body = %s", body)
	}
}

func TestFirstByteTimeout(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
	}{
		{name: "buffered", stream: false},
		{name: "stream_headers_but_no_event", stream: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The server only watches the connection (and cancels r.Context) once the body is read.
				_, _ = io.Copy(io.Discard, r.Body)
				if tc.stream {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}))
			t.Cleanup(srv.Close)
			p := newTestProvider(t, srv.URL, 50*time.Millisecond)
			body := strings.Replace(streamReq, `"stream":true`, fmt.Sprintf(`"stream":%v`, tc.stream), 1)
			start := time.Now()
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(body), Model: "m", Stream: tc.stream})
			var perr *inference.ProviderError
			if !errors.As(err, &perr) || perr.Status != http.StatusGatewayTimeout || !perr.Retryable {
				t.Fatalf("err = %v, want retryable 504", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		header     http.Header
		wantStatus int
		wantType   string
		wantCode   string
		wantRetry  bool
		wantAfter  time.Duration
		wantMsg    string
	}{
		{
			name: "rate_limited_with_retry_info", status: 429,
			body:       `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}`,
			wantStatus: 429, wantType: "rate_limit_error", wantCode: "RESOURCE_EXHAUSTED", wantRetry: true, wantAfter: 34 * time.Second, wantMsg: "Quota exceeded",
		},
		{
			name: "unavailable_with_retry_after", status: 503, header: http.Header{"Retry-After": {"7"}},
			body:       `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
			wantStatus: 503, wantType: "api_error", wantCode: "UNAVAILABLE", wantRetry: true, wantAfter: 7 * time.Second, wantMsg: "The model is overloaded.",
		},
		{
			name: "internal", status: 500, body: `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			wantStatus: 500, wantType: "api_error", wantCode: "INTERNAL", wantRetry: true, wantMsg: "An internal error has occurred.",
		},
		{
			name: "invalid_argument", status: 400, body: `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "INVALID_ARGUMENT", wantMsg: "Invalid JSON payload",
		},
		{
			name: "bad_key_echoed_is_redacted", status: 400,
			body:       `{"error":{"code":400,"message":"API key not valid: ` + testKey + `","status":"INVALID_ARGUMENT"}}`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "INVALID_ARGUMENT", wantMsg: "API key not valid: [redacted]",
		},
		{
			name: "permission_denied", status: 403, body: `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`,
			wantStatus: 403, wantType: "permission_error", wantCode: "PERMISSION_DENIED", wantMsg: "denied",
		},
		{
			name: "unauthenticated", status: 401, body: `{"error":{"code":401,"message":"no creds","status":"UNAUTHENTICATED"}}`,
			wantStatus: 401, wantType: "authentication_error", wantCode: "UNAUTHENTICATED", wantMsg: "no creds",
		},
		{
			name: "not_found", status: 404, body: `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}`,
			wantStatus: 404, wantType: "not_found_error", wantCode: "NOT_FOUND", wantMsg: "models/x is not found",
		},
		{
			name: "non_json_gateway_error", status: 502, body: `<html>Bad Gateway</html>`,
			wantStatus: 502, wantType: "api_error", wantRetry: true, wantMsg: "<html>Bad Gateway</html>",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			p := newTestProvider(t, srv.URL, 0)
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), Model: "m"})
			var perr *inference.ProviderError
			if !errors.As(err, &perr) {
				t.Fatalf("err = %v, want *ProviderError", err)
			}
			if perr.Status != tc.wantStatus || perr.Type != tc.wantType || perr.Code != tc.wantCode ||
				perr.Retryable != tc.wantRetry || perr.RetryAfter != tc.wantAfter || perr.Message != tc.wantMsg || perr.Provider != "gm-test" {
				t.Errorf("got %+v", perr)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close() // nothing listens there any more
	p := newTestProvider(t, dead, 0)
	tests := []struct {
		name     string
		endpoint string
		body     string
	}{
		{name: "chat", endpoint: inference.EndpointChat, body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{name: "embeddings", endpoint: inference.EndpointEmbeddings, body: `{"model":"m","input":"hi"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: tc.endpoint, Body: []byte(tc.body), Model: "m"})
			var perr *inference.ProviderError
			if !errors.As(err, &perr) || perr.Status != http.StatusBadGateway || !perr.Retryable || perr.Cause == nil {
				t.Fatalf("err = %v, want retryable 502 with cause", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("an untranslatable request reached Gemini")
	}))
	t.Cleanup(srv.Close)
	p := newTestProvider(t, srv.URL, 0)
	tests := []struct {
		name        string
		req         inference.Request
		unsupported bool
	}{
		{name: "models_post", req: inference.Request{Endpoint: inference.EndpointModels, Method: http.MethodPost}, unsupported: true},
		{name: "one_model", req: inference.Request{Endpoint: inference.EndpointModels + "/gemini-pro", Method: http.MethodGet}, unsupported: true},
		{name: "responses_endpoint", req: inference.Request{Endpoint: inference.EndpointResponses, Body: []byte(`{}`)}, unsupported: true},
		{name: "embedding_tokens", req: inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(`{"model":"m","input":[[1,2,3]]}`)}, unsupported: true},
		{name: "unknown_tool_call_id", req: inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}`)}},
		{name: "bad_arguments", req: inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1"}}]}]}`)}},
		{name: "bad_json", req: inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{`)}},
		{name: "bad_tool_choice", req: inference.Request{Endpoint: inference.EndpointChat, Body: []byte(`{"model":"m","messages":[],"tool_choice":"sometimes"}`)}},
		{name: "empty_embedding_input", req: inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(`{"model":"m","input":[]}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Do(context.Background(), &tc.req)
			if tc.unsupported {
				if !errors.Is(err, inference.ErrUnsupported) {
					t.Fatalf("err = %v, want ErrUnsupported", err)
				}
				return
			}
			var perr *inference.ProviderError
			if !errors.As(err, &perr) || perr.Status != http.StatusBadRequest || perr.Retryable || perr.Type != "invalid_request_error" {
				t.Fatalf("err = %v, want non-retryable 400", err)
			}
		})
	}
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantReq  string
		answer   string
		wantResp string
	}{
		{
			name:     "batch_float",
			body:     `{"model":"text-embedding-004","input":["a","b"],"dimensions":2}`,
			wantReq:  `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]},"outputDimensionality":2},{"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]},"outputDimensionality":2}]}`,
			answer:   `{"embeddings":[{"values":[0.5,-0.25]},{"values":[1,0.125]}]}`,
			wantResp: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]},{"object":"embedding","index":1,"embedding":[1,0.125]}],"model":"text-embedding-004","usage":{"prompt_tokens":0,"total_tokens":0}}`,
		},
		{
			name:     "single_base64_with_usage",
			body:     `{"model":"text-embedding-004","input":"a","encoding_format":"base64"}`,
			wantReq:  `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}}]}`,
			answer:   `{"embeddings":[{"values":[1,-2]}],"usageMetadata":{"promptTokenCount":3}}`,
			wantResp: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAMA="}],"model":"text-embedding-004","usage":{"prompt_tokens":3,"total_tokens":3}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeGemini(t, "/v1beta/models/text-embedding-004:batchEmbedContents", "", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tc.answer)
			})
			// The fake's body check is done here rather than via a golden: the request is one line.
			var gotReq []byte
			inner := srv.Config.Handler
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotReq, _ = io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(gotReq))
				inner.ServeHTTP(w, r)
			})
			p := newTestProvider(t, srv.URL, 0)
			out, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointEmbeddings, Body: []byte(tc.body), Model: "text-embedding-004"})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer out.Body.Close()
			body, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if normJSON(t, gotReq) != normJSON(t, []byte(tc.wantReq)) {
				t.Errorf("gemini request = %s", gotReq)
			}
			if normJSON(t, body) != normJSON(t, []byte(tc.wantResp)) {
				t.Errorf("response = %s", body)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{}},
		{name: "relative_url", cfg: Config{BaseURL: "example.com"}, wantErr: true},
		{name: "ftp_url", cfg: Config{BaseURL: "ftp://example.com"}, wantErr: true},
		{name: "negative_timeout", cfg: Config{FirstByteTimeout: -time.Second}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (p.Kind() != "gemini" || p.Name() != "gemini") {
				t.Errorf("kind %q name %q", p.Kind(), p.Name())
			}
		})
	}
}

func TestModels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1beta/models" || r.URL.Query().Get("pageSize") != "1000" ||
			r.Header.Get("x-goog-api-key") != testKey {
			t.Errorf("request %s %s, key %q", r.Method, r.URL, r.Header.Get("x-goog-api-key"))
		}
		_, _ = io.WriteString(w, `{"models":[{"name":"models/gemini-2.0-flash","displayName":"Gemini"},{"name":"models/text-embedding-004"}]}`)
	}))
	t.Cleanup(srv.Close)
	resp, err := newTestProvider(t, srv.URL, 0).Do(context.Background(), &inference.Request{Endpoint: inference.EndpointModels, Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"object":"list","data":[{"id":"gemini-2.0-flash","object":"model","created":0,"owned_by":"google"},` +
		`{"id":"text-embedding-004","object":"model","created":0,"owned_by":"google"}]}`
	if string(body) != want {
		t.Errorf("list = %s; want %s", body, want)
	}
}
