// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/openai"
)

// Gemini GenerateContentResponse (one whole answer, or one SSE event of a stream).
// Candidates holds one entry per requested candidate (n). PromptFeedback.BlockReason is set when the
// prompt itself was blocked, and then there are no candidates at all.
type gmResponse struct {
	Candidates     []gmCandidate `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *gmUsage `json:"usageMetadata"`
	// Error appears inside a stream when Gemini fails after the 200 status line was sent.
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// gmCandidate is one answer. FinishReason is empty on a stream's intermediate events and set on the
// candidate's last one. Index (0 when absent) ties a stream's events for one candidate together.
type gmCandidate struct {
	Content *struct {
		Parts []gmPart `json:"parts"`
	} `json:"content"`
	FinishReason string `json:"finishReason"`
	Index        int    `json:"index"`
}

// gmUsage is usageMetadata. candidatesTokenCount leaves out thinking, which thoughtsTokenCount counts;
// totalTokenCount covers prompt, candidates and thoughts (and tool-use prompt tokens).
type gmUsage struct {
	PromptTokenCount     int64 `json:"promptTokenCount"`
	CandidatesTokenCount int64 `json:"candidatesTokenCount"`
	ThoughtsTokenCount   int64 `json:"thoughtsTokenCount"`
	TotalTokenCount      int64 `json:"totalTokenCount"`
}

// chat serves chat/completions.
func (p *Provider) chat(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	var oa openai.ChatRequest
	if err := json.Unmarshal(req.Body, &oa); err != nil {
		return nil, p.badRequest("parsing chat request: %v", err)
	}
	gr, err := translateRequest(&oa)
	if err != nil {
		return nil, p.badRequest("translating chat request for gemini: %v", err)
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, fmt.Errorf("encoding gemini request: %w", err)
	}
	// req.Model is the deployment's upstream name when routing maps one; otherwise the body's applies.
	model := req.Model
	if model == "" {
		model = oa.Model
	}
	if model == "" {
		// Gemini's URL names the model, so without one there is nothing to call.
		return nil, p.badRequest("model is required")
	}
	// alt=sse makes streamGenerateContent answer with server-sent events; without it Gemini streams a
	// single JSON array, which would need an incremental JSON parser instead of a line reader.
	stream := req.Stream || oa.Stream
	// v1beta is the API version Google's own SDKs call, and the one that has every request field
	// used here (responseJsonSchema among them).
	path := "/v1beta/models/" + modelPath(model) + ":generateContent"
	if stream {
		path = "/v1beta/models/" + modelPath(model) + ":streamGenerateContent?alt=sse"
	}
	up, err := p.post(ctx, path, body, stream)
	if err != nil {
		return nil, err
	}
	// The client sees the model it asked for, as with every other provider.
	clientModel := oa.Model
	if clientModel == "" {
		clientModel = model
	}
	if stream {
		// The engine turns include_usage on for every chat stream it meters, and strips the usage
		// chunk again when the client did not ask for it.
		includeUsage := oa.StreamOptions != nil && oa.StreamOptions.IncludeUsage
		return p.streamResponse(up, clientModel, includeUsage), nil
	}
	defer up.release()
	var gresp gmResponse
	if err := p.decodeAnswer(up, &gresp); err != nil {
		return nil, err
	}
	out, err := json.Marshal(p.translateResponse(&gresp, clientModel))
	if err != nil {
		return nil, fmt.Errorf("encoding chat completion: %w", err)
	}
	return &inference.Response{Status: http.StatusOK, Header: jsonHeader(), Body: io.NopCloser(strings.NewReader(string(out)))}, nil
}

// translateResponse turns a whole Gemini answer into a chat.completion.
func (p *Provider) translateResponse(g *gmResponse, model string) *openai.ChatCompletion {
	c := &openai.ChatCompletion{
		ID:      "chatcmpl-" + p.newID(),
		Object:  "chat.completion",
		Created: p.now().Unix(),
		Model:   model,
		// Choices starts as an empty list so it is never encoded as null.
		Choices: []openai.Choice{},
		Usage:   usage(g.UsageMetadata),
	}
	for _, cand := range g.Candidates {
		text, calls := p.candidateParts(&cand, false)
		msg := &openai.ChatMessage{Role: "assistant", ToolCalls: calls}
		if text != "" || len(calls) == 0 {
			msg.Content = &text
		}
		fr := finishReason(cand.FinishReason, len(calls) > 0)
		// A buffered answer is complete by definition, so a missing finishReason still means stop.
		if fr == "" {
			fr = "stop"
		}
		c.Choices = append(c.Choices, openai.Choice{Index: cand.Index, Message: msg, Logprobs: openai.JSONNull, FinishReason: &fr})
	}
	if len(c.Choices) == 0 {
		// A prompt blocked by safety filters comes back with promptFeedback and no candidates; OpenAI
		// clients expect a choice, and content_filter is OpenAI's word for it.
		empty, fr := "", "content_filter"
		if g.PromptFeedback == nil || g.PromptFeedback.BlockReason == "" {
			fr = "stop"
		}
		c.Choices = append(c.Choices, openai.Choice{Message: &openai.ChatMessage{Role: "assistant", Content: &empty}, Logprobs: openai.JSONNull, FinishReason: &fr})
	}
	return c
}

// candidateParts joins a candidate's text and lists its function calls with fresh IDs (Gemini has no
// call IDs; OpenAI clients need them to answer with tool messages). Thought summaries are not answer
// text and are dropped. indexed sets tool_calls[].index, which chunks carry.
func (p *Provider) candidateParts(cand *gmCandidate, indexed bool) (string, []openai.ToolCall) {
	if cand.Content == nil {
		return "", nil
	}
	var text strings.Builder
	var calls []openai.ToolCall
	for _, part := range cand.Content.Parts {
		switch {
		case part.FunctionCall != nil:
			// Gemini delivers a function call whole, in one part, so each call gets its complete
			// arguments in a single tool_calls entry and no argument deltas are needed.
			args := string(part.FunctionCall.Args)
			// A call without arguments may come without args; OpenAI clients parse arguments as JSON, so
			// they get "{}" rather than "" or "null".
			if args == "" || args == "null" {
				args = "{}"
			}
			tc := openai.ToolCall{ID: "call_" + p.newID(), Type: "function"}
			tc.Function.Name = part.FunctionCall.Name
			tc.Function.Arguments = compactJSON(args)
			if indexed {
				i := len(calls)
				tc.Index = &i
			}
			calls = append(calls, tc)
		case part.Thought:
			// Thought summaries (only sent with includeThoughts) are reasoning, not answer text.
		default:
			// Text parts of a candidate are consecutive pieces of one answer: no separator.
			text.WriteString(part.Text)
		}
	}
	return text.String(), calls
}

// compactJSON strips insignificant whitespace, as OpenAI's arguments strings have none.
// Arguments that are not valid JSON pass unchanged, for the client to report.
func compactJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return s
	}
	return string(b)
}

// finishReason maps Gemini's finishReason; "" means the candidate is not finished (a stream event).
// LANGUAGE (unsupported language) and OTHER have no OpenAI counterpart either and end as stop.
func finishReason(r string, toolCalls bool) string {
	switch r {
	case "":
		return ""
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		// Every reason meaning Gemini withheld or cut content is content_filter, so clients can
		// tell a filtered answer from a finished one.
		return "content_filter"
	}
	// STOP and the rest (OTHER, MALFORMED_FUNCTION_CALL, …) end the turn normally as far as OpenAI
	// clients can tell; a turn that called functions ends in tool_calls so agents run them.
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// usage maps usageMetadata. OpenAI counts reasoning inside completion_tokens, Gemini counts thoughts
// separately, so they are added back (and broken out in completion_tokens_details, left out when the
// model did not think).
func usage(u *gmUsage) *openai.Usage {
	if u == nil {
		return nil
	}
	out := &openai.Usage{
		PromptTokens:     u.PromptTokenCount,
		CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		TotalTokens:      u.TotalTokenCount,
	}
	// A missing totalTokenCount is rebuilt, so total_tokens is never 0 next to non-zero counts; the
	// sum includes thoughts, as Gemini's own total does.
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	if u.ThoughtsTokenCount > 0 {
		out.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount}
	}
	return out
}
