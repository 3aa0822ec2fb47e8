// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"mime"
	"strings"

	"github.com/tidwall/gjson"
)

// defaultMaxBody bounds what a UsageSniffer keeps when NewUsageSniffer gets maxBody ≤ 0.
const defaultMaxBody = 1 << 20

type snifferMode uint8

const (
	sniffNone snifferMode = iota
	sniffSSE
	sniffJSON
)

// UsageSniffer observes an OpenAI-compatible response as it is copied to the client and extracts the
// token usage, without holding back any bytes: the proxy writes to the client and to the sniffer. It is
// how a token limit learns the cost of responses the Engine does not produce itself (a reverse_proxy
// upstream), and it reads them with the Engine's usage parser and text scan, so a response is counted
// the same way whichever path served it.
//
//   - text/event-stream: complete lines are parsed as they arrive. The last non-null "usage" object wins
//     (OpenAI sends it in the final chunk when stream_options.include_usage is set), and the lengths of
//     the generated text (content, reasoning, tool-call arguments, completions text, Responses API
//     deltas) are summed into a completion estimate for providers that send no usage. Only one event is
//     buffered, up to maxBody bytes; a larger event is skipped.
//   - application/json (and +json): up to maxBody bytes are kept and "usage" is parsed on the first call to
//     Usage or CompletionEstimate. A larger body reports no usage.
//   - anything else is ignored.
//
// A UsageSniffer is not safe for concurrent use; call Usage after the last Write.
type UsageSniffer struct {
	mode    snifferMode
	maxBody int

	line     []byte // SSE: the incomplete trailing line
	skipLine bool   // SSE: the current line overflowed maxBody
	data     []byte // SSE: data lines of the current event
	body     []byte // JSON: the body so far
	overflow bool   // JSON: the body exceeded maxBody
	parsed   bool   // JSON: body already parsed

	text []byte // SSE: the current event's generated text, still escaped

	usage         Usage
	reported      bool
	completionLen int64
}

// NewUsageSniffer returns a sniffer for a response with the given Content-Type header value. maxBody
// bounds the bytes kept (one SSE event, or the whole JSON body); ≤ 0 means 1 MiB.
func NewUsageSniffer(contentType string, maxBody int) *UsageSniffer {
	if maxBody <= 0 {
		maxBody = defaultMaxBody
	}
	s := &UsageSniffer{maxBody: maxBody}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	switch {
	case mt == "text/event-stream":
		s.mode = sniffSSE
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		s.mode = sniffJSON
	}
	return s
}

// Write observes p. It never fails and never retains p, so it can sit behind an io.MultiWriter or
// io.TeeReader.
func (s *UsageSniffer) Write(p []byte) (int, error) {
	switch s.mode {
	case sniffSSE:
		s.writeSSE(p)
	case sniffJSON:
		if !s.overflow {
			if len(s.body)+len(p) > s.maxBody {
				s.overflow, s.body = true, nil
			} else {
				s.body = append(s.body, p...)
			}
		}
	}
	return len(p), nil
}

func (s *UsageSniffer) writeSSE(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.appendLine(p)
			return
		}
		s.appendLine(p[:i])
		p = p[i+1:]
		if !s.skipLine {
			s.sseLine(bytes.TrimSuffix(s.line, []byte{'\r'}))
		}
		s.line, s.skipLine = s.line[:0], false
	}
}

func (s *UsageSniffer) appendLine(p []byte) {
	if s.skipLine {
		return
	}
	if len(s.line)+len(p) > s.maxBody {
		s.line, s.skipLine = s.line[:0], true
		return
	}
	s.line = append(s.line, p...)
}

// sseLine handles one line per the SSE spec: data lines accumulate, a blank line dispatches the event,
// other fields (event:, id:, comments) are ignored.
func (s *UsageSniffer) sseLine(line []byte) {
	if len(line) == 0 {
		s.dispatch()
		return
	}
	v, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return
	}
	v = bytes.TrimPrefix(v, []byte{' '})
	if len(s.data) > 0 {
		s.data = append(s.data, '\n')
	}
	if len(s.data)+len(v) > s.maxBody {
		s.data = s.data[:0]
		return
	}
	s.data = append(s.data, v...)
}

func (s *UsageSniffer) dispatch() {
	data := bytes.TrimSpace(s.data)
	s.data = s.data[:0]
	if len(data) == 0 || data[0] != '{' {
		return // [DONE] and keep-alives
	}
	s.observe(data)
}

// observe reads one SSE event's data: its usage, with the one usage parser, and the length of its
// generated text, with the same scan the engine uses on streams.
func (s *UsageSniffer) observe(data []byte) {
	if !gjson.ValidBytes(data) {
		return
	}
	var usage bool
	s.text, usage = scanEvent(s.text[:0], data)
	if usage {
		if u, ok := parseUsage(gjson.GetBytes(data, "usage")); ok {
			s.usage, s.reported = u, true
		}
	}
	if len(s.text) > 0 {
		s.completionLen += int64(len(unescape(s.text)))
	}
}

// observeBody reads a complete JSON body.
func (s *UsageSniffer) observeBody(body []byte) {
	if u, ok := usageFromBody(body); ok {
		s.usage, s.reported = u, true
	}
	forEachCompletionText(body, func(t string) { s.completionLen += int64(len(t)) })
}

// finish parses what is pending: the JSON body, or an SSE stream that ended without a final blank line.
func (s *UsageSniffer) finish() {
	switch s.mode {
	case sniffJSON:
		if !s.parsed && !s.overflow {
			s.parsed = true
			s.observeBody(s.body)
			s.body = nil
		}
	case sniffSSE:
		if len(s.line) > 0 && !s.skipLine {
			s.sseLine(bytes.TrimSuffix(s.line, []byte{'\r'}))
			s.line = s.line[:0]
		}
		if len(s.data) > 0 {
			s.dispatch()
		}
	}
}

// Usage returns the usage reported by the provider and true, or, when the response carried none, a Usage
// whose CompletionTokens and TotalTokens are CompletionEstimate() and false.
func (s *UsageSniffer) Usage() (Usage, bool) {
	s.finish()
	if s.reported {
		return s.usage, true
	}
	e := estimateBytes(s.completionLen)
	return Usage{CompletionTokens: e, TotalTokens: e}, false
}

// CompletionEstimate returns EstimateTokens of all completion text seen (an estimate; see EstimateTokens).
func (s *UsageSniffer) CompletionEstimate() int64 {
	s.finish()
	return estimateBytes(s.completionLen)
}
