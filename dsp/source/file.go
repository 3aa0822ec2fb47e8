// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// FileSource serves the manifests of a directory laid out like the Control Tower's manifests/ directory:
// project id is the file stem of DIR/<id>.json (not the project_id inside the file, exactly as in the
// Control Tower). Because nothing resolves these files upstream, Fetch applies manifest.ResolveEnv with Env
// itself, so a file source serves the same document the Control Tower would with resolve_env=true.
type FileSource struct {
	// Dir is the manifest directory. Required unless FS is set.
	Dir string
	// FS, when set, is read instead of Dir (FD2 embeds its example manifests this way).
	FS fs.FS
	// Env configures environment and secret resolution (environment override, ${VAR} lookup, secret refs).
	Env manifest.EnvOptions
	// Secrets, when set, decides per manifest whether a secret manager resolves its references (the
	// Control Tower builds one only for manifests with a vault module) and returns the resolver for it,
	// plus a check run after resolution that reports the first reference that failed. A nil resolver
	// leaves references literal.
	Secrets func(ctx context.Context, id string, raw []byte) (resolve func(ref string) (string, error), check func() error)
}

// Name returns "file".
func (*FileSource) Name() string { return "file" }

// Fetch reads and resolves DIR/<id>.json. An invalid id is ErrNotFound before any file system access, so no
// id can reach outside Dir. A missing file is ErrNotFound, but a missing Dir is ErrUnavailable: an unmounted
// volume must not look like every project being deleted (which would wipe the last-good copies).
func (f *FileSource) Fetch(ctx context.Context, id string) ([]byte, error) {
	if !manifest.ValidProjectID(id) {
		return nil, fmt.Errorf("reading manifest %q: invalid project id: %w", id, ErrNotFound)
	}
	fsys := f.fsys()
	raw, err := readCapped(fsys, id+".json")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := fs.Stat(fsys, "."); derr != nil {
				return nil, fmt.Errorf("reading manifest %q: %w: %w", id, ErrUnavailable, derr)
			}
			return nil, fmt.Errorf("reading manifest %q: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("reading manifest %q: %w: %w", id, ErrUnavailable, err)
	}
	opts := f.Env
	var check func() error
	if f.Secrets != nil {
		opts.Secret, check = f.Secrets(ctx, id, raw)
	}
	out, err := manifest.ResolveEnv(raw, opts)
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		if errors.Is(err, manifest.ErrInvalid) {
			return nil, fmt.Errorf("resolving manifest %q: %w", id, err)
		}
		// Anything else is a secret backend failing (the Control Tower answers 500 here): transient.
		return nil, fmt.Errorf("resolving manifest %q: %w: %w", id, ErrUnavailable, err)
	}
	return out, nil
}

// List returns the stems of DIR/*.json that are valid project ids, sorted.
func (f *FileSource) List(context.Context) ([]string, error) {
	ents, err := fs.ReadDir(f.fsys(), ".")
	if err != nil {
		return nil, fmt.Errorf("listing manifests: %w: %w", ErrUnavailable, err)
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || !manifest.ValidProjectID(stem) {
			continue
		}
		ids = append(ids, stem)
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *FileSource) fsys() fs.FS {
	if f.FS != nil {
		return f.FS
	}
	return os.DirFS(f.Dir)
}

func readCapped(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name) // callers build name from an id checked by manifest.ValidProjectID
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("manifest larger than %d bytes", maxManifestSize)
	}
	return b, nil
}
