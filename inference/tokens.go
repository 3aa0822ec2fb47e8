// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"strings"
	"sync"

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
