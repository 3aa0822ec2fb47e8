// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"encoding/json"
	"io"
	"strconv"

	"github.com/dsp-ai/fd2/inference/internal/rawjson"
)

// The fast path translates the events that make up nearly all of a stream, candidates with text parts
// (and usageMetadata, and a finishReason), without encoding/json: it reads the few fields it needs from
// the event's bytes and writes each chunk around the stream's chunk prefix, copying the text as it came
// (see rawjson.AppendString). Its output is byte for byte what event's decoding path writes for the
// same event; an event with function calls, media, an error, a prompt block or anything the fast path
// cannot be sure about is left to that path.

// The JSON names of gmResponse's, gmCandidate's, its content's, gmPart's and gmUsage's fields, in the
// order rawjson.Field reports them.
var (
	responseFields  = []string{"candidates", "usageMetadata", "promptFeedback", "error"}
	candidateFields = []string{"content", "finishReason", "index"}
	contentFields   = []string{"parts"}
	partFields      = []string{"text", "thought", "inlineData", "fileData", "functionCall", "functionResponse"}
	usageFields     = []string{"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount"}
)

// maxFastCandidates bounds the candidates of an event the fast path takes (n > 4 is rare).
const maxFastCandidates = 4

// fastCandidate is what the fast path reads of a candidate: its parts are walked again when writing.
type fastCandidate struct {
	index  int
	parts  []byte // raw array, nil without content
	finish []byte // finishReason's contents, nil if absent
}

// fastEvent translates data if json.Unmarshal would decode it without error into a gmResponse with
// no error, no promptFeedback and only text parts; it reports whether it did. Nothing is written or
// changed unless the whole event qualifies, so the decoding path can take over any event.
func (t *streamTranslator) fastEvent(data []byte, w io.Writer) (ok bool, err error) {
	if !rawjson.Valid(data) {
		return false, nil
	}
	m, ok := rawjson.Object(data)
	if !ok {
		return false, nil
	}
	var cands, use []byte
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, responseFields)
		switch {
		case !ok:
			return false, nil
		case f < 0:
			continue
		case f == 0 && cands == nil:
			cands = val
		case f == 1 && use == nil:
			use = val
		default:
			return false, nil // promptFeedback, error, or a duplicate (encoding/json keeps the last)
		}
	}
	var cs [maxFastCandidates]fastCandidate
	n := 0
	if cands != nil {
		arr, ok := rawjson.Array(cands)
		if !ok {
			return false, nil
		}
		for {
			v, ok := arr.Next()
			if !ok {
				break
			}
			if n == len(cs) || !readCandidate(v, &cs[n]) {
				return false, nil
			}
			n++
		}
	}
	var u gmUsage
	if use != nil && !readUsage(use, &u) {
		return false, nil
	}

	if use != nil {
		t.usageBuf = u
		t.usage = &t.usageBuf
	}
	for i := range n {
		if err := t.fastCandidate(&cs[i], w); err != nil {
			return true, err
		}
	}
	return true, nil
}

// readCandidate reads a candidate whose parts are all text into c; ok is false for any other.
func readCandidate(v []byte, c *fastCandidate) bool {
	m, ok := rawjson.Object(v)
	if !ok {
		return false
	}
	var content, index []byte
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, candidateFields)
		switch {
		case !ok:
			return false
		case f < 0:
			continue
		case f == 0 && content == nil:
			content = val
		case f == 1 && c.finish == nil:
			s, ok := rawjson.String(val)
			if !ok || hasEscape(s) {
				return false
			}
			c.finish = s
		case f == 2 && index == nil:
			n, ok := rawjson.Int(val)
			if !ok || int64(int(n)) != n {
				return false
			}
			index, c.index = val, int(n)
		default:
			return false
		}
	}
	if content == nil {
		return true
	}
	cm, ok := rawjson.Object(content)
	if !ok {
		return false
	}
	for {
		key, val, ok := cm.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, contentFields)
		switch {
		case !ok:
			return false
		case f < 0:
			continue
		case c.parts != nil:
			return false
		}
		c.parts = val
		parts, ok := rawjson.Array(val)
		if !ok {
			return false
		}
		for {
			p, ok := parts.Next()
			if !ok {
				break
			}
			if _, _, ok := readPart(p); !ok {
				return false
			}
		}
	}
	return true
}

// readPart reads a part that has no more than text and thought; ok is false for any other.
func readPart(v []byte) (text []byte, thought, ok bool) {
	m, ok := rawjson.Object(v)
	if !ok {
		return nil, false, false
	}
	var seenThought bool
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, partFields)
		switch {
		case !ok:
			return nil, false, false
		case f < 0:
			continue
		case f == 0 && text == nil:
			if text, ok = rawjson.String(val); !ok {
				return nil, false, false
			}
		case f == 1 && !seenThought:
			if thought, ok = rawjson.Bool(val); !ok {
				return nil, false, false
			}
			seenThought = true
		default:
			return nil, false, false // media or a function call or response, or a duplicate
		}
	}
	return text, thought, true
}

// readUsage reads usageMetadata into u; ok is false unless every count is a plain integer.
func readUsage(v []byte, u *gmUsage) bool {
	m, ok := rawjson.Object(v)
	if !ok {
		return false
	}
	var seen [4]bool
	for {
		key, val, ok := m.Next()
		if !ok {
			break
		}
		f, ok := rawjson.Field(key, usageFields)
		if !ok {
			return false
		}
		if f < 0 {
			continue
		}
		n, ok := rawjson.Int(val)
		if !ok || seen[f] {
			return false
		}
		seen[f] = true
		switch f {
		case 0:
			u.PromptTokenCount = n
		case 1:
			u.CandidatesTokenCount = n
		case 2:
			u.ThoughtsTokenCount = n
		case 3:
			u.TotalTokenCount = n
		}
	}
	return true
}

// fastCandidate writes a text candidate's chunks as event does: the text (or the choice's role chunk),
// then its finish chunk.
func (t *streamTranslator) fastCandidate(c *fastCandidate, w io.Writer) error {
	st := t.choices[c.index]
	if st == nil {
		st = &choiceState{}
		t.choices[c.index] = st
	}
	b := t.chunkPrefix(c.index)
	b = append(b, `,"delta":{`...)
	if !st.roleSent {
		b = append(b, `"role":"assistant",`...)
	}
	b = append(b, `"content":"`...)
	empty := len(b)
	if parts, ok := rawjson.Array(c.parts); ok {
		for {
			p, ok := parts.Next()
			if !ok {
				break
			}
			if text, thought, _ := readPart(p); !thought {
				b = rawjson.AppendStringContents(b, text, true)
			}
		}
	}
	if len(b) > empty || !st.roleSent {
		st.roleSent = true
		if err := t.send(append(b, "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...), w); err != nil {
			return err
		}
	} else {
		t.buf = b // kept for its capacity
	}
	if c.finish == nil {
		return nil
	}
	if fr := finishReason(string(c.finish), st.toolCalls > 0); fr != "" && !st.finished {
		st.finished = true
		b := append(t.chunkPrefix(c.index), `,"delta":{},"logprobs":null,"finish_reason":`...)
		b = strconv.AppendQuote(b, fr) // a fixed, plain word
		return t.send(append(b, "}]}\n\n"...), w)
	}
	return nil
}

// chunkPrefix starts a chunk in t.buf, up to the choice's index, as writeEvent encodes it.
func (t *streamTranslator) chunkPrefix(index int) []byte {
	if t.prefix == nil {
		id, _ := json.Marshal(t.id) // strings always encode
		model, _ := json.Marshal(t.model)
		p := append([]byte(`data: {"id":`), id...)
		p = append(p, `,"object":"chat.completion.chunk","created":`...)
		p = strconv.AppendInt(p, t.created, 10)
		p = append(p, `,"model":`...)
		p = append(p, model...)
		t.prefix = append(p, `,"choices":[{"index":`...)
	}
	b := append(t.buf[:0], t.prefix...)
	return strconv.AppendInt(b, int64(index), 10)
}

// send writes one chunk in a single Write, as writeEvent does, and keeps its buffer for the next.
func (t *streamTranslator) send(b []byte, w io.Writer) error {
	t.buf = b
	_, err := w.Write(b)
	return err
}

func hasEscape(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}
