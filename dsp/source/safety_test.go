// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/metrics"
)

// panicSource panics in Fetch while armed: a stand-in for any defect a hostile document reaches.
type panicSource struct {
	armed atomic.Bool
	inner Source
}

func (p *panicSource) Name() string { return "panic" }
func (p *panicSource) Fetch(ctx context.Context, id string) ([]byte, error) {
	if p.armed.Load() {
		nilMap()["environment"] = "boom" // the nil-map write of issue 12 item 1
	}
	return p.inner.Fetch(ctx, id)
}
func (p *panicSource) List(ctx context.Context) ([]string, error) { return p.inner.List(ctx) }

func panics(task string) float64 {
	return testutil.ToFloat64(metrics.BackgroundPanics.WithLabelValues(task))
}

// TestResolverSurvivesPanics: a panic while loading, revalidating, syncing or compiling costs only its
// project (malformed: 503 manifest_invalid), is counted, and never ends the process — which, before,
// singleflight's deliberate re-panic on a fresh goroutine did.
func TestResolverSurvivesPanics(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	ct.set("p2", doc("p2", "1"))
	src := &panicSource{inner: ct.client()}
	src.armed.Store(true)
	clock := newClock()
	r := newResolver(t, Config{Source: src, Now: clock.Now, TTL: time.Minute, Refresh: 10 * time.Millisecond})
	ctx := context.Background()

	before := panics("manifest_fetch")
	e, err := r.Get(ctx, "p1") // a miss: the single-flight load
	if err != nil || e == nil || !errors.Is(e.Err, ErrMalformed) || !errors.Is(e.Err, manifest.ErrInvalid) {
		t.Fatalf("Get with a panicking source = %+v, %v; want a malformed entry", e, err)
	}
	if got := panics("manifest_fetch") - before; got < 1 {
		t.Fatalf("fd2_background_panics_total{task=manifest_fetch} grew by %v", got)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}

	// The refresh loop keeps running through panics and picks the project up once the defect is gone.
	src.armed.Store(false)
	waitFor(t, "the refresh loop to recover p1", func() bool {
		e, err := r.Get(ctx, "p1")
		return err == nil && e.Err == nil
	})
	src.armed.Store(true)
	b := panics("manifest_fetch")
	waitFor(t, "refreshes that panic", func() bool { return panics("manifest_fetch") >= b+3 })
	if e, err := r.Get(ctx, "p1"); err != nil || e.Err != nil || version(t, e) != "1" {
		t.Fatalf("after panicking refreshes: %+v, %v; want the good version still served", e, err)
	}

	// A compiler that panics makes that manifest malformed.
	rc := newResolver(t, Config{Source: ct.client(), Compile: func(id string, raw []byte) (any, error) {
		if id == "p2" {
			var s []int
			_ = s[1]
		}
		return compile(id, raw)
	}})
	if e, err := rc.Get(ctx, "p2"); err != nil || !errors.Is(e.Err, manifest.ErrInvalid) {
		t.Fatalf("Get with a panicking compiler = %+v, %v", e, err)
	}
	if e, err := rc.Get(ctx, "p1"); err != nil || e.Err != nil {
		t.Fatalf("another project: %+v, %v", e, err)
	}
}

// TestFileSourceNullManifest is issue 12 item 1 end to end below Caddy: a file source with an environment
// override, a project whose file is null (first load, and a cached good project whose file turns null).
func TestFileSourceNullManifest(t *testing.T) {
	dir := t.TempDir()
	write := func(id, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("nul", "null")
	write("good", string(doc("good", "1")))
	clock := newClock()
	r := newResolver(t, Config{Source: &FileSource{Dir: dir, Env: manifest.EnvOptions{Environment: "staging"}}, Now: clock.Now, TTL: time.Minute})
	ctx := context.Background()
	if e, err := r.Get(ctx, "nul"); err != nil || !errors.Is(e.Err, manifest.ErrInvalid) {
		t.Fatalf("Get(nul) = %+v, %v; want a malformed entry", e, err)
	}
	if _, err := r.Get(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	write("good", "null")
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(filepath.Join(dir, "good.json"), later, later); err != nil {
		t.Fatal(err)
	}
	e, err := r.Reload(ctx, "good")
	if !errors.Is(err, ErrMalformed) || e == nil || e.Err != nil || !errors.Is(e.Rejected, manifest.ErrInvalid) {
		t.Fatalf("Reload of a file turned null = %+v, %v; want the good version kept with the rejection recorded", e, err)
	}
}

// TestFileSourceRereadsOnlyChanges: an unchanged file is not read again (size and modification time), a
// touched but identical one is the same document, and the Resolver does not resolve an unchanged document
// again within TTL — unless told to (Reload).
func TestFileSourceRereadsOnlyChanges(t *testing.T) {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{"p1.json": {Data: doc("p1", "1"), ModTime: mod}}
	counting := &countingFS{FS: fsys}
	var resolutions atomic.Int64
	f := &FileSource{FS: counting, Env: manifest.EnvOptions{Getenv: func(string) (string, bool) {
		return "", false
	}}, Secrets: func(context.Context, string, []byte) (func(string) (string, error), func() error) {
		resolutions.Add(1)
		return nil, nil
	}}
	ctx := context.Background()
	first, err := f.Fetch(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := f.Fetch(ctx, "p1")
	if counting.opens.Load() != 1 || !sameBytes(first, second) {
		t.Fatalf("two fetches of an unchanged file opened it %d times", counting.opens.Load())
	}
	fsys["p1.json"].ModTime = mod.Add(time.Second) // touched
	third, _ := f.Fetch(ctx, "p1")
	if counting.opens.Load() != 2 || !sameBytes(first, third) {
		t.Fatalf("a touched file: opens = %d, same document = %v; want 2, true", counting.opens.Load(), sameBytes(first, third))
	}

	clock := newClock()
	r := newResolver(t, Config{Source: f, Now: clock.Now, TTL: time.Minute})
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	n := resolutions.Load()
	for range 5 {
		clock.Advance(5 * time.Second)
		if _, err := r.refresh(ctx, "p1", false); err != nil {
			t.Fatal(err)
		}
	}
	if got := resolutions.Load() - n; got != 0 {
		t.Fatalf("5 refreshes of an unchanged file resolved it %d times, want 0", got)
	}
	clock.Advance(time.Minute) // the resolution is now older than TTL: secrets may have changed
	if _, err := r.refresh(ctx, "p1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if got := resolutions.Load() - n; got != 2 {
		t.Fatalf("a refresh past TTL and a Reload resolved %d times, want 2", got)
	}
	fsys["p1.json"] = &fstest.MapFile{Data: doc("p1", "2"), ModTime: mod.Add(2 * time.Second)}
	if e, err := r.refresh(ctx, "p1", false); err != nil || version(t, e) != "2" {
		t.Fatalf("refresh of a changed file = %+v, %v; want version 2", e, err)
	}
}

// countingFS counts Open calls; Stat does not open (as os.DirFS).
type countingFS struct {
	FS    fs.FS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.FS.Open(name)
}

func (c *countingFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(c.FS, name) }

// TestTooLarge: a manifest over MaxSize is refused with ErrTooLarge (as malformed: a good version stays).
func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p1.json")
	if err := os.WriteFile(path, doc("p1", "1"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &FileSource{Dir: dir, MaxSize: 200}
	r := newResolver(t, Config{Source: f})
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	big := []byte(`{"project_id":"p1","project_name":"x","description":"` + strings.Repeat("a", 300) + `","modules":[]}`)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := r.Reload(ctx, "p1")
	if !errors.Is(err, ErrTooLarge) || e == nil || e.Err != nil || !errors.Is(e.Rejected, ErrTooLarge) {
		t.Fatalf("Reload of an oversized file = %+v, %v; want the good version kept, rejected as too large", e, err)
	}
	fresh := newResolver(t, Config{Source: &FileSource{Dir: dir, MaxSize: 200}})
	if e, err := fresh.Get(ctx, "p1"); err != nil || !errors.Is(e.Err, ErrTooLarge) {
		t.Fatalf("Get of an oversized file = %+v, %v; want a malformed entry wrapping ErrTooLarge", e, err)
	}
}

// TestRefusedOnMissServesLastGood: after a restart (nothing in memory) a source serving a refused document
// does not take down a project that has a good copy on disk: the copy serves, the refusal is recorded.
func TestRefusedOnMissServesLastGood(t *testing.T) {
	dir, lgDir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "p1.json")
	if err := os.WriteFile(path, doc("p1", "1"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := newResolver(t, Config{Source: &FileSource{Dir: dir}, LastGood: &LastGood{Dir: lgDir}})
	if _, err := a.Get(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newResolver(t, Config{Source: &FileSource{Dir: dir}, LastGood: &LastGood{Dir: lgDir}})
	e, err := b.Get(ctx, "p1")
	if err != nil || e.Err != nil || e.Origin != OriginLastGood || version(t, e) != "1" || !errors.Is(e.Rejected, manifest.ErrInvalid) {
		t.Fatalf("Get = %+v, %v; want the last-good version 1 with the refusal recorded", e, err)
	}
	// Without a disk copy the refusal is the answer.
	c := newResolver(t, Config{Source: &FileSource{Dir: dir}})
	if e, err := c.Get(ctx, "p1"); err != nil || !errors.Is(e.Err, manifest.ErrInvalid) {
		t.Fatalf("Get without last-good = %+v, %v; want a malformed entry", e, err)
	}
}

// nilMap hides its nil from static analysis: the tests need the real runtime panic.
func nilMap() map[string]any { return nil }
