// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tidwall/gjson"
)

// flushWriter records what each Flush pushed to the client, so tests can see event boundaries.
type flushWriter struct {
	header  http.Header
	mu      sync.Mutex
	status  int
	pending bytes.Buffer
	all     bytes.Buffer
	flushed chan string
}

func newFlushWriter() *flushWriter {
	return &flushWriter{header: http.Header{}, flushed: make(chan string, 1000)}
}

func (f *flushWriter) Header() http.Header { return f.header }

func (f *flushWriter) WriteHeader(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == 0 {
		f.status = status
	}
}

func (f *flushWriter) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == 0 {
		f.status = http.StatusOK
	}
	f.pending.Write(b)
	return f.all.Write(b)
}

func (f *flushWriter) Flush() {
	f.mu.Lock()
	s := f.pending.String()
	f.pending.Reset()
	f.mu.Unlock()
	f.flushed <- s
}

func (f *flushWriter) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.all.String()
}

// trackedBody reports when the Engine closes the upstream body.
type trackedBody struct {
	io.ReadCloser
	once   sync.Once
	closed chan struct{}
}

func newTrackedBody(rc io.ReadCloser) *trackedBody {
	return &trackedBody{ReadCloser: rc, closed: make(chan struct{})}
}

func (t *trackedBody) Close() error {
	t.once.Do(func() { close(t.closed) })
	return t.ReadCloser.Close()
}

func sseResponse(body io.ReadCloser) *Response {
	return &Response{Status: http.StatusOK, Stream: true, Body: body,
		Header: http.Header{"Content-Type": {"text/event-stream"}, "X-Request-Id": {"req-1"}}}
}

func streamBackend(body io.ReadCloser) *fakeBackend {
	return &fakeBackend{models: []string{"gpt-4o"}, do: func(context.Context, string, *Request) (*Response, error) {
		return sseResponse(body), nil
	}}
}

const streamReq = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello world"}]}`

// startStream runs ServeHTTP in the background; the returned channel yields its error.
func startStream(ctx context.Context, e *Engine, w http.ResponseWriter, body string) <-chan error {
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)).WithContext(ctx)
	done := make(chan error, 1)
	go func() { done <- e.ServeHTTP(w, r, EndpointChat) }()
	return done
}

func nextFlush(t *testing.T, w *flushWriter) string {
	t.Helper()
	select {
	case s := <-w.flushed:
		return s
	case <-time.After(2 * time.Second):
		t.Fatal("no flush within 2s")
		return ""
	}
}

func TestStreamPerEventFlush(t *testing.T) {
	pr, pw := io.Pipe()
	var rec usageRecorder
	e := &Engine{Backend: streamBackend(pr), Hooks: rec.hooks()}
	w := newFlushWriter()
	done := startStream(context.Background(), e, w, streamReq)

	events := []struct {
		name   string
		send   string
		stripd bool
	}{
		{name: "first content", send: "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n"},
		{name: "crlf event", send: "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\r\n\r\n"},
		{name: "usage-only chunk", send: "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\n", stripd: true},
		{name: "done", send: "data: [DONE]\n\n"},
	}
	for _, ev := range events {
		if _, err := io.WriteString(pw, ev.send); err != nil {
			t.Fatalf("%s: %v", ev.name, err)
		}
		if ev.stripd {
			continue
		}
		// The pipe hands over one event at a time, so each flush must hold exactly the event just sent.
		if got := nextFlush(t, w); got != ev.send {
			t.Fatalf("%s: flushed %q; want %q", ev.name, got, ev.send)
		}
	}
	_ = pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(w.output(), `"prompt_tokens"`) {
		t.Errorf("usage chunk reached a client that did not ask for it: %s", w.output())
	}
	h := w.Header()
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" ||
		h.Get("X-Accel-Buffering") != "no" || h.Get("X-Request-Id") != "req-1" {
		t.Errorf("headers = %v", h)
	}
	want := Usage{PromptTokens: 4, CompletionTokens: 2, TotalTokens: 6, Source: "provider"}
	if got := rec.only(t); got != want {
		t.Errorf("usage = %+v; want %+v", got, want)
	}
	if rec.ttft != 1 {
		t.Errorf("OnFirstToken called %d times", rec.ttft)
	}
}

func TestStreamUsage(t *testing.T) {
	const (
		c1    = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n"
		c2    = "data: {\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n\n"
		usage = "data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5,\"total_tokens\":14}}\n\n"
		done  = "data: [DONE]\n\n"
	)
	provider := Usage{PromptTokens: 9, CompletionTokens: 5, TotalTokens: 14, Source: "provider"}
	tests := []struct {
		name         string
		req          string
		upstream     string
		wantUpstream string // "" = the client's body with include_usage added
		wantClient   string
		want         Usage
	}{
		{
			name: "not asked: injected and stripped", req: streamReq, upstream: c1 + c2 + usage + done,
			wantUpstream: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello world"}],"stream_options":{"include_usage":true}}`,
			wantClient:   c1 + c2 + done, want: provider,
		},
		{
			name:         "asked false: set and stripped",
			req:          `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[]}`,
			upstream:     c1 + usage + done,
			wantUpstream: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			wantClient:   c1 + done, want: provider,
		},
		{
			name:         "asked: kept",
			req:          `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			upstream:     c1 + usage + done,
			wantUpstream: `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			wantClient:   c1 + usage + done, want: provider,
		},
		{
			name: "no usage from the provider: tokenizer", req: streamReq, upstream: c1 + c2 + done,
			wantUpstream: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello world"}],"stream_options":{"include_usage":true}}`,
			wantClient:   c1 + c2 + done,
			// "Hello world" is 2 tokens; the prompt's "hello world" 2, plus 3 per message and 3 priming.
			want: Usage{PromptTokens: 8, CompletionTokens: 2, TotalTokens: 10, Source: "tokenizer"},
		},
		{
			name: "unterminated last event", req: streamReq, upstream: c1 + "data: [DONE]",
			wantUpstream: `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hello world"}],"stream_options":{"include_usage":true}}`,
			wantClient:   c1 + done,
			want:         Usage{PromptTokens: 8, CompletionTokens: CountTokens("gpt-4o", "Hello"), TotalTokens: 8 + CountTokens("gpt-4o", "Hello"), Source: "tokenizer"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec usageRecorder
			b := streamBackend(io.NopCloser(strings.NewReader(tc.upstream)))
			e := &Engine{Backend: b, Hooks: rec.hooks()}
			w := newFlushWriter()
			if err := <-startStream(context.Background(), e, w, tc.req); err != nil {
				t.Fatal(err)
			}
			if _, req, _ := b.last(); string(req.Body) != tc.wantUpstream || !req.Stream {
				t.Errorf("upstream body\n got %s\nwant %s", req.Body, tc.wantUpstream)
			}
			if got := w.output(); got != tc.wantClient {
				t.Errorf("client got\n%q\nwant\n%q", got, tc.wantClient)
			}
			if got := rec.only(t); got != tc.want {
				t.Errorf("usage = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestStreamResponsesUsage(t *testing.T) {
	body := "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1,\"total_tokens\":4}}}\n\n"
	var rec usageRecorder
	e := &Engine{Backend: streamBackend(io.NopCloser(strings.NewReader(body))), Hooks: rec.hooks()}
	w := newFlushWriter()
	r := httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(`{"model":"gpt-4o","stream":true,"input":"x"}`))
	if err := e.ServeHTTP(w, r, EndpointResponses); err != nil {
		t.Fatal(err)
	}
	if w.output() != body {
		t.Errorf("client got %q", w.output())
	}
	if got, want := rec.only(t), (Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4, Source: "provider"}); got != want {
		t.Errorf("usage = %+v; want %+v", got, want)
	}
}

func TestStreamClientCancel(t *testing.T) {
	tests := []struct {
		name       string
		firstEvent bool
		wantErr    bool
	}{
		{name: "mid-stream", firstEvent: true},
		{name: "before the first event", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			body := newTrackedBody(pr)
			e := &Engine{Backend: streamBackend(body)}
			w := newFlushWriter()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := startStream(ctx, e, w, streamReq)
			if tc.firstEvent {
				go func() { _, _ = io.WriteString(pw, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n") }()
				nextFlush(t, w)
			} else {
				time.Sleep(20 * time.Millisecond) // let the stream start waiting
			}
			start := time.Now()
			cancel()
			select {
			case <-body.closed:
				if d := time.Since(start); d > 100*time.Millisecond {
					t.Errorf("upstream body closed after %v; want ≤ 100ms", d)
				}
			case <-time.After(100 * time.Millisecond):
				t.Fatal("upstream body not closed within 100ms of the client going away")
			}
			err := <-done
			if tc.wantErr {
				wantAPIErr(t, err, 499, "client_closed_request")
			} else if err != nil {
				t.Fatalf("error after the stream started: %v", err)
			}
		})
	}
}

func TestStreamFailures(t *testing.T) {
	const first = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	tests := []struct {
		name     string
		idle     time.Duration
		fbt      time.Duration
		send     bool
		breakErr error // upstream failure after the first event
		wantCode string
		wantErr  int // status of a returned error; 0 = an error event in the stream
	}{
		{name: "idle timeout mid-stream", idle: 50 * time.Millisecond, send: true, wantCode: "stream_idle_timeout"},
		{name: "idle timeout before the first event", idle: 50 * time.Millisecond, wantCode: "stream_idle_timeout", wantErr: 504},
		{name: "first byte timeout", fbt: 50 * time.Millisecond, wantCode: "upstream_timeout", wantErr: 504},
		{name: "upstream broke off", send: true, breakErr: errors.New("connection reset"), wantCode: "upstream_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			body := newTrackedBody(pr)
			e := &Engine{Backend: streamBackend(body), IdleTimeout: tc.idle, FirstByteTimeout: tc.fbt}
			w := newFlushWriter()
			done := startStream(context.Background(), e, w, streamReq)
			if tc.send {
				if _, err := io.WriteString(pw, first); err != nil {
					t.Fatal(err)
				}
				nextFlush(t, w)
			}
			if tc.breakErr != nil {
				pw.CloseWithError(tc.breakErr)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("stream did not end")
			}
			<-body.closed
			if tc.wantErr != 0 {
				wantAPIErr(t, err, tc.wantErr, tc.wantCode)
				if w.output() != "" {
					t.Errorf("wrote %q before returning an error", w.output())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := w.output()
			rest, ok := strings.CutPrefix(out, first)
			if !ok || !strings.HasPrefix(rest, "data: {\"error\":") || !strings.HasSuffix(rest, "}}\n\n") {
				t.Fatalf("stream = %q; want the first event then an error event", out)
			}
			if code := gjson.Get(strings.TrimPrefix(rest, "data: "), "error.code").String(); code != tc.wantCode {
				t.Errorf("error event code = %q; want %q", code, tc.wantCode)
			}
		})
	}
}

func TestStreamSSEReader(t *testing.T) {
	long := "data: " + strings.Repeat("x", 40<<10) + "\n\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "lf", in: "data: a\n\ndata: b\n\n", want: []string{"data: a\n\n", "data: b\n\n"}},
		{name: "crlf", in: "data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n", want: []string{"data: a\r\n\r\n", "event: x\r\ndata: b\r\n\r\n"}},
		{name: "leading blank lines", in: "\n\n: ping\n\ndata: a\n\n", want: []string{": ping\n\n", "data: a\n\n"}},
		{name: "unterminated", in: "data: a\n\ndata: b", want: []string{"data: a\n\n", "data: b\n\n"}},
		{name: "line longer than the buffer", in: long + "data: c\n\n", want: []string{long, "data: c\n\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := sseReader{br: bufio.NewReaderSize(strings.NewReader(tc.in), 16)}
			var got []string
			for {
				ev, err := rd.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(ev))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("events = %q; want %q", got, tc.want)
			}
		})
	}
}

// discardFlusher is a ResponseWriter that costs nothing, so allocation counts are the Engine's own.
type discardFlusher struct{ h http.Header }

func (d *discardFlusher) Header() http.Header         { return d.h }
func (d *discardFlusher) WriteHeader(int)             {}
func (d *discardFlusher) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardFlusher) Flush()                      {}

func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"}}],\"usage\":null}\n\n")
	}
	b.WriteString("data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2000,\"total_tokens\":2009}}\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// streamOnce serves one stream of events and returns the number of events.
func streamOnce(e *Engine, events []byte, w *discardFlusher) {
	e.Backend.(*fakeBackend).do = func(context.Context, string, *Request) (*Response, error) {
		return sseResponse(io.NopCloser(bytes.NewReader(events))), nil
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(streamReq))
	clear(w.h)
	_ = e.ServeHTTP(w, r, EndpointChat)
}

// TestStreamAllocs holds the hot path to its budget: at most 2 allocations per event, request overhead
// included.
func TestStreamAllocs(t *testing.T) {
	const n = 2000
	events := benchStream(n)
	e := &Engine{Backend: &fakeBackend{models: []string{"gpt-4o"}}, IdleTimeout: time.Minute}
	w := &discardFlusher{h: http.Header{}}
	allocs := testing.AllocsPerRun(5, func() { streamOnce(e, events, w) })
	perEvent := allocs / (n + 2)
	t.Logf("%.3f allocations per event", perEvent)
	if perEvent > 2 {
		t.Errorf("%.3f allocations per event (%v per stream of %d); want ≤ 2", perEvent, allocs, n+2)
	}
}

func BenchmarkStreamEvents(b *testing.B) {
	const n = 2000
	events := benchStream(n)
	e := &Engine{Backend: &fakeBackend{models: []string{"gpt-4o"}}, IdleTimeout: time.Minute}
	w := &discardFlusher{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(events)))
	b.ResetTimer()
	for b.Loop() {
		streamOnce(e, events, w)
	}
	b.StopTimer()
	b.ReportMetric(float64(testing.AllocsPerRun(3, func() { streamOnce(e, events, w) }))/(n+2), "allocs/event")
}

// TestStreamCompletionBudget: a stream whose completion would outgrow CompletionBudget ends before the
// event that crosses it, with the endpoint's "length" chunk, the error event and [DONE]; the provider's body
// is closed at once (its call stopped), and the usage reported counts every token the provider sent.
// Under the budget the stream passes whole.
func TestStreamCompletionBudget(t *testing.T) {
	chunk := func(s string) string { return "data: {\"choices\":[{\"delta\":{\"content\":\"" + s + "\"}}]}\n\n" }
	var upstream strings.Builder
	for i := 0; i < 50; i++ {
		upstream.WriteString(chunk(" hello"))
	}
	upstream.WriteString("data: [DONE]\n\n")
	for _, tc := range []struct {
		name     string
		budget   int64
		endpoint string
		chunks   int // " hello" is one token
		cut      bool
	}{
		{"under the budget", 1000, EndpointChat, 50, false},
		{"cut", 7, EndpointChat, 7, true},
		{"cut completions", 3, EndpointCompletions, 3, true},
		{"exactly the budget", 50, EndpointChat, 50, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec usageRecorder
			body := newTrackedBody(io.NopCloser(strings.NewReader(upstream.String())))
			e := &Engine{Backend: streamBackend(body), Hooks: rec.hooks(), CompletionBudget: tc.budget}
			w := newFlushWriter()
			r := httptest.NewRequest(http.MethodPost, "/v1/"+tc.endpoint, strings.NewReader(streamReq))
			if err := e.ServeHTTP(w, r, tc.endpoint); err != nil {
				t.Fatal(err)
			}
			out := w.output()
			if got := strings.Count(out, `"content":" hello"`); got != tc.chunks {
				t.Errorf("%d content chunks reached the client; want %d", got, tc.chunks)
			}
			ended := strings.Contains(out, `"code":"token_budget_exceeded"`) && strings.HasSuffix(out, "data: [DONE]\n\n")
			if ended != tc.cut {
				t.Errorf("budget end %v, want %v: %q", ended, tc.cut, out[max(0, len(out)-300):])
			}
			if tc.cut {
				wantObj := `"object":"chat.completion.chunk"`
				if tc.endpoint == EndpointCompletions {
					wantObj = `"object":"text_completion"`
				}
				if !strings.Contains(out, wantObj) || !strings.Contains(out, `"finish_reason":"length"`) {
					t.Errorf("the end is not a %s length chunk: %q", wantObj, out)
				}
			}
			select {
			case <-body.closed:
			default:
				t.Error("the provider's body was not closed")
			}
			// The provider sent the crossing chunk too: it is billed, so it is counted.
			want := int64(tc.chunks)
			if tc.cut {
				want++
			}
			if u := rec.only(t); u.CompletionTokens != want {
				t.Errorf("completion tokens %d, want %d", u.CompletionTokens, want)
			}
		})
	}
}

// anthropicStream is a Messages API stream of n text deltas of " hello" (one token each).
func anthropicStream(n int, withUsage bool) string {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for range n {
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" hello\"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	if withUsage {
		b.WriteString(fmt.Sprintf("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n", n))
	}
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.String()
}

func TestStreamMessagesAPI(t *testing.T) {
	const req = `{"model":"gpt-4o","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	t.Run("passed through with the provider's usage", func(t *testing.T) {
		body := anthropicStream(5, true)
		var rec usageRecorder
		e := &Engine{Backend: streamBackend(io.NopCloser(strings.NewReader(body))), Hooks: rec.hooks()}
		w := newFlushWriter()
		if err := e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(req)), EndpointMessages); err != nil {
			t.Fatal(err)
		}
		if w.output() != body {
			t.Errorf("client got %q", w.output())
		}
		// The prompt comes from message_start (cache reads included), the completion from message_delta.
		if got, want := rec.only(t), (Usage{PromptTokens: 15, CompletionTokens: 5, TotalTokens: 20, Source: "provider"}); got != want {
			t.Errorf("usage = %+v; want %+v", got, want)
		}
	})
	t.Run("counted when the provider reports none", func(t *testing.T) {
		var rec usageRecorder
		e := &Engine{Backend: streamBackend(io.NopCloser(strings.NewReader(anthropicStream(4, false)))), Hooks: rec.hooks()}
		if err := e.ServeHTTP(newFlushWriter(), httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(req)), EndpointMessages); err != nil {
			t.Fatal(err)
		}
		if u := rec.only(t); u.CompletionTokens != 4 || u.Source != UsageSourceTokenizer {
			t.Errorf("usage = %+v; want 4 completion tokens from the tokenizer", u)
		}
	})
	t.Run("cut at the budget like max_tokens", func(t *testing.T) {
		var rec usageRecorder
		body := newTrackedBody(io.NopCloser(strings.NewReader(anthropicStream(50, true))))
		e := &Engine{Backend: streamBackend(body), Hooks: rec.hooks(), CompletionBudget: 7}
		w := newFlushWriter()
		if err := e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(req)), EndpointMessages); err != nil {
			t.Fatal(err)
		}
		out := w.output()
		if got := strings.Count(out, `"text":" hello"`); got != 7 {
			t.Errorf("%d deltas reached the client; want 7", got)
		}
		if !strings.HasSuffix(out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n"+
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
			t.Errorf("the stream does not end like Anthropic's max_tokens: %q", out[max(0, len(out)-300):])
		}
		select {
		case <-body.closed:
		default:
			t.Error("the provider's body was not closed")
		}
	})
	t.Run("a broken stream ends with Anthropic's error event", func(t *testing.T) {
		broken := anthropicStream(2, false)
		broken = broken[:strings.Index(broken, "event: content_block_stop")]
		e := &Engine{Backend: streamBackend(io.NopCloser(io.MultiReader(strings.NewReader(broken), iotest.ErrReader(errors.New("reset")))))}
		w := newFlushWriter()
		if err := e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(req)), EndpointMessages); err != nil {
			t.Fatal(err)
		}
		want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the provider's stream broke off\"}}\n\n"
		if !strings.HasSuffix(w.output(), want) {
			t.Errorf("end of stream %q; want %q", w.output(), want)
		}
	})
}
