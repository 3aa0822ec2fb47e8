// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLastGood(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lastgood")
	l := &LastGood{Dir: dir}
	if _, _, err := l.Load("p1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: error = %v, want fs.ErrNotExist", err)
	}
	if err := l.Store("p1", doc("p1", "1")); err != nil {
		t.Fatalf("Store: %v", err)
	}
	p := filepath.Join(dir, "p1.json")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %o, want 600 (manifests hold secrets)", perm)
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %o, want 700", dst.Mode().Perm())
	}

	// Unchanged content is not rewritten (same inode) but its time is refreshed.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if err := l.Store("p1", doc("p1", "1")); err != nil {
		t.Fatalf("Store unchanged: %v", err)
	}
	st2, _ := os.Stat(p)
	if !os.SameFile(st, st2) {
		t.Error("unchanged content was rewritten")
	}
	if st2.ModTime().Before(time.Now().Add(-time.Minute)) {
		t.Errorf("modification time %v not refreshed", st2.ModTime())
	}

	// Changed content is replaced atomically: a new file renamed over the old one.
	if err := l.Store("p1", doc("p1", "2")); err != nil {
		t.Fatalf("Store changed: %v", err)
	}
	st3, _ := os.Stat(p)
	if os.SameFile(st2, st3) {
		t.Error("changed content was written in place, not by rename")
	}
	raw, mod, err := l.Load("p1")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if string(raw) != string(doc("p1", "2")) || !mod.Equal(st3.ModTime()) {
		t.Errorf("Load = %q at %v", raw, mod)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d files, want 1 (no temp files left)", len(ents))
	}

	if err := l.Delete("p1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := l.Delete("p1"); err != nil {
		t.Errorf("Delete of a missing file: %v", err)
	}
	if err := l.Store("../escape", []byte("{}")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Store with an invalid id: error = %v, want ErrNotFound", err)
	}
}
