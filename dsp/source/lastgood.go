// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// LastGood is the on-disk store of the last manifest of each project that compiled, served when the source is
// down and memory is empty (a restart during an outage). Files are DIR/<id>.json, mode 0600, in a directory
// created 0700. They never hold a secret FD2 resolved: the Resolver stores a file source's documents before
// resolution and a Control Tower's sealed (see seal.go), so the store itself only moves bytes.
//
// A file's modification time is the last time the source confirmed its content: Store rewrites the file
// only when the content changed (atomically: temp file, fsync, rename) and otherwise just touches it. The
// Resolver uses that time as the entry's FetchedAt and for Config.MaxStale.
type LastGood struct {
	// Dir holds the files. Required; created on the first Store.
	Dir string
}

func (l *LastGood) path(id string) (string, error) {
	if !manifest.ValidProjectID(id) {
		return "", fmt.Errorf("invalid project id %q: %w", id, ErrNotFound)
	}
	return filepath.Join(l.Dir, id+".json"), nil
}

// Load returns the stored manifest of id and its modification time. A missing file is an error wrapping
// fs.ErrNotExist.
func (l *LastGood) Load(id string) (raw []byte, modTime time.Time, err error) {
	p, err := l.path(id)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("loading last-good manifest: %w", err)
	}
	f, err := os.Open(p) //nolint:gosec // p is built from a validated id
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("loading last-good manifest %q: %w", id, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("loading last-good manifest %q: %w", id, err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, time.Time{}, fmt.Errorf("loading last-good manifest %q: %w", id, err)
	}
	return buf.Bytes(), st.ModTime(), nil
}

// Store saves raw as the last-good manifest of id.
func (l *LastGood) Store(id string, raw []byte) error {
	p, err := l.path(id)
	if err != nil {
		return fmt.Errorf("storing last-good manifest: %w", err)
	}
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, raw) { //nolint:gosec // p is built from a validated id
		now := time.Now()
		if err := os.Chtimes(p, now, now); err != nil {
			return fmt.Errorf("touching last-good manifest %q: %w", id, err)
		}
		return nil
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return fmt.Errorf("storing last-good manifest %q: %w", id, err)
	}
	tmp, err := os.CreateTemp(l.Dir, "."+id+".*.tmp") // CreateTemp opens 0600
	if err != nil {
		return fmt.Errorf("storing last-good manifest %q: %w", id, err)
	}
	_, err = tmp.Write(raw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("storing last-good manifest %q: %w", id, err)
	}
	return nil
}

// Touch records that the source confirmed the stored manifest of id unchanged (its modification time, see
// LastGood), without reading or rewriting it. A missing file is an error wrapping fs.ErrNotExist.
func (l *LastGood) Touch(id string) error {
	p, err := l.path(id)
	if err != nil {
		return fmt.Errorf("touching last-good manifest: %w", err)
	}
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		return fmt.Errorf("touching last-good manifest %q: %w", id, err)
	}
	return nil
}

// Delete removes the stored manifest of id; a missing file is not an error. The Resolver calls it when the
// source says the project no longer exists, so an outage cannot resurrect a deleted project.
func (l *LastGood) Delete(id string) error {
	p, err := l.path(id)
	if err != nil {
		return fmt.Errorf("deleting last-good manifest: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting last-good manifest %q: %w", id, err)
	}
	return nil
}
