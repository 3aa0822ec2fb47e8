// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// benchWords is the answer of the benchmark stream: 20 words, one content delta each.
var benchWords = strings.Fields("echo: the quick brown fox jumps over the lazy dog while seven tired hens watch from a wooden fence nearby")

// benchStream is an OpenAI stream of benchWords as OpenAI frames it: a role chunk, a chunk per word,
// the finish chunk, the usage chunk and [DONE].
func benchStream() []byte {
	var b bytes.Buffer
	b.WriteString(roleChunk)
	for i, w := range benchWords {
		if i < len(benchWords)-1 {
			w += " "
		}
		b.WriteString(text(w))
	}
	b.WriteString(ck("{}", `"stop"`) + usageChunk + done)
	return b.Bytes()
}

// drain reads s to the end through a fixed buffer, as the engine's copy loop does.
func drain(s io.Reader, buf []byte) error {
	for {
		_, err := s.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkStream measures the stream translator per upstream event. stream20 translates the whole
// 20-word stream per op (per-stream setup included, 24 events); first_event is the start of a stream
// (the added time to first byte); content_delta and tool_args are the steady states, one content (or
// tool argument) chunk per op in a stream of b.N of them.
func BenchmarkStream(b *testing.B) {
	buf := make([]byte, 32<<10)
	prompt := func() int64 { return 0 }
	b.Run("stream20", func(b *testing.B) {
		in := benchStream()
		events := bytes.Count(in, []byte("\n\n"))
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		mallocs := mallocCount()
		for b.Loop() {
			s := newStreamReader(io.NopCloser(bytes.NewReader(in)), "msg_bench", "gpt-4o", prompt)
			if err := drain(s, buf); err != nil {
				b.Fatal(err)
			}
		}
		reportPerEvent(b, events, mallocCount()-mallocs)
	})
	// first_event is the latency the translation adds to the first byte: a new stream reading the
	// provider's first chunk and writing message_start (and the first text delta) out of it.
	b.Run("first_event", func(b *testing.B) {
		first := []byte(text("Hello"))
		in := append(first, done...)
		b.ReportAllocs()
		for b.Loop() {
			s := newStreamReader(io.NopCloser(bytes.NewReader(in)), "msg_bench", "gpt-4o", prompt)
			if n, err := s.Read(buf); err != nil || n == 0 {
				b.Fatal(n, err)
			}
			// The rest of the stream, untimed, gives the buffers back as a finished stream does.
			b.StopTimer()
			if err := drain(s, buf); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	steady := func(b *testing.B, first, ev string) {
		in := &repeatReader{head: roleChunk + first, ev: ev, n: b.N, tail: ck("{}", `"stop"`) + usageChunk + done}
		s := newStreamReader(io.NopCloser(in), "msg_bench", "gpt-4o", prompt)
		// The opening events are read before the timer starts.
		for range 2 {
			if err := s.step(); err != nil {
				b.Fatal(err)
			}
		}
		s.bufs.out = s.bufs.out[:0]
		b.ReportAllocs()
		b.ResetTimer()
		mallocs := mallocCount()
		if err := drain(s, buf); err != nil {
			b.Fatal(err)
		}
		reportPerEvent(b, 1, mallocCount()-mallocs)
	}
	b.Run("content_delta", func(b *testing.B) { steady(b, text("first"), text("word ")) })
	b.Run("tool_args", func(b *testing.B) { steady(b, toolStart(0, "call_1", "Bash"), toolArgs(0, `{"command": "ls -la`)) })
}

// repeatReader reads head, then ev n times, then tail, without holding n copies of ev: a long stream
// built in memory would make the benchmark measure the garbage collector.
type repeatReader struct {
	head, ev, tail string
	n              int
	cur            string
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for r.cur == "" {
		switch {
		case r.head != "":
			r.cur, r.head = r.head, ""
		case r.n > 0:
			r.cur = r.ev
			r.n--
		case r.tail != "":
			r.cur, r.tail = r.tail, ""
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// reportPerEvent adds ns/event and allocs/event for b.N ops of events events each, mallocs being the
// allocations made by all of them.
func reportPerEvent(b *testing.B, events int, mallocs uint64) {
	n := float64(b.N) * float64(events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(mallocs)/n, "allocs/event")
}

func mallocCount() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
