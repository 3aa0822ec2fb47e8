// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import "context"

// maxManifestSize caps a manifest document read from any source. The largest Control Tower example is
// ~40 KiB; the cap only stops a broken or hostile source from exhausting memory.
const maxManifestSize = 16 << 20

// Source produces resolved manifests. Implementations must be safe for concurrent use.
type Source interface {
	// Name identifies the kind of source in status output and logs: "file" or "control_tower".
	Name() string
	// Fetch returns the resolved manifest JSON of project id. Errors wrap ErrNotFound when the project does
	// not exist, manifest.ErrInvalid when the document is not a manifest at all, and ErrUnavailable otherwise.
	Fetch(ctx context.Context, id string) ([]byte, error)
	// List returns the ids of every project the source knows, for Resolver.Sync.
	List(ctx context.Context) ([]string, error)
}
