// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package moduletypes holds the manifest module types FD2 serves by forwarding to a platform service:
// `dsp.modules.jwt_config` (the token broker in front of the DSP JWT service) and
// `dsp.modules.rag_service` / `dsp.modules.model_server` (a pooled reverse proxy to the module's
// service_url). inference_endpoint lives with the inference module (package openaiproxy). Each is a
// Caddy module of the dsp.modules namespace (see docs/modules.md).
package moduletypes
