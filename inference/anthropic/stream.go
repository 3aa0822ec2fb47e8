// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// errStreamClosed is the cancellation cause when the consumer closes the stream early.
var errStreamClosed = errors.New("stream closed by consumer")

// streamReader translates Anthropic's SSE stream into OpenAI chat.completion.chunk events lazily: each
// Read pulls upstream events only until it has output, so every chunk reaches the client as soon as its
// event arrives, and no goroutine is left behind whatever the consumer does.
type streamReader struct {
	body   io.ReadCloser
	br     *bufio.Reader
	cancel context.CancelCauseFunc
	out    bytes.Buffer // translated bytes not yet read
	err    error        // sticky: io.EOF after [DONE] or an error event

	// Translation state.
	id           string
	created      int64
	model        string
	newID        func() string
	includeUsage bool
	usage        anUsage
	toolIndex    map[int]int // Anthropic content block index → OpenAI tool_calls index
}

func newStreamReader(body io.ReadCloser, cancel context.CancelCauseFunc, tr *translated, now time.Time, newID func() string) *streamReader {
	return &streamReader{
		body:         body,
		br:           bufio.NewReaderSize(body, 16<<10),
		cancel:       cancel,
		created:      now.Unix(),
		model:        tr.clientModel,
		newID:        newID,
		includeUsage: tr.includeUsage,
		toolIndex:    map[int]int{},
	}
}

func (s *streamReader) Read(p []byte) (int, error) {
	for s.out.Len() == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if err := s.step(); err != nil {
			s.err = err
			s.release(nil)
		}
	}
	return s.out.Read(p)
}

// Close aborts the upstream request at once; it is safe to call concurrently with a blocked Read,
// which then fails.
func (s *streamReader) Close() error {
	s.release(errStreamClosed)
	return nil
}

func (s *streamReader) release(cause error) {
	s.cancel(cause)
	_ = s.body.Close() // idempotent and safe concurrently with Read for net/http bodies
}

// SSE event payloads, reduced to the fields we translate.
type anEvent struct {
	Type    string `json:"type"`
	Message *struct {
		ID    string  `json:"id"`
		Usage anUsage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *anUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type oaChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []oaChunkChoice `json:"choices"`
	Usage   *oaUsage        `json:"usage,omitempty"`
}

type oaChunkChoice struct {
	Index        int          `json:"index"`
	Delta        oaChunkDelta `json:"delta"`
	FinishReason *string      `json:"finish_reason"`
}

type oaChunkDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   *string         `json:"content,omitempty"`
	ToolCalls []oaOutToolCall `json:"tool_calls,omitempty"`
}

// step reads one upstream event and appends its translation (possibly nothing) to s.out. It returns
// io.EOF once the stream has been fully translated.
func (s *streamReader) step() error {
	data, err := s.readEvent()
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The upstream hung up before message_stop: a truncated answer must not look complete.
			return io.ErrUnexpectedEOF
		}
		return err
	}
	var ev anEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return errors.New("decoding anthropic stream event: " + err.Error())
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			s.id = ev.Message.ID
			s.usage = ev.Message.Usage
		}
		empty := ""
		s.emit(oaChunkDelta{Role: "assistant", Content: &empty}, nil)
	case "content_block_start":
		cb := ev.ContentBlock
		if cb == nil {
			return nil
		}
		switch cb.Type {
		case "text":
			if cb.Text != "" {
				s.emit(oaChunkDelta{Content: &cb.Text}, nil)
			}
		case "tool_use":
			idx := len(s.toolIndex)
			s.toolIndex[ev.Index] = idx
			tc := oaOutToolCall{Index: &idx, ID: cb.ID, Type: "function"}
			tc.Function.Name = cb.Name
			s.emit(oaChunkDelta{ToolCalls: []oaOutToolCall{tc}}, nil)
		}
	case "content_block_delta":
		d := ev.Delta
		if d == nil {
			return nil
		}
		switch d.Type {
		case "text_delta":
			if d.Text != "" {
				s.emit(oaChunkDelta{Content: &d.Text}, nil)
			}
		case "input_json_delta":
			idx, ok := s.toolIndex[ev.Index]
			if ok && d.PartialJSON != "" {
				tc := oaOutToolCall{Index: &idx}
				tc.Function.Arguments = d.PartialJSON
				s.emit(oaChunkDelta{ToolCalls: []oaOutToolCall{tc}}, nil)
			}
		}
		// thinking_delta, signature_delta, citations_delta: no chat completion equivalent.
	case "message_delta":
		if ev.Usage != nil {
			// message_delta usage is cumulative; newer API versions repeat the input counts too.
			s.usage.OutputTokens = ev.Usage.OutputTokens
			if ev.Usage.InputTokens > 0 {
				s.usage.InputTokens = ev.Usage.InputTokens
			}
			if ev.Usage.CacheCreationInputTokens > 0 {
				s.usage.CacheCreationInputTokens = ev.Usage.CacheCreationInputTokens
			}
			if ev.Usage.CacheReadInputTokens > 0 {
				s.usage.CacheReadInputTokens = ev.Usage.CacheReadInputTokens
			}
		}
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			fr := finishReason(ev.Delta.StopReason)
			s.emit(oaChunkDelta{}, &fr)
		}
	case "message_stop":
		if s.includeUsage {
			s.write(oaChunk{ID: s.chunkID(), Object: "chat.completion.chunk", Created: s.created, Model: s.model,
				Choices: []oaChunkChoice{}, Usage: s.usage.openAI()})
		}
		s.out.WriteString("data: [DONE]\n\n")
		return io.EOF
	case "error":
		// A mid-stream failure (typically overloaded_error) is reported the way OpenAI does once
		// headers are sent: an error object in the stream, then the end.
		typ, msg := "api_error", "anthropic stream error"
		code := ""
		if ev.Error != nil {
			typ, code = openAIErrorType(ev.Error.Type, 0), ev.Error.Type
			if ev.Error.Message != "" {
				msg = ev.Error.Message
			}
		}
		b, _ := marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
		s.out.WriteString("data: ")
		s.out.Write(b)
		s.out.WriteString("\n\n")
		return io.EOF
	}
	// ping and unknown event types are skipped, as Anthropic's versioning policy asks.
	return nil
}

func (s *streamReader) chunkID() string {
	if s.id == "" {
		s.id = s.newID()
	}
	return "chatcmpl-" + s.id
}

func (s *streamReader) emit(d oaChunkDelta, finish *string) {
	s.write(oaChunk{ID: s.chunkID(), Object: "chat.completion.chunk", Created: s.created, Model: s.model,
		Choices: []oaChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}})
}

func (s *streamReader) write(c oaChunk) {
	b, err := marshal(c)
	if err != nil { // only plain structs and strings: cannot happen
		return
	}
	s.out.WriteString("data: ")
	s.out.Write(b)
	s.out.WriteString("\n\n")
}

// readEvent returns the data of the next SSE event (data lines joined by "\n", per the WHATWG
// EventSource rules); event:, id: and comment lines are ignored because the JSON carries the type.
func (s *streamReader) readEvent() ([]byte, error) {
	var data []byte
	has := false
	for {
		line, err := s.br.ReadBytes('\n')
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if has {
				return data, nil
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if has {
				data = append(data, '\n')
			}
			data = append(data, v...)
			has = true
		}
		if err != nil {
			if has {
				return data, nil
			}
			return nil, err
		}
	}
}
