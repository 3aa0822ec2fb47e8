// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import "strconv"

// appendJSON appends the request as one compact JSON object. It is written by hand around the
// client's escaped strings (see esc), which encoding/json would decode and encode again; the field
// order is the wire order, which keeps golden files readable.
func (r *chatRequest) appendJSON(b []byte) []byte {
	b = append(b, `{"model":`...)
	b = appendEsc(b, r.Model)
	b = append(b, `,"messages":[`...)
	for i := range r.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.Messages[i].appendJSON(b)
	}
	b = append(b, ']')
	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i, t := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","function":{"name":`...)
			b = appendEsc(b, t.Name)
			b = append(b, `,"description":`...)
			b = appendEsc(b, t.Description)
			b = append(b, `,"parameters":`...)
			b = compact(b, t.Parameters)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	if r.ToolChoice != "" {
		b = append(append(b, `,"tool_choice":`...), r.ToolChoice...)
	}
	if r.ParallelToolCalls != nil {
		b = strconv.AppendBool(append(b, `,"parallel_tool_calls":`...), *r.ParallelToolCalls)
	}
	for _, f := range [...]struct{ name, raw string }{{"max_tokens", r.MaxTokens}, {"temperature", r.Temperature}, {"top_p", r.TopP}} {
		if f.raw != "" {
			b = append(append(append(append(b, `,"`...), f.name...), `":`...), f.raw...)
		}
	}
	if len(r.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEsc(b, s)
		}
		b = append(b, ']')
	}
	if r.ReasoningEffort != "" {
		b = append(append(append(b, `,"reasoning_effort":"`...), r.ReasoningEffort...), '"')
	}
	if r.User != "" {
		b = appendEsc(append(b, `,"user":`...), r.User)
	}
	if r.Stream {
		// Usage is always asked for: message_delta must carry both token counts.
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(b, '}')
}

func (m *chatMessage) appendJSON(b []byte) []byte {
	b = append(append(append(b, `{"role":"`...), m.Role...), `","content":`...)
	switch c := m.Content.(type) {
	case esc:
		b = appendEsc(b, c)
	case []chatPart:
		b = append(b, '[')
		for i, p := range c {
			if i > 0 {
				b = append(b, ',')
			}
			switch p.Type {
			case "text":
				b = appendEsc(append(b, `{"type":"text","text":`...), p.Text)
				b = append(b, '}')
			case "image_url":
				b = appendEsc(append(b, `{"type":"image_url","image_url":{"url":`...), p.URL)
				b = append(b, "}}"...)
			case "file":
				b = appendEsc(append(b, `{"type":"file","file":{"file_data":`...), p.FileData)
				b = appendEsc(append(b, `,"filename":`...), p.Filename)
				b = append(b, "}}"...)
			}
		}
		b = append(b, ']')
	default:
		b = append(b, "null"...)
	}
	if len(m.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, tc := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEsc(append(b, `{"id":`...), tc.ID)
			b = appendEsc(append(b, `,"type":"function","function":{"name":`...), tc.Name)
			b = appendEsc(append(b, `,"arguments":`...), tc.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	if m.ToolCallID != "" {
		b = appendEsc(append(b, `,"tool_call_id":`...), m.ToolCallID)
	}
	return append(b, '}')
}

func appendEsc(b []byte, e esc) []byte {
	b = append(b, '"')
	b = append(b, e...)
	return append(b, '"')
}

// compact appends the valid JSON document src without the whitespace between its tokens.
func compact(b []byte, src string) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case ' ', '\t', '\n', '\r':
			b = append(b, src[start:i]...)
			start = i + 1
		}
	}
	return append(b, src[start:]...)
}

// requestSize estimates the size of r's translation, to allocate its buffer once.
func requestSize(r *mRequest) int {
	n := 256 + len(r.System) + len(r.Tools)
	for _, m := range r.Messages {
		n += len(m) + 64
	}
	return n
}
