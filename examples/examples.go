// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package examples holds FD2's bundled example material: the manifests in manifests/ (embedded here as the
// dsp app's default source, so FD2 runs with no configuration), the fake LLM provider (fakellm) and the
// Control-Tower-compatible server (controltower).
package examples

import (
	"embed"
	"io/fs"
)

//go:embed manifests/*.json
var manifests embed.FS

// Manifests returns the bundled manifests as a file system of <project>.json files.
func Manifests() fs.FS {
	sub, err := fs.Sub(manifests, "manifests")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory exists
	}
	return sub
}
