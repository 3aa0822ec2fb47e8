// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package defaultmanifests_test

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/source"
	"github.com/dsp-ai/fd2/internal/defaultmanifests"
)

// TestEmbeddedManifests checks that the binary carries exactly the manifests of this directory (the files
// Caddyfile.example serves from disk) and that each one loads through the file source, as the dsp app's
// default source loads it, into a valid manifest of the project its file names.
func TestEmbeddedManifests(t *testing.T) {
	embedded, err := fs.Glob(defaultmanifests.FS(), "*")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := fs.Glob(os.DirFS("."), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(embedded, onDisk) || !slices.Contains(embedded, "demo.json") {
		t.Fatalf("embedded %v, directory %v: want the same files, demo.json among them", embedded, onDisk)
	}
	ctx := context.Background()
	src := &source.FileSource{FS: defaultmanifests.FS()}
	ids, err := src.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(embedded) {
		t.Fatalf("the file source lists %v for files %v", ids, embedded)
	}
	for _, id := range ids {
		raw, err := src.Fetch(ctx, id)
		if err != nil {
			t.Fatalf("fetching %s: %v", id, err)
		}
		if raw, err = src.Resolve(ctx, id, raw); err != nil {
			t.Fatalf("resolving %s: %v", id, err)
		}
		m, err := manifest.Decode(raw)
		if err != nil {
			t.Fatalf("decoding %s: %v", id, err)
		}
		if m.ProjectID != id {
			t.Errorf("%s.json holds project %q", id, m.ProjectID)
		}
	}
}
