// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package moduletypes holds the manifest module types FD2 serves by forwarding to a platform service that
// needs no more than a broker: `dsp.modules.jwt_config` (the token broker in front of the DSP JWT
// service). inference_endpoint lives with the inference module (package openaiproxy), rag_service and
// model_server with the RAG module (package ragproxy). Each is a Caddy module of the dsp.modules namespace
// (see docs/modules.md).
package moduletypes
