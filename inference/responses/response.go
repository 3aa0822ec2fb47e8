// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/internal/rawjson"
)

// maxChatBody bounds a non-streamed chat answer read for translation.
const maxChatBody = 64 << 20

// Response statuses.
const (
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
	statusIncomplete = "incomplete"
	statusFailed     = "failed"
)

// responseObject is a Responses API response, with every field the OpenAI SDKs read.
type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int64             `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []any              `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          reasoningEcho      `json:"reasoning"`
	Store              bool               `json:"store"`
	Temperature        *float64           `json:"temperature"`
	Text               json.RawMessage    `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []json.RawMessage  `json:"tools"`
	TopP               *float64           `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *responseUsage     `json:"usage"`
	User               *string            `json:"user"`
	Metadata           json.RawMessage    `json:"metadata"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type responseUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int64 `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int64 `json:"total_tokens"`
}

// chatUsage is a chat completion's usage.
type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func (u *chatUsage) responses() *responseUsage {
	if u == nil {
		return nil
	}
	out := &responseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if out.TotalTokens == 0 {
		out.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if d := u.PromptTokensDetails; d != nil {
		out.InputTokensDetails.CachedTokens = d.CachedTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.OutputTokensDetails.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// Output item kinds.
type itemKind uint8

const (
	kindMessage itemKind = iota
	kindCall
	kindReasoning
)

// outItem is an output item being built. Texts are kept JSON-escaped (the inside of a JSON string, as
// rawjson.AppendStringContents writes it), so a stream's deltas are never decoded.
type outItem struct {
	kind   itemKind
	id     string
	index  int
	status string
	open   bool
	// parts are a message's content parts (one text for reasoning); partOpen is set while the last
	// one still takes deltas.
	parts    []outPart
	partOpen bool
	callID   string
	name     string
	args     []byte
}

type outPart struct {
	refusal bool
	text    []byte
}

// quoted returns the escaped string contents s as a JSON string.
func quoted(s []byte) json.RawMessage {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var emptyList = []json.RawMessage{}

type textPartOut struct {
	Type        string            `json:"type"`
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []json.RawMessage `json:"logprobs"`
	Text        json.RawMessage   `json:"text"`
}

type refusalPartOut struct {
	Type    string          `json:"type"`
	Refusal json.RawMessage `json:"refusal"`
}

type reasoningTextOut struct {
	Type string          `json:"type"`
	Text json.RawMessage `json:"text"`
}

type messageOut struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type callOut struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Arguments json.RawMessage `json:"arguments"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
}

type reasoningOut struct {
	ID      string             `json:"id"`
	Type    string             `json:"type"`
	Summary []json.RawMessage  `json:"summary"`
	Content []reasoningTextOut `json:"content"`
}

func (p *outPart) object() any {
	if p.refusal {
		return refusalPartOut{Type: "refusal", Refusal: quoted(p.text)}
	}
	return textPartOut{Type: "output_text", Annotations: emptyList, Logprobs: emptyList, Text: quoted(p.text)}
}

// object returns the item as the API shows it.
func (it *outItem) object() any {
	switch it.kind {
	case kindCall:
		return callOut{ID: it.id, Type: "function_call", Status: it.status, Arguments: quoted(it.args), CallID: it.callID, Name: it.name}
	case kindReasoning:
		content := []reasoningTextOut{{Type: "reasoning_text", Text: quoted(nil)}}
		if len(it.parts) > 0 {
			content[0].Text = quoted(it.parts[0].text)
		}
		return reasoningOut{ID: it.id, Type: "reasoning", Summary: emptyList, Content: content}
	}
	content := make([]any, len(it.parts))
	for i := range it.parts {
		content[i] = it.parts[i].object()
	}
	return messageOut{ID: it.id, Type: "message", Status: it.status, Role: "assistant", Content: content}
}

// appendJSON appends v's JSON to dst as encoding/json writes it without HTML escaping: the texts copied
// from a stream are not HTML-escaped either, so the deltas and the final text agree byte for byte.
func appendJSON(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encoding %T: %w", v, err)
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode's newline
}

// escape returns s JSON-escaped, without quotes.
func escape(s string) []byte {
	b, _ := appendJSON(nil, s)
	return b[1 : len(b)-1]
}

// object returns the response in status, with the output items built so far.
func (t *translator) object(status string) *responseObject {
	tr, r := t.tr, t.tr.req
	obj := &responseObject{
		ID: t.id, Object: "response", CreatedAt: t.created, Status: status, Instructions: tr.instructions,
		MaxOutputTokens: r.MaxOutputTokens, Model: tr.model, Output: make([]any, 0, len(t.items)),
		ParallelToolCalls: r.ParallelToolCalls == nil || *r.ParallelToolCalls, PreviousResponseID: r.PreviousResponseID,
		Store: tr.store, Temperature: r.Temperature, Text: tr.text, ToolChoice: tr.toolChoice, Tools: tr.tools,
		TopP: r.TopP, Truncation: "disabled", User: r.User, Metadata: tr.metadata,
	}
	if r.Reasoning != nil {
		obj.Reasoning = reasoningEcho{Effort: r.Reasoning.Effort, Summary: r.Reasoning.Summary}
	}
	if obj.PreviousResponseID != nil && *obj.PreviousResponseID == "" {
		obj.PreviousResponseID = nil
	}
	if isNull(obj.ToolChoice) {
		obj.ToolChoice = json.RawMessage(`"auto"`)
	}
	if obj.Tools == nil {
		obj.Tools = emptyList
	}
	if isNull(obj.Metadata) {
		obj.Metadata = json.RawMessage(`{}`)
	}
	if status == statusInProgress {
		return obj
	}
	for _, it := range t.items {
		obj.Output = append(obj.Output, it.object())
	}
	obj.Usage = t.usage.responses()
	return obj
}

// finalStatus is the status a finished answer gets from its finish reason.
func finalStatus(finish string) (string, *incompleteDetails) {
	switch finish {
	case "length":
		return statusIncomplete, &incompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		return statusIncomplete, &incompleteDetails{Reason: "content_filter"}
	}
	return statusCompleted, nil
}

// final returns the finished response's JSON, stored first unless the request said store: false. A
// response that could not be stored (too large, store unavailable) says "store": false: it cannot be
// continued, and the client must know to resend its history.
func (t *translator) final() ([]byte, string, error) {
	status, details := finalStatus(t.finish)
	obj := t.object(status)
	obj.IncompleteDetails = details
	out, err := t.appendJSON(nil, obj)
	if err != nil || !obj.Store {
		return out, status, err
	}
	rec := &Record{Response: out, Inputs: len(t.tr.history) + len(t.tr.input), Owner: t.tr.owner, Created: t.now}
	rec.Conversation = make([]json.RawMessage, 0, len(t.tr.history)+len(t.tr.input)+len(t.items))
	rec.Conversation = append(rec.Conversation, t.tr.history...)
	rec.Conversation = append(rec.Conversation, t.tr.input...)
	for _, it := range t.items {
		b, err := t.appendJSON(nil, it.object())
		if err != nil {
			return nil, status, err
		}
		rec.Conversation = append(rec.Conversation, b)
	}
	if rec.size() <= MaxRecordBytes && t.o.store.Put(t.ctx, t.id, rec) == nil {
		return out, status, nil
	}
	obj.Store = false
	out, err = t.appendJSON(nil, obj)
	return out, status, err
}

// chatCompletion is what a non-streamed chat answer holds for the translation.
type chatCompletion struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Refusal          json.RawMessage `json:"refusal"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string          `json:"name"`
					Arguments json.RawMessage `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *chatUsage `json:"usage"`
}

// contentText returns a message content's text, escaped: a string, or the text of its parts.
func contentText(raw json.RawMessage) []byte {
	if s, ok := rawjson.String(bytes.TrimSpace(raw)); ok {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	var out []byte
	for _, p := range parts {
		out = append(out, escape(p.Text)...)
	}
	return out
}

// apply feeds a whole chat completion to the translator, as one stream event of each kind would.
func (t *translator) apply(cc *chatCompletion) error {
	if cc.Usage != nil {
		t.usage = cc.Usage
	}
	for i := range cc.Choices {
		ch := &cc.Choices[i]
		if ch.Index != 0 {
			continue
		}
		m := &ch.Message
		if err := t.reasoningDelta(contentText(m.ReasoningContent)); err != nil {
			return err
		}
		text := contentText(m.Content)
		refusal := contentText(m.Refusal)
		if len(text) > 0 || len(refusal) > 0 || len(m.ToolCalls) == 0 {
			if err := t.openMessage(); err != nil {
				return err
			}
		}
		if err := t.textDelta(text); err != nil {
			return err
		}
		if err := t.refusalDelta(refusal); err != nil {
			return err
		}
		for j, tc := range m.ToolCalls {
			args, _ := rawjson.String(bytes.TrimSpace(tc.Function.Arguments))
			if err := t.callDelta(j, tc.ID, tc.Function.Name, args); err != nil {
				return err
			}
		}
		t.finish = ch.FinishReason
		if t.finish == "" {
			t.finish = "stop"
		}
	}
	return nil
}

// complete translates a non-streamed chat answer into a response object.
func (o *provider) complete(ctx context.Context, tr *translation, resp *inference.Response) (*inference.Response, error) {
	cc, err := o.readCompletion(resp)
	if err != nil {
		return nil, err
	}
	t := o.newTranslator(ctx, tr, nil)
	defer t.release()
	if err := t.apply(cc); err != nil {
		return nil, err
	}
	if err := t.closeAll(); err != nil {
		return nil, err
	}
	out, _, err := t.final()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if resp.Header != nil {
		h = resp.Header.Clone()
	}
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "application/json")
	return &inference.Response{Status: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(out))}, nil
}

func (o *provider) readCompletion(resp *inference.Response) (*chatCompletion, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxChatBody+1))
	if err != nil {
		return nil, &inference.ProviderError{Provider: o.p.Name(), Status: http.StatusBadGateway, Type: "api_error",
			Message: "reading the provider's answer failed", Retryable: true, Cause: err}
	}
	if len(body) > maxChatBody {
		return nil, &inference.ProviderError{Provider: o.p.Name(), Status: http.StatusBadGateway, Type: "api_error",
			Message: "the provider's answer is too large to translate"}
	}
	var cc chatCompletion
	if err := json.Unmarshal(body, &cc); err != nil {
		return nil, &inference.ProviderError{Provider: o.p.Name(), Status: http.StatusBadGateway, Type: "api_error",
			Message: "the provider's answer is not a chat completion", Cause: err}
	}
	return &cc, nil
}
