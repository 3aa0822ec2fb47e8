// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"
)

// keyFileCheckInterval is how often Lookup looks at the key file's metadata. One stat per second is free,
// and it bounds how long a key revoked by editing the file by hand keeps working.
const keyFileCheckInterval = time.Second

// FileStore keeps API keys in a local file: {"keys": [APIKey, …]} as JSON, or YAML when Path ends in
// .yaml or .yml. It suits single-instance deployments and keys managed by configuration management;
// several gateway instances should share a RedisStore instead.
//
// Reload contract: Open reads the file. Afterwards, at most once per second (by Now), the first Lookup to
// notice that the interval has passed stats the file and reloads it when its identity, size or mtime
// changed; every other Lookup reads an atomically published snapshot and takes no lock. An edit therefore
// takes effect within about a second of the next request. A file that fails to parse leaves the previous
// keys in place (an editor's half-written save must not lock every user out) and is retried at the next
// check; ReloadError reports the failure. A file that disappears empties the store: deleting the key file
// fails closed. A missing file at Open is an empty store, which Create brings into existence.
//
// Create and Revoke re-read the file if it changed, then rewrite it atomically (temporary file in the same
// directory, fsync, rename) with mode 0600, so a concurrent reader sees the old or the new file, never a
// mix. They are serialised within the process; two processes writing the same file can lose an update.
type FileStore struct {
	// Path is the key file. Required.
	Path string
	// Now is the clock used for expiry and for the reload interval. Default time.Now.
	Now func() time.Time

	mu        sync.Mutex // serialises reloads and writes
	state     atomic.Pointer[keyFileState]
	nextCheck atomic.Int64 // unix nanoseconds of the next metadata check
	reloadErr atomic.Pointer[error]
}

// keyFileState is one immutable snapshot of the key file.
type keyFileState struct {
	keys []APIKey // in file order
	byID map[string]*apiKeyEntry
	info fs.FileInfo // nil when the file does not exist
}

type apiKeyFile struct {
	Keys []APIKey `json:"keys" yaml:"keys"`
}

func (s *FileStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Open loads the key file. It must be called before any other method.
func (s *FileStore) Open() error {
	if s.Path == "" {
		return errors.New("opening api key file: path is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return err
	}
	s.nextCheck.Store(s.now().Add(keyFileCheckInterval).UnixNano())
	return nil
}

// ReloadError returns why the last background reload failed, or nil if the current file is loaded.
func (s *FileStore) ReloadError() error {
	if p := s.reloadErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Lookup implements KeyStore.
func (s *FileStore) Lookup(_ context.Context, presented string) (*APIKey, error) {
	id, ok := ParseAPIKey(presented)
	if !ok {
		return nil, ErrKeyInvalid
	}
	now := s.now()
	if next := s.nextCheck.Load(); now.UnixNano() >= next &&
		s.nextCheck.CompareAndSwap(next, now.Add(keyFileCheckInterval).UnixNano()) {
		// Only the goroutine that won the swap checks; the others go on with the current snapshot.
		s.mu.Lock()
		err := s.refreshLocked()
		s.mu.Unlock()
		if err != nil {
			s.reloadErr.Store(&err)
		} else {
			s.reloadErr.Store(nil)
		}
	}
	st := s.state.Load()
	if st == nil {
		return nil, errors.New("looking up api key: file store not opened")
	}
	return verifyAPIKey(st.byID[id], presented, now)
}

// Create implements KeyStore. A zero CreatedAt is set to Now.
func (s *FileStore) Create(_ context.Context, rec APIKey) error {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = s.now().UTC()
	}
	if _, err := validateNewAPIKey(rec); err != nil {
		return fmt.Errorf("creating api key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		// Writing now would overwrite edits we could not read.
		return fmt.Errorf("creating api key %s: %w", rec.ID, err)
	}
	st := s.state.Load()
	if _, ok := st.byID[rec.ID]; ok {
		return fmt.Errorf("creating api key %s: %w", rec.ID, ErrKeyExists)
	}
	keys := append(slices.Clip(st.keys), cloneAPIKey(rec))
	if err := s.writeLocked(keys); err != nil {
		return fmt.Errorf("creating api key %s: %w", rec.ID, err)
	}
	return nil
}

// Revoke implements KeyStore.
func (s *FileStore) Revoke(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return fmt.Errorf("revoking api key %s: %w", id, err)
	}
	st := s.state.Load()
	i := slices.IndexFunc(st.keys, func(k APIKey) bool { return k.ID == id })
	if i < 0 {
		return fmt.Errorf("revoking api key %s: %w", id, ErrKeyNotFound)
	}
	if st.keys[i].Revoked {
		return nil
	}
	// Snapshots are shared with concurrent Lookups: copy, never modify in place.
	keys := slices.Clone(st.keys)
	keys[i].Revoked = true
	if err := s.writeLocked(keys); err != nil {
		return fmt.Errorf("revoking api key %s: %w", id, err)
	}
	return nil
}

// List implements KeyStore. It re-reads the file if it changed.
func (s *FileStore) List(_ context.Context) ([]APIKey, error) {
	s.mu.Lock()
	err := s.refreshLocked()
	st := s.state.Load()
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("listing api keys: %w", err)
	}
	out := make([]APIKey, len(st.keys))
	for i, k := range st.keys {
		out[i] = cloneAPIKey(k)
	}
	return out, nil
}

// refreshLocked reloads the file if it is not the one the current snapshot was read from.
func (s *FileStore) refreshLocked() error {
	st := s.state.Load()
	if st == nil {
		return errors.New("file store not opened")
	}
	fi, err := os.Stat(s.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking api key file: %w", err)
	}
	if sameKeyFile(st.info, fi) {
		return nil
	}
	return s.loadLocked()
}

// sameKeyFile compares file identity (device and inode, which an atomic rename changes), size and mtime.
func sameKeyFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// loadLocked reads the file and publishes a new snapshot. On error the previous snapshot stays.
func (s *FileStore) loadLocked() error {
	f, err := os.Open(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		st, _ := newKeyFileState(nil, nil)
		s.state.Store(st)
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening api key file: %w", err)
	}
	defer f.Close()
	// Stat the open file rather than the path, so the recorded identity is that of the bytes read even if
	// the file is replaced meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checking api key file: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading api key file: %w", err)
	}
	keys, err := decodeAPIKeyFile(s.Path, b)
	if err != nil {
		return fmt.Errorf("decoding api key file %s: %w", filepath.Base(s.Path), err)
	}
	st, err := newKeyFileState(keys, fi)
	if err != nil {
		return fmt.Errorf("loading api key file %s: %w", filepath.Base(s.Path), err)
	}
	s.state.Store(st)
	return nil
}

func newKeyFileState(keys []APIKey, fi fs.FileInfo) (*keyFileState, error) {
	st := &keyFileState{keys: keys, byID: make(map[string]*apiKeyEntry, len(keys)), info: fi}
	for _, k := range keys {
		e, err := newAPIKeyEntry(k)
		if err != nil {
			return nil, err
		}
		if _, dup := st.byID[k.ID]; dup {
			return nil, fmt.Errorf("api key %s: %w", k.ID, ErrKeyExists)
		}
		st.byID[k.ID] = e
	}
	return st, nil
}

func keyFileIsYAML(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}

// decodeAPIKeyFile rejects unknown fields: a misspelt "revoked" must not silently leave a key valid.
func decodeAPIKeyFile(path string, b []byte) ([]APIKey, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var kf apiKeyFile
	if keyFileIsYAML(path) {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&kf); err != nil {
			return nil, err
		}
		return kf.Keys, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, err
	}
	return kf.Keys, nil
}

// writeLocked replaces the file with keys atomically and publishes the new snapshot.
func (s *FileStore) writeLocked(keys []APIKey) error {
	st, err := newKeyFileState(keys, nil)
	if err != nil {
		return err
	}
	kf := apiKeyFile{Keys: keys}
	if kf.Keys == nil {
		kf.Keys = []APIKey{}
	}
	var b []byte
	if keyFileIsYAML(s.Path) {
		b, err = yaml.Marshal(kf)
	} else {
		b, err = json.MarshalIndent(kf, "", "  ")
		b = append(b, '\n')
	}
	if err != nil {
		return fmt.Errorf("encoding api key file: %w", err)
	}
	dir := filepath.Dir(s.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing api key file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes the mode explicit whatever the umask.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("writing api key file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("writing api key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing api key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing api key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("replacing api key file: %w", err)
	}
	committed = true
	// Make the rename durable; best effort, as not every file system supports syncing a directory.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	fi, err := os.Stat(s.Path)
	if err != nil {
		return fmt.Errorf("checking api key file: %w", err)
	}
	st.info = fi
	s.state.Store(st)
	return nil
}

// cloneAPIKey deep-copies a record, so that callers of List cannot reach into a snapshot.
func cloneAPIKey(k APIKey) APIKey {
	k.Projects = slices.Clone(k.Projects)
	k.Modules = slices.Clone(k.Modules)
	k.Models = slices.Clone(k.Models)
	if k.ExpiresAt != nil {
		t := *k.ExpiresAt
		k.ExpiresAt = &t
	}
	return k
}

var _ KeyStore = (*FileStore)(nil)
