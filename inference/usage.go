// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"encoding/json"

	"github.com/tidwall/gjson"
)

// Usage sources.
const (
	UsageSourceProvider  = "provider"
	UsageSourceTokenizer = "tokenizer"
)

// Bounds on what the Engine keeps of a body to find its usage: a response larger than this is still
// passed through whole, but its usage is then counted from the request only.
const (
	maxUsageCapture = 4 << 20 // non-streamed response bodies
	maxStreamText   = 1 << 20 // streamed text awaiting a decision, counted and dropped when full
)

// usageEndpoints are the endpoints whose responses carry token usage.
var usageEndpoints = map[string]bool{
	EndpointChat: true, EndpointCompletions: true, EndpointEmbeddings: true, EndpointResponses: true,
	EndpointMessages: true,
}

// boundedBuffer keeps the first max bytes written to it and silently drops the rest, so it can sit in an
// io.TeeReader without ever failing the copy to the client.
type boundedBuffer struct {
	buf       []byte
	max       int
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// parseUsage reads a usage object: chat, completions and embeddings report prompt_tokens and
// completion_tokens, the Responses API and Anthropic's Messages API input_tokens and output_tokens. The
// Messages API counts prompt tokens read from or written to its cache apart from input_tokens; they are
// prompt tokens all the same, and a token limit must see them.
func parseUsage(u gjson.Result) (Usage, bool) {
	if !u.IsObject() {
		return Usage{}, false
	}
	var out Usage
	p, c := u.Get("prompt_tokens"), u.Get("completion_tokens")
	if !p.Exists() && !c.Exists() {
		p, c = u.Get("input_tokens"), u.Get("output_tokens")
	}
	if !p.Exists() && !c.Exists() {
		return Usage{}, false
	}
	out.PromptTokens, out.CompletionTokens = p.Int(), c.Int()
	out.PromptTokens += u.Get("cache_creation_input_tokens").Int() + u.Get("cache_read_input_tokens").Int()
	out.TotalTokens = u.Get("total_tokens").Int()
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	out.Source = UsageSourceProvider
	return out, true
}

// usageFromBody finds the usage of a complete JSON response body.
func usageFromBody(body []byte) (Usage, bool) {
	if !gjson.ValidBytes(body) {
		return Usage{}, false
	}
	return parseUsage(gjson.GetBytes(body, "usage"))
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// hasNonEmptyString reports whether ev has key (quoted, e.g. `"content"`) followed by a non-empty string
// value. It is the cheap test for the first token of a stream and does not allocate.
func hasNonEmptyString(ev, key []byte) bool {
	for {
		i := bytes.Index(ev, key)
		if i < 0 {
			return false
		}
		ev = ev[i+len(key):]
		j := skipSpace(ev, 0)
		if j < len(ev) && ev[j] == ':' {
			j = skipSpace(ev, j+1)
			if j+1 < len(ev) && ev[j] == '"' && ev[j+1] != '"' {
				return true
			}
		}
	}
}

// tokenKeys are the string fields whose first non-empty value marks the first token of a stream: chat
// content and reasoning, tool-call arguments, legacy completions text, Responses API deltas, and the
// Messages API's text, tool input and thinking deltas.
var tokenKeys = [][]byte{
	[]byte(`"content"`), []byte(`"reasoning_content"`), []byte(`"arguments"`), []byte(`"text"`), []byte(`"delta"`),
	[]byte(`"partial_json"`), []byte(`"thinking"`),
}

func hasFirstToken(ev []byte) bool {
	for _, k := range tokenKeys {
		if hasNonEmptyString(ev, k) {
			return true
		}
	}
	return false
}

// eventData returns the data of an SSE event: its "data:" lines joined with "\n" (per the SSE spec),
// without the field name and its optional single space.
func eventData(ev []byte) []byte {
	var out []byte
	n := 0
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			ev = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if !bytes.HasPrefix(line, []byte("data:")) {
			continue
		}
		line = line[len("data:"):]
		if len(line) > 0 && line[0] == ' ' {
			line = line[1:]
		}
		if n > 0 {
			out = append(out, '\n')
		}
		out = append(out, line...)
		n++
	}
	return out
}

// tokenCounter sums the tokens of separate texts (messages, parts, choices), each counted on its own:
// concatenating them would merge words across boundaries and add separator tokens.
type tokenCounter struct {
	model string
	n     int64
}

func (c *tokenCounter) add(s string) { c.n += CountTokens(c.model, s) }

// promptTokens counts the prompt of a JSON request body with the tokenizer, for providers that report no
// usage.
func promptTokens(model, endpoint string, body []byte) int64 {
	if len(body) == 0 || !gjson.ValidBytes(body) {
		return 0
	}
	root := gjson.ParseBytes(body)
	c := &tokenCounter{model: model}
	switch endpoint {
	case EndpointChat:
		msgs := root.Get("messages").Array()
		for _, m := range msgs {
			addContent(c, m.Get("content"))
			c.add(m.Get("name").String())
			m.Get("tool_calls.#.function.arguments").ForEach(func(_, a gjson.Result) bool {
				c.add(a.String())
				return true
			})
		}
		// OpenAI's documented overhead: 3 tokens per message for the role framing, 3 priming the reply.
		if len(msgs) > 0 {
			c.n += int64(3*len(msgs) + 3)
		}
	case EndpointResponses:
		c.add(root.Get("instructions").String())
		in := root.Get("input")
		if in.Type == gjson.String {
			c.add(in.Str)
		} else {
			in.ForEach(func(_, m gjson.Result) bool {
				addContent(c, m.Get("content"))
				return true
			})
		}
	case EndpointCompletions, EndpointEmbeddings, EndpointModerations:
		key := "input"
		if endpoint == EndpointCompletions {
			key = "prompt"
		}
		v := root.Get(key)
		if !v.IsArray() {
			c.add(v.String())
			break
		}
		v.ForEach(func(_, x gjson.Result) bool {
			switch {
			case x.Type == gjson.String:
				c.add(x.Str)
			case x.Type == gjson.Number:
				c.n++ // a pre-tokenized input: one token per ID
			case x.IsArray():
				c.n += int64(len(x.Array()))
			}
			return true
		})
	}
	return c.n
}

// addContent counts the text of a message content.
func addContent(c *tokenCounter, v gjson.Result) { forEachContentText(v, c.add) }

// forEachContentText calls fn with the text of a message content: a string, or an array of parts of
// which the text parts count ({"type":"text","text":…}, {"type":"input_text",…}, {"type":"output_text",…}).
func forEachContentText(v gjson.Result, fn func(string)) {
	if v.Type == gjson.String {
		fn(v.Str)
		return
	}
	v.ForEach(func(_, p gjson.Result) bool {
		if t := p.Get("text"); t.Type == gjson.String {
			fn(t.Str)
		}
		return true
	})
}

// completionTokens counts the generated text of a complete JSON response (chat, completions,
// responses).
func completionTokens(model string, body []byte) int64 {
	c := &tokenCounter{model: model}
	forEachCompletionText(body, c.add)
	return c.n
}

// forEachCompletionText calls fn with each generated text of a complete JSON response (chat,
// completions, responses): choices' text, message content, reasoning and tool-call arguments, and the
// Responses API's output content and arguments. Each text is passed on its own, so a counter can count
// them apart.
func forEachCompletionText(body []byte, fn func(string)) {
	if !gjson.ValidBytes(body) {
		return
	}
	root := gjson.ParseBytes(body)
	root.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		fn(ch.Get("text").String())
		forEachContentText(ch.Get("message.content"), fn)
		fn(ch.Get("message.reasoning_content").String())
		ch.Get("message.tool_calls.#.function.arguments").ForEach(func(_, a gjson.Result) bool {
			fn(a.String())
			return true
		})
		return true
	})
	root.Get("output").ForEach(func(_, o gjson.Result) bool {
		forEachContentText(o.Get("content"), fn)
		fn(o.Get("arguments").String())
		return true
	})
}

// appendTokenText appends to dst the raw (still JSON-escaped) string values of the generated-text keys
// of one streamed event (tokenKeys): chat content, reasoning and tool-call arguments, legacy completions
// text, Responses API deltas. It is one pass over the event's bytes from quote to quote, never decoding
// JSON: a string followed by a colon is a key, and a key of tokenKeys followed by a string value has that
// value appended; every other string is skipped whole, so text inside values is never taken for a key.
// It does not allocate beyond dst's growth.
func appendTokenText(dst, ev []byte) []byte {
	dst, _ = scanEvent(dst, ev)
	return dst
}

// scanEvent is appendTokenText that also reports, in the same pass, whether the event has a "usage" key whose
// value is an object. OpenAI sends "usage":null in every chunk of a stream with include_usage and the
// object only in the last, so this is the cheap test for the one event worth decoding.
func scanEvent(dst, ev []byte) (_ []byte, usage bool) {
	for i := 0; ; {
		q := bytes.IndexByte(ev[i:], '"')
		if q < 0 {
			return dst, usage
		}
		start := i + q + 1
		end := stringEnd(ev, start)
		if end < 0 {
			return dst, usage
		}
		i = end + 1
		j := skipSpace(ev, i)
		if j >= len(ev) || ev[j] != ':' {
			continue // a value, not a key
		}
		j = skipSpace(ev, j+1)
		if j >= len(ev) || ev[j] != '"' {
			if j < len(ev) && ev[j] == '{' && string(ev[start:end]) == "usage" {
				usage = true
			}
			i = j
			continue
		}
		vend := stringEnd(ev, j+1)
		if vend < 0 {
			return dst, usage
		}
		if isTokenKey(ev[start:end]) {
			dst = append(dst, ev[j+1:vend]...)
		}
		i = vend + 1
	}
}

// isTokenKey reports whether key (unquoted) is one of tokenKeys.
func isTokenKey(key []byte) bool {
	switch string(key) { // no allocation: the compiler compares in place
	case "content", "reasoning_content", "arguments", "text", "delta", "partial_json", "thinking":
		return true
	}
	return false
}

// stringEnd returns the index of the quote closing the JSON string that starts at b[i], or -1.
func stringEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// countEscapedText counts the tokens of text gathered by appendTokenText.
func countEscapedText(model string, text []byte) int64 {
	if len(text) == 0 {
		return 0
	}
	return CountTokens(model, unescape(text))
}

// unescape decodes text gathered by appendTokenText (the inside of JSON strings).
func unescape(text []byte) string {
	quoted := make([]byte, 0, len(text)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, text...)
	quoted = append(quoted, '"')
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		s = string(text) // a provider's broken escape: the raw text is still a close count
	}
	return s
}

// messagesStreamUsage reads the usage of one event of a Messages API stream: message_start carries the
// prompt's count, message_delta the completion's so far (and, since 2025, the prompt's again). The
// stream's usage is known once a message_delta has come.
func messagesStreamUsage(root gjson.Result, prev Usage) (Usage, bool) {
	switch root.Get("type").Str {
	case "message_start":
		if u, ok := parseUsage(root.Get("message.usage")); ok {
			prev.PromptTokens = u.PromptTokens
		}
		return prev, false
	case "message_delta":
		u, ok := parseUsage(root.Get("usage"))
		if !ok {
			return prev, false
		}
		if u.PromptTokens == 0 {
			u.PromptTokens = prev.PromptTokens
		}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
		return u, true
	}
	return prev, false
}
