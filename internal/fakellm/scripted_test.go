// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var toolUseID = regexp.MustCompile(`toolu_[0-9a-f]{16}`)

// stableTool is stableAnthropic with the random tool_use id replaced by toolu_ID too.
func stableTool(t *testing.T, body []byte) string {
	t.Helper()
	if ids := toolUseID.FindAllString(string(body), -1); len(ids) == 0 {
		t.Errorf("no tool_use id in %s", body)
	}
	return toolUseID.ReplaceAllString(stableAnthropic(t, body), "toolu_ID")
}

const forcedTool = `"tools":[{"name":"other","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},
	{"name":"report","input_schema":{"type":"object","properties":{"city":{"type":"string"},"celsius":{"type":"number"},"count":{"type":"integer"},
	"ok":{"type":"boolean"},"meta":{"type":"object"},"tags":{"type":"array"},"maybe":{"type":["null","string"]},"any":{}}}}],
	"tool_choice":{"type":"tool","name":"report"}`

func TestAnthropicForcedTool(t *testing.T) {
	srv := newServer(t, Options{})
	key := map[string]string{"X-Api-Key": "k"}
	const input = `{"any":null,"celsius":1,"city":"x","count":1,"maybe":"x","meta":{},"ok":true,"tags":[]}`

	code, _, body := do(t, http.MethodPost, srv.URL+"/v1/messages",
		`{"model":"c","max_tokens":1,"messages":[{"role":"user","content":"weather?"}],`+forcedTool+`}`, key)
	if code != http.StatusOK {
		t.Fatalf("status = %d, body %s", code, body)
	}
	want := `{"id":"msg_ID","type":"message","role":"assistant","model":"c","content":[{"type":"tool_use","id":"toolu_ID","name":"report","input":` + input + `}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":8}}`
	if got := strings.TrimSpace(stableTool(t, body)); got != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}

	code, hdr, body := do(t, http.MethodPost, srv.URL+"/v1/messages",
		`{"model":"c","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"weather?"}],`+forcedTool+`}`, key)
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status = %d, Content-Type %q, body %s", code, hdr.Get("Content-Type"), body)
	}
	fragments := 0
	var joined strings.Builder
	for _, ev := range strings.Split(strings.TrimSuffix(stableTool(t, body), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(ev, "\ndata: ")
		if !ok || !strings.HasPrefix(name, "event: ") {
			t.Fatalf("malformed event %q", ev)
		}
		var e struct {
			Type  string `json:"type"`
			Delta struct {
				Type        string `json:"type"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil || "event: "+e.Type != name {
			t.Fatalf("event %q: %v", ev, err)
		}
		if e.Type == "content_block_delta" {
			if e.Delta.Type != "input_json_delta" {
				t.Errorf("delta %q, want input_json_delta", data)
			}
			fragments++
			joined.WriteString(e.Delta.PartialJSON)
		}
	}
	if fragments < 2 || joined.String() != input {
		t.Errorf("%d input fragments joining to %s, want 2+ joining to %s", fragments, joined.String(), input)
	}
	got := stableTool(t, body)
	for _, want := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_ID\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_ID\",\"name\":\"report\",\"input\":{}}}\n\n" +
			"event: ping\ndata: {\"type\":\"ping\"}\n\nevent: content_block_delta\n",
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":8}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stream lacks\n%s\nin\n%s", want, got)
		}
	}
}

func TestJSONFragments(t *testing.T) {
	for _, in := range []string{`{}`, `{"a":1}`, `{"é":"中文字"}`, strings.Repeat("x", 100)} {
		parts := jsonFragments([]byte(in))
		var joined strings.Builder
		for _, p := range parts {
			if len(p) == 0 || !utf8Valid(p) {
				t.Errorf("%q: fragment %q is empty or cuts a character", in, p)
			}
			joined.Write(p)
		}
		if len(parts) < 2 || len(parts) > 3 || joined.String() != in {
			t.Errorf("%q cut into %q", in, parts)
		}
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func TestAnthropicForcedToolErrors(t *testing.T) {
	srv := newServer(t, Options{})
	code, _, body := do(t, http.MethodPost, srv.URL+"/v1/messages",
		`{"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"a","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"b"}}`,
		map[string]string{"X-Api-Key": "k"})
	want := `{"type":"error","error":{"type":"invalid_request_error","message":"tool_choice.name: tool \"b\" is not among tools"}}`
	if code != http.StatusBadRequest || strings.TrimSpace(string(body)) != want {
		t.Errorf("status %d body %s, want 400 %s", code, body, want)
	}
	// Other tool choices leave the echo.
	code, _, body = do(t, http.MethodPost, srv.URL+"/v1/messages",
		`{"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"a","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}}`,
		map[string]string{"X-Api-Key": "k"})
	if code != http.StatusOK || !strings.Contains(string(body), `"text":"echo: x"`) {
		t.Errorf("auto tool choice: status %d body %s, want the echo", code, body)
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	srv := newServer(t, Options{})
	key := map[string]string{"X-Api-Key": "k"}
	const req = `"system":"be brief","messages":[{"role":"user","content":"hello big world"},{"role":"assistant","content":"ok"},{"role":"user","content":[{"type":"text","text":"and more"}]}]`
	code, hdr, body := do(t, http.MethodPost, srv.URL+"/v1/messages/count_tokens", `{"model":"claude",`+req+`}`, key)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" || strings.TrimSpace(string(body)) != `{"input_tokens":8}` {
		t.Fatalf("status %d Content-Type %q body %s, want 200 {\"input_tokens\":8}", code, hdr.Get("Content-Type"), body)
	}
	// The count is the input_tokens a Messages call reports for the same input.
	_, _, msg := do(t, http.MethodPost, srv.URL+"/v1/messages", `{"model":"claude","max_tokens":5,`+req+`}`, key)
	if !strings.Contains(string(msg), `"input_tokens":8`) {
		t.Errorf("messages answer %s does not report 8 input tokens", msg)
	}
	for _, tc := range []struct {
		name, body string
		headers    map[string]string
		code       int
		want       string
	}{
		{"no key", `{` + req + `}`, nil, 401, `{"type":"error","error":{"type":"authentication_error","message":"x-api-key header is required"}}`},
		{"no messages", `{"model":"c"}`, key, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}`},
		{"injected", `{` + req + `}`, map[string]string{"X-Api-Key": "k", "X-Fake-Status": "529"}, 529, `{"type":"error","error":{"type":"overloaded_error","message":"injected failure: 529"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do(t, http.MethodPost, srv.URL+"/v1/messages/count_tokens", tc.body, tc.headers)
			if code != tc.code || strings.TrimSpace(string(body)) != tc.want {
				t.Errorf("status %d body %s, want %d %s", code, body, tc.code, tc.want)
			}
		})
	}
	code, hdr, _ = do(t, http.MethodGet, srv.URL+"/v1/messages/count_tokens", "", key)
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q", code, hdr.Get("Allow"))
	}
}

func TestAnthropicEchoesVersionAndBeta(t *testing.T) {
	srv := newServer(t, Options{})
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		for _, key := range []string{"k", ""} { // an error answer echoes them too
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path,
				strings.NewReader(`{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", key)
			req.Header.Set("Anthropic-Version", "2023-06-01")
			req.Header.Add("Anthropic-Beta", "prompt-caching-2024-07-31")
			req.Header.Add("Anthropic-Beta", "a,b")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if v, b := resp.Header.Get("X-Fake-Anthropic-Version"), resp.Header.Values("X-Fake-Anthropic-Beta"); v != "2023-06-01" ||
				strings.Join(b, "|") != "prompt-caching-2024-07-31|a,b" {
				t.Errorf("%s key %q: echoed version %q betas %q", path, key, v, b)
			}
		}
		// Nothing received, nothing echoed.
		code, hdr, _ := do(t, http.MethodPost, srv.URL+path, `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, map[string]string{"X-Api-Key": "k"})
		if _, ok := hdr["X-Fake-Anthropic-Version"]; ok || code != http.StatusOK || len(hdr.Values("X-Fake-Anthropic-Beta")) != 0 {
			t.Errorf("%s without the headers: status %d, echoed %v", path, code, hdr)
		}
	}
}

// dialectCall is one endpoint of each dialect, with the model it is called for substituted for MODEL.
type dialectCall struct {
	name, path, body string
	headers          map[string]string
	// errorOf reads the dialect's error body: its type (or status name) and message.
	errorOf func(t *testing.T, body []byte) (string, string)
}

func openAIErrorOf(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return e.Error.Type, e.Error.Message
}

func anthropicErrorOf(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return e.Error.Type, e.Error.Message
}

func geminiErrorOf(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == 0 {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return e.Error.Status, e.Error.Message
}

var dialects = []dialectCall{
	{"chat", "/v1/chat/completions", `{"model":"MODEL","messages":[{"role":"user","content":"hi"}]}`, nil, openAIErrorOf},
	{"chat stream", "/v1/chat/completions", `{"model":"MODEL","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil, openAIErrorOf},
	{"completions", "/v1/completions", `{"model":"MODEL","prompt":"hi"}`, nil, openAIErrorOf},
	{"embeddings", "/openai/v1/embeddings", `{"model":"MODEL","input":"hi"}`, nil, openAIErrorOf},
	{"anthropic", "/v1/messages", `{"model":"MODEL","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Api-Key": "k"}, anthropicErrorOf},
	{"anthropic stream", "/v1/messages", `{"model":"MODEL","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Api-Key": "k"}, anthropicErrorOf},
	{"anthropic count_tokens", "/v1/messages/count_tokens", `{"model":"MODEL","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Api-Key": "k"}, anthropicErrorOf},
	{"gemini", "/v1beta/models/MODEL:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`, map[string]string{"X-Goog-Api-Key": "k"}, geminiErrorOf},
	{"gemini stream", "/v1beta/models/MODEL:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"hi"}]}]}`, map[string]string{"X-Goog-Api-Key": "k"}, geminiErrorOf},
}

// TestScriptedFailures checks the failures a test can script, by model name or by header, in every dialect.
func TestScriptedFailures(t *testing.T) {
	srv := newServer(t, Options{})
	types := map[string]map[int]string{ // expected error type (or Gemini status) per dialect and status
		"openai":    {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error", 500: "server_error", 400: "invalid_request_error"},
		"anthropic": {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error", 500: "api_error", 400: "invalid_request_error"},
		"gemini":    {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 400: "INVALID_ARGUMENT"},
	}
	for _, tc := range []struct {
		name, model string
		headers     map[string]string
		code        int
		retryAfter  string
		inMsg       string
	}{
		{name: "model 429 retry 2", model: "fail-429-retry-2", code: 429, retryAfter: "2", inMsg: "injected failure: 429 Too Many Requests"},
		{name: "model 401", model: "fail-401", code: 401, inMsg: "injected failure: 401 Unauthorized"},
		{name: "model 403", model: "fail-403", code: 403, inMsg: "injected failure: 403 Forbidden"},
		{name: "model 500", model: "fail-500", code: 500, inMsg: "injected failure: 500 Internal Server Error"},
		{name: "header 429 with retry-after", model: "m", headers: map[string]string{"X-Fake-Status": "429", "X-Fake-Retry-After": "7"}, code: 429, retryAfter: "7"},
		{name: "retry-after alone does nothing", model: "m", headers: map[string]string{"X-Fake-Retry-After": "7"}, code: 200},
		{name: "bad fail model", model: "fail-4290", code: 400, inMsg: "invalid failure model"},
		{name: "bad fail model retry", model: "fail-429-retry-soon", code: 400, inMsg: "invalid failure model"},
		{name: "fail model out of range", model: "fail-200", code: 400, inMsg: "invalid failure model"},
		{name: "bad header retry-after", model: "m", headers: map[string]string{"X-Fake-Status": "429", "X-Fake-Retry-After": "-1"}, code: 400, inMsg: "X-Fake-Retry-After"},
	} {
		for _, d := range dialects {
			t.Run(tc.name+"/"+d.name, func(t *testing.T) {
				headers := map[string]string{}
				for k, v := range d.headers {
					headers[k] = v
				}
				for k, v := range tc.headers {
					headers[k] = v
				}
				code, hdr, body := do(t, http.MethodPost, srv.URL+strings.ReplaceAll(d.path, "MODEL", tc.model),
					strings.ReplaceAll(d.body, "MODEL", tc.model), headers)
				if code != tc.code {
					t.Fatalf("status %d, want %d (body %s)", code, tc.code, body)
				}
				if got := hdr.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				if code == http.StatusOK {
					return
				}
				dialect := map[string]string{"chat": "openai", "chat stream": "openai", "completions": "openai", "embeddings": "openai"}[d.name]
				if dialect == "" {
					dialect, _, _ = strings.Cut(d.name, " ")
				}
				typ, msg := d.errorOf(t, body)
				if typ != types[dialect][tc.code] || !strings.Contains(msg, tc.inMsg) {
					t.Errorf("error %q %q, want %q containing %q", typ, msg, types[dialect][tc.code], tc.inMsg)
				}
			})
		}
	}
}

// TestScriptedHang checks that fail-hang and X-Fake-Delay: hang never answer, and that the handler ends
// when the client gives up.
func TestScriptedHang(t *testing.T) {
	for _, how := range []struct {
		name, model string
		headers     map[string]string
	}{{"model", "fail-hang", nil}, {"header", "m", map[string]string{"X-Fake-Delay": "hang"}}} {
		for _, d := range dialects {
			t.Run(how.name+"/"+d.name, func(t *testing.T) {
				srv := newServer(t, Options{})
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+strings.ReplaceAll(d.path, "MODEL", how.model),
					strings.NewReader(strings.ReplaceAll(d.body, "MODEL", how.model)))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range d.headers {
					req.Header.Set(k, v)
				}
				for k, v := range how.headers {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("a hanging request was answered %d", resp.StatusCode)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want the client's deadline", err)
				}
				done := make(chan struct{})
				go func() { srv.Close(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("the handler still hangs after the client left")
				}
			})
		}
	}
}
