// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/inference/internal/sse"
	"github.com/dsp-ai/fd2/inference/openai"
)

// errStreamClosed is the cancellation cause when the consumer closes the stream early.
var errStreamClosed = errors.New("stream closed by consumer")

// streamReader translates Anthropic's SSE stream into OpenAI chat.completion.chunk events lazily: each
// Read pulls upstream events only until it has output, so every chunk reaches the client as soon as its
// event arrives, and no goroutine is left behind whatever the consumer does.
//
// Output follows OpenAI's stream contract: a first chunk with role "assistant", content and tool_calls
// deltas, one chunk carrying finish_reason, a usage-only chunk (choices: []) when include_usage is set,
// then "data: [DONE]". Every chunk of a stream shares id, created and model, as OpenAI's do. Read is
// not safe for concurrent use; Close is (see Close).
type streamReader struct {
	body   io.ReadCloser
	br     *bufio.Reader
	cancel context.CancelCauseFunc
	out    bytes.Buffer // translated bytes not yet read
	err    error        // sticky: io.EOF after [DONE] or an error event

	// events reads the upstream's events, reusing its buffers from event to event.
	events sse.Events
	// prefix is the start of every chunk, "data: " to the delta's opening brace, for the id it was
	// made with (prefixID): the fast path writes chunks around it without encoding/json.
	prefix   []byte
	prefixID string
	// noFast sends every event through encoding/json: tests compare both paths with it.
	noFast bool

	// Translation state.
	// id is Anthropic's message id from message_start ("chatcmpl-" is prepended on output), or a
	// fresh one if the stream never sent it. usage combines message_start's input-side counts with
	// message_delta's cumulative ones. toolIndex numbers tool_use blocks 0, 1, … in arrival order,
	// because OpenAI's tool_calls[].index counts tool calls, not content blocks: with a text block
	// first, Anthropic's first tool_use has index 1.
	id           string
	created      int64
	model        string
	newID        func() string
	includeUsage bool
	usage        anUsage
	toolIndex    map[int]int // Anthropic content block index → OpenAI tool_calls index
	// schemaTool is the response_format tool (see translated), whose input streams as content, and
	// schemaBlocks the content block indexes of its calls.
	schemaTool   string
	schemaBlocks map[int]bool
}

// bufReaders recycles the stream readers' 16 KiB read buffers: allocating and zeroing one per stream
// costs more than translating a short answer.
var bufReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// newStreamReader wraps a 2xx streaming response. created is taken once because OpenAI clients expect
// the same value on every chunk. The 16 KiB buffer is only a read size: readLine grows past it, so
// long lines (big tool-argument deltas) are never cut.
func newStreamReader(body io.ReadCloser, cancel context.CancelCauseFunc, tr *translated, now time.Time, newID func() string) *streamReader {
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(body)
	return &streamReader{
		body:         body,
		br:           br,
		cancel:       cancel,
		created:      now.Unix(),
		model:        tr.clientModel,
		newID:        newID,
		includeUsage: tr.includeUsage,
		toolIndex:    map[int]int{},
		schemaTool:   tr.schemaTool,
	}
}

// Read serves translated bytes and steps the upstream only when none are buffered, so memory stays
// bounded by one event's translation and a slow client slows Anthropic down through TCP. The first
// error (io.EOF after [DONE], io.ErrUnexpectedEOF, a transport error) is sticky and releases the
// upstream at once, without waiting for Close.
func (s *streamReader) Read(p []byte) (int, error) {
	for s.out.Len() == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.out.Reset() // all read: the fast path appends into the free buffer
		if err := s.step(); err != nil {
			s.err = err
			s.release(nil)
			// Only Read uses br, and it never steps again: the buffer can serve another stream. A
			// stream closed before its end leaves its buffer to the garbage collector instead.
			s.br.Reset(nil)
			bufReaders.Put(s.br)
			s.br = nil
			s.events.Reset()
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

// release cancels the upstream request with cause (nil after a normal end) and closes the body. It may
// run twice (an error, then Close); the second call is harmless.
func (s *streamReader) release(cause error) {
	s.cancel(cause)
	_ = s.body.Close() // idempotent and safe concurrently with Read for net/http bodies
}

// SSE event payloads, reduced to the fields we translate.
// One struct covers every event type, the JSON "type" selecting which members are set: message_start
// (message), content_block_start (index, content_block), content_block_delta (index, delta),
// content_block_stop (index), message_delta (delta.stop_reason, usage), message_stop, ping and error.
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

// step reads one upstream event and appends its translation (possibly nothing) to s.out. It returns
// io.EOF once the stream has been fully translated.
func (s *streamReader) step() error {
	data, err := s.events.Next(s.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The upstream hung up before message_stop: a truncated answer must not look complete.
			return io.ErrUnexpectedEOF
		}
		return err
	}
	// The fast path knows no schema tool, so structured output takes the decoding path.
	if !s.noFast && s.schemaTool == "" && s.fastEvent(data) {
		return nil
	}
	var ev anEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return errors.New("decoding anthropic stream event: " + err.Error())
	}
	switch ev.Type {
	case "message_start":
		// message_start carries the message id and the input-side usage (input and cache token
		// counts); its output_tokens is only a starting value that message_delta replaces.
		if ev.Message != nil {
			s.id = ev.Message.ID
			s.usage = ev.Message.Usage
		}
		// OpenAI opens every stream with a role chunk whose content is "". An empty string does
		// not count as a first token, so time-to-first-token metrics are not skewed by it.
		empty := ""
		s.emit(openai.Delta{Role: "assistant", Content: &empty}, nil)
	case "content_block_start":
		// Each block is opened by content_block_start, filled by content_block_delta events with
		// the same index and closed by content_block_stop, which needs no translation.
		cb := ev.ContentBlock
		if cb == nil {
			return nil
		}
		// thinking, redacted_thinking and server-tool blocks are not opened as anything: they
		// have no chat completion equivalent, and their deltas are dropped below as well.
		switch cb.Type {
		case "text":
			// The start event's text is normally "", but any initial text is passed on.
			if cb.Text != "" {
				s.emit(openai.Delta{Content: &cb.Text}, nil)
			}
		case "tool_use":
			if s.schemaTool != "" && cb.Name == s.schemaTool {
				// The structured answer: its input deltas become content, and it opens nothing.
				if s.schemaBlocks == nil {
					s.schemaBlocks = map[int]bool{}
				}
				s.schemaBlocks[ev.Index] = true
				return nil
			}
			// id and name come only in the start event. OpenAI sends them in the first
			// tool_calls delta of a call, with empty arguments that later deltas extend.
			idx := len(s.toolIndex)
			s.toolIndex[ev.Index] = idx
			tc := openai.ToolCall{Index: &idx, ID: cb.ID, Type: "function"}
			tc.Function.Name = cb.Name
			s.emit(openai.Delta{ToolCalls: []openai.ToolCall{tc}}, nil)
		}
	case "content_block_delta":
		d := ev.Delta
		if d == nil {
			return nil
		}
		switch d.Type {
		case "text_delta":
			if d.Text != "" {
				s.emit(openai.Delta{Content: &d.Text}, nil)
			}
		case "input_json_delta":
			if s.schemaBlocks[ev.Index] {
				if d.PartialJSON != "" {
					s.emit(openai.Delta{Content: &d.PartialJSON}, nil)
				}
				return nil
			}
			// partial_json pieces are fragments of the arguments string and pass as they come;
			// only their concatenation is valid JSON, just as with OpenAI's argument deltas. A
			// server tool's block was never registered, so its input is dropped here.
			idx, ok := s.toolIndex[ev.Index]
			if ok && d.PartialJSON != "" {
				tc := openai.ToolCall{Index: &idx}
				tc.Function.Arguments = d.PartialJSON
				s.emit(openai.Delta{ToolCalls: []openai.ToolCall{tc}}, nil)
			}
		}
		// thinking_delta, signature_delta, citations_delta: no chat completion equivalent.
	case "message_delta":
		// message_delta follows the last content block with the stop_reason and updated usage
		// (server tools can make Anthropic send more than one).
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
		// The finish chunk has an empty delta, as in OpenAI streams; see finishReason for
		// the stop_reason mapping.
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			fr := finishReason(ev.Delta.StopReason, s.schemaTool != "" && len(s.toolIndex) == 0)
			s.emit(openai.Delta{}, &fr)
		}
	case "message_stop":
		// message_stop is the only clean end. The usage chunk comes after the finish chunk and
		// before [DONE], which is where OpenAI SDKs and the engine's metering look for it.
		if s.includeUsage {
			s.write(openai.ChatCompletion{ID: s.chunkID(), Object: "chat.completion.chunk", Created: s.created, Model: s.model,
				Choices: []openai.Choice{}, Usage: s.usage.openAI()})
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
		// No [DONE] follows: OpenAI SDKs raise on an error event, and [DONE] would make the cut
		// answer look complete to hand-written SSE parsers.
		b, _ := marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
		s.out.WriteString("data: ")
		s.out.Write(b)
		s.out.WriteString("\n\n")
		return io.EOF
	}
	// ping and unknown event types are skipped, as Anthropic's versioning policy asks.
	return nil
}

// chunkID returns the stream's completion id, created lazily so a stream whose message_start had no id
// still uses one id throughout rather than a new one per chunk.
func (s *streamReader) chunkID() string {
	if s.id == "" {
		s.id = s.newID()
	}
	return "chatcmpl-" + s.id
}

// emit writes a chunk for choice 0, the only one: Anthropic returns a single answer per call (n > 1 is
// refused by translateRequest). Chunks carry no logprobs key, and usage only on the final usage chunk,
// whose choices list is empty, never absent: the engine recognises that chunk by choices being [].
func (s *streamReader) emit(d openai.Delta, finish *string) {
	s.write(openai.ChatCompletion{ID: s.chunkID(), Object: "chat.completion.chunk", Created: s.created, Model: s.model,
		Choices: []openai.Choice{{Index: 0, Delta: &d, FinishReason: finish}}})
}

// write frames a chunk as one SSE event ("data: <json>\n\n"). OpenAI streams use no event: or id:
// fields, so clients read data lines only.
func (s *streamReader) write(c openai.ChatCompletion) {
	b, err := marshal(c)
	if err != nil { // only plain structs and strings: cannot happen
		return
	}
	s.out.WriteString("data: ")
	s.out.Write(b)
	s.out.WriteString("\n\n")
}
