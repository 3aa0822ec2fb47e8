// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var geminiResponseID = regexp.MustCompile(`"responseId":"[0-9a-f]{16}"`)

// stableGemini replaces the random responseId with "ID" and checks it was one id throughout.
func stableGemini(t *testing.T, body []byte) string {
	t.Helper()
	ids := map[string]bool{}
	for _, id := range geminiResponseID.FindAll(body, -1) {
		ids[string(id)] = true
	}
	if len(ids) != 1 {
		t.Errorf("want one responseId in the answer, got %v", ids)
	}
	return geminiResponseID.ReplaceAllString(string(body), `"responseId":"ID"`)
}

func TestGeminiGenerateContent(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		name, path, body string
		headers          map[string]string
		want             string
	}{
		{
			name:    "system and multi turn",
			path:    "/v1beta/models/gemini-2.5-flash:generateContent",
			headers: map[string]string{"X-Goog-Api-Key": "k"},
			body:    `{"systemInstruction":{"parts":[{"text":"be"},{"text":"brief"}]},"contents":[{"role":"user","parts":[{"text":"first"}]},{"role":"model","parts":[{"text":"ok"}]},{"role":"user","parts":[{"text":"hello big"},{"text":"world"}]}]}`,
			want:    `{"candidates":[{"content":{"parts":[{"text":"echo: hello big world"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":4,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"ID"}`,
		},
		{
			name:    "maxOutputTokens and key in the query",
			path:    "/v1beta/models/gemini-pro:generateContent?key=k",
			body:    `{"contents":[{"parts":[{"text":"a b c d"}]}],"generationConfig":{"maxOutputTokens":2,"temperature":0.1}}`,
			want:    `{"candidates":[{"content":{"parts":[{"text":"echo: a"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"modelVersion":"gemini-pro","responseId":"ID"}`,
			headers: nil,
		},
		{
			name:    "snake_case fields",
			path:    "/v1beta/models/g:generateContent",
			headers: map[string]string{"X-Goog-Api-Key": "k"},
			body:    `{"system_instruction":{"parts":[{"text":"sys"}]},"contents":[{"role":"user","parts":[{"text":"a b c"}]}],"generation_config":{"max_output_tokens":1}}`,
			want:    `{"candidates":[{"content":{"parts":[{"text":"echo:"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1,"totalTokenCount":5},"modelVersion":"g","responseId":"ID"}`,
		},
		{
			name:    "a function response turn is not the question",
			path:    "/v1beta/models/g:generateContent",
			headers: map[string]string{"X-Goog-Api-Key": "k"},
			body:    `{"contents":[{"role":"user","parts":[{"text":"weather <Paris>"}]},{"role":"model","parts":[{"functionCall":{"name":"w","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"w","response":{"t":"sunny"}}}]}]}`,
			want:    `{"candidates":[{"content":{"parts":[{"text":"echo: weather \u003cParis\u003e"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5},"modelVersion":"g","responseId":"ID"}`,
		},
		{
			name:    "zero maxOutputTokens",
			path:    "/v1beta/models/g:generateContent",
			headers: map[string]string{"X-Goog-Api-Key": "k"},
			body:    `{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"maxOutputTokens":0}}`,
			want:    `{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":0,"totalTokenCount":1},"modelVersion":"g","responseId":"ID"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, srv.URL+tc.path, tc.body, tc.headers)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := strings.TrimSpace(stableGemini(t, body)); got != tc.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestGeminiStream(t *testing.T) {
	srv := newServer(t, Options{})
	key := map[string]string{"X-Goog-Api-Key": "k"}
	const (
		open   = `{"candidates":[{"content":{"parts":[{"text":`
		middle = `}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"ID"}`
	)
	tests := []struct {
		name, path, body, wantType, want string
	}{
		{
			name:     "sse",
			path:     "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			body:     `{"contents":[{"role":"user","parts":[{"text":"red \"green\""}]}]}`,
			wantType: "text/event-stream",
			want: "data: " + open + `"echo: "` + middle + "\r\n\r\n" +
				"data: " + open + `"red "` + middle + "\r\n\r\n" +
				"data: " + open + `"\"green\""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"ID"}` + "\r\n\r\n",
		},
		{
			name:     "sse cut by maxOutputTokens",
			path:     "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			body:     `{"contents":[{"parts":[{"text":"a b c"}]}],"generationConfig":{"maxOutputTokens":2}}`,
			wantType: "text/event-stream",
			want: "data: " + open + `"echo: "` + middle + "\r\n\r\n" +
				"data: " + open + `"a"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"ID"}` + "\r\n\r\n",
		},
		{
			name:     "sse with no words left",
			path:     "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
			body:     `{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"maxOutputTokens":0}}`,
			wantType: "text/event-stream",
			want:     "data: " + open + `""}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":0,"totalTokenCount":1},"modelVersion":"gemini-2.5-flash","responseId":"ID"}` + "\r\n\r\n",
		},
		{
			name:     "json array",
			path:     "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
			body:     `{"contents":[{"parts":[{"text":"red green"}]}]}`,
			wantType: "application/json",
			want: "[" + open + `"echo: "` + middle + "\n" +
				",\r\n" + open + `"red "` + middle + "\n" +
				",\r\n" + open + `"green"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"ID"}` + "\n]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, srv.URL+tc.path, tc.body, key)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tc.wantType)
			}
			if got := stableGemini(t, body); got != tc.want {
				t.Errorf("stream =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestGeminiErrors(t *testing.T) {
	srv := newServer(t, Options{})
	const (
		path = "/v1beta/models/g:generateContent"
		ok   = `{"contents":[{"parts":[{"text":"hi"}]}]}`
	)
	key := func(h map[string]string) map[string]string {
		out := map[string]string{"X-Goog-Api-Key": "k"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		wantCode                 int
		want                     string
		wantAllow                string
		wantMin                  time.Duration
	}{
		{name: "no api key", body: ok, wantCode: 403,
			want: `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`},
		{name: "bad json", body: `{"contents":`, headers: key(nil), wantCode: 400,
			want: `{"error":{"code":400,"message":"We could not parse the JSON body of your request: unexpected end of JSON input","status":"INVALID_ARGUMENT"}}`},
		{name: "no contents", body: `{"contents":[]}`, headers: key(nil), wantCode: 400,
			want: `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`},
		{name: "negative maxOutputTokens", body: `{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":-1}}`, headers: key(nil), wantCode: 400,
			want: `{"error":{"code":400,"message":"* GenerateContentRequest.generation_config.max_output_tokens: must not be negative","status":"INVALID_ARGUMENT"}}`},
		{name: "bad alt", path: "/v1beta/models/g:streamGenerateContent?alt=proto", body: ok, headers: key(nil), wantCode: 400,
			want: `{"error":{"code":400,"message":"Invalid value at 'alt' (\"proto\")","status":"INVALID_ARGUMENT"}}`},
		{name: "unknown method", path: "/v1beta/models/g:countTokens", body: ok, headers: key(nil), wantCode: 404,
			want: `{"error":{"code":404,"message":"Method \"countTokens\" is not served by fakellm","status":"NOT_FOUND"}}`},
		{name: "unknown path", path: "/v1beta/files", body: ok, headers: key(nil), wantCode: 404,
			want: `{"error":{"code":404,"message":"Invalid URL (POST /v1beta/files)","status":"NOT_FOUND"}}`},
		{name: "get", method: http.MethodGet, headers: key(nil), wantCode: 405, wantAllow: "POST",
			want: `{"error":{"code":405,"message":"Method GET not allowed for /v1beta/models/g:generateContent","status":"UNKNOWN"}}`},
		{name: "injected 429", body: ok, headers: key(map[string]string{"X-Fake-Status": "429"}), wantCode: 429,
			want: `{"error":{"code":429,"message":"injected failure: 429 Too Many Requests","status":"RESOURCE_EXHAUSTED"}}`},
		{name: "injected 503 on a stream", path: "/v1beta/models/g:streamGenerateContent?alt=sse", body: ok, headers: key(map[string]string{"X-Fake-Status": "503"}), wantCode: 503,
			want: `{"error":{"code":503,"message":"injected failure: 503 Service Unavailable","status":"UNAVAILABLE"}}`},
		{name: "injected 500", body: ok, headers: key(map[string]string{"X-Fake-Status": "500"}), wantCode: 500,
			want: `{"error":{"code":500,"message":"injected failure: 500 Internal Server Error","status":"INTERNAL"}}`},
		{name: "injected 401", body: ok, headers: key(map[string]string{"X-Fake-Status": "401"}), wantCode: 401,
			want: `{"error":{"code":401,"message":"injected failure: 401 Unauthorized","status":"UNAUTHENTICATED"}}`},
		{name: "bad fake delay", body: ok, headers: key(map[string]string{"X-Fake-Delay": "soon"}), wantCode: 400,
			want: `{"error":{"code":400,"message":"invalid X-Fake-Delay \"soon\"","status":"INVALID_ARGUMENT"}}`},
		{name: "delay then status", body: ok, headers: key(map[string]string{"X-Fake-Delay": "100ms", "X-Fake-Status": "504"}), wantCode: 504, wantMin: 100 * time.Millisecond,
			want: `{"error":{"code":504,"message":"injected failure: 504 Gateway Timeout","status":"DEADLINE_EXCEEDED"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, p := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if p == "" {
				p = path
			}
			start := time.Now()
			code, hdr, body := do(t, method, srv.URL+p, tc.body, tc.headers)
			if elapsed := time.Since(start); elapsed < tc.wantMin {
				t.Errorf("answered after %v, want at least %v", elapsed, tc.wantMin)
			}
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", code, tc.wantCode, body)
			}
			if got := strings.TrimSpace(string(body)); got != tc.want {
				t.Errorf("body =\n%s\nwant\n%s", got, tc.want)
			}
			if got := hdr.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
		})
	}
}
