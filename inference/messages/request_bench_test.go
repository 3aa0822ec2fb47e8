// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// claudeCodeBody is a Claude Code-sized request: 17 tools with schemas, a long system prompt and turns
// of tool calls with 2 KB results, about size bytes in all.
func claudeCodeBody(size int) []byte {
	long := strings.Repeat("Lorem ipsum <dolor> sit amet, \"consectetur\" adipiscing elit.\n", 32) // ~2 KB
	req := map[string]any{
		"model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
		"system": []map[string]any{{"type": "text", "text": strings.Repeat(long, 6), "cache_control": map[string]string{"type": "ephemeral"}}},
	}
	var tools []map[string]any
	for i := range 17 {
		tools = append(tools, map[string]any{"name": fmt.Sprintf("Tool%d", i), "description": long[:800],
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{
				"path": map[string]string{"type": "string", "description": "the path"}, "limit": map[string]string{"type": "number"}},
				"required": []string{"path"}}})
	}
	req["tools"] = tools
	msgs := []map[string]any{{"role": "user", "content": "Fix the failing test."}}
	req["messages"] = msgs
	for i := 0; ; i++ {
		b, _ := json.Marshal(req)
		if len(b) >= size {
			return b
		}
		id := fmt.Sprintf("toolu_%d", i)
		msgs = append(msgs,
			map[string]any{"role": "assistant", "content": []map[string]any{{"type": "text", "text": "Reading."},
				{"type": "tool_use", "id": id, "name": "Tool1", "input": map[string]any{"path": "/repo/x.go"}}}},
			map[string]any{"role": "user", "content": []map[string]any{{"type": "tool_result", "tool_use_id": id, "content": long}}})
		req["messages"] = msgs
	}
}

// BenchmarkTranslateRequest measures the request translation, which adds to the time to first byte
// of every call, for a small request and Claude Code-sized ones.
func BenchmarkTranslateRequest(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10, 400 << 10} {
		body := claudeCodeBody(size)
		b.Run(fmt.Sprintf("%dKB", len(body)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := decodeRequest(body, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := translateRequest(r, "gpt-4o", true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
