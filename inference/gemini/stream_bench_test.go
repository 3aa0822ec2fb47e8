// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

// benchWords is the answer of the benchmark stream: 20 words, one event each, as internal/fakellm
// streams them (every word but the last followed by a space).
var benchWords = []string{"echo:", "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog",
	"while", "seven", "tired", "hens", "watch", "from", "a", "wooden", "fence", "nearby"}

// benchEvent is one intermediate streamGenerateContent event as fakellm renders it (CRLF line ends).
func benchEvent(word string) string {
	return "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + word +
		"\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-fake\",\"responseId\":\"0123456789abcdef\"}\r\n\r\n"
}

// benchLast is fakellm's last event: the last word, finishReason and usageMetadata.
func benchLast(word string) string {
	return "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + word +
		"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":20,\"totalTokenCount\":32},\"modelVersion\":\"gemini-fake\",\"responseId\":\"0123456789abcdef\"}\r\n\r\n"
}

// benchStream is the fakellm event sequence for benchWords.
func benchStream() []byte {
	var b bytes.Buffer
	for _, w := range benchWords[:len(benchWords)-1] {
		b.WriteString(benchEvent(w + " "))
	}
	b.WriteString(benchLast(benchWords[len(benchWords)-1]))
	return b.Bytes()
}

func benchProvider(b testing.TB) *Provider {
	pv, err := New(Config{Name: "gm-bench", BaseURL: "http://127.0.0.1:1", Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
		NewID: func() string { return "id" }})
	if err != nil {
		b.Fatal(err)
	}
	return pv.(*Provider)
}

// benchUpstream serves in as an upstream response body.
func benchUpstream(in []byte) *upstream {
	return &upstream{ctx: context.Background(), body: bufio.NewReader(bytes.NewReader(in)), closer: io.NopCloser(nil),
		cancel: func(error) {}}
}

// drain reads r to the end through a fixed buffer, as the engine's copy loop does.
func drain(r io.Reader, buf []byte) error {
	for {
		_, err := r.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkStreamTranslate measures the translator per upstream event, through the provider's pipe and
// goroutine as served. stream20 translates the whole 20-word stream per op (per-stream setup included);
// text_delta is the steady state, one text event per op in a stream of b.N of them.
func BenchmarkStreamTranslate(b *testing.B) {
	p := benchProvider(b)
	buf := make([]byte, 32<<10)
	b.Run("stream20", func(b *testing.B) {
		in := benchStream()
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		mallocs := mallocCount()
		for b.Loop() {
			resp := p.streamResponse(benchUpstream(in), "gemini-fast", true)
			if err := drain(resp.Body, buf); err != nil {
				b.Fatal(err)
			}
			_ = resp.Body.Close()
		}
		reportPerEvent(b, len(benchWords), mallocCount()-mallocs)
	})
	b.Run("text_delta", func(b *testing.B) {
		var in bytes.Buffer
		ev := benchEvent("word ")
		for range b.N + 1 {
			in.WriteString(ev)
		}
		in.WriteString(benchLast("end"))
		resp := p.streamResponse(benchUpstream(in.Bytes()), "gemini-fast", true)
		defer resp.Body.Close()
		// The first event carries the role chunk; the steady state starts after it.
		if _, err := resp.Body.Read(buf); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		if err := drain(resp.Body, buf); err != nil {
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
