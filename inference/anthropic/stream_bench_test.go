// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

// benchWords is the answer of the benchmark stream: 20 words, one text_delta each, as internal/fakellm
// streams them (every word but the last followed by a space).
var benchWords = []string{"echo:", "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog",
	"while", "seven", "tired", "hens", "watch", "from", "a", "wooden", "fence", "nearby"}

// benchTextDelta is one content_block_delta event as fakellm renders it.
func benchTextDelta(word string) string {
	return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" +
		word + "\"}}\n\n"
}

const (
	benchStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_0123456789abcdef\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-fake\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: ping\ndata: {\"type\":\"ping\"}\n\n"
	benchEnd = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":20}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// benchStream is the fakellm event sequence for benchWords.
func benchStream() []byte {
	var b bytes.Buffer
	b.WriteString(benchStart)
	for i, w := range benchWords {
		if i < len(benchWords)-1 {
			w += " "
		}
		b.WriteString(benchTextDelta(w))
	}
	b.WriteString(benchEnd)
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

// BenchmarkStreamTranslate measures the translator per upstream event. stream20 translates the whole
// 20-word stream per op (per-stream setup included, 26 events); text_delta is the steady state, one
// text_delta event per op in a stream of b.N of them.
func BenchmarkStreamTranslate(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	tr := &translated{clientModel: "claude-fast", includeUsage: true}
	newID := func() string { return "id" }
	buf := make([]byte, 32<<10)
	b.Run("stream20", func(b *testing.B) {
		in := benchStream()
		events := bytes.Count(in, []byte("\n\n"))
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		mallocs := mallocCount()
		for b.Loop() {
			s := newStreamReader(io.NopCloser(bytes.NewReader(in)), func(error) {}, tr, now, newID)
			if err := drain(s, buf); err != nil {
				b.Fatal(err)
			}
		}
		reportPerEvent(b, events, mallocCount()-mallocs)
	})
	b.Run("text_delta", func(b *testing.B) {
		var in bytes.Buffer
		in.WriteString(benchStart)
		ev := benchTextDelta("word ")
		for range b.N {
			in.WriteString(ev)
		}
		in.WriteString(benchEnd)
		s := newStreamReader(io.NopCloser(bytes.NewReader(in.Bytes())), func(error) {}, tr, now, newID)
		// The three opening events are read before the timer starts.
		for range 3 {
			if err := s.step(); err != nil {
				b.Fatal(err)
			}
		}
		s.out.Reset()
		b.ReportAllocs()
		b.ResetTimer()
		if err := drain(s, buf); err != nil {
			b.Fatal(err)
		}
	})
}

// reportPerEvent adds ns/event and allocs/event for b.N ops of events events each, mallocs being
// the allocations made by all of them.
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
