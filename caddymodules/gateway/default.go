// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/source"
	"github.com/dsp-ai/fd2/internal/defaultmanifests"
)

// defaultSource is the source used when no `manifests` line is configured: the demo manifests embedded
// in the binary, so that FD2 starts and serves the demo project with no configuration at all.
func defaultSource(env manifest.EnvOptions, maxSize int64) source.Source {
	return &source.FileSource{FS: defaultmanifests.FS(), Env: env, MaxSize: maxSize}
}
