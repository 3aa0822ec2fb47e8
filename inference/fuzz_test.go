// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
)

// nonBlankLines are the lines of b that hold more than whitespace, in order: what an SSE reader must
// pass on untouched, whatever it does with blank lines and event boundaries.
func nonBlankLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// FuzzSSEReader feeds a provider's stream, as arbitrary bytes through buffers of every small size, to the
// SSE reader and to the byte scanners the engine runs on each event (first token, usage, token text). The
// reader must end with io.EOF, return only events closed by a blank line, and lose, add or reorder no
// line that carries data. It is seeded with the stream fixtures of the provider translators.
func FuzzSSEReader(f *testing.F) {
	for _, p := range []string{
		"anthropic/testdata/stream/anthropic.sse", "anthropic/testdata/stream/openai.sse",
		"gemini/testdata/stream/text_and_tool/gemini_stream.sse", "gemini/testdata/stream/text_and_tool/openai_stream.sse",
	} {
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	for _, s := range []string{
		"", "\n", "\r\n\r\n", "data: a\n\ndata: b", "data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n", ": ping\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\u00e9\"}}],\"usage\":null}\n\ndata: [DONE]\n\n",
		"data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3}}}\n\n",
		"a\n\r", "  \n\t\n", "data: x\r",
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		rd := sseReader{br: bufio.NewReaderSize(bytes.NewReader(in), 16+int(size))}
		var out []byte
		var text []byte
		for n := 0; ; n++ {
			if n > len(in)+1 {
				t.Fatalf("more events than input bytes: the reader loops")
			}
			ev, err := rd.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("reader error %v, want io.EOF", err)
				}
				break
			}
			if !bytes.HasSuffix(ev, []byte("\n\n")) && !bytes.HasSuffix(ev, []byte("\n\r\n")) {
				t.Fatalf("event %q does not end with a blank line", ev)
			}
			if ev[0] == '\n' || bytes.HasPrefix(ev, []byte("\r\n")) {
				t.Fatalf("event %q starts with a blank line", ev)
			}
			out = append(out, ev...)
			_ = hasFirstToken(ev)
			var usage bool
			if text, usage = scanEvent(text, ev); usage {
				root := gjson.ParseBytes(eventData(ev))
				_, _ = parseUsage(root.Get("usage"))
				_, _ = parseUsage(root.Get("response.usage"))
			}
		}
		got, want := nonBlankLines(out), nonBlankLines(in)
		if len(got) != len(want) {
			t.Fatalf("%d data lines out, %d in", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(bytes.TrimSuffix(got[i], []byte("\r")), bytes.TrimSuffix(want[i], []byte("\r"))) {
				t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
			}
		}
		if n := countEscapedText("gpt-4o", text); n < 0 {
			t.Fatalf("negative token count %d", n)
		}
	})
}

// FuzzUsageSniffer feeds a response, as arbitrary bytes split at an arbitrary point, to a UsageSniffer of
// either content type. What it reports must not depend on how the proxy's reads split the bytes, and an
// estimate is never negative. It is seeded with the translators' stream fixtures.
func FuzzUsageSniffer(f *testing.F) {
	for _, p := range []string{"anthropic/testdata/stream/openai.sse", "gemini/testdata/stream/text_and_tool/openai_stream.sse"} {
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(7), true)
	}
	f.Add([]byte(`{"choices":[{"message":{"content":"hi","tool_calls":[{"function":{"arguments":"{}"}}]}}],"usage":{"prompt_tokens":1}}`), uint16(3), false)
	f.Add([]byte("data: {\"choices\":[{\"text\":\"a\\\"\"}]}\r\n\r\ndata: {\"usage\":{\"input_tokens\":2,\"output_tokens\":3}}"), uint16(20), true)
	f.Fuzz(func(t *testing.T, b []byte, split uint16, sse bool) {
		ct := "application/json"
		if sse {
			ct = "text/event-stream"
		}
		whole := NewUsageSniffer(ct, 1<<16)
		_, _ = whole.Write(b)
		wantU, wantOK := whole.Usage()
		at := int(split) % (len(b) + 1)
		parts := NewUsageSniffer(ct, 1<<16)
		_, _ = parts.Write(b[:at])
		_, _ = parts.Write(b[at:])
		gotU, gotOK := parts.Usage()
		if gotU != wantU || gotOK != wantOK {
			t.Fatalf("split at %d: %+v, %v; whole: %+v, %v", at, gotU, gotOK, wantU, wantOK)
		}
		if whole.CompletionEstimate() < 0 {
			t.Fatalf("negative estimate %d", whole.CompletionEstimate())
		}
	})
}
