// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"strings"
	"testing"
)

// ragStream is RAG2's simulated stream: a role chunk, a chunk per word, a stop chunk and [DONE].
const ragStream = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"kb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"kb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n" +
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"kb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"world \"},\"finish_reason\":null}]}\n\n" +
	"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"kb\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
	"data: [DONE]\n\n"

// firstAt feeds s split at every cut and returns the offset of the byte at which the detector fired, or -1.
func firstAt(s string, cuts ...int) int {
	var f FirstContent
	prev := 0
	for _, c := range append(cuts, len(s)) {
		chunk := []byte(s[prev:c])
		if f.Feed(chunk) {
			// Find the exact byte by refeeding this chunk a byte at a time.
			var g FirstContent
			g.Feed([]byte(s[:prev]))
			for i := prev; i < c; i++ {
				if g.Feed([]byte{s[i]}) {
					return i
				}
			}
			return -2
		}
		prev = c
	}
	return -1
}

func TestFirstContent(t *testing.T) {
	hello := strings.Index(ragStream, `"Hello`) + 1
	tests := []struct {
		name   string
		stream string
		want   int
	}{
		{"rag2 stream: the role chunk's empty content does not count", ragStream, hello},
		{"spaces around the colon", "data: {\"choices\":[{\"delta\":{\"content\" : \"x\"}}]}\n\n", strings.Index("data: {\"choices\":[{\"delta\":{\"content\" : \"x\"}}]}", `"x`) + 1},
		{"no space after data:", "data:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", len("data:{\"choices\":[{\"delta\":{\"content\":\"")},
		{"crlf lines", "data: {\"delta\":{\"content\":\"\"}}\r\n\r\ndata: {\"delta\":{\"content\":\"y\"}}\r\n\r\n", strings.LastIndex("data: {\"delta\":{\"content\":\"\"}}\r\n\r\ndata: {\"delta\":{\"content\":\"y", "y")},
		{"escaped first character counts", "data: {\"delta\":{\"content\":\"\\n\"}}\n\n", strings.Index("data: {\"delta\":{\"content\":\"\\n", `\`)},
		{"null content", "data: {\"delta\":{\"content\":null}}\n\n", -1},
		{"reasoning_content is not content", "data: {\"delta\":{\"reasoning_content\":\"think\"}}\n\n", -1},
		{"content inside a string value", "data: {\"model\":\"\\\"content\\\":\\\"x\",\"delta\":{}}\n\n", -1},
		{"content as a value", "data: {\"role\":\"content\",\"x\":\"y\"}\n\n", -1},
		{"not a data line", ": comment \"content\":\"x\"\nevent: message\nid: \"content\":\"x\"\n\n", -1},
		{"data later in the line", "xdata: {\"content\":\"x\"}\n\n", -1},
		{"error event", "data: {\"error\":{\"message\":\"boom\",\"type\":\"internal_error\"}}\n\ndata: [DONE]\n\n", -1},
		{"tool call arguments", "data: {\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"content\\\":\\\"x\\\"}\"}}]}}\n\n", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstAt(tt.stream); got != tt.want {
				t.Fatalf("whole: fired at %d, want %d", got, tt.want)
			}
			// Every split into two and into single bytes finds the same byte.
			for cut := 0; cut <= len(tt.stream); cut++ {
				if got := firstAt(tt.stream, cut); got != tt.want {
					t.Fatalf("split at %d: fired at %d, want %d", cut, got, tt.want)
				}
			}
			var bytewise []int
			for i := 1; i < len(tt.stream); i++ {
				bytewise = append(bytewise, i)
			}
			if got := firstAt(tt.stream, bytewise...); got != tt.want {
				t.Fatalf("bytewise: fired at %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFirstContentFiresOnceAndResets(t *testing.T) {
	var f FirstContent
	if !f.Feed([]byte(ragStream)) || !f.Found() {
		t.Fatal("did not fire")
	}
	if f.Feed([]byte(ragStream)) {
		t.Fatal("fired twice")
	}
	f.Reset()
	if f.Found() || !f.Feed([]byte(ragStream)) {
		t.Fatal("reset did not rearm")
	}
}

func TestFirstContentAllocates(t *testing.T) {
	chunks := [][]byte{[]byte(ragStream[:40]), []byte(ragStream[40:200]), []byte(ragStream[200:])}
	allocs := testing.AllocsPerRun(100, func() {
		var f FirstContent
		for _, c := range chunks {
			f.Feed(c)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per stream, want 0", allocs)
	}
}

func BenchmarkFirstContent(b *testing.B) {
	// A long role chunk before the first word, fed in 64-byte writes, as a proxy copies.
	stream := []byte(strings.Repeat(": keep-alive\n\n", 20) + ragStream)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		var f FirstContent
		for i := 0; i < len(stream); i += 64 {
			if f.Feed(stream[i:min(i+64, len(stream))]) {
				break
			}
		}
	}
}
