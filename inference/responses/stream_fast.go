// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import "github.com/dsp-ai/fd2/inference/internal/rawjson"

// The fast path translates the events that make up nearly all of a chat stream, a content delta of the
// one choice, without encoding/json: it reads the few fields it needs from the event's bytes and hands
// the content, still escaped, to the same textDelta the decoding path calls. It takes an event only when
// encoding/json would decode it into a chatChunk with no error, no usage, one choice of index 0, no
// finish reason, and a delta with nothing but content (and fields chatChunk ignores); any other event,
// or one it cannot be sure about (escaped or case-folded keys, duplicates), is left to that path, so
// both write the same bytes.

// The JSON names of chatChunk's, its choice's and its delta's fields, in the order rawjson.Field
// reports them.
var (
	chunkFields  = []string{"choices", "usage", "error"}
	choiceFields = []string{"index", "delta", "finish_reason"}
	deltaFields  = []string{"content", "reasoning_content", "refusal", "tool_calls"}
)

// fastEvent translates data if it qualifies (see above) and reports whether it did.
func (t *translator) fastEvent(data []byte) (ok bool, err error) {
	if !rawjson.Valid(data) {
		return false, nil
	}
	m, ok := rawjson.Object(data)
	if !ok {
		return false, nil
	}
	var choices []byte
	var usageSeen bool
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, chunkFields)
		switch {
		case !ok:
			return false, nil
		case f < 0:
			continue
		case f == 0 && choices == nil:
			choices = val
		case f == 1 && !usageSeen && string(val) == "null":
			usageSeen = true
		default:
			return false, nil // usage, an error, or a duplicate (encoding/json keeps the last)
		}
	}
	arr, ok := rawjson.Array(choices)
	if !ok {
		return false, nil
	}
	choice, ok := arr.Next()
	if !ok {
		return false, nil
	}
	if _, more := arr.Next(); more {
		return false, nil
	}
	content, ok := readChoice(choice)
	if !ok {
		return false, nil
	}
	return true, t.textDelta(content)
}

// readChoice returns the content of a choice of index 0 whose delta has only content; ok is false for
// any other.
func readChoice(v []byte) (content []byte, ok bool) {
	m, ok := rawjson.Object(v)
	if !ok {
		return nil, false
	}
	var seen [3]bool
	var delta []byte
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, choiceFields)
		switch {
		case !ok:
			return nil, false
		case f < 0:
			continue
		case seen[f]:
			return nil, false
		}
		seen[f] = true
		switch f {
		case 0:
			if n, ok := rawjson.Int(val); !ok || n != 0 {
				return nil, false
			}
		case 1:
			delta = val
		case 2:
			if string(val) != "null" {
				return nil, false
			}
		}
	}
	if delta == nil {
		return nil, false
	}
	d, ok := rawjson.Object(delta)
	if !ok {
		return nil, false
	}
	var contentSeen bool
	for {
		key, val, ok := d.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, deltaFields)
		switch {
		case !ok:
			return nil, false
		case f < 0:
			continue
		case f == 0 && !contentSeen:
			contentSeen = true
			if content, ok = rawjson.String(val); !ok {
				return nil, false
			}
		default:
			return nil, false // reasoning, a refusal or tool calls, or a duplicate
		}
	}
	return content, true
}
