// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import "github.com/dsp-ai/fd2/inference/internal/rawjson"

// The fast path reads a chunk without encoding/json: it walks the event's bytes with rawjson and keeps
// the raw values slowParse would keep, so apply writes the same bytes from either. It takes every chunk
// of an ordinary stream (content, reasoning and tool call deltas, the finish and usage chunks) and
// leaves to slowParse whatever it cannot be sure encoding/json reads the same way: duplicate keys
// (encoding/json keeps the last), keys matching only case-insensitively or escaped, nulls where
// encoding/json wants a container, anything not an object where it wants one.

// The JSON names of wireChunk's fields at each level, in the order rawjson.Field reports them.
var (
	topFields    = []string{"choices", "usage", "error"}
	choiceFields = []string{"index", "delta", "finish_reason"}
	deltaFields  = []string{"content", "reasoning_content", "reasoning", "tool_calls"}
	callFields   = []string{"index", "id", "function"}
	funcFields   = []string{"name", "arguments"}
)

// fastParse fills c from data if it is sure to read it as slowParse would; it reports whether it did.
func (s *streamReader) fastParse(data []byte, c *chunk) bool {
	if !rawjson.Valid(data) {
		return false
	}
	var top [3][]byte
	if !members(data, topFields, top[:]) {
		return false
	}
	c.reset()
	c.usage, c.err = top[1], top[2]
	if top[0] == nil {
		return true
	}
	arr, ok := rawjson.Array(top[0])
	if !ok {
		return false
	}
	for {
		el, ok := arr.Next()
		if !ok {
			return true
		}
		var ch [3][]byte
		if !members(el, choiceFields, ch[:]) {
			return false
		}
		delta := ch[1]
		if delta != nil && string(delta) == "null" {
			delta = nil
		}
		var d [4][]byte
		if delta != nil && !members(delta, deltaFields, d[:]) {
			return false
		}
		take := !c.choice && isChoice0(ch[0])
		if take {
			c.choice, c.finish = true, ch[2]
			c.content, c.reasoningContent, c.reasoning = d[0], d[1], d[2]
		}
		if d[3] == nil || string(d[3]) == "null" {
			continue
		}
		calls, ok := rawjson.Array(d[3])
		if !ok {
			return false
		}
		for pos := 0; ; pos++ {
			call, ok := calls.Next()
			if !ok {
				break
			}
			var tc [3][]byte
			if !members(call, callFields, tc[:]) {
				return false
			}
			t := toolDelta{index: tc[0], id: tc[1], pos: pos}
			if fn := tc[2]; fn != nil && string(fn) != "null" {
				var f [2][]byte
				if !members(fn, funcFields, f[:]) {
					return false
				}
				t.name, t.args = f[0], f[1]
			}
			if take {
				c.tools = append(c.tools, t)
			}
		}
	}
}

// members reads the object v into vals, the raw values of the members named names (nil if absent); ok
// is false if v is not an object, or has a member rawjson.Field cannot place, or a duplicate.
func members(v []byte, names []string, vals [][]byte) bool {
	m, ok := rawjson.Object(v)
	if !ok {
		return false
	}
	for {
		key, val, ok := m.Next()
		if !ok {
			return true
		}
		f, ok := rawjson.Field(key, names)
		if !ok {
			return false
		}
		if f < 0 {
			continue
		}
		if vals[f] != nil {
			return false
		}
		vals[f] = val
	}
}

var (
	usageFields   = []string{"prompt_tokens", "completion_tokens", "prompt_tokens_details"}
	detailsFields = []string{"cached_tokens"}
)

// fastUsage reads a usage object as json.Unmarshal into a chatUsage would, if every count it reads is
// a plain integer and it can place every key; ok is false otherwise.
func fastUsage(v []byte) (u chatUsage, ok bool) {
	var f [3][]byte
	if !members(v, usageFields, f[:]) {
		return u, false
	}
	for i, p := range []*int64{&u.PromptTokens, &u.CompletionTokens} {
		if f[i] == nil {
			continue
		}
		if *p, ok = rawjson.Int(f[i]); !ok {
			return u, false
		}
	}
	if d := f[2]; d != nil && string(d) != "null" {
		var c [1][]byte
		if !members(d, detailsFields, c[:]) {
			return u, false
		}
		u.PromptTokensDetails = &struct {
			CachedTokens int64 `json:"cached_tokens"`
		}{}
		if c[0] != nil {
			if u.PromptTokensDetails.CachedTokens, ok = rawjson.Int(c[0]); !ok {
				return u, false
			}
		}
	}
	return u, true
}
