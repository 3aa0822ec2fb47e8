// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// ck is an OpenAI chat.completion.chunk event for choice 0, as OpenAI frames it.
func ck(delta, finish string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":` +
		delta + `,"logprobs":null,"finish_reason":` + finish + "}]}\n\n"
}

func text(s string) string { return ck(`{"content":"`+s+`"}`, "null") }

const (
	roleChunk  = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	usageChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":8}}}` + "\n\n"
	done       = "data: [DONE]\n\n"
)

func toolStart(index int, id, name string) string {
	return ck(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"%s","type":"function","function":{"name":"%s","arguments":""}}]}`, index, id, name), "null")
}

func toolArgs(index int, args string) string {
	return ck(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%q}}]}`, index, args), "null")
}

// streamCases are provider streams, each translated to testdata/stream/<name>.sse.
var streamCases = []struct {
	name, in string
	err      error // what Read ends with
}{
	{"text", roleChunk + text("Hello") + text(" world") + ck("{}", `"stop"`) + usageChunk + done, io.EOF},
	{"text_no_usage", roleChunk + text("Hello") + text(" world") + ck("{}", `"stop"`) + done, io.EOF},
	{"usage_on_finish_chunk", roleChunk + text("Hi") +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}` + "\n\n" + done, io.EOF},
	{"parallel_tools", roleChunk + text("Let me check.") +
		toolStart(0, "call_a", "get_weather") + toolArgs(0, `{"city":`) + toolArgs(0, ` "Paris"}`) +
		toolStart(1, "call_b", "get_time") + toolArgs(1, `{"tz":"CET"}`) +
		ck("{}", `"tool_calls"`) + usageChunk + done, io.EOF},
	{"tools_whole_calls", ck(`{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"a","arguments":"{}"}},`+
		`{"index":1,"id":"c2","type":"function","function":{"name":"b","arguments":"{\"x\":1}"}}]}`, `"stop"`) + usageChunk + done, io.EOF},
	{"tools_without_index", ck(`{"tool_calls":[{"id":"c1","type":"function","function":{"name":"a","arguments":"{\"x\":"}}]}`, "null") +
		ck(`{"tool_calls":[{"function":{"arguments":"1}"}}]}`, "null") +
		ck(`{"tool_calls":[{"id":"c2","type":"function","function":{"name":"b","arguments":"{}"}}]}`, "null") +
		ck("{}", `"tool_calls"`) + usageChunk + done, io.EOF},
	{"tool_without_id", ck(`{"tool_calls":[{"function":{"name":"a","arguments":"{}"}}]}`, "null") + ck("{}", `"tool_calls"`) + done, io.EOF},
	{"reasoning", roleChunk + ck(`{"reasoning_content":"Think"}`, "null") + ck(`{"reasoning_content":"ing."}`, "null") +
		text("Answer") + ck("{}", `"stop"`) + usageChunk + done, io.EOF},
	{"reasoning_field", ck(`{"reasoning":"hmm","content":null}`, "null") + ck(`{"reasoning":null,"content":"ok"}`, `"stop"`) + usageChunk + done, io.EOF},
	{"reasoning_both_names", ck(`{"reasoning_content":"same","reasoning":"same"}`, "null") + ck(`{"reasoning":"only"}`, "null") +
		text("ok") + ck("{}", `"stop"`) + usageChunk + done, io.EOF},
	{"content_filter", roleChunk + text("I can") + ck("{}", `"content_filter"`) + usageChunk + done, io.EOF},
	{"escapes", text(`caf\u00e9 \ud83d\ude00 \"q\" <b> & \u003c \n`) + "data: {\"choices\":[{\"delta\":{\"content\":\"raw \xff \u2028\"}}]}\n\n" +
		ck("{}", `"stop"`) + usageChunk + done, io.EOF},
	{"comments_crlf", ": OPENROUTER PROCESSING\r\n\r\n" + strings.ReplaceAll(text("Hi")+ck("{}", `"stop"`)+usageChunk, "\n", "\r\n") + "data: [DONE]", io.EOF},
	{"done_only", done, io.EOF},
	{"error_event", roleChunk + text("Hel") +
		`data: {"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}` + "\n\n", io.EOF},
	{"error_string", `data: {"error":"upstream exploded"}` + "\n\n", io.EOF},
	{"broken", roleChunk + text("Hel"), io.ErrUnexpectedEOF},
	{"empty", "", io.ErrUnexpectedEOF},
	{"broken_after_usage", roleChunk + text("Hi") + ck("{}", `"stop"`) + usageChunk, io.EOF},
	{"ignored_after_end", roleChunk + text("Hi") + ck("{}", `"stop"`) + usageChunk + text("late") + done, io.EOF},
	{"interleaved_tools", toolStart(0, "a", "f") + toolStart(1, "b", "g") + toolArgs(0, "{}") + done, errInterleavedTools},
	{"not_json", roleChunk + "data: {oops\n\n", errors.New("decoding the provider's stream event: invalid character 'o' looking for beginning of object key string")},
	{"multi_choice", `data: {"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}` + "\n\n" + ck("{}", `"stop"`) + done, io.EOF},
}

// translate runs in through a stream reader to the end, with or without the fast path; closed reports
// whether the provider's body was closed.
func translate(in string, noFast bool) (out []byte, err error, closed bool) {
	body := &trackBody{r: strings.NewReader(in)}
	s := newStreamReader(body, "msg_test", "gpt-4o", func() int64 { return 7 })
	s.noFast = noFast
	out, err = readAll(s)
	return out, err, body.closed.Load()
}

// readAll is io.ReadAll keeping the final error, io.EOF included.
func readAll(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

type trackBody struct {
	r      io.Reader
	closed atomic.Bool
}

func (b *trackBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errors.New("read on closed body")
	}
	return b.r.Read(p)
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

func TestStreamTranslation(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err, closed := translate(tc.in, false)
			if err == nil || err.Error() != tc.err.Error() {
				t.Errorf("stream ended with %v, want %v", err, tc.err)
			}
			if !closed {
				t.Error("the provider's body was not closed at the end of the stream")
			}
			if _, err := checkEvents(out); err != nil {
				t.Error(err)
			}
			golden(t, filepath.Join("testdata", "stream", tc.name+".sse"), out)
			checkSamePaths(t, tc.in)
		})
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", path, got, want)
	}
}

// checkSamePaths fails unless the fast path and the decoding path translate in identically.
func checkSamePaths(t *testing.T, in string) {
	t.Helper()
	want, wantErr, _ := translate(in, true)
	got, gotErr, _ := translate(in, false)
	if !bytes.Equal(got, want) {
		t.Fatalf("input %q:\nfast path wrote\n%s\ndecoding path wrote\n%s", in, got, want)
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("input %q: fast path ended with %v, decoding path with %v", in, gotErr, wantErr)
	}
}

// fastChunks are chunks in shapes the fast path takes or must refuse: escapes, nulls, duplicate,
// case-folded and escaped keys, wrong types, unknown fields, several choices and calls.
var fastChunks = []string{
	`{"choices":[{"index":0,"delta":{"content":"plain"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a","content":"b"}}]}`,
	`{"choices":[{"index":0,"delta":{"Content":"folded"}}]}`,
	`{"choices":[{"index":0,"delta":{"cont\u0065nt":"escaped key"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":5}}]}`,
	`{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"r","reasoning":"s"}}]}`,
	`{"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}`,
	`{"choices":[{"index":0,"delta":"x"}]}`,
	`{"choices":[null]}`,
	`{"choices":null}`,
	`{"choices":{}}`,
	`{"choices":[{"index":"0","delta":{"content":"string index"}}]}`,
	`{"choices":[{"index":0.0,"delta":{"content":"float index"}}]}`,
	`{"choices":[{"delta":{"content":"no index"}},{"index":0,"delta":{"content":"second"}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"i","function":{"name":"n","arguments":"{\"a\":"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":null}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[null]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":null}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":"x"}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":1}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"i","function":{"name":"n","name":"m"}}]}}]}`,
	`{"choices":[{"index":1,"delta":{"tool_calls":[{"function":"bad"}]}}]}`,
	`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
	`{"choices":[],"usage":{"prompt_tokens":"x"}}`,
	`{"choices":[],"usage":null}`,
	`{"usage":5}`,
	`{"error":null,"choices":[{"delta":{"content":"x"}}]}`,
	`{"error":{"message":"m"}}`,
	`{"error":{"message":"m"},"error":null}`,
	`{"id":"x","extra":{"nested":[1,{"a":"b"}]},"choices":[{"index":0,"logprobs":{"content":[]},"delta":{"role":"assistant","content":"x"}}]}`,
	"{\"choices\":[{\"delta\":{\"content\":\"bad utf8 \xff\xfe cut \xe4\xb8\"}}]}",
	`{"choices":[{"delta":{"content":"\ud83d lone \u0000 \u001f"}}]}`,
	`null`, `[]`, `"s"`, `{}`, `{"choices":[{"index":0,"delta":{}}]`,
}

func TestFastPathMatchesDecoding(t *testing.T) {
	for _, c := range fastChunks {
		for _, in := range []string{
			"data: " + c + "\n\n" + ck("{}", `"stop"`) + done,
			roleChunk + text("x") + "data: " + c + "\n\n" + done,
			toolStart(0, "a", "f") + "data: " + c + "\n\n" + done,
		} {
			checkSamePaths(t, in)
		}
	}
}

// TestStreamClose checks that Close, called while a Read waits for the provider, closes the provider's
// body, which ends the Read.
func TestStreamClose(t *testing.T) {
	pr, pw := io.Pipe()
	s := newStreamReader(pr, "msg_test", "m", func() int64 { return 0 })
	go func() { _, _ = io.WriteString(pw, roleChunk) }()
	buf := make([]byte, 1024)
	if n, err := s.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "message_start") {
		t.Fatalf("first Read = %q, %v", buf[:n], err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(buf)
		errc <- err
	}()
	_ = s.Close()
	if err := <-errc; err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Read after Close = %v, want the closed body's error", err)
	}
	if _, err := pw.Write([]byte("x")); err == nil {
		t.Fatal("the provider's body is still open")
	}
}

// TestFastUsage checks that fastUsage reads what encoding/json reads, or declines.
func TestFastUsage(t *testing.T) {
	for _, in := range []string{
		`{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25}`,
		`{"prompt_tokens":20,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0}}`,
		`{"prompt_tokens":20,"prompt_tokens_details":null}`,
		`{"prompt_tokens":20,"prompt_tokens_details":{}}`,
		`{"prompt_tokens":null,"completion_tokens":1}`,
		`{"prompt_tokens":1.5}`,
		`{"prompt_tokens":"3"}`,
		`{"Prompt_Tokens":3}`,
		`{"prompt_tokens":3,"prompt_tokens":4}`,
		`{"prompt_tokens_details":{"cached_tokens":-1}}`,
		`{"prompt_tokens_details":[]}`,
		`{}`,
	} {
		var want chatUsage
		wantErr := json.Unmarshal([]byte(in), &want)
		got, ok := fastUsage([]byte(in))
		if !ok {
			continue // left to encoding/json
		}
		if wantErr != nil {
			t.Errorf("%s: fastUsage read %+v, encoding/json fails: %v", in, got, wantErr)
			continue
		}
		if g, w := got.anthropic(), want.anthropic(); g != w || (got.PromptTokensDetails == nil) != (want.PromptTokensDetails == nil) {
			t.Errorf("%s: fastUsage read %+v, encoding/json %+v", in, g, w)
		}
	}
}
