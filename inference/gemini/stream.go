// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/internal/sse"
	"github.com/dsp-ai/fd2/inference/openai"
)

// streamBody is the translated SSE stream handed to the caller. Reads come from a pipe fed by the
// translating goroutine, so each Gemini event is readable as soon as it is translated, and the pipe's
// backpressure stops the goroutine from reading upstream faster than the client consumes.
// The goroutine always ends: the upstream body is closed by the goroutine itself at the end of the
// stream, or by Close, which also makes its pending pipe write fail.
type streamBody struct {
	pr   *io.PipeReader
	up   *upstream
	once sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close cancels the upstream request at once (the client went away) and unblocks the goroutine.
func (b *streamBody) Close() error {
	b.once.Do(func() {
		b.up.close()
		_ = b.pr.Close()
	})
	return nil
}

// choiceState tracks one choice across events.
// Gemini may answer several candidates (n > 1) in each event, keyed by index. roleSent makes the role
// chunk come once per choice; toolCalls is the number of calls emitted so far, the base of the next
// tool_calls[].index; finished keeps finish_reason to one chunk per choice.
type choiceState struct {
	roleSent  bool
	toolCalls int
	finished  bool
}

// streamTranslator turns Gemini stream events into OpenAI chunks.
// id and created are fixed at the start, since OpenAI clients expect them equal on every chunk. usage
// is the latest usageMetadata seen: each event's supersedes the previous one.
type streamTranslator struct {
	p            *Provider
	id           string
	created      int64
	model        string
	includeUsage bool
	choices      map[int]*choiceState
	usage        *gmUsage

	// The fast path's state (see stream_fast.go): usageBuf is where it keeps usage, prefix the start of
	// every chunk (made on first use), buf the chunk being written and lines the upstream's line reader,
	// all reused from event to event.
	usageBuf    gmUsage
	prefix, buf []byte
	lines       sse.Lines
	noFast      bool // send every event through encoding/json: tests compare both paths with it
}

// streamResponse starts translating up's SSE stream and returns the caller's response.
func (p *Provider) streamResponse(up *upstream, model string, includeUsage bool) *inference.Response {
	pr, pw := io.Pipe()
	t := &streamTranslator{
		p:            p,
		id:           "chatcmpl-" + p.newID(),
		created:      p.now().Unix(),
		model:        model,
		includeUsage: includeUsage,
		choices:      map[int]*choiceState{},
	}
	// The goroutine owns the upstream: it releases it when run returns, and CloseWithError passes run's
	// result to the reader (nil reads as io.EOF after the last event).
	go func() {
		defer up.release()
		// The translator parses the provider's bytes off the request goroutine: a panic there must end this
		// stream with an error, not the process.
		pw.CloseWithError(background.Run(nil, "gemini_stream", func() error { return t.run(up, pw) }))
	}()
	return &inference.Response{
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
		Body:   &streamBody{pr: pr, up: up},
		Stream: true,
	}
}

// run reads SSE events until EOF and writes their translation; its error ends the pipe (nil: clean EOF).
// Gemini's SSE has no terminal event (unlike Anthropic's message_stop): a clean EOF is the normal end,
// and a pending event without its blank line is still translated before the [DONE] trailer. A stream
// cut by a transport error gets no [DONE], so clients see it as broken rather than complete.
func (t *streamTranslator) run(up *upstream, w io.Writer) error {
	var data []byte
	for {
		line, err := t.lines.Next(up.body)
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				// A blank line dispatches the event (SSE spec, "dispatch the event").
				if len(data) > 0 {
					done, werr := t.event(data, w)
					if werr != nil || done {
						return werr
					}
					data = data[:0]
				}
			case bytes.HasPrefix(line, []byte("data:")):
				v := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, v...)
			}
			// Other fields (event:, id:, retry:) and comments carry nothing Gemini uses.
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return t.p.transportError(up.ctx, err)
			}
			if len(data) > 0 {
				if done, werr := t.event(data, w); werr != nil || done {
					return werr
				}
			}
			return t.finish(w)
		}
	}
}

// event translates one Gemini event. done is set when the stream must end (an in-stream error).
func (t *streamTranslator) event(data []byte, w io.Writer) (done bool, err error) {
	if !t.noFast {
		if ok, err := t.fastEvent(data, w); ok || err != nil {
			return err != nil, err
		}
	}
	var g gmResponse
	if err := json.Unmarshal(data, &g); err != nil {
		return true, &inference.ProviderError{Provider: t.p.name, Status: http.StatusBadGateway, Type: "api_error",
			Message: "gemini sent an unreadable stream event", Retryable: true, Cause: err}
	}
	if g.Error != nil {
		// The status line is long gone: report the failure the way OpenAI does mid-stream, as an
		// error event, and end the stream without [DONE].
		typ := statusTypes[g.Error.Status]
		if typ == "" {
			typ = "api_error"
		}
		ev := map[string]any{"error": map[string]any{"message": t.p.redact(g.Error.Message), "type": typ, "code": g.Error.Status}}
		return true, writeEvent(w, ev)
	}
	// Events may carry only usageMetadata and no candidates; they update usage and emit nothing.
	if g.UsageMetadata != nil {
		t.usage = g.UsageMetadata
	}
	if len(g.Candidates) == 0 && g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		// A blocked prompt: one empty choice finished by the content filter.
		g.Candidates = []gmCandidate{{FinishReason: "SAFETY"}}
	}
	for i := range g.Candidates {
		cand := &g.Candidates[i]
		st := t.choices[cand.Index]
		if st == nil {
			st = &choiceState{}
			t.choices[cand.Index] = st
		}
		// One event may mix text and function calls; both go into one delta, as OpenAI allows.
		text, calls := t.p.candidateParts(cand, true)
		for j := range calls {
			// tool_calls[].index counts across the whole stream, not per event.
			n := st.toolCalls + *calls[j].Index
			calls[j].Index = &n
		}
		st.toolCalls += len(calls)
		// A choice's first event always yields a chunk, empty or not, so its role chunk precedes
		// its finish_reason chunk as OpenAI clients assume.
		if text != "" || len(calls) > 0 || !st.roleSent {
			d := &openai.Delta{ToolCalls: calls}
			if !st.roleSent {
				d.Role = "assistant"
				st.roleSent = true
			}
			// content is "" on a bare role chunk, as in OpenAI's first chunk, and left out
			// next to tool calls, where OpenAI sends none.
			if text != "" || len(calls) == 0 {
				d.Content = &text
			}
			if err := writeEvent(w, t.chunk(openai.Choice{Index: cand.Index, Delta: d})); err != nil {
				return true, err
			}
		}
		// finish_reason goes in its own chunk after the content, with an empty delta; a choice
		// that called functions in any earlier event finishes as tool_calls.
		if fr := finishReason(cand.FinishReason, st.toolCalls > 0); fr != "" && !st.finished {
			st.finished = true
			if err := writeEvent(w, t.chunk(openai.Choice{Index: cand.Index, Delta: &openai.Delta{}, FinishReason: &fr})); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}

// finish writes the usage chunk (when asked for and known) and the [DONE] sentinel.
// The usage chunk has an empty choices list (how the engine and OpenAI SDKs recognise it) and comes
// last before [DONE]. It is skipped when Gemini sent no usage, rather than reporting zeros that would
// read as a free call; the engine then counts with its tokenizer.
func (t *streamTranslator) finish(w io.Writer) error {
	// Gemini ends every complete answer with a finishReason on each candidate's last chunk. An upstream that
	// hangs up cleanly before that cut the answer short: it must not look complete ([DONE]), exactly as a
	// missing message_stop in the Anthropic translator.
	complete := len(t.choices) > 0
	for _, st := range t.choices {
		complete = complete && st.finished
	}
	if !complete {
		return io.ErrUnexpectedEOF
	}
	if t.includeUsage && t.usage != nil {
		c := &openai.ChatCompletion{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model,
			Choices: []openai.Choice{}, Usage: usage(t.usage)}
		if err := writeEvent(w, c); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "data: [DONE]\n\n")
	return err
}

// chunk wraps one choice's delta: with n > 1, choices are interleaved chunk by chunk, as OpenAI does.
func (t *streamTranslator) chunk(c openai.Choice) *openai.ChatCompletion {
	c.Logprobs = openai.JSONNull // Gemini's are not requested, but OpenAI clients expect the key
	return &openai.ChatCompletion{ID: t.id, Object: "chat.completion.chunk", Created: t.created, Model: t.model, Choices: []openai.Choice{c}}
}

// writeEvent writes one SSE event in a single Write, so a reader never sees half an event.
// Through the pipe, a write blocks until the client reads, which is what slows the translator (and so
// the upstream read) to the client's pace.
func writeEvent(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(b)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	_, err = w.Write(buf)
	return err
}
