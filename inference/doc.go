// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package inference is FD2's OpenAI-compatible inference module, a plain library (it never imports Caddy):
// clients speak the OpenAI API to FD2 with the official SDKs, and FD2 speaks to many providers.
//
//   - Provider (provider.go) is one deployment of an LLM API; packages openaicompat (OpenAI, Groq, Together,
//     Mistral, DeepSeek, vLLM, Ollama, Azure OpenAI), anthropic, gemini and mock implement it, translating
//     to and from the OpenAI shape where their wire format differs, streams included, event by event.
//   - Router maps model names (aliases, wildcards) to weighted deployments with fallback chains, a retry
//     budget with backoff honouring Retry-After, and a circuit breaker per deployment.
//   - Engine serves the OpenAI endpoints over a Router: it parses and minimally edits request bodies,
//     applies defaults, streams SSE through per event, captures usage (provider-reported, else counted
//     with an offline BPE tokenizer) and answers errors in the OpenAI shape.
package inference
