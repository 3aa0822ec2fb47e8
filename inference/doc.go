// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package inference is FD2's OpenAI-compatible inference module, a plain library (it never imports Caddy):
// clients speak the OpenAI API to FD2 with the official SDKs, and FD2 speaks to many providers.
//
//   - Provider (provider.go) is one deployment of an LLM API; packages openaicompat (OpenAI, Groq, Together,
//     Mistral, DeepSeek, vLLM, Ollama, Azure OpenAI), anthropic, gemini and mock implement it, translating
//     to and from the OpenAI shape where their wire format differs, streams included, event by event.
//   - Router maps model names (aliases, wildcards) to weighted deployments with fallback chains, a retry
//     budget with backoff honouring Retry-After, and a circuit breaker per deployment.
//   - Package catalog is the one provider catalog: type names and aliases (groq, azure-openai, google, …)
//     to constructors from one typed Config, used by the `dsp.providers.*` Caddy modules, manifest
//     inference_endpoint modules and APISIX ai-proxy routes alike. Package openai declares the OpenAI
//     wire types the translators share.
//   - Engine serves the OpenAI endpoints over a Router: it parses and minimally edits request bodies,
//     applies defaults, streams SSE through per event, captures usage (provider-reported, else counted
//     with an offline BPE tokenizer, CountTokens) and answers errors in the OpenAI shape.
//   - Usage is read from responses by one parser (usage.go), also behind UsageSniffer, which lets a rate
//     limiter watch responses the Engine does not produce; EstimateTokens and EstimateRequest are the one
//     estimate, for decisions taken before the count exists (token reservations, stream budgets).
package inference
