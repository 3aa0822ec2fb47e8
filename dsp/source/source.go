// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"fmt"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// DefaultMaxSize is the default cap of a manifest document, from any source (the dsp app's
// max_manifest_size). The largest Control Tower example is ~40 KiB; 4 MiB holds ~16 000 routes. A 40 000-route
// manifest (~10 MB) costs seconds and about a gigabyte to compile, so a larger one must be asked for.
const DefaultMaxSize = 4 << 20

// Source produces manifests. Implementations must be safe for concurrent use.
type Source interface {
	// Name identifies the kind of source in status output and logs: "file" or "control_tower".
	Name() string
	// Fetch returns the manifest JSON of project id: resolved, unless the source implements Resolving.
	// Errors wrap ErrNotFound when the project does not exist, manifest.ErrInvalid when the document is not a
	// manifest at all (ErrTooLarge too), and ErrUnavailable otherwise.
	Fetch(ctx context.Context, id string) ([]byte, error)
	// List returns the ids of every project the source knows, for Resolver.Sync.
	List(ctx context.Context) ([]string, error)
}

// Resolving is implemented by a Source whose Fetch returns documents before resolution (FileSource: the
// environment passes and secret references run in FD2). The Resolver stores that unresolved form in Redis
// and last-good and calls Resolve after every load, from whichever tier, so no secret FD2 resolved itself
// is ever at rest. A Source without it serves resolved documents (the Control Tower, asked with
// resolve_env=true: everything it serves counts as resolved), which are stored only sealed under
// Config.CacheKey.
type Resolving interface {
	// Resolve turns a fetched document into the one served. Errors wrap manifest.ErrInvalid for a bad
	// document or reference, ErrUnavailable when a secret backend is down.
	Resolve(ctx context.Context, id string, doc []byte) ([]byte, error)
}

// tooLarge is the error of a document of size bytes over max.
func tooLarge(size, max int64) error {
	return fmt.Errorf("%w: the document is %d bytes, over max_manifest_size (%d bytes): %w", ErrTooLarge, size, max, manifest.ErrInvalid)
}
