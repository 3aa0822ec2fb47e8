// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// SourcesJSON renders sources for the answer's "sources" extension: [{"content","metadata","score"}].
func SourcesJSON(sources []Source) []byte {
	if sources == nil {
		sources = []Source{}
	}
	out, err := json.Marshal(sources)
	if err != nil {
		return []byte("[]")
	}
	return out
}

// LastUserMessage returns the text of a chat body's last user message: its string content, or the text
// parts of its content array joined by newlines. A Messages API body has the same shape, except that a
// user turn may carry only tool results: the question is then the user turn before it, so every request of
// a tool loop retrieves for the same question. Duplicated members resolve to the last, as the providers'
// parsers do.
func LastUserMessage(chatBody []byte) (string, bool) {
	var b struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(chatBody, &b) != nil {
		return "", false
	}
	for i := len(b.Messages) - 1; i >= 0; i-- {
		if b.Messages[i].Role != "user" {
			continue
		}
		text, toolResults := contentText(b.Messages[i].Content)
		if toolResults {
			continue
		}
		return text, strings.TrimSpace(text) != ""
	}
	return "", false
}

// contentText returns a message content's text, and whether the content is nothing but tool results.
func contentText(raw json.RawMessage) (text string, toolResults bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, false
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var texts []string
	toolResults = len(parts) > 0
	for _, p := range parts {
		toolResults = toolResults && p.Type == "tool_result"
		if p.Type == "text" && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), toolResults
}

// Document is one source as the template sees it.
type Document struct {
	Index    int // 1-based
	Content  string
	Metadata map[string]any
	Score    float64
}

// TemplateData is what the context template renders.
type TemplateData struct {
	Query     string
	Documents []Document
}

// Augment injects the rendered context as a new first system message. A caller's own system message is
// kept, after it: the caller's instructions then come last, so a retrieved document (untrusted text) cannot
// read as overriding them, and providers that take only one system prompt merge them in that order.
func Augment(chatBody []byte, query string, sources []Source, tmpl *template.Template) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(chatBody, &m); err != nil {
		return nil, fmt.Errorf("decoding chat body: %w", err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(m["messages"], &msgs); err != nil {
		return nil, fmt.Errorf("decoding chat messages: %w", err)
	}
	rendered, err := renderContext(query, sources, tmpl)
	if err != nil {
		return nil, err
	}
	sys, err := json.Marshal(map[string]string{"role": "system", "content": rendered})
	if err != nil {
		return nil, fmt.Errorf("encoding context message: %w", err)
	}
	out, err := json.Marshal(append([]json.RawMessage{sys}, msgs...))
	if err != nil {
		return nil, fmt.Errorf("encoding chat messages: %w", err)
	}
	m["messages"] = out
	if out, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("encoding chat body: %w", err)
	}
	return out, nil
}

// AugmentMessages is Augment for an Anthropic Messages API body, whose system prompt is the top-level
// `system` (a string or an array of text blocks): the context becomes its first text block, before the
// caller's own, which keep their cache_control and other members.
func AugmentMessages(body []byte, query string, sources []Source, tmpl *template.Template) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decoding messages body: %w", err)
	}
	var blocks []json.RawMessage
	if raw, ok := m["system"]; ok && string(raw) != "null" {
		var s string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			if s != "" {
				b, _ := json.Marshal(textBlock{Type: "text", Text: s})
				blocks = append(blocks, b)
			}
		case json.Unmarshal(raw, &blocks) == nil:
		default:
			return nil, fmt.Errorf("system must be a string or an array of text blocks")
		}
	}
	rendered, err := renderContext(query, sources, tmpl)
	if err != nil {
		return nil, err
	}
	first, err := json.Marshal(textBlock{Type: "text", Text: rendered})
	if err != nil {
		return nil, fmt.Errorf("encoding context block: %w", err)
	}
	if m["system"], err = json.Marshal(append([]json.RawMessage{first}, blocks...)); err != nil {
		return nil, fmt.Errorf("encoding system: %w", err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding messages body: %w", err)
	}
	return out, nil
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// renderContext renders the documents through the context template.
func renderContext(query string, sources []Source, tmpl *template.Template) (string, error) {
	data := TemplateData{Query: query, Documents: make([]Document, len(sources))}
	for i, s := range sources {
		var md map[string]any
		_ = json.Unmarshal(s.Metadata, &md) // a non-object renders as no metadata
		data.Documents[i] = Document{Index: i + 1, Content: s.Content, Metadata: md, Score: s.Score}
	}
	var sb strings.Builder
	if err := tmpl.Execute(&sb, data); err != nil {
		return "", fmt.Errorf("rendering retrieval template: %w", err)
	}
	return sb.String(), nil
}
