// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

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

// nativeBody is a Messages request using what a translation would lose or reorder: cache_control,
// thinking, a thinking block in the history, an image, a forced tool, odd spacing and key order.
const nativeBody = `{"model":"claude-sonnet-4-5",  "max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":512},
 "system":[{"type":"text","text":"Be <terse>.","cache_control":{"type":"ephemeral"}}],
 "messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"What is it?"}]},
  {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig=="},{"type":"text","text":"A dot."}]},
  {"role":"user","content":"Sure?"}],
 "tools":[{"name":"look","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"zzz_future_field":[1,2]}`

// nativeAnswer is a Messages answer with blocks the chat translation would drop.
const nativeAnswer = `{"id":"msg_N","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
  "content":[{"type":"thinking","thinking":"Let me see","signature":"abc"},{"type":"text","text":"Yes, a dot."}],
  "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":90,"cache_read_input_tokens":40,"output_tokens":12}}` + "\n"

// nativeSSE is an Anthropic stream with thinking deltas, a ping and CRLF line ends: passed through as is.
const nativeSSE = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_S\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\r\n\r\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n" +
	": a comment line\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

// seenRequest is what the upstream received.
type seenRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// recordingUpstream answers every call with status, contentType and answer, and sends what it saw on
// the returned channel.
func recordingUpstream(t *testing.T, status int, contentType, answer string) (*httptest.Server, <-chan seenRequest) {
	t.Helper()
	seen := make(chan seenRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request: %v", err)
		}
		seen <- seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func TestNativePassThrough(t *testing.T) {
	for _, tc := range []struct {
		name          string
		endpoint      string
		stream        bool
		header        http.Header
		query         url.Values
		answerType    string
		answer        string
		wantPath      string
		wantQuery     string
		wantVersion   string
		wantBeta      []string
		wantAccept    string
		wantStream    bool
		wantType      string
		wantForwarded bool // whether X-Not-Forwarded reached the upstream
	}{
		{name: "messages with the client's version and betas", endpoint: inference.EndpointMessages,
			header: http.Header{"Anthropic-Version": {"2024-10-22"}, "Anthropic-Beta": {"prompt-caching-2024-07-31", "interleaved-thinking-2025-05-14,context-1m-2025-08-07"},
				"X-Not-Forwarded": {"x"}},
			query:      url.Values{"beta": {"true"}},
			answerType: "application/json", answer: nativeAnswer,
			wantPath: "/v1/messages", wantQuery: "beta=true", wantVersion: "2024-10-22",
			wantBeta: []string{"prompt-caching-2024-07-31", "interleaved-thinking-2025-05-14,context-1m-2025-08-07"},
			wantType: "application/json"},
		{name: "messages with the configured version", endpoint: inference.EndpointMessages,
			answerType: "application/json", answer: nativeAnswer,
			wantPath: "/v1/messages", wantVersion: "2023-06-01", wantType: "application/json"},
		{name: "count_tokens", endpoint: inference.EndpointCountTokens,
			header:     http.Header{"Anthropic-Beta": {"token-counting-2024-11-01"}},
			answerType: "application/json", answer: `{"input_tokens": 2095}`,
			wantPath: "/v1/messages/count_tokens", wantVersion: "2023-06-01", wantBeta: []string{"token-counting-2024-11-01"},
			wantType: "application/json"},
		{name: "count_tokens never streams", endpoint: inference.EndpointCountTokens, stream: true,
			answerType: "application/json", answer: `{"input_tokens":7}`,
			wantPath: "/v1/messages/count_tokens", wantVersion: "2023-06-01", wantType: "application/json"},
		{name: "stream", endpoint: inference.EndpointMessages, stream: true,
			header:     http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"fine-grained-tool-streaming-2025-05-14"}},
			answerType: "text/event-stream; charset=utf-8", answer: nativeSSE,
			wantPath: "/v1/messages", wantVersion: "2023-06-01", wantBeta: []string{"fine-grained-tool-streaming-2025-05-14"},
			wantAccept: "text/event-stream", wantStream: true, wantType: "text/event-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := recordingUpstream(t, http.StatusOK, tc.answerType, tc.answer)
			p := newTestProvider(t, srv.URL, nil)
			resp, err := p.Do(context.Background(), &inference.Request{Endpoint: tc.endpoint, Method: http.MethodPost,
				Body: []byte(nativeBody), Model: testModel, Stream: tc.stream, Header: tc.header, Query: tc.query})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading answer: %v", err)
			}
			if string(got) != tc.answer {
				t.Errorf("answer changed on the way:\n got %q\nwant %q", got, tc.answer)
			}
			if resp.Status != http.StatusOK || resp.Stream != tc.wantStream || resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("status %d stream %v content-type %q, want 200 %v %q", resp.Status, resp.Stream, resp.Header.Get("Content-Type"), tc.wantStream, tc.wantType)
			}

			r := <-seen
			if r.method != http.MethodPost || r.path != tc.wantPath || r.query != tc.wantQuery {
				t.Errorf("upstream got %s %s?%s, want POST %s?%s", r.method, r.path, r.query, tc.wantPath, tc.wantQuery)
			}
			if string(r.body) != nativeBody {
				t.Errorf("body changed on the way:\n got %s\nwant %s", r.body, nativeBody)
			}
			for h, want := range map[string]string{"X-Api-Key": testKey, "Anthropic-Version": tc.wantVersion,
				"Content-Type": "application/json", "Accept": tc.wantAccept} {
				if h == "Accept" && want == "" {
					if got := r.header.Get(h); got == "text/event-stream" {
						t.Errorf("a non-streamed call asked for %s %q", h, got)
					}
					continue
				}
				if got := r.header.Values(h); len(got) != 1 || got[0] != want {
					t.Errorf("upstream header %s = %q, want [%q]", h, got, want)
				}
			}
			if got := r.header.Values("Anthropic-Beta"); strings.Join(got, "|") != strings.Join(tc.wantBeta, "|") {
				t.Errorf("upstream anthropic-beta = %q, want %q", got, tc.wantBeta)
			}
			if r.header.Get("X-Not-Forwarded") != "" || r.header.Get("Authorization") != "" {
				t.Errorf("upstream got headers that are not the provider's: %v", r.header)
			}
		})
	}
}

func TestNativeErrors(t *testing.T) {
	for _, endpoint := range []string{inference.EndpointMessages, inference.EndpointCountTokens} {
		for _, stream := range []bool{false, true} {
			t.Run(endpoint+map[bool]string{true: " stream", false: ""}[stream], func(t *testing.T) {
				srv, _ := recordingUpstream(t, http.StatusTooManyRequests, "application/json",
					`{"type":"error","error":{"type":"rate_limit_error","message":"slow down, `+testKey+`"}}`)
				p := newTestProvider(t, srv.URL, nil)
				_, err := p.Do(context.Background(), &inference.Request{Endpoint: endpoint, Method: http.MethodPost,
					Body: []byte(nativeBody), Model: testModel, Stream: stream})
				var pe *inference.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ProviderError", err)
				}
				want := inference.ProviderError{Provider: "claude", Status: 429, Type: "rate_limit_error", Code: "rate_limit_error",
					Message: "slow down, [redacted]", RetryAfter: 3 * time.Second, Retryable: true}
				if *pe != want {
					t.Errorf("got  %+v\nwant %+v", *pe, want)
				}
			})
		}
	}
	// An overloaded Anthropic is a 503 to the router whichever path the call took.
	srv, _ := recordingUpstream(t, 529, "application/json", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	_, err := newTestProvider(t, srv.URL, nil).Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages,
		Method: http.MethodPost, Body: []byte(nativeBody), Model: testModel})
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != 503 || pe.Code != "overloaded_error" || !pe.Retryable {
		t.Errorf("529: err = %v, want a retryable 503 overloaded_error", err)
	}
}

func TestNativeTimeoutsAndCancellation(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(hangHandler))
	defer hang.Close()
	for _, endpoint := range []string{inference.EndpointMessages, inference.EndpointCountTokens} {
		t.Run(endpoint, func(t *testing.T) {
			p := newTestProvider(t, hang.URL, func(c *Config) { c.FirstByteTimeout = 50 * time.Millisecond })
			start := time.Now()
			_, err := p.Do(context.Background(), &inference.Request{Endpoint: endpoint, Method: http.MethodPost,
				Body: []byte(nativeBody), Model: testModel, Stream: true})
			var pe *inference.ProviderError
			if !errors.As(err, &pe) || pe.Status != http.StatusGatewayTimeout || pe.Code != "timeout" || !pe.Retryable {
				t.Fatalf("err = %v, want a retryable 504 timeout", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the first byte timeout took %v", d)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = newTestProvider(t, hang.URL, nil).Do(ctx, &inference.Request{Endpoint: endpoint, Method: http.MethodPost,
				Body: []byte(nativeBody), Model: testModel})
			if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &pe) {
				t.Errorf("err = %v, want the caller's own context.DeadlineExceeded, not a provider failure", err)
			}
		})
	}
}

// TestNativeStreamIsLiveAndCloseCancels checks that a passed-through stream reaches the caller event by
// event, not once the upstream finishes, and that closing it aborts the upstream call at once.
func TestNativeStreamIsLiveAndCloseCancels(t *testing.T) {
	srv := newStreamServer(t, []string{evStart, evText})
	p := newTestProvider(t, srv.URL, nil)
	resp, err := p.Do(context.Background(), &inference.Request{Endpoint: inference.EndpointMessages, Method: http.MethodPost,
		Body: []byte(nativeBody), Model: testModel, Stream: true})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	br := bufio.NewReader(resp.Body)
	srv.release <- struct{}{} // message_start only
	if line := readLine(t, br); line != "event: message_start\n" {
		t.Fatalf("first line = %q", line)
	}
	if line := readLine(t, br); !strings.HasPrefix(line, `data: {"type":"message_start"`) {
		t.Fatalf("second line = %q", line)
	}

	start := time.Now()
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-srv.gone:
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("upstream saw cancellation after %v, want ≤ 100ms", d)
		}
	case <-time.After(time.Second):
		t.Fatal("upstream request not cancelled after Close")
	}
}

func TestNativeUnsupportedMethod(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a GET reached the upstream")
	}))
	defer srv.Close()
	for _, endpoint := range []string{inference.EndpointMessages, inference.EndpointCountTokens} {
		_, err := newTestProvider(t, srv.URL, nil).Do(context.Background(), &inference.Request{Endpoint: endpoint, Method: http.MethodGet})
		if !errors.Is(err, inference.ErrUnsupported) {
			t.Errorf("GET %s: err = %v, want ErrUnsupported", endpoint, err)
		}
	}
}
