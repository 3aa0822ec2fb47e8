// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
)

// streamEnd is how a well-formed Messages stream ended.
type streamEnd struct {
	stopped bool // message_stop is the last event
	errored bool // an error event is the last event
}

// checkEvents checks out against the Messages stream contract: every event is an event line and one
// data line of JSON whose type is the event's name; message_start comes first (an error may come
// instead); content blocks are numbered 0, 1, … and opened, filled with deltas of their own kind and
// closed one at a time; message_delta, with both token counts, comes after the last block and right
// before message_stop; message_stop or an error event ends the stream.
func checkEvents(out []byte) (streamEnd, error) {
	var end streamEnd
	if len(out) == 0 {
		return end, nil
	}
	if !bytes.HasSuffix(out, []byte("\n\n")) {
		return end, fmt.Errorf("stream does not end at an event boundary: %.200q", out)
	}
	events := bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n"))
	open, blocks, started, delta := -1, 0, false, false
	openType := ""
	for i, ev := range events {
		if end.stopped || end.errored {
			return end, fmt.Errorf("event %d follows the end of the stream", i)
		}
		lines := bytes.Split(ev, []byte("\n"))
		if len(lines) != 2 {
			return end, fmt.Errorf("event %d is not an event line and a data line: %.200q", i, ev)
		}
		name, ok1 := bytes.CutPrefix(lines[0], []byte("event: "))
		data, ok2 := bytes.CutPrefix(lines[1], []byte("data: "))
		if !ok1 || !ok2 {
			return end, fmt.Errorf("event %d is malformed: %.200q", i, ev)
		}
		var e struct {
			Type         string `json:"type"`
			Index        *int   `json:"index"`
			ContentBlock *struct {
				Type string `json:"type"`
			} `json:"content_block"`
			Delta *struct {
				Type       string  `json:"type"`
				StopReason *string `json:"stop_reason"`
			} `json:"delta"`
			Usage *struct {
				InputTokens  *int64 `json:"input_tokens"`
				OutputTokens *int64 `json:"output_tokens"`
			} `json:"usage"`
			Error *struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
			Message *struct {
				ID string `json:"id"`
			} `json:"message"`
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return end, fmt.Errorf("event %d is not JSON: %w: %.200q", i, err, data)
		}
		if e.Type != string(name) {
			return end, fmt.Errorf("event %d is named %s but has type %q", i, name, e.Type)
		}
		if !started && e.Type != "message_start" && e.Type != "error" {
			return end, fmt.Errorf("event %d (%s) comes before message_start", i, e.Type)
		}
		switch e.Type {
		case "message_start":
			if started || e.Message == nil || e.Message.ID == "" {
				return end, fmt.Errorf("event %d: a second message_start, or one without a message id", i)
			}
			started = true
		case "content_block_start":
			if open >= 0 || delta || e.Index == nil || *e.Index != blocks || e.ContentBlock == nil {
				return end, fmt.Errorf("event %d: block %v opened while %d is open (%d blocks so far)", i, e.Index, open, blocks)
			}
			open, openType = blocks, e.ContentBlock.Type
			blocks++
		case "content_block_delta":
			want := map[string]string{"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}[openType]
			if e.Index == nil || *e.Index != open || e.Delta == nil || e.Delta.Type != want {
				return end, fmt.Errorf("event %d: a delta for block %v, of type %v, while block %d (%s) is open", i, e.Index, e.Delta, open, openType)
			}
		case "content_block_stop":
			if e.Index == nil || *e.Index != open {
				return end, fmt.Errorf("event %d: block %v closed while %d is open", i, e.Index, open)
			}
			open = -1
		case "message_delta":
			if open >= 0 || delta || e.Delta == nil || e.Delta.StopReason == nil || e.Usage == nil ||
				e.Usage.InputTokens == nil || e.Usage.OutputTokens == nil {
				return end, fmt.Errorf("event %d: message_delta with a block open, twice, or without stop reason and both counts: %s", i, data)
			}
			delta = true
		case "message_stop":
			if !delta {
				return end, fmt.Errorf("event %d: message_stop without message_delta", i)
			}
			end.stopped = true
		case "error":
			if e.Error == nil || e.Error.Type == "" || e.Error.Message == "" {
				return end, fmt.Errorf("event %d: an error without type or message: %s", i, data)
			}
			end.errored = true
		default:
			return end, fmt.Errorf("event %d has unknown type %q", i, e.Type)
		}
	}
	return end, nil
}

// FuzzStreamTranslator feeds arbitrary bytes, as an OpenAI chat completion stream, to the translator.
// Whatever the input, nothing panics; every output event is well formed (checkEvents); a stream that
// ends cleanly ends with message_stop or an error event, and one that breaks off with neither; the
// fast path and the decoding path write the same bytes and end the same way. Seeded with the stream
// cases and the fast path's chunks.
func FuzzStreamTranslator(f *testing.F) {
	for _, tc := range streamCases {
		f.Add([]byte(tc.in))
		f.Add([]byte(tc.in[:len(tc.in)/2]))
	}
	for _, c := range fastChunks {
		f.Add([]byte("data: " + c + "\n\n" + done))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err, closed := translate(string(in), false)
		if !closed {
			t.Fatal("the provider's body was not closed at the end of the stream")
		}
		end, cerr := checkEvents(out)
		if cerr != nil {
			t.Fatalf("input %q: %v", in, cerr)
		}
		clean := errors.Is(err, io.EOF)
		if clean != (end.stopped || end.errored) {
			t.Fatalf("input %q: stream ended with %v, but stopped=%v errored=%v", in, err, end.stopped, end.errored)
		}
		checkSamePaths(t, string(in))
	})
}

// FuzzRequest feeds arbitrary bodies to the request translation and to count_tokens: nothing panics,
// a refusal is always a request error (a 400 naming what is wrong), and a translation is a JSON chat
// request. Seeded with the translation tests' requests.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"Hi"}]}`,
		`{"model":"m","system":[{"type":"text","text":"s"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"f"},` +
			`"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`,
		`{"model":"m","thinking":{"type":"enabled","budget_tokens":9000},"metadata":{"user_id":"u"},"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}`,
		`{"top_k":1}`, `[]`, `null`, `{"messages":[null]}`, `{"messages":[{"role":"user","content":[null,1,"x",{}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var re *requestError
		out, err := translateBody(string(body), false)
		switch {
		case err != nil && !errors.As(err, &re):
			t.Fatalf("%q: error %v is not a request error", body, err)
		case err == nil && !json.Valid(out):
			t.Fatalf("%q: translated to invalid JSON %q", body, out)
		}
		out, err = countRequest(body, "gpt-4o")
		switch {
		case err != nil && !errors.As(err, &re):
			t.Fatalf("%q: count_tokens error %v is not a request error", body, err)
		case err == nil && !json.Valid(out):
			t.Fatalf("%q: count_tokens answered invalid JSON %q", body, out)
		}
	})
}
