// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"bytes"
	"strings"
	"sync"
	"unicode"

	"github.com/tidwall/gjson"
	"github.com/tiktoken-go/tokenizer"
)

// Building a codec parses a vocabulary of 100-200k entries, so each one is built once, on first use, and
// shared: Count only reads the codec and is safe for concurrent use.
var (
	o200kOnce, cl100kOnce   sync.Once
	o200kCodec, cl100kCodec tokenizer.Codec
)

// o200kPrefixes are the model families that use the o200k_base encoding; every other model is counted
// with cl100k_base, the closest approximation for non-OpenAI models too (their own tokenizers are not
// available offline, and usage counted by FD2 is only a fallback for providers that report none).
var o200kPrefixes = []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4"}

func codecFor(model string) tokenizer.Codec {
	// Azure and proxies prefix models ("openai/gpt-4o", "azure/gpt-4o"); the family is the last segment.
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.ToLower(model)
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(model, p) {
			o200kOnce.Do(func() { o200kCodec, _ = tokenizer.Get(tokenizer.O200kBase) })
			return o200kCodec
		}
	}
	cl100kOnce.Do(func() { cl100kCodec, _ = tokenizer.Get(tokenizer.Cl100kBase) })
	return cl100kCodec
}

// CountTokens returns the number of BPE tokens of text for model: o200k_base for gpt-4o*, gpt-4.1*,
// gpt-5* and the o-series, cl100k_base otherwise. It is deterministic and works offline (the
// vocabularies are embedded).
func CountTokens(model, text string) int64 {
	if text == "" {
		return 0
	}
	c := codecFor(model)
	if c == nil {
		return 0
	}
	// Count fails only in ErrorModeStrict, which FD2 never sets.
	n, _ := c.Count(text)
	return int64(n)
}

// EstimateTokens approximates the number of tokens in text as len/4 rounded up (at least 1 for non-empty
// text), OpenAI's rule of thumb for English. It is FD2's one estimate, for what must be decided before
// the real count exists: a rate limiter's reservation before the request, and a token budget while a
// stream that reports no usage is still running. CountTokens is the count after the fact; usage the
// provider reported always wins over both.
func EstimateTokens(text string) int64 {
	return estimateBytes(int64(len(text)))
}

func estimateBytes(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n + 3) / 4
}

// EstimateRequest estimates a JSON request body's prompt tokens and the completion tokens it may use:
// the prompt is EstimateTokens of its messages, prompt and input taken as raw JSON (over-counting the
// syntax, which errs on the side of reserving enough), the completion max_completion_tokens, else
// max_tokens, else defaultMax. A body that is not a JSON object counts whole as prompt. It looks the
// fields up in one scan and never decodes or validates the whole document: the limiter runs before the
// stage that does, and an invalid body is refused there (its reservation refunded).
func EstimateRequest(body []byte, defaultMax int64) (prompt, maxTokens int64) {
	maxTokens = defaultMax
	if i := bytes.IndexFunc(body, func(r rune) bool { return !unicode.IsSpace(r) }); i < 0 || body[i] != '{' {
		return EstimateTokens(string(body)), maxTokens
	}
	f := gjson.GetManyBytes(body, "max_completion_tokens", "max_tokens", "messages", "prompt", "input")
	switch {
	case f[0].Type == gjson.Number && f[0].Int() > 0:
		maxTokens = f[0].Int()
	case f[1].Type == gjson.Number && f[1].Int() > 0:
		maxTokens = f[1].Int()
	}
	n := int64(len(f[2].Raw) + len(f[3].Raw) + len(f[4].Raw))
	if n == 0 {
		n = int64(len(body))
	}
	return estimateBytes(n), maxTokens
}
