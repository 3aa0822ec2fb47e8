// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// FileSource serves the manifests of a directory laid out like the Control Tower's manifests/ directory:
// project id is the file stem of DIR/<id>.json (not the project_id inside the file, exactly as in the
// Control Tower). Because nothing resolves these files upstream, FileSource resolves them itself (Resolve:
// manifest.ResolveEnv with Env and Secrets), so it serves the same document the Control Tower would with
// resolve_env=true. Fetch returns the file as written: the Resolver keeps only that form at rest.
//
// A file is read again only when its size or modification time changed, and a re-read file whose bytes did
// not change is the same document: with `refresh 2s` an idle gateway used to re-read and re-resolve an
// unchanged 10 MB file every tick (issue 12 item 12).
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
	// MaxSize caps a manifest file, in bytes; a larger one is ErrTooLarge. Default DefaultMaxSize.
	MaxSize int64

	mu    sync.Mutex
	files map[string]fileState
}

// fileState is what Fetch last read of a file.
type fileState struct {
	size int64
	mod  time.Time
	raw  []byte
}

// Name returns "file".
func (*FileSource) Name() string { return "file" }

// Fetch reads DIR/<id>.json. An invalid id is ErrNotFound before any file system access, so no id can reach
// outside Dir. A missing file is ErrNotFound, but a missing Dir is ErrUnavailable: an unmounted volume must
// not look like every project being deleted (which would wipe the last-good copies).
func (f *FileSource) Fetch(_ context.Context, id string) ([]byte, error) {
	if !manifest.ValidProjectID(id) {
		return nil, fmt.Errorf("reading manifest %q: invalid project id: %w", id, ErrNotFound)
	}
	fsys := f.fsys()
	name := id + ".json" // id is checked by manifest.ValidProjectID
	st, err := fs.Stat(fsys, name)
	if err != nil {
		f.forget(id)
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := fs.Stat(fsys, "."); derr != nil {
				return nil, fmt.Errorf("reading manifest %q: %w: %w", id, ErrUnavailable, derr)
			}
			return nil, fmt.Errorf("reading manifest %q: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("reading manifest %q: %w: %w", id, ErrUnavailable, err)
	}
	max := f.maxSize()
	if st.Size() > max {
		f.forget(id)
		return nil, fmt.Errorf("reading manifest %q: %w", id, tooLarge(st.Size(), max))
	}
	f.mu.Lock()
	old, ok := f.files[id]
	f.mu.Unlock()
	if ok && old.size == st.Size() && old.mod.Equal(st.ModTime()) && !st.ModTime().IsZero() {
		return old.raw, nil
	}
	raw, err := readCapped(fsys, name, max)
	if err != nil {
		if errors.Is(err, ErrTooLarge) { // grew between Stat and read
			return nil, fmt.Errorf("reading manifest %q: %w", id, err)
		}
		return nil, fmt.Errorf("reading manifest %q: %w: %w", id, ErrUnavailable, err)
	}
	if ok && bytes.Equal(old.raw, raw) {
		raw = old.raw // touched, not changed: hand out the same document
	}
	f.mu.Lock()
	if f.files == nil {
		f.files = make(map[string]fileState)
	}
	f.files[id] = fileState{size: st.Size(), mod: st.ModTime(), raw: raw}
	f.mu.Unlock()
	return raw, nil
}

func (f *FileSource) forget(id string) {
	f.mu.Lock()
	delete(f.files, id)
	f.mu.Unlock()
}

// Resolve applies the Control Tower's resolve_env=true algorithm to a fetched document: the environment
// passes and, for a manifest with a vault module, its secret references.
func (f *FileSource) Resolve(ctx context.Context, id string, raw []byte) ([]byte, error) {
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

func (f *FileSource) maxSize() int64 {
	if f.MaxSize > 0 {
		return f.MaxSize
	}
	return DefaultMaxSize
}

func readCapped(fsys fs.FS, name string, max int64) ([]byte, error) {
	file, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, tooLarge(int64(len(b)), max)
	}
	return b, nil
}

var _ Resolving = (*FileSource)(nil)
