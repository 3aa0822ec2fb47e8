// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/internal/watchdog"
)

// maxEventSize bounds one SSE event; a provider sending more without a blank line is broken, and
// buffering it further would let it exhaust memory.
const maxEventSize = 16 << 20

var errEventTooLarge = errors.New("server-sent event too large")

// sseReader splits a server-sent event stream into events (lines up to a blank line, LF or CRLF). next
// reuses one buffer, so reading an event does not allocate once the buffer has grown to the largest
// event; the returned slice is valid until the next call.
type sseReader struct {
	br  *bufio.Reader
	buf []byte
}

func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	lineStart := 0
	for {
		frag, err := s.br.ReadSlice('\n')
		s.buf = append(s.buf, frag...)
		if len(s.buf) > maxEventSize {
			return nil, errEventTooLarge
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a line longer than the reader's buffer: keep appending it
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(s.buf)) > 0 {
				// A final event without its blank line: terminate it so the client can parse it.
				if s.buf[len(s.buf)-1] != '\n' {
					s.buf = append(s.buf, '\n')
				}
				return append(s.buf, '\n'), nil
			}
			return nil, err
		}
		line := s.buf[lineStart:]
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			if lineStart == 0 {
				s.buf = s.buf[:0] // blank lines between events carry nothing
				continue
			}
			return s.buf, nil
		}
		lineStart = len(s.buf)
	}
}

// sseReaders recycles the readers' buffers (20 KiB a stream): allocating and zeroing them for every stream
// cost more CPU than anything else FD2 does per stream, and made garbage at the rate of streams.
var sseReaders = sync.Pool{New: func() any {
	return &sseReader{br: bufio.NewReaderSize(nil, 16<<10), buf: make([]byte, 0, 4<<10)}
}}

// maxPooledEvent bounds the event buffer a reader keeps when it goes back to the pool, so that one huge
// event does not pin its memory forever.
const maxPooledEvent = 64 << 10

func getSSEReader(r io.Reader) *sseReader {
	rd := sseReaders.Get().(*sseReader)
	rd.br.Reset(r)
	return rd
}

func putSSEReader(rd *sseReader) {
	rd.br.Reset(nil) // drop the body
	if cap(rd.buf) > maxPooledEvent {
		rd.buf = make([]byte, 0, 4<<10)
	}
	rd.buf = rd.buf[:0]
	sseReaders.Put(rd)
}

// onceCloser closes the upstream body exactly once, from whichever of the copy loop, the client's
// cancellation or the idle timer gets there first.
type onceCloser struct {
	rc   io.ReadCloser
	once sync.Once
}

func (c *onceCloser) Read(p []byte) (int, error) { return c.rc.Read(p) }

func (c *onceCloser) Close() error {
	c.once.Do(func() { _ = c.rc.Close() })
	return nil
}

// streamParams carries what pipeStream needs from the call that produced the stream.
type streamParams struct {
	endpoint string
	model    string // provider-side model, for the tokenizer
	// stripUsage drops the usage-only chunk: FD2 asked for it upstream, the client did not.
	stripUsage bool
	// budget is the completion token cap (Engine.CompletionBudget).
	budget int64
	start  time.Time
	// ctx is the provider call's context: it ends when the client goes away or the first-byte timer fires,
	// and either must close the upstream body at once.
	ctx context.Context
	// firstByte is the first-byte timer, stopped at the first event; firstByteFired tells its expiry
	// apart from the client's cancellation.
	firstByte      *time.Timer
	firstByteFired *atomic.Bool
}

// streamResult is what a stream yielded, for the hooks.
type streamResult struct {
	usage    Usage
	hasUsage bool
	ttft     time.Duration
	gotToken bool
	wrote    bool
	cut      bool // the completion budget ended the stream
	// responseID is the id of the response a Responses API call created (its response.created event).
	responseID string
}

// Pre-rendered bytes of the stream's fixed parts.
var (
	deltaType       = []byte(`.delta"`)
	responseCreated = []byte(`"response.created"`)
	sseHeaderCT     = []string{"text/event-stream"}
	sseNoCache      = []string{"no-cache"}
	sseNoBuffer     = []string{"no"}
)

// pipeStream copies an SSE response to the client event by event, flushing each at once, and finds the
// stream's usage on the way. The hot path (one event) does not allocate: it reuses the reader's buffer,
// scans bytes for the few markers it needs and decodes JSON only for the one usage chunk.
//
// It returns an *apierr.Error only when nothing has been written to w; a failure after that ends the
// stream with an OpenAI-shaped error event, since the status line is already gone.
func (e *Engine) pipeStream(w http.ResponseWriter, resp *Response, p *streamParams) (streamResult, error) {
	var res streamResult
	body := &onceCloser{rc: resp.Body}
	defer body.Close()
	// Closing the body is how the provider's read is interrupted: an HTTP response body's Read returns
	// as soon as it is closed, which also tears the upstream connection down.
	stop := context.AfterFunc(p.ctx, func() { _ = body.Close() })
	defer stop()

	// The idle timeout bounds each wait on the provider (a slow client is not a stalled provider).
	var src io.Reader = body
	var idle *watchdog.Reader
	if e.IdleTimeout > 0 {
		idle = watchdog.New(body, e.IdleTimeout, func() { _ = body.Close() })
		defer idle.Stop()
		src = idle
	}

	rd := getSSEReader(src)
	defer putSSEReader(rd)
	rc := http.NewResponseController(w)
	// text keeps the generated text seen so far while no usage chunk has arrived, so that the completion
	// can be counted with the tokenizer at the end if it never does. It is cut out of the chunks by a
	// byte scan (no JSON decoding per event) and counted in slices of maxStreamText, so a long stream
	// costs bounded memory.
	track := usageEndpoints[p.endpoint]
	var text []byte
	var counted int64
	// The budget is checked with the tokenizer only when it could have been crossed: a token is at least
	// one byte, so counted+len(text) bounds the completion's tokens from above, and after an exact count
	// of n the text must grow by budget-n bytes before the cap can be reached.
	budget := p.budget
	if !track {
		budget = 0
	}
	budgetCheck := budget

	// extra is the request's extension event, written before the stream's end ([DONE], message_stop) or at
	// its end when the provider stopped without one.
	var extra *extraWriter
	if e.Extra != nil && extraEndpoint(p.endpoint) {
		extra = &extraWriter{x: e.Extra, messages: p.endpoint == EndpointMessages}
	}

	var readErr error
	for {
		ev, err := rd.next()
		if err != nil {
			readErr = err
			break
		}
		if extra != nil && !extra.sent {
			if extra.isEnd(ev) {
				if !res.wrote {
					if p.firstByte != nil {
						p.firstByte.Stop()
					}
					writeStreamHeader(w, resp)
					res.wrote = true
				}
				extra.write(w)
			} else if extra.id == "" && !extra.messages {
				extra.observe(ev)
			}
		}
		if !res.gotToken && hasFirstToken(ev) {
			res.gotToken, res.ttft = true, time.Since(p.start)
		}
		skip := false
		if track && !res.hasUsage {
			if len(text) > maxStreamText {
				counted += countEscapedText(p.model, text)
				text = text[:0]
			}
			mark := len(text)
			var usageObj bool
			text, usageObj = scanEvent(text, ev)
			// Responses API streams repeat the whole text in their *.done events; only deltas count.
			if p.endpoint == EndpointResponses && !bytes.Contains(ev, deltaType) {
				text = text[:mark]
			}
			if usageObj && p.endpoint == EndpointMessages {
				root := gjson.ParseBytes(eventData(ev))
				if res.usage, res.hasUsage = messagesStreamUsage(root, res.usage); res.hasUsage {
					text = nil
				}
			} else if usageObj {
				root := gjson.ParseBytes(eventData(ev))
				u := root.Get("usage")
				if !u.IsObject() {
					u = root.Get("response.usage") // Responses API: response.completed carries it
				}
				if usage, ok := parseUsage(u); ok {
					res.usage, res.hasUsage, text = usage, true, nil
				}
				ch := root.Get("choices")
				skip = p.stripUsage && ch.IsArray() && len(ch.Array()) == 0
			}
			if !res.hasUsage && budget > 0 && counted+int64(len(text)) > budgetCheck {
				n := counted + countEscapedText(p.model, text)
				if n > budget {
					// This event would outgrow the budget: the client's stream ends before it.
					if !res.wrote {
						writeStreamHeader(w, resp)
						res.wrote = true
					}
					if _, err := w.Write(budgetEndOf(p.endpoint, budget)); err == nil {
						_ = rc.Flush()
					}
					res.cut = true
					break
				}
				budgetCheck = counted + int64(len(text)) + budget - n
			}
		}
		if p.endpoint == EndpointResponses && res.responseID == "" && bytes.Contains(ev, responseCreated) {
			res.responseID = createdResponseID(eventData(ev))
		}
		if skip {
			continue
		}
		if !res.wrote {
			if p.firstByte != nil {
				p.firstByte.Stop()
			}
			writeStreamHeader(w, resp)
			res.wrote = true
		}
		if _, err := w.Write(ev); err != nil {
			readErr = nil // the client went away; nothing more to tell it
			break
		}
		if err := rc.Flush(); err != nil {
			break
		}
	}
	_ = body.Close()

	if track && !res.hasUsage {
		counted += countEscapedText(p.model, text)
		res.usage = Usage{CompletionTokens: counted, Source: UsageSourceTokenizer}
	}

	if readErr == nil || errors.Is(readErr, io.EOF) {
		if !res.wrote && readErr != nil {
			// An empty stream: still answer with an (empty) event stream.
			writeStreamHeader(w, resp)
			res.wrote = true
		}
		if extra != nil && !extra.sent && !res.cut && readErr != nil {
			extra.write(w) // the provider ended without [DONE] or message_stop
			_ = rc.Flush()
		}
		return res, nil
	}
	var failure *apierr.Error
	switch {
	case idle != nil && idle.Fired():
		failure = apierr.New(http.StatusGatewayTimeout, "stream_idle_timeout",
			"the provider sent no data for "+e.IdleTimeout.String())
	case p.firstByteFired != nil && p.firstByteFired.Load():
		failure = apierr.New(http.StatusGatewayTimeout, "upstream_timeout",
			"the provider did not answer within "+e.FirstByteTimeout.String())
	case p.ctx.Err() != nil:
		// The client went away: nobody is left to read an error.
		if !res.wrote {
			return res, apierr.Wrap(499, "client_closed_request", "client closed the request", p.ctx.Err())
		}
		return res, nil
	default:
		failure = apierr.Wrap(http.StatusBadGateway, "upstream_error", "the provider's stream broke off", readErr)
	}
	if !res.wrote {
		return res, failure
	}
	writeErrorEvent(w, rc, failure, p.endpoint)
	return res, nil
}

func writeStreamHeader(w http.ResponseWriter, resp *Response) {
	h := w.Header()
	copySafeHeaders(h, resp.Header)
	h["Content-Type"] = sseHeaderCT
	h["Cache-Control"] = sseNoCache
	// nginx and similar proxies buffer responses by default, which would hold events back.
	h["X-Accel-Buffering"] = sseNoBuffer
	h.Del("Content-Length")
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
}

// writeErrorEvent ends a stream that already started with an error in the endpoint's shape, the way the
// API itself reports mid-stream failures: an OpenAI error object as data, or the Messages API's error event.
func writeErrorEvent(w io.Writer, rc *http.ResponseController, failure *apierr.Error, endpoint string) {
	var ev []byte
	if endpoint == EndpointMessages {
		b := failure.MarshalAnthropic("")
		ev = make([]byte, 0, len(b)+24)
		ev = append(ev, "event: error\ndata: "...)
		ev = append(ev, bytes.TrimRight(b, "\n")...)
	} else {
		b := failure.Marshal("")
		ev = make([]byte, 0, len(b)+8)
		ev = append(ev, "data: "...)
		ev = append(ev, bytes.TrimRight(b, "\n")...)
	}
	ev = append(ev, "\n\n"...)
	if _, err := w.Write(ev); err == nil {
		_ = rc.Flush()
	}
}

// extraWriter writes Engine.Extra as a stream's last event before its end. A chat stream gets a chunk with
// no choices and the stream's own id, created time and model (the usage chunk's shape). A Messages API
// stream gets an event of its own, `event: <field>` with {"type":"<field>","<field>":…}, before
// message_stop: Anthropic's API versioning asks clients to tolerate new event types, and its TypeScript
// SDK hands this one to raw-stream readers while building the final message unaffected.
type extraWriter struct {
	x        *Extra
	messages bool
	id       string
	model    string
	created  int64
	sent     bool
}

func (x *extraWriter) observe(ev []byte) {
	data := eventData(ev)
	if len(data) == 0 || data[0] != '{' {
		return
	}
	root := gjson.ParseBytes(data)
	x.id, x.model, x.created = root.Get("id").String(), root.Get("model").String(), root.Get("created").Int()
}

// isEnd reports whether ev ends the stream: the OpenAI stream's [DONE], or the Messages API's message_stop.
func (x *extraWriter) isEnd(ev []byte) bool {
	if x.messages {
		return gjson.GetBytes(eventData(ev), "type").Str == "message_stop"
	}
	return isDoneEvent(ev)
}

func (x *extraWriter) write(w io.Writer) {
	x.sent = true
	var ev map[string]any
	prefix := "data: "
	if x.messages {
		ev = map[string]any{"type": x.x.Field, x.x.Field: x.x.Value}
		prefix = "event: " + x.x.Field + "\ndata: "
	} else {
		ev = map[string]any{"id": x.id, "object": "chat.completion.chunk", "created": x.created, "model": x.model,
			"choices": []any{}, x.x.Field: x.x.Value}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	out := make([]byte, 0, len(prefix)+len(b)+2)
	out = append(out, prefix...)
	out = append(out, b...)
	out = append(out, "\n\n"...)
	_, _ = w.Write(out)
}

// isDoneEvent reports whether an SSE event is the OpenAI stream's "data: [DONE]".
func isDoneEvent(ev []byte) bool {
	return bytes.Equal(bytes.TrimSpace(eventData(ev)), []byte("[DONE]"))
}
