// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"strconv"

	"github.com/dsp-ai/fd2/inference/internal/rawjson"
)

// The fast path translates content_block_delta events, nearly all of a stream, without encoding/json:
// it reads the few fields it needs from the event's bytes and appends the chunk to s.out around the
// chunk prefix, copying the text as it came (see rawjson.AppendString). It also passes over the events
// that translate to nothing, ping and content_block_stop. Its output is byte for byte
// what step's decoding path writes for the same event; an event of any other shape, or one it cannot
// be sure about, is left to that path.

// eventFields and deltaFields are the JSON names of anEvent's fields and of its delta's, in the order
// rawjson.Field reports them.
var (
	eventFields = []string{"type", "index", "delta", "message", "content_block", "usage", "error"}
	deltaFields = []string{"type", "text", "partial_json", "stop_reason"}
)

const (
	evType = iota
	evIndex
	evDelta
)

const (
	dType = iota
	dText
	dPartialJSON
	dStopReason
)

// fastEvent translates data if it is a content_block_delta, ping or content_block_stop event that
// json.Unmarshal would decode without error into anEvent, with no fields but those fastEvent reads; it
// reports whether it did.
func (s *streamReader) fastEvent(data []byte) bool {
	if !rawjson.Valid(data) {
		return false
	}
	m, ok := rawjson.Object(data)
	if !ok {
		return false
	}
	var typ, index, delta []byte
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, eventFields)
		if !ok {
			return false
		}
		switch f {
		case -1:
			continue
		case evType:
			if typ != nil {
				return false // encoding/json keeps the last of duplicate keys
			}
			typ = val
		case evIndex:
			if index != nil {
				return false
			}
			index = val
		case evDelta:
			if delta != nil {
				return false
			}
			delta = val
		default:
			return false // a field content_block_delta does not carry
		}
	}
	idx := 0
	if index != nil {
		n, ok := rawjson.Int(index)
		if !ok || int64(int(n)) != n {
			return false
		}
		idx = int(n)
	}
	t, ok := rawjson.String(typ)
	if !ok {
		return false
	}
	switch string(t) {
	case "content_block_delta":
	case "ping", "content_block_stop":
		return delta == nil
	default:
		return false
	}
	var d [4][]byte // deltaFields' values, contents of strings
	dm, ok := rawjson.Object(delta)
	if !ok {
		return false
	}
	for {
		key, val, ok := dm.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, deltaFields)
		if !ok {
			return false
		}
		if f < 0 {
			continue
		}
		str, ok := rawjson.String(val)
		if !ok || d[f] != nil {
			return false
		}
		d[f] = str
	}
	// A raw string is empty exactly when its value is.
	switch string(d[dType]) {
	case "text_delta":
		if len(d[dText]) > 0 {
			b := append(s.chunkPrefix(s.out.AvailableBuffer()), `"content":`...)
			b = rawjson.AppendString(b, d[dText], false)
			s.out.Write(append(b, "},\"finish_reason\":null}]}\n\n"...))
		}
	case "input_json_delta":
		if call, ok := s.toolIndex[idx]; ok && len(d[dPartialJSON]) > 0 {
			b := append(s.chunkPrefix(s.out.AvailableBuffer()), `"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(call), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = rawjson.AppendString(b, d[dPartialJSON], false)
			s.out.Write(append(b, "}}]},\"finish_reason\":null}]}\n\n"...))
		}
	default:
		// An escaped type might still read text_delta once decoded; other types emit nothing.
		for _, c := range d[dType] {
			if c == '\\' {
				return false
			}
		}
	}
	return true
}

// chunkPrefix appends the start of a choice-0 chunk, up to the delta's opening brace, as emit's
// encoding writes it. The prefix is made once per stream id (chunkID may make the id, as in emit).
func (s *streamReader) chunkPrefix(b []byte) []byte {
	if s.id == "" || s.prefix == nil || s.prefixID != s.id {
		id, _ := marshal(s.chunkID()) // strings always encode
		model, _ := marshal(s.model)
		p := append(s.prefix[:0], `data: {"id":`...)
		p = append(p, id...)
		p = append(p, `,"object":"chat.completion.chunk","created":`...)
		p = strconv.AppendInt(p, s.created, 10)
		p = append(p, `,"model":`...)
		p = append(p, model...)
		s.prefix = append(p, `,"choices":[{"index":0,"delta":{`...)
		s.prefixID = s.id
	}
	return append(b, s.prefix...)
}
