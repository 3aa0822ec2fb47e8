// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/internal/rawjson"
	"github.com/dsp-ai/fd2/inference/internal/sse"
)

// streamReader translates an OpenAI chat.completion.chunk stream into a Messages event stream lazily:
// each Read pulls upstream events only until it has output, so every event reaches the client as soon
// as its chunk arrives, no goroutine is needed, and a slow client slows the provider down through TCP.
//
// Output follows the Messages stream contract: message_start (on the first chunk, so nothing is sent
// before the provider answers and the engine can still fall back), then for each content block
// content_block_start, its deltas and content_block_stop, blocks switching as the chunks go from
// reasoning to text to tool calls, then message_delta with the stop reason and both token counts, and
// message_stop. Read is not safe for concurrent use; Close is.
type streamReader struct {
	body      io.ReadCloser
	closeOnce sync.Once
	bufs      *streamBufs
	off       int   // bufs.out[off:] is translated and not yet read
	err       error // sticky: io.EOF after message_stop or an error event
	noFast    bool  // send every event through encoding/json: tests compare both paths with it

	id    string
	model string // provider-side model, for the tokenizer
	// prompt counts the prompt when the provider reports no usage.
	prompt func() int64

	started  bool // message_start written
	finished bool // finish_reason seen: the last block is closed
	open     blockKind
	index    int    // the open block's index
	blocks   int    // blocks opened so far
	tool     int64  // OpenAI index of the open tool call
	toolID   string // and its id, as the provider escaped it
	tools    []int64
	finish   string
	stop     string // the stop reason, when known beforehand (renderStream)
	hasUsage bool
	usage    usage
	// genTokens is what was estimated of the generated text no longer kept in bufs.gen (see
	// keepGenerated).
	genTokens int64

	c chunk // the event being translated, reused
}

type blockKind int

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

const maxGenText = 1 << 20

// streamBufs are a stream's buffers, recycled across streams: allocating and zeroing them for every
// stream costs more than translating a short answer.
type streamBufs struct {
	br     *bufio.Reader
	out    []byte     // translated events
	events sse.Events // the upstream's events, their buffers reused
	// gen is the generated text (still JSON-escaped) not yet counted, for the usage of a provider that
	// reports none.
	gen []byte
}

var streamPool = sync.Pool{New: func() any {
	return &streamBufs{br: bufio.NewReaderSize(nil, 16<<10), out: make([]byte, 0, 4<<10)}
}}

// maxKeptBuffer bounds the buffers kept from one event to the next and across streams.
const maxKeptBuffer = 1 << 20

func newStreamReader(body io.ReadCloser, id, model string, prompt func() int64) *streamReader {
	b := streamPool.Get().(*streamBufs)
	b.br.Reset(body)
	return &streamReader{body: body, bufs: b, id: id, model: model, prompt: prompt}
}

// Read serves translated bytes and steps the upstream only when none are buffered. The first error is
// sticky and releases the upstream at once: io.EOF after message_stop or an error event,
// io.ErrUnexpectedEOF when the provider's stream ended without [DONE], or the provider's read error.
func (s *streamReader) Read(p []byte) (int, error) {
	for s.bufs == nil || s.off == len(s.bufs.out) {
		if s.err != nil {
			return 0, s.err
		}
		s.bufs.out, s.off = s.bufs.out[:0], 0
		if err := s.step(); err != nil {
			s.err = err
			s.release()
			if len(s.bufs.out) == 0 {
				s.recycle()
				return 0, err
			}
		}
	}
	n := copy(p, s.bufs.out[s.off:])
	s.off += n
	if s.off == len(s.bufs.out) && s.err != nil {
		s.recycle()
	}
	return n, nil
}

// recycle gives the buffers back once the stream is over. Only Read uses them and it never steps
// again; a stream closed before its end leaves them to the garbage collector instead, since a Read may
// be blocked in them.
func (s *streamReader) recycle() {
	b := s.bufs
	s.bufs = nil
	b.br.Reset(nil)
	if cap(b.out) > maxKeptBuffer {
		b.out = make([]byte, 0, 4<<10)
	}
	if cap(b.gen) > maxKeptBuffer {
		b.gen = nil
	}
	b.out, b.gen = b.out[:0], b.gen[:0] // the events' buffers are bounded by sse.Events itself
	streamPool.Put(b)
}

// Close closes the provider's body, which aborts its request at once; it is safe to call concurrently
// with a blocked Read, which then fails.
func (s *streamReader) Close() error {
	s.release()
	return nil
}

func (s *streamReader) release() { s.closeOnce.Do(func() { _ = s.body.Close() }) }

// chunk is what the translation reads of a chat.completion.chunk: raw JSON values, nil when absent, of
// the first choice with index 0 and of the chunk's usage and error. Both parsers (fastParse and the
// encoding/json one) fill it, and apply interprets it, so both paths write the same bytes.
type chunk struct {
	choice                               bool
	content, reasoningContent, reasoning []byte
	tools                                []toolDelta
	finish                               []byte
	usage, err                           []byte
}

type toolDelta struct {
	index, id, name, args []byte
	pos                   int // position in tool_calls, the index when the provider sent none
}

func (c *chunk) reset() {
	tools := c.tools[:0]
	*c = chunk{tools: tools}
}

// The decoding path's view of a chunk: containers as structs, values raw.
type wireChunk struct {
	Choices []struct {
		Index json.RawMessage `json:"index"`
		Delta *struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"`
			ToolCalls        []struct {
				Index    json.RawMessage `json:"index"`
				ID       json.RawMessage `json:"id"`
				Function *struct {
					Name      json.RawMessage `json:"name"`
					Arguments json.RawMessage `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason json.RawMessage `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// slowParse fills c from data with encoding/json.
func (s *streamReader) slowParse(data []byte, c *chunk) error {
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decoding the provider's stream event: %w", err)
	}
	c.reset()
	c.usage, c.err = w.Usage, w.Error
	for _, ch := range w.Choices {
		if c.choice || !isChoice0(ch.Index) {
			continue
		}
		c.choice, c.finish = true, ch.FinishReason
		if d := ch.Delta; d != nil {
			c.content, c.reasoningContent, c.reasoning = d.Content, d.ReasoningContent, d.Reasoning
			for i, tc := range d.ToolCalls {
				t := toolDelta{index: tc.Index, id: tc.ID, pos: i}
				if tc.Function != nil {
					t.name, t.args = tc.Function.Name, tc.Function.Arguments
				}
				c.tools = append(c.tools, t)
			}
		}
	}
	return nil
}

// isChoice0 reports whether a choice's raw index is 0 (or absent): only one answer is asked for.
func isChoice0(raw []byte) bool {
	if raw == nil {
		return true
	}
	n, ok := rawjson.Int(raw)
	return ok && n == 0
}

// str returns the escaped contents of a raw string value; ok is false for anything else (null
// included).
func str(raw []byte) ([]byte, bool) { return rawjson.String(raw) }

var doneData = []byte("[DONE]")

// step reads one upstream event and appends its translation, possibly nothing, to the output. It
// returns io.EOF once the stream is complete.
func (s *streamReader) step() error {
	data, err := s.bufs.events.Next(s.bufs.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// The provider hung up before [DONE]: a truncated answer must not look complete.
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if bytes.Equal(data, doneData) {
		s.end()
		return io.EOF
	}
	c := &s.c
	if s.noFast || !s.fastParse(data, c) {
		if err := s.slowParse(data, c); err != nil {
			return err
		}
	}
	return s.apply(c)
}

// apply translates one chunk.
func (s *streamReader) apply(c *chunk) error {
	if len(c.err) > 0 && !isNull(c.err) {
		s.writeError(c.err)
		return io.EOF
	}
	if !s.started {
		s.start()
	}
	if c.choice && !s.finished {
		// Reasoning comes before the answer, in one chunk as in a stream of them. Servers in transition
		// between the two names send both, with the same text.
		t, ok := str(c.reasoningContent)
		if !ok || len(t) == 0 {
			t, ok = str(c.reasoning)
		}
		if ok && len(t) > 0 {
			s.delta(blockThinking, t)
		}
		if t, ok := str(c.content); ok && len(t) > 0 {
			s.delta(blockText, t)
		}
		for i := range c.tools {
			if err := s.toolDelta(&c.tools[i]); err != nil {
				return err
			}
		}
		if f, ok := str(c.finish); ok && len(f) > 0 {
			s.finished = true
			s.finish = string(f)
			s.closeBlock()
		}
	}
	if len(c.usage) > 0 && c.usage[0] == '{' {
		u, ok := fastUsage(c.usage)
		if !ok {
			if err := json.Unmarshal(c.usage, &u); err != nil {
				return fmt.Errorf("decoding the provider's usage: %w", err)
			}
		}
		s.usage, s.hasUsage = u.anthropic(), true
	}
	if s.finished && s.hasUsage {
		// The answer and its usage are complete: the client's response ends here, without waiting
		// for [DONE]. Reading on would not keep the provider's connection reusable either: that takes
		// reading its body to EOF, past [DONE].
		s.end()
		return io.EOF
	}
	return nil
}

// errInterleavedTools ends a stream whose provider went back to a tool call after starting the next:
// Messages content blocks are streamed one after the other and a closed block cannot be reopened.
var errInterleavedTools = errors.New("the provider interleaved the arguments of parallel tool calls, which a Messages stream cannot carry")

// toolDelta translates one tool_calls element: the first piece of a call opens its tool_use block
// (with the call's id and name), every piece streams its arguments. A piece without an index (some
// servers send each call whole, without one) belongs to the open call unless it names another id.
func (s *streamReader) toolDelta(t *toolDelta) error {
	var idx int64
	switch id, _ := str(t.id); {
	case t.index != nil:
		n, ok := rawjson.Int(t.index)
		if !ok {
			return errors.New("the provider sent a tool call index that is not an integer")
		}
		idx = n
	case s.open == blockTool && (len(id) == 0 || string(id) == s.toolID):
		idx = s.tool
	default:
		idx = int64(t.pos)
		for _, seen := range s.tools {
			idx = max(idx, seen+1)
		}
	}
	if s.open != blockTool || s.tool != idx {
		for _, seen := range s.tools {
			if seen == idx {
				return errInterleavedTools
			}
		}
		s.closeBlock()
		s.tools = append(s.tools, idx)
		s.tool = idx
		id, _ := str(t.id)
		s.toolID = string(id)
		s.openTool(t.id, t.name)
	}
	if a, ok := str(t.args); ok && len(a) > 0 {
		s.delta(blockTool, a)
	}
	return nil
}

// Event framing. Each event is written whole to the output with appends, no encoding/json: the fixed
// parts are constants and text is copied as the provider escaped it (rawjson.AppendString).

func (s *streamReader) start() {
	s.started = true
	b := append(s.bufs.out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\""...)
	b = append(b, s.id...) // msg_ and hex digits: nothing to escape
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = appendJSONString(b, s.model)
	s.bufs.out = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
}

// delta streams text into a block of kind, opening it first if another block is open.
func (s *streamReader) delta(kind blockKind, text []byte) {
	if s.open != kind {
		s.closeBlock()
		s.openBlock(kind)
	}
	b := append(s.bufs.out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	b = strconv.AppendInt(b, int64(s.index), 10)
	switch kind {
	case blockText:
		b = append(b, `,"delta":{"type":"text_delta","text":`...)
	case blockThinking:
		b = append(b, `,"delta":{"type":"thinking_delta","thinking":`...)
	default:
		b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
	}
	b = rawjson.AppendString(b, text, false)
	s.bufs.out = append(b, "}}\n\n"...)
	s.keepGenerated(text)
}

func (s *streamReader) blockStart() []byte {
	b := append(s.bufs.out, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	b = strconv.AppendInt(b, int64(s.index), 10)
	return append(b, `,"content_block":`...)
}

func (s *streamReader) openBlock(kind blockKind) {
	s.open, s.index = kind, s.blocks
	s.blocks++
	b := s.blockStart()
	if kind == blockText {
		b = append(b, `{"type":"text","text":""}}`...)
	} else {
		b = append(b, `{"type":"thinking","thinking":"","signature":""}}`...)
	}
	s.bufs.out = append(b, "\n\n"...)
}

// openTool opens a tool_use block; id and name are raw values, and a call without an id gets one.
func (s *streamReader) openTool(id, name []byte) {
	s.open, s.index = blockTool, s.blocks
	s.blocks++
	b := append(s.blockStart(), `{"type":"tool_use","id":`...)
	if v, ok := str(id); ok && len(v) > 0 {
		b = rawjson.AppendString(b, v, false)
	} else {
		b = append(b, '"')
		b = append(b, toolID(s.id, len(s.tools)-1)...)
		b = append(b, '"')
	}
	b = append(b, `,"name":`...)
	v, _ := str(name)
	b = rawjson.AppendString(b, v, false)
	s.bufs.out = append(b, `,"input":{}}}`+"\n\n"...)
	s.keepGenerated(v)
}

func (s *streamReader) closeBlock() {
	if s.open == blockNone {
		return
	}
	b := append(s.bufs.out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	b = strconv.AppendInt(b, int64(s.index), 10)
	s.bufs.out = append(b, "}\n\n"...)
	s.open = blockNone
}

// end writes message_delta, with the stop reason and the usage (counted here if the provider reported
// none), and message_stop.
func (s *streamReader) end() {
	if !s.started {
		s.start()
	}
	s.closeBlock()
	if !s.hasUsage {
		s.usage = usage{InputTokens: s.prompt(), OutputTokens: s.genTokens + countEscaped(s.model, s.bufs.gen)}
	}
	s.bufs.gen = s.bufs.gen[:0]
	b := append(s.bufs.out, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	stop := s.stop
	if stop == "" {
		stop = stopReason(s.finish, len(s.tools) > 0)
	}
	b = append(b, stop...)
	b = append(b, `","stop_sequence":null},"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, s.usage.InputTokens, 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, s.usage.CacheCreationInputTokens, 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, s.usage.CacheReadInputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, s.usage.OutputTokens, 10)
	s.bufs.out = append(b, "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// writeError ends the stream with an error event, as Anthropic reports a failure once the answer has
// begun. raw is the provider's error: an OpenAI error object, or anything else taken as its message.
func (s *streamReader) writeError(raw []byte) {
	var e struct {
		Type    string `json:"type"`
		Code    any    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) != nil {
		var msg string
		if json.Unmarshal(raw, &msg) == nil {
			e.Message = msg
		} else {
			e.Message = string(raw)
		}
	}
	code, _ := e.Code.(string)
	if e.Message == "" {
		e.Message = "the provider's stream failed"
	}
	out, _ := marshal(struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}{Type: "error", Error: struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{errorType(e.Type, code), e.Message}})
	b := append(s.bufs.out, "event: error\ndata: "...)
	b = append(b, out...)
	s.bufs.out = append(b, "\n\n"...)
}

// keepGenerated keeps generated text for counting, should the provider report no usage. Past
// maxGenText, the text kept so far is estimated (inference.EstimateTokens) rather than counted: the
// tokenizer costs milliseconds a megabyte, paid on the hot path of every long stream, while nearly
// every provider reports usage and makes the count moot.
func (s *streamReader) keepGenerated(text []byte) {
	b := s.bufs
	if len(b.gen) > maxGenText {
		s.genTokens += inference.EstimateTokens(string(b.gen))
		b.gen = b.gen[:0]
	}
	b.gen = append(b.gen, text...)
}

// appendJSONString appends s encoded as encoding/json encodes it (without HTML escaping). A string with
// nothing to escape but for its UTF-8 checks, a model name always, is its own escaped form, which
// rawjson.AppendString copies without allocating.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			enc, _ := marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	return rawjson.AppendString(b, []byte(s), false)
}

// countEscaped counts the tokens of JSON-escaped text, decoding it first.
func countEscaped(model string, esc []byte) int64 {
	if len(esc) == 0 {
		return 0
	}
	buf := make([]byte, 0, len(esc)+2)
	buf = append(append(append(buf, '"'), esc...), '"')
	var text string
	if json.Unmarshal(buf, &text) != nil {
		text = string(esc)
	}
	return countTokens(model, text)
}
