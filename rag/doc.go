// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package rag is the Caddy-free core of FD2's RAG module: it fronts the DSP RAG service (RAG2) with its real
// paths, applies a rag_service module's defaults to query, retrieve and chat requests, enforces the caller's
// metadata_filter claim at the gateway (RAG2 cannot be trusted to), maps RAG2's 500-wrapped errors back to
// honest statuses, and does retrieval-augmented chat for inference routes.
package rag
