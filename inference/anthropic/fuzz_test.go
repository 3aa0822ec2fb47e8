// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference/internal/chunkcheck"
)

// FuzzStreamTranslator feeds arbitrary bytes, as an Anthropic Messages SSE stream, to the translator
// into OpenAI chat.completion.chunk events. Whatever the input, nothing panics; every output event is a
// well-formed chunk, an error event or the [DONE] sentinel; [DONE] is last and comes only when the
// stream completed: a stream that breaks off, or carries an error, never ends cleanly. The fast path
// and the decoding path write the same bytes and end the same way. Seeded with the stream fixture and
// the fast path's test cases; schema runs them as structured output, where a tool's input is content.
func FuzzStreamTranslator(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "stream", "anthropic.sse"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden, true, false)
	f.Add(golden[:len(golden)/2], false, false)
	for _, s := range []string{
		"", "event: ping\ndata: {\"type\":\"ping\"}\n\n",
		"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}\n\ndata: {\"type\":\"message_stop\"}\n\n",
		"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n",
		"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}\n\n" +
			"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n" +
			"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":4}}\n\n",
		"data: {\"type\":\"content_block_delta\",\"index\":7,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n",
		"data: not json\n\n", "data: {\"type\":\"message_stop\"}", "data:\ndata: {}\n\n",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	for _, d := range fastCases {
		f.Add([]byte(evStart+toolStart+deltaEvent("1", d)+deltaEvent("0", d)+msgStop), true, false)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, in []byte, includeUsage, schema bool) {
		released := false
		tr := &translated{clientModel: "claude-test", includeUsage: includeUsage}
		if schema {
			// Structured output: tool "f" (the seeds' tool) stands for response_format.
			tr.schemaTool = "f"
		}
		s := newStreamReader(io.NopCloser(bytes.NewReader(in)), func(error) { released = true }, tr, now,
			func() string { return "fuzzid" })
		out, err := io.ReadAll(s)
		if !released {
			t.Fatal("the upstream was not released at the end of the stream")
		}
		res, cerr := chunkcheck.Check(out)
		if cerr != nil {
			t.Fatal(cerr)
		}
		done, errEvent := res.Done, res.ErrorEvent
		if done && errEvent {
			t.Fatal("a stream with an error event ended with [DONE]")
		}
		if err != nil && done {
			t.Fatalf("a failed stream (%v) ended with [DONE]", err)
		}
		if err == nil && !done && !errEvent {
			t.Fatalf("a stream that ended cleanly has neither [DONE] nor an error event: %q", out)
		}
		if _, again := s.Read(make([]byte, 8)); (again == nil) || (err != nil && again != err) {
			t.Fatalf("Read after the end = %v, want the sticky %v", again, err)
		}
		checkSamePaths(t, in)
	})
}
