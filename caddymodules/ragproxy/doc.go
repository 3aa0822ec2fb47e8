// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package ragproxy is the Caddy glue of FD2's RAG module (the logic is in the Caddy-free packages rag and
// rag/modelserver):
//   - `dsp.modules.rag_service` and `dsp.modules.model_server`, the manifest module types fronting the
//     DSP RAG service (RAG2) and its model server;
//   - `dsp_rag`, the same front for a static Caddyfile site;
//   - Retrieval, the `retrieval` block of dsp_openai and of inference_endpoint modules (retrieval-augmented
//     chat at the gateway), used by package openaiproxy.
package ragproxy
