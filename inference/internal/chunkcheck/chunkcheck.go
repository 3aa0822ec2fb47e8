// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package chunkcheck checks the shape of an OpenAI chat-completion event stream, as the provider
// translators (Anthropic, Gemini) produce it. Their fuzz targets share it, so both hold their output to
// the same contract. It is test support: production code does not import it.
package chunkcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Result is what a well-formed stream ended with.
type Result struct {
	// Done is set when the last event is the "data: [DONE]" sentinel.
	Done bool
	// ErrorEvent is set when the last event is an error object ({"error":{…}}).
	ErrorEvent bool
}

// Check parses out: every event must be one "data: " line followed by a blank line, holding a JSON
// chat.completion.chunk, an error object (only as the last event) or [DONE] (only as the last event).
func Check(out []byte) (Result, error) {
	var res Result
	if len(out) == 0 {
		return res, nil
	}
	if !bytes.HasSuffix(out, []byte("\n\n")) {
		return res, fmt.Errorf("stream does not end at an event boundary: %.200q", out)
	}
	events := bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n"))
	for i, ev := range events {
		last := i == len(events)-1
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || bytes.ContainsAny(data, "\r\n") {
			return res, fmt.Errorf("event %d is not one data line: %.200q", i, ev)
		}
		if string(data) == "[DONE]" {
			if !last {
				return res, fmt.Errorf("[DONE] is event %d of %d", i, len(events))
			}
			res.Done = true
			continue
		}
		var chunk struct {
			Object string          `json:"object"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			return res, fmt.Errorf("event %d is not JSON: %w: %.200q", i, err, data)
		}
		switch {
		case chunk.Error != nil:
			if !last {
				return res, fmt.Errorf("error event %d is followed by more events", i)
			}
			res.ErrorEvent = true
		case chunk.Object != "chat.completion.chunk":
			return res, fmt.Errorf("event %d has object %q", i, chunk.Object)
		}
	}
	return res, nil
}
