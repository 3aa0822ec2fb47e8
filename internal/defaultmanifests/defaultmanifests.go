// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package defaultmanifests holds the demo project's manifests, the one copy of them: the dsp app serves
// them, embedded in the binary, when no `manifests` source is configured, and Caddyfile.example,
// the Docker image and the example Control Tower read the same files from this directory. It lives outside
// examples/ because production code imports it, and Go's embed cannot reach into another directory.
package defaultmanifests

import (
	"embed"
	"io/fs"
)

//go:embed *.json
var files embed.FS

// FS returns the embedded manifests as a file system of <project>.json files at its root.
func FS() fs.FS { return files }
