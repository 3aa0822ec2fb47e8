// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// BudgetWriter passes a response through and lets a UsageSniffer observe it, for a token limit that must
// learn what a proxied completion cost. For event streams with a token cap it forwards whole events only
// (an SSE event is the unit a client reads anyway, so this adds no latency), which lets it end the stream
// cleanly between two events once the completion outgrows the cap: a final chunk with finish_reason
// "length", an error event and data: [DONE] — never a cut connection. The Write that ends it, and every
// Write after, fails with ErrBudgetReached, which is how the proxy copying the upstream learns to stop
// (and close) it: the provider stops generating tokens nobody reads.
type BudgetWriter struct {
	http.ResponseWriter
	// CapTokens is the completion budget of a stream (≤ 0: none, observe only).
	CapTokens int64
	// Metered, when it reports true by the time the response begins, means the handler behind reports the
	// usage and enforces the budget itself (an in-process Engine with CompletionBudget): the response is
	// then passed through without being parsed a second time.
	Metered func() bool

	sniffer *UsageSniffer
	status  int
	sse     bool
	pending []byte
	cut     bool
}

// Unwrap lets http.ResponseController reach the writer underneath (Flush).
func (s *BudgetWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Sniffer is the usage sniffer of a 2xx JSON or event-stream response (nil for any other).
func (s *BudgetWriter) Sniffer() *UsageSniffer { return s.sniffer }

// Status is the status written (0: none yet).
func (s *BudgetWriter) Status() int { return s.status }

// Cut reports whether the budget ended the stream.
func (s *BudgetWriter) Cut() bool { return s.cut }

func (s *BudgetWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		ct := s.Header().Get("Content-Type")
		metered := s.Metered != nil && s.Metered()
		if !metered && code < 300 && (strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "application/json")) {
			s.sniffer = NewUsageSniffer(ct, 4<<20)
			s.sse = strings.HasPrefix(ct, "text/event-stream")
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *BudgetWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.cut {
		return 0, ErrBudgetReached
	}
	if s.sniffer == nil {
		return s.ResponseWriter.Write(b)
	}
	if !s.sse || s.CapTokens <= 0 {
		_, _ = s.sniffer.Write(b)
		return s.ResponseWriter.Write(b)
	}
	s.pending = append(s.pending, b...)
	for {
		i := eventEnd(s.pending)
		if i < 0 {
			break
		}
		ev := s.pending[:i]
		_, _ = s.sniffer.Write(ev)
		if _, err := s.ResponseWriter.Write(ev); err != nil {
			return len(b), err
		}
		s.pending = s.pending[i:]
		if _, reported := s.sniffer.Usage(); !reported && s.sniffer.CompletionEstimate() > s.CapTokens {
			s.endStream()
			return len(b), ErrBudgetReached
		}
	}
	if len(s.pending) > 256<<10 { // not SSE after all: stop holding bytes back
		_, _ = s.sniffer.Write(s.pending)
		_, err := s.ResponseWriter.Write(s.pending)
		s.pending = s.pending[:0]
		return len(b), err
	}
	return len(b), nil
}

// eventEnd returns the end of the first complete SSE event in b (after its blank line), or -1.
func eventEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

// The events that end a stream at its token budget: a final chunk with finish_reason "length", an error
// event a client can show, and [DONE].
const (
	budgetError = "data: {\"error\":{\"message\":\"token budget reached: the completion was ended at the tokens reserved for it\",\"type\":\"rate_limit_error\",\"code\":\"token_budget_exceeded\"}}\n\n" +
		"data: [DONE]\n\n"
	budgetEnd = "data: {\"id\":\"fd2-token-budget\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n" +
		budgetError
	budgetEndCompletions = "data: {\"id\":\"fd2-token-budget\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n" +
		budgetError
)

var (
	budgetEndResponses = []byte("event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"object\":\"response\"," +
		"\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n")
	budgetEndChat = []byte(budgetEnd)
	budgetEndText = []byte(budgetEndCompletions)
)

// budgetEndOf is the end of a stream of endpoint cut at its budget of tokens, in that endpoint's shape. A
// Messages API stream ends the way Anthropic ends one at max_tokens: message_delta, then message_stop.
func budgetEndOf(endpoint string, tokens int64) []byte {
	switch endpoint {
	case EndpointCompletions:
		return budgetEndText
	case EndpointResponses:
		// A Responses stream ends the way one ends at max_output_tokens.
		return budgetEndResponses
	case EndpointMessages:
		return fmt.Appendf(nil, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\","+
			"\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", tokens)
	}
	return budgetEndChat
}

func (s *BudgetWriter) endStream() {
	s.cut = true
	s.pending = nil
	_, _ = s.ResponseWriter.Write(budgetEndChat)
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// ErrBudgetReached is what a BudgetWriter's writes fail with once it has ended the stream.
var ErrBudgetReached = errors.New("token budget reached: the stream was ended")

// Finish forwards what is left of an unterminated last event; call it when the response ends.
func (s *BudgetWriter) Finish() {
	if len(s.pending) > 0 && !s.cut {
		if s.sniffer != nil {
			_, _ = s.sniffer.Write(s.pending)
		}
		_, _ = s.ResponseWriter.Write(s.pending)
		s.pending = nil
	}
}
