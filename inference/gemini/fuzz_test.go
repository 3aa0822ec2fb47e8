// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference/internal/chunkcheck"
)

// FuzzStreamTranslator feeds arbitrary bytes, as a Gemini streamGenerateContent SSE stream, through the
// translator into OpenAI chat.completion.chunk events, as the provider serves them (pipe and goroutine
// included). Whatever the input, nothing panics or hangs; every output event is a well-formed chunk, an
// error event or [DONE]; [DONE] is last and comes only when every candidate finished: a stream that
// breaks off, is unreadable or carries an error never ends cleanly. The fast path and the decoding path
// write the same bytes and end the same way. Seeded with the stream fixture and the fast path's cases.
func FuzzStreamTranslator(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "stream", "text_and_tool", "gemini_stream.sse"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden, true)
	f.Add(golden[:len(golden)/2], false)
	for _, s := range []string{
		"", "data: {}\n\n", "data: not json\n\n", ": comment\nevent: x\nid: 1\n\n",
		"data: {\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":1}}",
		"data: {\"candidates\":[{\"index\":1,\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}}]}},{\"index\":0,\"finishReason\":\"MAX_TOKENS\"}]}\n\n",
		"data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n",
		"data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n",
		"data: {\"candidates\":[{\"index\":-1,\"finishReason\":\"STOP\"}]}\r\n\r\n",
		"data: [\ndata: 1]\n\n",
	} {
		f.Add([]byte(s), false)
	}
	for _, parts := range fastParts {
		f.Add([]byte(textEvent("0", parts, "")+callEvent+textEvent("1", parts, `,"finishReason":"STOP"`)+finalEvent), true)
	}
	for _, ev := range fastEvents {
		if len(ev) < 1000 { // the huge ones would slow mutation down
			f.Add([]byte(ev+finalEvent), false)
		}
	}
	pv, err := New(Config{Name: "gm-fuzz", BaseURL: "http://127.0.0.1:1", Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
		NewID: func() string { return "fuzzid" }})
	if err != nil {
		f.Fatal(err)
	}
	p := pv.(*Provider)
	f.Fuzz(func(t *testing.T, in []byte, includeUsage bool) {
		released := make(chan struct{})
		var once sync.Once // the translator and Close both release the upstream
		up := &upstream{ctx: context.Background(), body: bufio.NewReader(bytes.NewReader(in)), closer: io.NopCloser(nil),
			cancel: func(error) { once.Do(func() { close(released) }) }}
		resp := p.streamResponse(up, "gemini-test", includeUsage)
		out, err := io.ReadAll(resp.Body)
		// The translator must release the upstream by itself once the stream ends, before any Close.
		select {
		case <-released:
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream was not released at the end of the stream")
		}
		_ = resp.Body.Close()
		res, cerr := chunkcheck.Check(out)
		if cerr != nil {
			t.Fatal(cerr)
		}
		if res.Done && res.ErrorEvent {
			t.Fatal("a stream with an error event ended with [DONE]")
		}
		if err != nil && res.Done {
			t.Fatalf("a failed stream (%v) ended with [DONE]", err)
		}
		if err == nil && !res.Done && !res.ErrorEvent {
			t.Fatalf("a stream that ended cleanly has neither [DONE] nor an error event: %q", out)
		}
		checkSamePaths(t, in)
	})
}
