// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package manifest holds the DSP Control Tower ProjectManifest schema, its lenient decoding, validation and the
// Control Tower's environment-resolution algorithm (the ${environments…}, ${environment} and ${VAR} passes).
//
// Decoding accepts both shapes a manifest reaches FD2 in: the raw files of the Control Tower's manifests/
// directory and the pydantic-normalised JSON that GET /manifests/{id} serves (nulls for absent fields,
// defaults filled in, unknown keys dropped). Unknown keys are ignored, nulls decode to zero values, and
// APISIX plugin lists are accepted wherever plugin maps are.
//
// This package never imports Caddy.
package manifest
