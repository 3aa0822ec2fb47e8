// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/internal/rawjson"
	sseread "github.com/dsp-ai/fd2/inference/internal/sse"
)

// translator turns a chat answer (stream chunks, or a whole completion) into a response: its output
// items, and, when w is set, the Responses API's stream events, each written to w as soon as it is made.
type translator struct {
	o   *provider
	tr  *translation
	ctx context.Context
	w   io.Writer // nil: no events (a non-streamed answer)

	id      string
	now     time.Time
	created int64
	seq     int64
	started bool

	items       []*outItem
	msg, reason *outItem // the open message and reasoning items
	calls       []callSlot
	finish      string
	usage       *chatUsage

	*buffers
	noFast bool // every event through encoding/json: tests compare both paths with it
}

// callSlot maps a chat tool call's index to its output item.
type callSlot struct {
	index int
	item  *outItem
}

// buffers are a translator's reusable memory: the upstream reader, the event being written and the
// data of the event being read.
type buffers struct {
	br   *bufio.Reader
	buf  []byte
	data []byte
	// lines reads the upstream's lines, one longer than br's buffer gathered in memory it reuses.
	lines sseread.Lines
	// enc writes JSON values (items, parts, responses) into jbuf, as appendJSON does.
	enc  *json.Encoder
	jbuf *bytes.Buffer
}

var bufferPool = sync.Pool{New: func() any {
	b := &buffers{br: bufio.NewReaderSize(nil, 16<<10), buf: make([]byte, 0, 2<<10), data: make([]byte, 0, 2<<10),
		jbuf: new(bytes.Buffer), lines: sseread.Lines{Max: maxLine}}
	b.enc = json.NewEncoder(b.jbuf)
	b.enc.SetEscapeHTML(false)
	return b
}}

// appendJSON is the package's appendJSON with the translator's encoder.
func (b *buffers) appendJSON(dst []byte, v any) ([]byte, error) {
	b.jbuf.Reset()
	if err := b.enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encoding %T: %w", v, err)
	}
	out := b.jbuf.Bytes()
	return append(dst, out[:len(out)-1]...), nil // Encode's newline
}

// maxPooled bounds the buffers kept in the pool, so that one huge event does not pin its memory.
const maxPooled = 64 << 10

func (o *provider) newTranslator(ctx context.Context, tr *translation, w io.Writer) *translator {
	now := o.clock()
	return &translator{o: o, tr: tr, ctx: ctx, w: w, id: o.idFor("resp_"), now: now, created: now.Unix(),
		buffers: bufferPool.Get().(*buffers)}
}

// release returns the translator's buffers to the pool; the translator is not used afterwards.
func (t *translator) release() {
	b := t.buffers
	t.buffers = nil
	b.br.Reset(nil)
	if cap(b.buf) > maxPooled {
		b.buf = make([]byte, 0, 2<<10)
	}
	if cap(b.data) > maxPooled {
		b.data = make([]byte, 0, 2<<10)
	}
	b.lines = sseread.Lines{Max: maxLine}
	if b.jbuf.Cap() > maxPooled {
		b.jbuf = new(bytes.Buffer)
		b.enc = json.NewEncoder(b.jbuf)
		b.enc.SetEscapeHTML(false)
	}
	bufferPool.Put(b)
}

// streamBody is the translated stream: a pipe fed by the translating goroutine, so each event is
// readable as soon as it is made and the pipe's backpressure paces the upstream reads.
type streamBody struct {
	pr   *io.PipeReader
	up   io.Closer
	once sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close cancels the upstream call at once (the client went away) and unblocks the goroutine.
func (b *streamBody) Close() error {
	b.once.Do(func() {
		_ = b.up.Close()
		_ = b.pr.Close()
	})
	return nil
}

type onceCloser struct {
	rc   io.ReadCloser
	once sync.Once
}

func (c *onceCloser) Read(p []byte) (int, error) { return c.rc.Read(p) }

func (c *onceCloser) Close() error {
	c.once.Do(func() { _ = c.rc.Close() })
	return nil
}

// stream starts translating the provider's answer into Responses stream events.
func (o *provider) stream(ctx context.Context, tr *translation, resp *inference.Response) *inference.Response {
	pr, pw := io.Pipe()
	up := &onceCloser{rc: resp.Body}
	t := o.newTranslator(ctx, tr, pw)
	go func() {
		defer up.Close()
		// The translator parses the provider's bytes off the request goroutine: a panic there must end
		// this stream with an error, not the process.
		err := background.Run(nil, "responses_stream", func() error {
			if !resp.Stream {
				// A provider that answered a stream request whole: its answer is replayed as events.
				cc, err := o.readCompletion(&inference.Response{Body: up})
				if err != nil {
					return err
				}
				if err := t.start(); err != nil {
					return err
				}
				if err := t.apply(cc); err != nil {
					return err
				}
				return t.end()
			}
			return t.run(up)
		})
		t.release()
		pw.CloseWithError(err)
	}()
	h := http.Header{}
	if resp.Header != nil {
		h = resp.Header.Clone() // the provider's request id and the like
	}
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	return &inference.Response{Status: http.StatusOK, Header: h, Body: &streamBody{pr: pr, up: up}, Stream: true}
}

// errUnfinished ends a chat stream that stopped without a finish reason or [DONE]: the answer may be cut
// short, so the client must not see a completed response.
var errUnfinished = errors.New("the provider's chat stream ended before the answer finished")

// run reads the chat stream's SSE events until [DONE] (or EOF after a finish reason) and writes their
// translation.
func (t *translator) run(body io.Reader) error {
	t.br.Reset(body)
	data := t.data[:0]
	defer func() { t.data = data[:0] }()
	for {
		line, err := t.readLine()
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if len(data) > 0 {
					done, err := t.event(data)
					if err != nil || done {
						return err
					}
					data = data[:0]
				}
			case bytes.HasPrefix(line, []byte("data:")):
				v := line[len("data:"):]
				if len(v) > 0 && v[0] == ' ' {
					v = v[1:]
				}
				if len(data) > 0 {
					data = append(data, '\n')
				}
				if len(data)+len(v) > maxLine {
					return errors.New("a chat stream event is too large")
				}
				data = append(data, v...)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the chat stream: %w", err)
			}
			if len(data) > 0 {
				if done, err := t.event(data); err != nil || done {
					return err
				}
			}
			if t.finish == "" {
				return errUnfinished
			}
			return t.end()
		}
	}
}

// maxLine bounds one line, and one event, of the chat stream.
const maxLine = 16 << 20

// readLine returns the next line of the chat stream, valid until the next read.
func (t *translator) readLine() ([]byte, error) { return t.lines.Next(t.br) }

// chatChunk is what a chat stream event holds for the translation. The fast path (stream_fast.go) reads
// the same fields, by the same names.
type chatChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Refusal          json.RawMessage `json:"refusal"`
			ToolCalls        []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string          `json:"name"`
					Arguments json.RawMessage `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *chatUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// event translates one chat stream event; done is set when the stream is over.
func (t *translator) event(data []byte) (done bool, err error) {
	if err := t.start(); err != nil {
		return true, err
	}
	if string(data) == "[DONE]" {
		return true, t.end()
	}
	if !t.noFast {
		if ok, err := t.fastEvent(data); ok || err != nil {
			return false, err
		}
	}
	var c chatChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return true, fmt.Errorf("decoding a chat stream event: %w", err)
	}
	if !isNull(c.Error) {
		return true, t.fail(c.Error)
	}
	if c.Usage != nil {
		t.usage = c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n is never sent, so there is one choice; others are not the answer
		}
		d := &ch.Delta
		if s, ok := rawjson.String(d.ReasoningContent); ok {
			if err := t.reasoningDelta(s); err != nil {
				return true, err
			}
		}
		if s, ok := rawjson.String(d.Content); ok {
			if err := t.textDelta(s); err != nil {
				return true, err
			}
		}
		if s, ok := rawjson.String(d.Refusal); ok {
			if err := t.refusalDelta(s); err != nil {
				return true, err
			}
		}
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			args, _ := rawjson.String(tc.Function.Arguments)
			if err := t.callDelta(tc.Index, tc.ID, tc.Function.Name, args); err != nil {
				return true, err
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			t.finish = *ch.FinishReason
		}
	}
	return false, nil
}

// Event writing. Every event is "event: <type>\ndata: {"type":"<type>",…,"sequence_number":n}\n\n",
// built in t.buf and written whole.

func (t *translator) begin(typ string) {
	t.buf = append(t.buf[:0], "event: "...)
	t.buf = append(t.buf, typ...)
	t.buf = append(t.buf, "\ndata: {\"type\":\""...)
	t.buf = append(t.buf, typ...)
	t.buf = append(t.buf, '"')
}

func (t *translator) key(name string) {
	t.buf = append(t.buf, ',', '"')
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, '"', ':')
}

func (t *translator) intField(name string, n int) {
	t.key(name)
	t.buf = strconv.AppendInt(t.buf, int64(n), 10)
}

// itemFields writes item_id and output_index.
func (t *translator) itemFields(it *outItem) {
	t.key("item_id")
	t.buf = append(t.buf, '"')
	t.buf = append(t.buf, it.id...)
	t.buf = append(t.buf, '"')
	t.intField("output_index", it.index)
}

// textField writes a string field from escaped contents.
func (t *translator) textField(name string, s []byte) {
	t.key(name)
	t.buf = append(t.buf, '"')
	t.buf = append(t.buf, s...)
	t.buf = append(t.buf, '"')
}

func (t *translator) valueField(name string, v any) error {
	t.key(name)
	var err error
	t.buf, err = t.appendJSON(t.buf, v)
	return err
}

func (t *translator) send() error {
	t.buf = append(t.buf, `,"sequence_number":`...)
	t.buf = strconv.AppendInt(t.buf, t.seq, 10)
	t.buf = append(t.buf, "}\n\n"...)
	t.seq++
	_, err := t.w.Write(t.buf)
	return err
}

// sendResponse writes a lifecycle event carrying the response.
func (t *translator) sendResponse(typ string, obj *responseObject) error {
	if t.w == nil {
		return nil
	}
	t.begin(typ)
	if err := t.valueField("response", obj); err != nil {
		return err
	}
	return t.send()
}

// sendRawResponse writes a lifecycle event carrying the response's JSON.
func (t *translator) sendRawResponse(typ string, obj []byte) error {
	if t.w == nil {
		return nil
	}
	t.begin(typ)
	t.key("response")
	t.buf = append(t.buf, obj...)
	return t.send()
}

// sendItem writes output_item.added or .done.
func (t *translator) sendItem(typ string, it *outItem) error {
	if t.w == nil {
		return nil
	}
	t.begin(typ)
	t.intField("output_index", it.index)
	if err := t.valueField("item", it.object()); err != nil {
		return err
	}
	return t.send()
}

// start writes response.created and response.in_progress, once, at the first event of the chat stream:
// until then the provider has not answered, and the engine's first-byte timeout still applies.
func (t *translator) start() error {
	if t.started {
		return nil
	}
	t.started = true
	obj := t.object(statusInProgress)
	if err := t.sendResponse("response.created", obj); err != nil {
		return err
	}
	return t.sendResponse("response.in_progress", obj)
}

func (t *translator) newItem(kind itemKind, prefix string) *outItem {
	it := &outItem{kind: kind, id: t.o.idFor(prefix), index: len(t.items), status: statusInProgress, open: true}
	t.items = append(t.items, it)
	return it
}

func (t *translator) openMessage() error {
	if t.msg != nil {
		return nil
	}
	if err := t.closeReasoning(); err != nil {
		return err
	}
	t.msg = t.newItem(kindMessage, "msg_")
	return t.sendItem("response.output_item.added", t.msg)
}

func (t *translator) openPart(refusal bool) error {
	it := t.msg
	it.parts = append(it.parts, outPart{refusal: refusal})
	it.partOpen = true
	if t.w == nil {
		return nil
	}
	t.begin("response.content_part.added")
	t.itemFields(it)
	t.intField("content_index", len(it.parts)-1)
	if err := t.valueField("part", it.parts[len(it.parts)-1].object()); err != nil {
		return err
	}
	return t.send()
}

func (t *translator) closePart(it *outItem) error {
	if !it.partOpen {
		return nil
	}
	it.partOpen = false
	if t.w == nil {
		return nil
	}
	ci := len(it.parts) - 1
	p := &it.parts[ci]
	if p.refusal {
		t.begin("response.refusal.done")
		t.itemFields(it)
		t.intField("content_index", ci)
		t.textField("refusal", p.text)
	} else {
		t.begin("response.output_text.done")
		t.itemFields(it)
		t.intField("content_index", ci)
		t.textField("text", p.text)
		t.buf = append(t.buf, `,"logprobs":[]`...)
	}
	if err := t.send(); err != nil {
		return err
	}
	t.begin("response.content_part.done")
	t.itemFields(it)
	t.intField("content_index", ci)
	if err := t.valueField("part", p.object()); err != nil {
		return err
	}
	return t.send()
}

// contentDelta adds raw (a JSON string's contents, as sent upstream) to the message's open part of
// the kind, opening the message and the part as needed.
func (t *translator) contentDelta(raw []byte, refusal bool) error {
	if len(raw) == 0 {
		return nil
	}
	if err := t.openMessage(); err != nil {
		return err
	}
	it := t.msg
	if !it.partOpen || it.parts[len(it.parts)-1].refusal != refusal {
		if err := t.closePart(it); err != nil {
			return err
		}
		if err := t.openPart(refusal); err != nil {
			return err
		}
	}
	p := &it.parts[len(it.parts)-1]
	if t.w == nil {
		p.text = rawjson.AppendStringContents(p.text, raw, false)
		return nil
	}
	if refusal {
		t.begin("response.refusal.delta")
	} else {
		t.begin("response.output_text.delta")
	}
	t.itemFields(it)
	t.intField("content_index", len(it.parts)-1)
	t.key("delta")
	t.buf = append(t.buf, '"')
	mark := len(t.buf)
	t.buf = rawjson.AppendStringContents(t.buf, raw, false)
	p.text = append(p.text, t.buf[mark:]...)
	t.buf = append(t.buf, '"')
	if !refusal {
		t.buf = append(t.buf, `,"logprobs":[]`...)
	}
	return t.send()
}

func (t *translator) textDelta(raw []byte) error    { return t.contentDelta(raw, false) }
func (t *translator) refusalDelta(raw []byte) error { return t.contentDelta(raw, true) }

func (t *translator) closeMessage() error {
	it := t.msg
	if it == nil {
		return nil
	}
	t.msg = nil
	if err := t.closePart(it); err != nil {
		return err
	}
	return t.closeItem(it)
}

// closeItem marks it done and writes its output_item.done.
func (t *translator) closeItem(it *outItem) error {
	it.open = false
	it.status = statusCompleted
	if s, _ := finalStatus(t.finish); s == statusIncomplete {
		it.status = statusIncomplete
	}
	return t.sendItem("response.output_item.done", it)
}

func (t *translator) reasoningDelta(raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	if t.reason == nil {
		if err := t.closeMessage(); err != nil {
			return err
		}
		t.reason = t.newItem(kindReasoning, "rs_")
		t.reason.parts = []outPart{{}}
		if err := t.sendItem("response.output_item.added", t.reason); err != nil {
			return err
		}
	}
	it := t.reason
	p := &it.parts[0]
	if t.w == nil {
		p.text = rawjson.AppendStringContents(p.text, raw, false)
		return nil
	}
	t.begin("response.reasoning_text.delta")
	t.itemFields(it)
	t.intField("content_index", 0)
	t.key("delta")
	t.buf = append(t.buf, '"')
	mark := len(t.buf)
	t.buf = rawjson.AppendStringContents(t.buf, raw, false)
	p.text = append(p.text, t.buf[mark:]...)
	t.buf = append(t.buf, '"')
	return t.send()
}

func (t *translator) closeReasoning() error {
	it := t.reason
	if it == nil {
		return nil
	}
	t.reason = nil
	if t.w != nil {
		t.begin("response.reasoning_text.done")
		t.itemFields(it)
		t.intField("content_index", 0)
		t.textField("text", it.parts[0].text)
		if err := t.send(); err != nil {
			return err
		}
	}
	return t.closeItem(it)
}

// callDelta adds to the function call of chat tool-call index idx, opening its item on first sight.
// Calls stay open to the end of the answer: a provider may interleave the arguments of parallel calls.
func (t *translator) callDelta(idx int, id, name string, rawArgs []byte) error {
	var it *outItem
	for _, c := range t.calls {
		if c.index == idx {
			it = c.item
			break
		}
	}
	if it == nil {
		if err := t.closeReasoning(); err != nil {
			return err
		}
		if err := t.closeMessage(); err != nil {
			return err
		}
		it = t.newItem(kindCall, "fc_")
		it.callID, it.name = id, name
		if it.callID == "" {
			it.callID = t.o.idFor("call_")
		}
		t.calls = append(t.calls, callSlot{index: idx, item: it})
		if err := t.sendItem("response.output_item.added", it); err != nil {
			return err
		}
	} else if it.name == "" {
		it.name = name
	}
	if len(rawArgs) == 0 {
		return nil
	}
	if t.w == nil {
		it.args = rawjson.AppendStringContents(it.args, rawArgs, false)
		return nil
	}
	t.begin("response.function_call_arguments.delta")
	t.itemFields(it)
	t.key("delta")
	t.buf = append(t.buf, '"')
	mark := len(t.buf)
	t.buf = rawjson.AppendStringContents(t.buf, rawArgs, false)
	it.args = append(it.args, t.buf[mark:]...)
	t.buf = append(t.buf, '"')
	return t.send()
}

func (t *translator) closeCall(it *outItem) error {
	if t.w != nil {
		t.begin("response.function_call_arguments.done")
		t.itemFields(it)
		t.key("name")
		var err error
		if t.buf, err = t.appendJSON(t.buf, it.name); err != nil {
			return err
		}
		t.textField("arguments", it.args)
		if err := t.send(); err != nil {
			return err
		}
	}
	return t.closeItem(it)
}

// closeAll closes every open item, in output order. An answer with no output at all still gets its
// (empty) message, so that clients reading the output text find one.
func (t *translator) closeAll() error {
	if len(t.items) == 0 {
		if err := t.openMessage(); err != nil {
			return err
		}
	}
	if t.msg != nil && len(t.msg.parts) == 0 {
		if err := t.openPart(false); err != nil {
			return err
		}
	}
	for _, it := range t.items {
		if !it.open {
			continue
		}
		var err error
		switch {
		case it == t.msg:
			err = t.closeMessage()
		case it == t.reason:
			err = t.closeReasoning()
		default:
			err = t.closeCall(it)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// end finishes the stream: items closed, the response stored, then response.completed (or
// response.incomplete) with the usage.
func (t *translator) end() error {
	if err := t.start(); err != nil {
		return err
	}
	if err := t.closeAll(); err != nil {
		return err
	}
	out, status, err := t.final()
	if err != nil {
		return err
	}
	typ := "response.completed"
	if status == statusIncomplete {
		typ = "response.incomplete"
	}
	return t.sendRawResponse(typ, out)
}

// fail ends the stream on the provider's error event with response.failed, as OpenAI reports a failure
// once the stream has begun. A failed response is not stored: there is nothing to continue.
func (t *translator) fail(raw json.RawMessage) error {
	var e struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	_ = json.Unmarshal(raw, &e) // an error that is not an object still fails the response
	re := &responseError{Code: "server_error", Message: e.Message}
	var code string
	if json.Unmarshal(e.Code, &code) == nil && code != "" {
		re.Code = code
	} else if e.Type == "rate_limit_error" {
		re.Code = "rate_limit_exceeded"
	}
	if re.Message == "" {
		re.Message = "the provider failed while answering"
	}
	for _, it := range t.items {
		if it.open {
			it.open, it.status = false, statusIncomplete
		}
	}
	obj := t.object(statusFailed)
	obj.Error = re
	return t.sendResponse("response.failed", obj)
}
