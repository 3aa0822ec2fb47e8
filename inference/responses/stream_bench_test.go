// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/inference"
)

// benchStream is a 20-word chat stream as OpenAI-compatible providers send it: the role chunk, one chunk
// per word, the finish chunk and the usage chunk.
func benchStream() []byte {
	words := strings.Fields("echo: the quick brown fox jumps over the lazy dog while seven tired hens watch from a wooden fence nearby")
	chunks := []string{chunk(`{"role":"assistant","content":""}`, "")}
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		chunks = append(chunks, chunk(`{"content":"`+w+`"}`, ""))
	}
	chunks = append(chunks, chunk(`{}`, "stop"), usageChunk)
	return []byte(sse(chunks...))
}

// BenchmarkStreamTranslator measures translating one whole stream into Responses events, stored in the
// memory store as a real stream is (ids from crypto/rand included).
func BenchmarkStreamTranslator(b *testing.B) {
	for _, fast := range []bool{true, false} {
		name := "fast"
		if !fast {
			name = "decoding"
		}
		b.Run(name, func(b *testing.B) {
			in := benchStream()
			o := Over(&fakeChat{}, NewMemoryStore(1000, 0)).(*provider)
			tr, err := o.translate(context.Background(), &inference.Request{Endpoint: inference.EndpointResponses,
				Method: "POST", Body: []byte(`{"model":"m","input":"Say something.","stream":true}`), Stream: true})
			if err != nil {
				b.Fatal(err)
			}
			rd := bytes.NewReader(in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(in)
				t := o.newTranslator(context.Background(), tr, io.Discard)
				t.noFast = !fast
				if err := t.run(rd); err != nil {
					b.Fatal(err)
				}
				t.release()
			}
		})
	}
}
