// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsonStringCases are strings whose JSON encodings exercise every escape of encoding/json.
var jsonStringCases = []string{
	"", "plain", `quote " and backslash \`, "<b>&amp;</b>", "tab\there\nnew\rret", "\b\f\x00\x01\x1f\x7f",
	"héllo wörld ☃ 𝄞", "line\u2028sep\u2029para", "bad \xff utf8 \xc3", "\xe2\x82", "emoji 😀 end",
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonStringCases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got[1:], want)
		}
		for _, last := range []bool{true, false} {
			w := s
			if !last {
				w += " "
			}
			want, _ := json.Marshal(w)
			if got := appendWordString(nil, s, last); string(got) != string(want) {
				t.Errorf("appendWordString(%q, %v) = %s, want %s", s, last, got, want)
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// legacyChatStream is the chat stream as fakellm rendered it with encoding/json and maps before the
// hand-written renderer; the renderer must keep its bytes.
func legacyChatStream(t *testing.T, id string, created int64, model string, words []string, finish string, u *usage, includeUsage bool) string {
	t.Helper()
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id":      id,
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	events := []any{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
	for i, word := range words {
		if i < len(words)-1 {
			word += " "
		}
		events = append(events, chunk(map[string]any{"content": word}, nil))
	}
	events = append(events, chunk(map[string]any{}, finish))
	if includeUsage {
		events = append(events, map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": u,
		})
	}
	var b strings.Builder
	for _, ev := range events {
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "data: %s\n\n", j)
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func TestChatStreamBytesMatchEncodingJSON(t *testing.T) {
	srv := newServer(t, Options{})
	envelope := regexp.MustCompile(`"created":(\d+),"id":"(chatcmpl-[0-9a-f]{16})"`)
	tests := []struct {
		name         string
		model        string
		user         string
		maxTokens    string
		includeUsage bool
		promptTokens int
	}{
		{name: "plain", model: "m", user: "hello big world", promptTokens: 3},
		{name: "include usage", model: "m", user: "hello big world", includeUsage: true, promptTokens: 3},
		{name: "escapes in words and model", model: `m<&>"q"`, user: "a<b> \"c\" d\\e \u2028 \x01 \xff ☃", includeUsage: true, promptTokens: 6},
		{name: "truncated", model: "m", user: "a b c d", maxTokens: "2", includeUsage: true, promptTokens: 4},
		{name: "zero max tokens", model: "m", user: "a b", maxTokens: "0", includeUsage: true, promptTokens: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model, _ := json.Marshal(tc.model)
			user, _ := json.Marshal(tc.user)
			body := fmt.Sprintf(`{"model":%s,"stream":true,"stream_options":{"include_usage":%v},"messages":[{"role":"user","content":%s}]`, model, tc.includeUsage, user)
			if tc.maxTokens != "" {
				body += `,"max_tokens":` + tc.maxTokens
			}
			code, _, got := do(t, http.MethodPost, srv.URL+"/v1/chat/completions", body+"}", nil)
			if code != http.StatusOK {
				t.Fatalf("status = %d, body %s", code, got)
			}
			m := envelope.FindSubmatch(got)
			if m == nil {
				t.Fatalf("no envelope in %s", got)
			}
			created, _ := strconv.ParseInt(string(m[1]), 10, 64)
			var limit *int
			if tc.maxTokens != "" {
				n, _ := strconv.Atoi(tc.maxTokens)
				limit = &n
			}
			words, finish := reply(strings.ToValidUTF8(tc.user, "\uFFFD"), limit)
			want := legacyChatStream(t, string(m[2]), created, tc.model, words, finish, newUsage(tc.promptTokens, len(words)), tc.includeUsage)
			if string(got) != want {
				t.Errorf("stream =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// discardWriter is a flushable ResponseWriter that keeps nothing, so allocation counts are the handler's.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// TestStreamAllocationsDoNotGrowWithWords guards the load-benchmark property of the streams: the cost of a
// streamed word is writing it, with no allocation per event.
func TestStreamAllocationsDoNotGrowWithWords(t *testing.T) {
	h := New(Options{})
	allocs := func(path, header, body string) float64 {
		return testing.AllocsPerRun(50, func() {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			if header != "" {
				r.Header.Set(header, "k")
			}
			h.ServeHTTP(&discardWriter{h: http.Header{}}, r)
		})
	}
	tests := []struct {
		name, path, header, body string
	}{
		{name: "chat", path: "/v1/chat/completions", body: `{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":%q}]}`},
		{name: "anthropic", path: "/v1/messages", header: "X-Api-Key", body: `{"model":"c","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":%q}]}`},
		{name: "gemini", path: "/v1beta/models/g:streamGenerateContent?alt=sse", header: "X-Goog-Api-Key", body: `{"contents":[{"parts":[{"text":%q}]}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Both prompts keep the body under io.ReadAll's first 512-byte buffer, so reading them costs the same.
			few := allocs(tc.path, tc.header, fmt.Sprintf(tc.body, strings.Repeat("w ", 5)))
			many := allocs(tc.path, tc.header, fmt.Sprintf(tc.body, strings.Repeat("w ", 80)))
			t.Logf("allocations: %v for 10 words, %v for 85", few, many)
			// 75 more events would cost at least 75 more allocations if events allocated; the slack of 2 absorbs
			// sync.Pool misses, which the race detector provokes on purpose.
			if many > few+2 {
				t.Errorf("85 words cost %v allocations, 10 words %v: events allocate", many, few)
			}
		})
	}
}

// rawEvent is one event of a stream (the lines up to a blank line, line ends normalised to \n) and when
// it arrived.
type rawEvent struct {
	at   time.Time
	text string
}

// readEvents reads a stream of blank-line separated events, SSE or not, recording arrival times.
func readEvents(t *testing.T, resp *http.Response) []rawEvent {
	t.Helper()
	var (
		events []rawEvent
		cur    strings.Builder
	)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if l := strings.TrimRight(line, "\r\n"); l != "" {
			cur.WriteString(l + "\n")
		} else if cur.Len() > 0 {
			events = append(events, rawEvent{at: time.Now(), text: cur.String()})
			cur.Reset()
		}
		if err != nil {
			if cur.Len() > 0 {
				events = append(events, rawEvent{at: time.Now(), text: cur.String()})
			}
			return events
		}
	}
}

// streamCase is a streamed request of one dialect answering "echo: a b c d" (5 words).
type streamCase struct {
	name, path, body string
	headers          map[string]string
	events           int // events in the answer
}

var fiveWordStreams = []streamCase{
	{name: "chat", path: "/v1/chat/completions", body: `{"stream":true,"messages":[{"role":"user","content":"a b c d"}]}`, events: 8},
	{name: "anthropic", path: "/v1/messages", headers: map[string]string{"X-Api-Key": "k"},
		body: `{"model":"c","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"a b c d"}]}`, events: 11},
	{name: "gemini", path: "/v1beta/models/g:streamGenerateContent?alt=sse", headers: map[string]string{"X-Goog-Api-Key": "k"},
		body: `{"contents":[{"role":"user","parts":[{"text":"a b c d"}]}]}`, events: 5},
	{name: "gemini json array", path: "/v1beta/models/g:streamGenerateContent", headers: map[string]string{"X-Goog-Api-Key": "k"},
		body: `{"contents":[{"role":"user","parts":[{"text":"a b c d"}]}]}`, events: 1},
}

// TestStreamsFlushEachEvent fails if events are buffered: with a TokenDelay after each, the first event
// must arrive well before the last.
func TestStreamsFlushEachEvent(t *testing.T) {
	const delay = 60 * time.Millisecond
	srv := newServer(t, Options{TokenDelay: delay})
	for _, tc := range fiveWordStreams {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			events := readEvents(t, resp)
			if len(events) != tc.events {
				t.Fatalf("got %d events, want %d: %v", len(events), tc.events, events)
			}
			if tc.events == 1 {
				// A JSON array has no blank lines: its elements are lines, each paused after.
				if took := time.Since(start); took < 4*delay {
					t.Errorf("array stream took %v, want at least %v", took, 4*delay)
				}
				return
			}
			// Every event but the last is followed by a delay.
			if spread := events[len(events)-1].at.Sub(events[0].at); spread < time.Duration(tc.events-2)*delay {
				t.Errorf("events arrived within %v, want at least %v: not flushed one by one", spread, time.Duration(tc.events-2)*delay)
			}
		})
	}
}

func TestStreamsStopWhenClientLeaves(t *testing.T) {
	for _, tc := range fiveWordStreams {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(Options{TokenDelay: time.Hour}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(t.Context())
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line == "" {
				t.Fatalf("first line = %q, %v", line, err)
			}
			cancel()
			// Close blocks until every handler has returned, which with a one-hour token delay only happens
			// if the stream watches the request context.
			done := make(chan struct{})
			go func() { srv.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("handler still sleeping after the client left")
			}
		})
	}
}
