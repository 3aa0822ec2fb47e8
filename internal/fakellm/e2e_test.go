// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/anthropic"
	"github.com/dsp-ai/fd2/inference/gemini"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// These tests drive FD2's own Anthropic and Gemini providers, behind an inference.Engine, against the fake
// over loopback HTTP: client → gateway (Engine) → provider translation → fakellm speaking the dialect.

var fixedNow = func() time.Time { return time.Unix(1767225600, 0) }

// usageLog records the Engine's OnUsage calls.
type usageLog struct {
	mu     sync.Mutex
	usages []usageCall
}

type usageCall struct {
	kind, model string
	u           inference.Usage
}

func (l *usageLog) add(_, kind, model string, u inference.Usage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.usages = append(l.usages, usageCall{kind, model, u})
}

func (l *usageLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.usages = nil
}

// take returns and forgets the calls so far, once there is at least one or a second has passed: the
// Engine meters a stream after writing its last event, so the client may finish reading first.
func (l *usageLog) take() []usageCall {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		out := l.usages
		if len(out) > 0 || time.Now().After(deadline) {
			l.usages = nil
			l.mu.Unlock()
			return out
		}
		l.mu.Unlock()
	}
}

// newProviders returns the Anthropic and Gemini providers pointed at baseURL.
func newProviders(t *testing.T, baseURL, key string, client *http.Client) (inference.Provider, inference.Provider) {
	t.Helper()
	ap, err := anthropic.New(anthropic.Config{Name: "anthropic", BaseURL: baseURL, APIKey: key, Client: client, Now: fixedNow})
	if err != nil {
		t.Fatalf("anthropic.New: %v", err)
	}
	gp, err := gemini.New(gemini.Config{Name: "gemini", BaseURL: baseURL, APIKey: key, Client: client, Now: fixedNow,
		NewID: func() string { return "id1" }})
	if err != nil {
		t.Fatalf("gemini.New: %v", err)
	}
	return ap, gp
}

// newGateway serves the OpenAI API over an Engine routing "claude" to Anthropic and "gemini" to Gemini,
// both upstreams being the fake at fakeURL.
func newGateway(t *testing.T, fakeURL string) (*httptest.Server, *usageLog) {
	t.Helper()
	ap, gp := newProviders(t, fakeURL, "test-key", nil)
	router, err := inference.NewRouter([]inference.Route{
		{Alias: "claude", Targets: []inference.Deployment{{Provider: ap, Model: "claude-sonnet-4-5"}}},
		{Alias: "gemini", Targets: []inference.Deployment{{Provider: gp, Model: "gemini-2.5-flash"}}},
	}, inference.RouterOptions{})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	log := &usageLog{}
	e := &inference.Engine{Backend: router, Hooks: inference.Hooks{OnUsage: log.add}}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := e.ServeHTTP(w, r, strings.TrimPrefix(r.URL.Path, "/v1/"))
		var ae *apierr.Error
		if errors.As(err, &ae) {
			ae.Write(w, "")
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(gw.Close)
	return gw, log
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	} `json:"usage"`
}

func TestEndToEndThroughProviders(t *testing.T) {
	fake := httptest.NewServer(fakellm.New(fakellm.Options{}))
	t.Cleanup(fake.Close)
	gw, log := newGateway(t, fake.URL)
	// "be brief" and "hello big world" make 5 prompt words in both dialects (system prompt included).
	const messages = `"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello big world"}]`
	const jsonSchema = `"response_format":{"type":"json_schema","json_schema":{"name":"weather","strict":true,"schema":{"type":"object",` +
		`"properties":{"city":{"type":"string"},"celsius":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}}},"required":["city","celsius","tags"]}}}`
	tests := []struct {
		name, body     string
		stream         bool
		wantUsageChunk bool
		wantContent    string
		wantFinish     string
		prompt, compl  int64
		wantKind       string
		model          string // the provider-side model: the router writes it into the body, and it is answered
	}{
		{name: "anthropic", body: `{"model":"claude",` + messages + `}`,
			wantContent: "echo: hello big world", wantFinish: "stop", prompt: 5, compl: 4, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "anthropic max_tokens", body: `{"model":"claude","max_tokens":2,` + messages + `}`,
			wantContent: "echo: hello", wantFinish: "length", prompt: 5, compl: 2, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "anthropic stream with usage", body: `{"model":"claude","stream":true,"stream_options":{"include_usage":true},` + messages + `}`,
			stream: true, wantUsageChunk: true,
			wantContent: "echo: hello big world", wantFinish: "stop", prompt: 5, compl: 4, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "anthropic stream max_completion_tokens", body: `{"model":"claude","stream":true,"max_completion_tokens":3,` + messages + `}`,
			stream:      true,
			wantContent: "echo: hello big", wantFinish: "length", prompt: 5, compl: 3, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		// response_format becomes a forced tool the fake calls with one sample value per schema property
		// (sorted): the answer is that JSON as content, finish "stop", one output token per property.
		{name: "anthropic json_schema", body: `{"model":"claude",` + jsonSchema + `,` + messages + `}`,
			wantContent: `{"celsius":1,"city":"x","tags":[]}`, wantFinish: "stop", prompt: 5, compl: 3, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "anthropic json_schema stream with usage", body: `{"model":"claude","stream":true,"stream_options":{"include_usage":true},` + jsonSchema + `,` + messages + `}`,
			stream: true, wantUsageChunk: true,
			wantContent: `{"celsius":1,"city":"x","tags":[]}`, wantFinish: "stop", prompt: 5, compl: 3, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "anthropic json_object stream", body: `{"model":"claude","stream":true,"response_format":{"type":"json_object"},` + messages + `}`,
			stream:      true,
			wantContent: `{}`, wantFinish: "stop", prompt: 5, compl: 1, wantKind: "anthropic", model: "claude-sonnet-4-5"},
		{name: "gemini", body: `{"model":"gemini",` + messages + `}`,
			wantContent: "echo: hello big world", wantFinish: "stop", prompt: 5, compl: 4, wantKind: "gemini", model: "gemini-2.5-flash"},
		{name: "gemini max_tokens", body: `{"model":"gemini","max_tokens":2,` + messages + `}`,
			wantContent: "echo: hello", wantFinish: "length", prompt: 5, compl: 2, wantKind: "gemini", model: "gemini-2.5-flash"},
		{name: "gemini stream with usage", body: `{"model":"gemini","stream":true,"stream_options":{"include_usage":true},` + messages + `}`,
			stream: true, wantUsageChunk: true,
			wantContent: "echo: hello big world", wantFinish: "stop", prompt: 5, compl: 4, wantKind: "gemini", model: "gemini-2.5-flash"},
		{name: "gemini stream max_tokens", body: `{"model":"gemini","stream":true,"max_tokens":3,` + messages + `}`,
			stream:      true,
			wantContent: "echo: hello big", wantFinish: "length", prompt: 5, compl: 3, wantKind: "gemini", model: "gemini-2.5-flash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log.reset() // a failed subtest must not leave its usage to this one
			resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d, body %s", resp.StatusCode, b)
			}
			if tc.stream {
				checkStream(t, resp, tc.model, tc.wantContent, tc.wantFinish, tc.wantUsageChunk, tc.prompt, tc.compl)
			} else {
				var c completion
				if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
					t.Fatal(err)
				}
				if c.Object != "chat.completion" || c.Model != tc.model || !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.Choices) != 1 {
					t.Fatalf("completion = %+v", c)
				}
				ch := c.Choices[0]
				if ch.Message == nil || ch.Message.Role != "assistant" || ch.Message.Content == nil || *ch.Message.Content != tc.wantContent {
					t.Errorf("message = %+v, want assistant %q", ch.Message, tc.wantContent)
				}
				if ch.FinishReason == nil || *ch.FinishReason != tc.wantFinish {
					t.Errorf("finish_reason = %v, want %q", ch.FinishReason, tc.wantFinish)
				}
				if u := c.Usage; u == nil || u.PromptTokens != tc.prompt || u.CompletionTokens != tc.compl || u.TotalTokens != tc.prompt+tc.compl {
					t.Errorf("usage = %+v, want %d + %d", u, tc.prompt, tc.compl)
				}
			}
			// The Engine meters what the provider reported, streams included, whether the client asked for
			// the usage chunk or not.
			calls := log.take()
			want := inference.Usage{PromptTokens: tc.prompt, CompletionTokens: tc.compl, TotalTokens: tc.prompt + tc.compl, Source: "provider"}
			if len(calls) != 1 || calls[0].u != want || calls[0].kind != tc.wantKind {
				t.Errorf("OnUsage calls = %+v, want one %s call with %+v", calls, tc.wantKind, want)
			}
		})
	}
}

// checkStream reads a translated OpenAI stream and checks its content, finish and usage chunks.
func checkStream(t *testing.T, resp *http.Response, model, wantContent, wantFinish string, wantUsage bool, prompt, compl int64) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q", ct)
	}
	var (
		data    []string
		content strings.Builder
		finish  []string
		usages  int
	)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(data) < 3 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream = %q, want chunks ending in [DONE]", data)
	}
	for i, d := range data[:len(data)-1] {
		var c completion
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %q: %v", d, err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != model {
			t.Errorf("chunk %d envelope object=%q model=%q", i, c.Object, c.Model)
		}
		if len(c.Choices) == 0 {
			usages++
			if i != len(data)-2 {
				t.Errorf("usage chunk %d is not the last before [DONE]", i)
			}
			if u := c.Usage; u == nil || u.PromptTokens != prompt || u.CompletionTokens != compl || u.TotalTokens != prompt+compl {
				t.Errorf("usage chunk = %+v, want %d + %d", u, prompt, compl)
			}
			continue
		}
		ch := c.Choices[0]
		if i == 0 && (ch.Delta == nil || ch.Delta.Role != "assistant") {
			t.Errorf("first chunk delta = %+v, want the assistant role", ch.Delta)
		}
		if ch.Delta != nil && ch.Delta.Content != nil {
			content.WriteString(*ch.Delta.Content)
		}
		if ch.FinishReason != nil {
			finish = append(finish, *ch.FinishReason)
		}
	}
	if content.String() != wantContent {
		t.Errorf("streamed content = %q, want %q", content.String(), wantContent)
	}
	if len(finish) != 1 || finish[0] != wantFinish {
		t.Errorf("finish reasons = %q, want [%s]", finish, wantFinish)
	}
	if want := map[bool]int{true: 1, false: 0}[wantUsage]; usages != want {
		t.Errorf("%d usage chunks, want %d", usages, want)
	}
}

// TestEndToEndStreamsAreIncremental checks that the fake's paced events reach the gateway's client one by
// one through both translations, the property a latency benchmark relies on.
func TestEndToEndStreamsAreIncremental(t *testing.T) {
	const delay = 50 * time.Millisecond
	fake := httptest.NewServer(fakellm.New(fakellm.Options{TokenDelay: delay}))
	t.Cleanup(fake.Close)
	gw, _ := newGateway(t, fake.URL)
	for _, model := range []string{"claude", "gemini"} {
		t.Run(model, func(t *testing.T) {
			body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"a b c d"}]}`
			resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var words []time.Time
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.Contains(sc.Text(), `"content":"`) && !strings.Contains(sc.Text(), `"content":""`) {
					words = append(words, time.Now())
				}
			}
			// "echo: a b c d" is five words, each a chunk, with a TokenDelay between consecutive ones.
			if len(words) != 5 {
				t.Fatalf("%d content chunks, want 5", len(words))
			}
			// Four delays separate them at the source; reading the first one late can shave a little off
			// the spread at the client (it once measured 199.99 ms of 200), while a buffering hop leaves
			// next to none, so three delays tell the two apart.
			if spread := words[4].Sub(words[0]); spread < 3*delay {
				t.Errorf("content chunks arrived within %v, want at least %v: a hop buffered the stream", spread, 3*delay)
			}
		})
	}
}

// TestEndToEndCancellationReachesTheFake checks that a client leaving a gateway stream ends the provider's
// upstream call: the fake, mid-way through a one-hour token delay, must see its request cancelled.
func TestEndToEndCancellationReachesTheFake(t *testing.T) {
	for _, model := range []string{"claude", "gemini"} {
		t.Run(model, func(t *testing.T) {
			fake := httptest.NewServer(fakellm.New(fakellm.Options{TokenDelay: time.Hour}))
			defer fake.Close()
			gw, _ := newGateway(t, fake.URL)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"a b"}]}`
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.Contains(line, `"role":"assistant"`) {
				t.Fatalf("first line = %q, %v", line, err)
			}
			cancel()
			done := make(chan struct{})
			go func() { fake.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the fake's handler is still streaming after the client left the gateway")
			}
		})
	}
}

// headerTransport adds headers to every request, to script the fake through a provider that does not
// forward arbitrary client headers.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestEndToEndProviderErrors checks that the fake's dialect errors map to the provider errors FD2's
// router and clients act on.
func TestEndToEndProviderErrors(t *testing.T) {
	fake := httptest.NewServer(fakellm.New(fakellm.Options{}))
	t.Cleanup(fake.Close)
	tests := []struct {
		name, key, status string
		stream            bool
		anthropic         inference.ProviderError
		gemini            inference.ProviderError
	}{
		{name: "no key", anthropic: inference.ProviderError{Status: 401, Type: "authentication_error", Code: "authentication_error"},
			gemini: inference.ProviderError{Status: 403, Type: "permission_error", Code: "PERMISSION_DENIED"}},
		{name: "rate limited", key: "k", status: "429",
			anthropic: inference.ProviderError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_error", Retryable: true},
			gemini:    inference.ProviderError{Status: 429, Type: "rate_limit_error", Code: "RESOURCE_EXHAUSTED", Retryable: true}},
		{name: "overloaded stream", key: "k", status: "529", stream: true,
			anthropic: inference.ProviderError{Status: 503, Type: "api_error", Code: "overloaded_error", Retryable: true},
			gemini:    inference.ProviderError{Status: 529, Type: "api_error", Code: "UNKNOWN", Retryable: true}},
		{name: "unavailable", key: "k", status: "503",
			anthropic: inference.ProviderError{Status: 503, Type: "api_error", Code: "api_error", Retryable: true},
			gemini:    inference.ProviderError{Status: 503, Type: "api_error", Code: "UNAVAILABLE", Retryable: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var client *http.Client
			if tc.status != "" {
				client = &http.Client{Transport: headerTransport{"X-Fake-Status": tc.status}}
			}
			ap, gp := newProviders(t, fake.URL, tc.key, client)
			for _, p := range []struct {
				provider inference.Provider
				model    string
				want     inference.ProviderError
			}{{ap, "claude-sonnet-4-5", tc.anthropic}, {gp, "gemini-2.5-flash", tc.gemini}} {
				body := `{"model":"` + p.model + `","messages":[{"role":"user","content":"hi"}]}`
				resp, err := p.provider.Do(t.Context(), &inference.Request{Endpoint: inference.EndpointChat, Method: http.MethodPost,
					Body: []byte(body), Model: p.model, Stream: tc.stream})
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s: call succeeded, want %+v", p.provider.Kind(), p.want)
				}
				var pe *inference.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: error %v is not a *ProviderError", p.provider.Kind(), err)
				}
				got := inference.ProviderError{Status: pe.Status, Type: pe.Type, Code: pe.Code, Retryable: pe.Retryable}
				if got != p.want {
					t.Errorf("%s: error = %+v, want %+v", p.provider.Kind(), got, p.want)
				}
				if tc.status != "" && !strings.Contains(pe.Message, "injected failure: "+tc.status) {
					t.Errorf("%s: message %q does not pass the fake's on", p.provider.Kind(), pe.Message)
				}
			}
		})
	}
}

// recorder is a transport that keeps what went over the wire: the request headers and body, and the
// response headers and every body byte the provider read.
type recorder struct {
	mu      sync.Mutex
	reqHdr  http.Header
	reqBody []byte
	respHdr http.Header
	resp    *strings.Builder
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqHdr, rec.reqBody, rec.respHdr, rec.resp = r.Header.Clone(), body, resp.Header.Clone(), &strings.Builder{}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, lockedWriter{&rec.mu, rec.resp}), resp.Body}
	return resp, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestEndToEndNativeMessages drives the Anthropic provider's pass-through of the Messages API (what a
// Claude client sends) against the fake: the body reaches the fake byte for byte, the client's
// anthropic-version and betas with it, and the fake's answer, streamed or not, comes back untouched.
func TestEndToEndNativeMessages(t *testing.T) {
	fake := httptest.NewServer(fakellm.New(fakellm.Options{}))
	t.Cleanup(fake.Close)
	const conversation = `"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hello big world"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]`
	const tools = `"tools":[{"name":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}],"tool_choice":{"type":"tool","name":"weather"}`
	for _, tc := range []struct {
		name, endpoint, body string
		stream               bool
		header               http.Header
		wantVersion          string
		wantBetas            []string
		wantIn               []string // substrings of the answer
	}{
		{name: "message", endpoint: inference.EndpointMessages,
			body:        `{"model":"claude-sonnet-4-5","max_tokens":100, ` + conversation + `}`,
			header:      http.Header{"Anthropic-Version": {"2023-06-01"}, "Anthropic-Beta": {"prompt-caching-2024-07-31", "a,b"}},
			wantVersion: "2023-06-01", wantBetas: []string{"prompt-caching-2024-07-31", "a,b"},
			wantIn: []string{`"text":"echo: hello big world"`, `"usage":{"input_tokens":5,"output_tokens":4}`}},
		{name: "forced tool stream", endpoint: inference.EndpointMessages, stream: true,
			body:        `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,` + conversation + `,` + tools + `}`,
			header:      http.Header{"Anthropic-Beta": {"fine-grained-tool-streaming-2025-05-14"}},
			wantVersion: anthropic.DefaultVersion, wantBetas: []string{"fine-grained-tool-streaming-2025-05-14"},
			wantIn: []string{"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\"",
				`"type":"input_json_delta"`, `"stop_reason":"tool_use"`, "event: message_stop\n"}},
		{name: "count_tokens", endpoint: inference.EndpointCountTokens,
			body:        `{"model":"claude-sonnet-4-5",` + conversation + `}`,
			header:      http.Header{"Anthropic-Version": {"2023-06-01"}},
			wantVersion: "2023-06-01",
			wantIn:      []string{`{"input_tokens":5}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			ap, _ := newProviders(t, fake.URL, "test-key", &http.Client{Transport: rec})
			resp, err := ap.Do(t.Context(), &inference.Request{Endpoint: tc.endpoint, Method: http.MethodPost,
				Body: []byte(tc.body), Model: "claude-sonnet-4-5", Stream: tc.stream, Header: tc.header})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if string(rec.reqBody) != tc.body {
				t.Errorf("the fake got body\n%s\nwant\n%s", rec.reqBody, tc.body)
			}
			if string(got) != rec.resp.String() {
				t.Errorf("the answer changed on the way:\n got %q\nwant %q", got, rec.resp.String())
			}
			if resp.Stream != tc.stream {
				t.Errorf("Stream = %v, want %v", resp.Stream, tc.stream)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(string(got), want) {
					t.Errorf("answer lacks %q:\n%s", want, got)
				}
			}
			if v := rec.respHdr.Get("X-Fake-Anthropic-Version"); v != tc.wantVersion {
				t.Errorf("the fake got anthropic-version %q, want %q", v, tc.wantVersion)
			}
			if b := rec.respHdr.Values("X-Fake-Anthropic-Beta"); strings.Join(b, "|") != strings.Join(tc.wantBetas, "|") {
				t.Errorf("the fake got anthropic-beta %q, want %q", b, tc.wantBetas)
			}
			if k := rec.reqHdr.Get("X-Api-Key"); k != "test-key" {
				t.Errorf("the fake got x-api-key %q", k)
			}
		})
	}
}

// TestEndToEndScriptedFailures checks that the failures a test scripts by model name reach FD2's
// providers as the errors the router acts on, Retry-After and timeouts included, whichever path the
// call takes.
func TestEndToEndScriptedFailures(t *testing.T) {
	fake := httptest.NewServer(fakellm.New(fakellm.Options{}))
	t.Cleanup(fake.Close)
	type call struct {
		name     string
		provider func(timeout time.Duration) inference.Provider
		req      func(model string) *inference.Request
	}
	anthropicP := func(timeout time.Duration) inference.Provider {
		p, err := anthropic.New(anthropic.Config{BaseURL: fake.URL, APIKey: "k", FirstByteTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	geminiP := func(timeout time.Duration) inference.Provider {
		p, err := gemini.New(gemini.Config{BaseURL: fake.URL, APIKey: "k", FirstByteTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	chat := func(model string) *inference.Request {
		return &inference.Request{Endpoint: inference.EndpointChat, Method: http.MethodPost, Model: model,
			Body: []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`)}
	}
	native := func(endpoint string, stream bool) func(string) *inference.Request {
		return func(model string) *inference.Request {
			return &inference.Request{Endpoint: endpoint, Method: http.MethodPost, Model: model, Stream: stream,
				Body: []byte(`{"model":"` + model + `","max_tokens":5,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
					`,"messages":[{"role":"user","content":"hi"}]}`)}
		}
	}
	calls := []call{
		{"anthropic chat", anthropicP, chat},
		{"anthropic messages", anthropicP, native(inference.EndpointMessages, false)},
		{"anthropic messages stream", anthropicP, native(inference.EndpointMessages, true)},
		{"anthropic count_tokens", anthropicP, native(inference.EndpointCountTokens, false)},
		{"gemini chat", geminiP, chat},
	}
	for _, tc := range []struct {
		model      string
		timeout    time.Duration
		status     int
		retryAfter time.Duration
		retryable  bool
	}{
		{model: "fail-429-retry-2", status: 429, retryAfter: 2 * time.Second, retryable: true},
		{model: "fail-401", status: 401},
		{model: "fail-403", status: 403},
		{model: "fail-500", status: 500, retryable: true},
		{model: "fail-hang", timeout: 100 * time.Millisecond, status: 504, retryable: true},
	} {
		for _, c := range calls {
			t.Run(tc.model+"/"+c.name, func(t *testing.T) {
				_, err := c.provider(tc.timeout).Do(t.Context(), c.req(tc.model))
				var pe *inference.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a *ProviderError", err)
				}
				if pe.Status != tc.status || pe.RetryAfter != tc.retryAfter || pe.Retryable != tc.retryable {
					t.Errorf("error %+v, want status %d, Retry-After %v, retryable %v", pe, tc.status, tc.retryAfter, tc.retryable)
				}
			})
		}
	}
}

// TestEndToEndMessagesThroughGateway sends what a Claude client sends to the gateway's Messages API
// endpoints: the Engine routes it to the Anthropic provider, which passes it through to the fake, and the
// answer, the fake's own Anthropic JSON or SSE, reaches the client with its usage metered.
func TestEndToEndMessagesThroughGateway(t *testing.T) {
	fake := httptest.NewServer(fakellm.New(fakellm.Options{}))
	t.Cleanup(fake.Close)
	gw, log := newGateway(t, fake.URL)
	const conversation = `"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hello big world"}]`
	for _, tc := range []struct {
		name, path, body string
		wantType         string
		wantIn           []string
		metered          bool
	}{
		{name: "message", path: "/v1/messages", body: `{"model":"claude","max_tokens":100,` + conversation + `}`,
			wantType: "application/json", metered: true,
			wantIn: []string{`"type":"message"`, `"text":"echo: hello big world"`, `"usage":{"input_tokens":5,"output_tokens":4}`}},
		{name: "stream", path: "/v1/messages", body: `{"model":"claude","max_tokens":100,"stream":true,` + conversation + `}`,
			wantType: "text/event-stream", metered: true,
			wantIn: []string{"event: message_start\n", `"text":"echo: "`, `"stop_reason":"end_turn"`, "event: message_stop\n"}},
		{name: "count_tokens", path: "/v1/messages/count_tokens", body: `{"model":"claude",` + conversation + `}`,
			wantType: "application/json", wantIn: []string{`{"input_tokens":5}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log.reset()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Anthropic-Version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
				t.Fatalf("status %d Content-Type %q, body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(string(body), want) {
					t.Errorf("answer lacks %q:\n%s", want, body)
				}
			}
			if !tc.metered {
				return
			}
			calls := log.take()
			want := inference.Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9, Source: "provider"}
			if len(calls) != 1 || calls[0].u != want || calls[0].kind != "anthropic" {
				t.Errorf("OnUsage calls = %+v, want one anthropic call with %+v", calls, want)
			}
		})
	}
}
