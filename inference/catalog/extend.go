// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package catalog

import (
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/messages"
	"github.com/dsp-ai/fd2/inference/responses"
)

// Extend gives a provider the client-facing APIs its own wire format lacks, by translation: Anthropic's
// Messages API for every provider that does not speak it (package messages), and the Responses API, with
// FD2's store for its conversations, for every provider but the OpenAI-compatible ones, which keep
// responses themselves (package responses). Every engine builds its deployments through Extend, whatever
// built the provider (the catalog, or a third-party dsp.providers module).
func Extend(p inference.Provider, store responses.Store) inference.Provider {
	switch p.Kind() {
	case "openai", "azure":
	default:
		p = responses.Over(p, store)
	}
	return messages.Over(p)
}
