// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

func TestNewValidatesConfig(t *testing.T) {
	src := &FileSource{Dir: t.TempDir()}
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no source", cfg: Config{Compile: compile}},
		{name: "no compile", cfg: Config{Source: src}},
		{name: "redis without client", cfg: Config{Source: src, Compile: compile, Redis: &RedisTier{}}},
		{name: "instance id with a space", cfg: Config{Source: src, Compile: compile, InstanceID: "a b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestResolverSingleFlight(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	r := newResolver(t, Config{Source: ct.client()})
	entered, release := ct.hold()
	defer release()

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := r.Get(context.Background(), "p1")
			if err == nil {
				if m, ok := e.Value.(*manifest.Manifest); !ok || m.Version != "1" {
					err = fmt.Errorf("got entry %+v", e)
				}
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	<-entered // the one shared fetch is at the source

	// A caller whose context ends gets its context error while the fetch goes on for the others.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Get(ctx, "p1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with an expiring context: error = %v, want context.DeadlineExceeded", err)
	}
	time.Sleep(20 * time.Millisecond) // let the other callers pile up behind the fetch
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := ct.count("p1"); got != 1 {
		t.Errorf("source fetches = %d, want 1", got)
	}
}

func TestResolverWarmGet(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	clock := newClock()
	obs := &recObserver{}
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, Observer: obs})
	ctx := context.Background()
	first, err := r.Get(ctx, "p1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if first.Origin != OriginSource || first.Stale || first.Hash != manifest.Hash(doc("p1", "1")) {
		t.Errorf("first entry = %+v", first)
	}
	var e *Entry
	allocs := testing.AllocsPerRun(1000, func() {
		e, err = r.Get(ctx, "p1")
	})
	if err != nil || e != first {
		t.Fatalf("warm Get = %p, %v; want the cached entry", e, err)
	}
	if allocs != 0 {
		t.Errorf("warm Get allocates %.1f times per call, want 0", allocs)
	}
	if got := ct.count("p1"); got != 1 {
		t.Errorf("source fetches = %d, want 1", got)
	}
	if obs.get("memory/hit") < 1000 || obs.get("source/hit") != 1 {
		t.Errorf("observer = %v", obs.results)
	}
}

func TestResolverStaleWhileRevalidate(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	clock := newClock()
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Minute})
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatalf("Get: %v", err)
	}

	ct.set("p1", doc("p1", "2"))
	entered, release := ct.hold()
	defer release()
	clock.Advance(2 * time.Minute)
	for range 20 {
		start := time.Now()
		e, err := r.Get(ctx, "p1")
		if err != nil {
			t.Fatalf("Get past TTL: %v", err)
		}
		if v := version(t, e); v != "1" {
			t.Fatalf("Get past TTL = version %s while the revalidation is blocked, want 1", v)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("Get past TTL waited %s for the network", el)
		}
	}
	<-entered
	select {
	case <-entered:
		t.Fatal("a second revalidation started; they must be deduplicated")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	waitFor(t, "the revalidated version", func() bool {
		e, err := r.Get(ctx, "p1")
		return err == nil && version(t, e) == "2"
	})
	if got := ct.count("p1"); got != 2 {
		t.Errorf("source fetches = %d, want 2", got)
	}
}

func TestResolverRevalidationUnchangedDoesNotRecompile(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	clock := newClock()
	var compiles atomic.Int32
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Minute, Compile: func(id string, raw []byte) (any, error) {
		compiles.Add(1)
		return compile(id, raw)
	}})
	first, err := r.Get(context.Background(), "p1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	clock.Advance(2 * time.Minute)
	e, err := r.Reload(context.Background(), "p1")
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := compiles.Load(); got != 1 {
		t.Errorf("compiles = %d, want 1: an unchanged manifest must not be recompiled", got)
	}
	if e.Value != first.Value || !e.FetchedAt.Equal(clock.Now()) {
		t.Errorf("reloaded entry kept value %v, FetchedAt %v; want the same value fetched now", e.Value == first.Value, e.FetchedAt)
	}
	if first.FetchedAt.Equal(e.FetchedAt) {
		t.Error("the first entry was mutated or FetchedAt not bumped")
	}
}

func TestResolverRefreshLoop(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	r := newResolver(t, Config{Source: ct.client(), Refresh: 10 * time.Millisecond})
	if _, err := r.Get(context.Background(), "p1"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	ct.set("p1", doc("p1", "2"))
	waitFor(t, "the refresh loop to pick up version 2", func() bool {
		e, err := r.Get(context.Background(), "p1")
		return err == nil && version(t, e) == "2"
	})
}

func TestResolverSourceDownServesStaleMemory(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	clock := newClock()
	obs := &recObserver{}
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Minute, MaxStale: time.Hour, Observer: obs})
	ctx := context.Background()
	first, err := r.Get(ctx, "p1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	ct.setStatus(http.StatusServiceUnavailable)
	clock.Advance(2 * time.Minute)
	if e, err := r.Get(ctx, "p1"); err != nil || e != first {
		t.Fatalf("Get past TTL = %v, %v; want the cached entry at once", e, err)
	}
	waitFor(t, "the entry to be marked stale", func() bool {
		e, err := r.Get(ctx, "p1")
		return err == nil && e.Stale
	})
	e, _ := r.Get(ctx, "p1")
	if version(t, e) != "1" || !e.FetchedAt.Equal(first.FetchedAt) || first.Stale {
		t.Errorf("stale entry = %+v; want version 1 with the original FetchedAt, the first entry untouched", e)
	}
	if obs.get("last_good/stale") == 0 {
		t.Errorf("observer did not see the stale serving: %v", obs.results)
	}
	st := r.Status()
	if st.Healthy || st.LastErr == "" || st.Source != "control_tower" || st.Projects != 1 {
		t.Errorf("Status = %+v, want unhealthy with the last error", st)
	}

	// Reload keeps serving the cached copy and reports the failure.
	re, err := r.Reload(ctx, "p1")
	if !errors.Is(err, ErrUnavailable) || re == nil || version(t, re) != "1" {
		t.Errorf("Reload while down = %v, %v; want the stale entry and ErrUnavailable", re, err)
	}

	// Beyond MaxStale the stale copy is refused.
	clock.Advance(2 * time.Hour)
	if _, err := r.Get(ctx, "p1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get beyond MaxStale: error = %v, want ErrUnavailable", err)
	}

	// The source recovers: the next revalidation serves again.
	ct.setStatus(0)
	waitFor(t, "recovery", func() bool {
		clock.Advance(time.Minute) // past RetryInterval, so the next Get revalidates
		e, err := r.Get(ctx, "p1")
		return err == nil && !e.Stale
	})
	if !r.Status().Healthy {
		t.Error("Status still unhealthy after recovery")
	}
}

func TestResolverLastGood(t *testing.T) {
	lgDir := t.TempDir()
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	a := newResolver(t, Config{Source: ct.client(), LastGood: &LastGood{Dir: lgDir}})
	if _, err := a.Get(context.Background(), "p1"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	path := filepath.Join(lgDir, "p1.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("last-good file not written: %v", err)
	}

	// A fresh instance while the source is down.
	ct.setStatus(http.StatusBadGateway)
	obs := &recObserver{}
	b := newResolver(t, Config{Source: ct.client(), LastGood: &LastGood{Dir: lgDir}, Observer: obs})
	e, err := b.Get(context.Background(), "p1")
	if err != nil {
		t.Fatalf("Get with the source down: %v", err)
	}
	if e.Origin != OriginLastGood || !e.Stale || version(t, e) != "1" || !e.FetchedAt.Equal(st.ModTime()) {
		t.Errorf("entry = %+v, want version 1 from last_good, stale, fetched at the file time", e)
	}
	if obs.get("last_good/hit") != 1 {
		t.Errorf("observer = %v, want last_good/hit", obs.results)
	}
	if _, err := b.Get(context.Background(), "other"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get of a project without a last-good copy: error = %v, want ErrUnavailable", err)
	}
}

func TestResolverMaxStaleLastGood(t *testing.T) {
	tests := []struct {
		name     string
		age      time.Duration
		maxStale time.Duration
		wantErr  error
	}{
		{name: "unlimited", age: 48 * time.Hour, maxStale: 0},
		{name: "within max_stale", age: 2 * time.Hour, maxStale: 3 * time.Hour},
		{name: "beyond max_stale", age: 2 * time.Hour, maxStale: time.Hour, wantErr: ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lg := &LastGood{Dir: t.TempDir()}
			// A Control Tower's documents are resolved: last-good holds them sealed.
			if err := lg.Store("p1", sealedDoc(t, "p1", doc("p1", "1"))); err != nil {
				t.Fatal(err)
			}
			clock := newClock()
			old := clock.Now().Add(-tc.age)
			if err := os.Chtimes(filepath.Join(lg.Dir, "p1.json"), old, old); err != nil {
				t.Fatal(err)
			}
			ct := newFakeCT(t)
			ct.setStatus(http.StatusServiceUnavailable)
			r := newResolver(t, Config{Source: ct.client(), LastGood: lg, MaxStale: tc.maxStale, Now: clock.Now})
			e, err := r.Get(context.Background(), "p1")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if e.Origin != OriginLastGood {
				t.Errorf("origin = %s", e.Origin)
			}
		})
	}
}

func TestResolverNegativeCache(t *testing.T) {
	ct := newFakeCT(t)
	clock := newClock()
	obs := &recObserver{}
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, NegativeTTL: 5 * time.Second, Observer: obs})
	ctx := context.Background()
	for range 10 {
		if _, err := r.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of an unknown project: error = %v, want ErrNotFound", err)
		}
	}
	if got := ct.count("ghost"); got != 1 {
		t.Errorf("source fetches = %d, want 1 within NegativeTTL", got)
	}
	if obs.get("memory/not_found") != 9 {
		t.Errorf("observer = %v, want 9 negative hits", obs.results)
	}
	clock.Advance(6 * time.Second)
	if _, err := r.Get(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after NegativeTTL: %v", err)
	}
	if got := ct.count("ghost"); got != 2 {
		t.Errorf("source fetches = %d, want 2 after NegativeTTL", got)
	}

	// The project appears: Reload (or an invalidation) ends the negative entry at once.
	ct.set("ghost", doc("ghost", "1"))
	if _, err := r.Reload(ctx, "ghost"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, err := r.Get(ctx, "ghost"); err != nil {
		t.Errorf("Get after Reload: %v", err)
	}

	for _, id := range []string{"", "../x", "a b", "a/b"} {
		if _, err := r.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): error = %v, want ErrNotFound", id, err)
		}
	}
}

func TestResolverDeletedProject(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	lg := &LastGood{Dir: t.TempDir()}
	r := newResolver(t, Config{Source: ct.client(), LastGood: lg})
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	ct.remove("p1")
	if _, err := r.Reload(ctx, "p1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reload of a deleted project: error = %v, want ErrNotFound", err)
	}
	if n := len(r.Snapshot()); n != 0 {
		t.Errorf("memory holds %d projects after deletion, want 0", n)
	}
	if _, _, err := lg.Load("p1"); err == nil {
		t.Error("the last-good copy of a deleted project survived; an outage could resurrect it")
	}
	if _, err := r.Get(ctx, "p1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after deletion: error = %v, want ErrNotFound", err)
	}
}

func TestResolverMalformedThenFixed(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", badDoc("p1"))
	clock := newClock()
	lg := &LastGood{Dir: t.TempDir()}
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: 5 * time.Minute, RetryInterval: 10 * time.Second, LastGood: lg})
	ctx := context.Background()
	e, err := r.Get(ctx, "p1")
	if err != nil {
		t.Fatalf("Get of a malformed manifest: error = %v, want an entry", err)
	}
	if !errors.Is(e.Err, ErrMalformed) || !errors.Is(e.Err, manifest.ErrInvalid) || e.Value != nil {
		t.Fatalf("entry = %+v, want Err wrapping ErrMalformed and manifest.ErrInvalid", e)
	}
	if e2, _ := r.Get(ctx, "p1"); e2 != e || ct.count("p1") != 1 {
		t.Errorf("the malformed entry was not cached: fetches = %d", ct.count("p1"))
	}
	if _, _, err := lg.Load("p1"); err == nil {
		t.Error("a malformed manifest reached the last-good store")
	}

	ct.set("p1", doc("p1", "2"))
	clock.Advance(11 * time.Second) // past RetryInterval, well within TTL
	waitFor(t, "the fixed manifest", func() bool {
		e, err := r.Get(ctx, "p1")
		return err == nil && e.Err == nil
	})
	e, _ = r.Get(ctx, "p1")
	if version(t, e) != "2" {
		t.Errorf("version = %s, want 2", version(t, e))
	}
}

func TestResolverMalformedUpdateKeepsGood(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	clock := newClock()
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Minute})
	ctx := context.Background()
	good, err := r.Get(ctx, "p1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	tests := []struct {
		name string
		doc  []byte
	}{
		{name: "fails validation", doc: badDoc("p1")},
		{name: "not json", doc: []byte("<html>oops</html>")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct.set("p1", tc.doc)
			e, err := r.Reload(ctx, "p1")
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Reload of a bad update: error = %v, want ErrMalformed", err)
			}
			// The good version goes on serving, with the rejection on record (the admin API shows it).
			if e == nil || e.Hash != good.Hash || e.Value != good.Value || !errors.Is(e.Rejected, ErrMalformed) {
				t.Errorf("Reload returned %+v, want the good entry with the rejection recorded", e)
			}
			// Background revalidation keeps it too.
			before := ct.count("p1")
			clock.Advance(2 * time.Minute)
			if _, err := r.Get(ctx, "p1"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the revalidation", func() bool { return ct.count("p1") > before })
			r.Wait() // no Start context cancel here: Wait returns once the revalidation is done
			if e, err := r.Get(ctx, "p1"); err != nil || e.Err != nil || version(t, e) != "1" {
				t.Errorf("Get after a bad update = %+v, %v; want the good version 1", e, err)
			}
		})
	}
}

func TestResolverFileSourceMalformed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p1.json"), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, Config{Source: &FileSource{Dir: dir}})
	e, err := r.Get(context.Background(), "p1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !errors.Is(e.Err, ErrMalformed) || !errors.Is(e.Err, manifest.ErrInvalid) {
		t.Errorf("entry error = %v, want ErrMalformed wrapping manifest.ErrInvalid", e.Err)
	}
}

func TestResolverLRU(t *testing.T) {
	ct := newFakeCT(t)
	for _, id := range []string{"a", "b", "c"} {
		ct.set(id, doc(id, "1"))
	}
	clock := newClock()
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, MaxProjects: 2})
	ctx := context.Background()
	get := func(id string) {
		t.Helper()
		clock.Advance(time.Second)
		if _, err := r.Get(ctx, id); err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
	}
	get("a")
	get("b")
	get("a") // b is now the least recently used
	get("c")
	var ids []string
	for _, e := range r.Snapshot() {
		ids = append(ids, e.ID)
	}
	if want := []string{"a", "c"}; !slices.Equal(ids, want) {
		t.Errorf("memory holds %v, want %v", ids, want)
	}
	get("b")
	if got := ct.count("b"); got != 2 {
		t.Errorf("fetches of the evicted project = %d, want 2", got)
	}
	if got := ct.count("a"); got != 1 {
		t.Errorf("fetches of the recently used project = %d, want 1", got)
	}
}

func TestResolverSync(t *testing.T) {
	ct := newFakeCT(t)
	ct.set("a", doc("a", "1"))
	ct.set("b", doc("b", "1"))
	ct.set("bad", badDoc("bad"))
	r := newResolver(t, Config{Source: ct.client()})
	res, err := r.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(res) != 3 || res["a"] != nil || res["b"] != nil || !errors.Is(res["bad"], ErrMalformed) {
		t.Errorf("Sync = %v", res)
	}
	var ids []string
	for _, e := range r.Snapshot() {
		ids = append(ids, e.ID)
	}
	if want := []string{"a", "b", "bad"}; !slices.Equal(ids, want) {
		t.Errorf("Snapshot ids = %v, want %v", ids, want)
	}
}

func TestResolverRedisShared(t *testing.T) {
	rc := newRedis(t)
	ctA, ctB := newFakeCT(t), newFakeCT(t)
	ctA.set("p1", doc("p1", "1"))
	clock := newClock()
	a := newResolver(t, Config{Source: ctA.client(), Redis: &RedisTier{Client: rc}, Now: clock.Now})
	b := newResolver(t, Config{Source: ctB.client(), Redis: &RedisTier{Client: rc}, Now: clock.Now})
	ea, err := a.Get(context.Background(), "p1")
	if err != nil {
		t.Fatalf("A Get: %v", err)
	}
	eb, err := b.Get(context.Background(), "p1")
	if err != nil {
		t.Fatalf("B Get: %v", err)
	}
	if eb.Origin != OriginRedis || version(t, eb) != "1" || !eb.FetchedAt.Equal(ea.FetchedAt) || eb.Hash != ea.Hash {
		t.Errorf("B entry = %+v; want version 1 from redis with A's FetchedAt", eb)
	}
	if got := ctB.count("p1"); got != 0 {
		t.Errorf("B asked its source %d times, want 0", got)
	}
	if st := b.Status(); !st.Redis || !st.RedisOK {
		t.Errorf("B status = %+v, want redis ok", st)
	}
}

func TestResolverRedisDownFallsBackToSource(t *testing.T) {
	rc := newRedis(t)
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	// A closed client fails every operation, like an unreachable server.
	_ = rc.Close()
	r := newResolver(t, Config{Source: ct.client(), Redis: &RedisTier{Client: rc}})
	e, err := r.Get(context.Background(), "p1")
	if err != nil || e.Origin != OriginSource {
		t.Fatalf("Get with redis down = %+v, %v; want the source's entry", e, err)
	}
	if st := r.Status(); st.RedisOK {
		t.Error("Status reports redis ok while it fails")
	}
}

func TestResolverPubSubInvalidation(t *testing.T) {
	rc := newRedis(t)
	ct := newFakeCT(t)
	ct.set("p1", doc("p1", "1"))
	newInstance := func(name string) *Resolver {
		return newResolver(t, Config{Source: ct.client(), Redis: &RedisTier{Client: rc}, InstanceID: name, TTL: time.Hour})
	}
	a, b := newInstance("a"), newInstance("b")
	ctx := context.Background()
	waitFor(t, "both subscriptions", func() bool {
		return rc.PubSubNumSub(ctx, "fd2:invalidate").Val()["fd2:invalidate"] == 2
	})
	if _, err := a.Get(ctx, "p1"); err != nil {
		t.Fatalf("A Get: %v", err)
	}
	if e, err := b.Get(ctx, "p1"); err != nil || version(t, e) != "1" {
		t.Fatalf("B Get = %v, %v", e, err)
	}

	ct.set("p1", doc("p1", "2"))
	if e, err := a.Reload(ctx, "p1"); err != nil || version(t, e) != "2" {
		t.Fatalf("A Reload = %v, %v", e, err)
	}
	waitFor(t, "B to serve version 2", func() bool {
		e, err := b.Get(ctx, "p1")
		return err == nil && version(t, e) == "2"
	})
	e, _ := b.Get(ctx, "p1")
	if e.Origin != OriginRedis {
		t.Errorf("B got version 2 from %s, want redis (where A wrote it)", e.Origin)
	}
	if got := ct.count("p1"); got != 2 {
		t.Errorf("source fetches = %d, want 2 (A's load and A's reload)", got)
	}
	// A's own message does not drop A's entry.
	if ea, _ := a.Get(ctx, "p1"); ea.Origin != OriginSource {
		t.Errorf("A's entry origin = %s, want source (not invalidated by its own message)", ea.Origin)
	}

	// A deletion seen by A removes the Redis copy and reaches B.
	ct.remove("p1")
	if _, err := a.Reload(ctx, "p1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("A Reload of a deleted project: error = %v, want ErrNotFound", err)
	}
	if n := rc.Exists(ctx, "fd2:manifest:p1").Val(); n != 0 {
		t.Error("the Redis copy of a deleted project survived")
	}
	waitFor(t, "B to drop the deleted project", func() bool {
		_, err := b.Get(ctx, "p1")
		return errors.Is(err, ErrNotFound)
	})
}

// TestResolverConcurrentUse hammers every entry point at once for the race detector.
func TestResolverConcurrentUse(t *testing.T) {
	ct := newFakeCT(t)
	ids := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		ct.set(id, doc(id, "1"))
	}
	clock := newClock()
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Second, MaxProjects: 3, Refresh: 5 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := ids[(w+i)%len(ids)]
				switch i % 10 {
				case 0:
					r.Invalidate(id)
				case 1:
					_, _ = r.Reload(ctx, id)
				case 2:
					clock.Advance(300 * time.Millisecond)
					_ = r.Snapshot()
					_ = r.Status()
				default:
					if e, err := r.Get(ctx, id); err != nil || e.ID != id {
						t.Errorf("Get(%s) = %v, %v", id, e, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := len(r.Snapshot()); n > 3 {
		t.Errorf("memory holds %d projects, want at most MaxProjects=3", n)
	}
}

func BenchmarkResolverGetWarm(b *testing.B) {
	ct := newFakeCT(b)
	ct.set("p1", doc("p1", "1"))
	r, err := New(Config{Source: ct.client(), Compile: compile})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Get(ctx, "p1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Get(ctx, "p1"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestResolverLogsWithoutManifestContents(t *testing.T) {
	const secret = "sk-live-SECRET-0123456789"
	good := fmt.Appendf(nil, `{"project_id":"p1","project_name":"P","version":"1","modules":[],"environments":{"development":{"secrets":{"k":%q}}}}`, secret)
	bad := fmt.Appendf(nil, `{"project_id":"p1","modules":[{"module_type":"nope","name":%q,"config":{}}]}`, "m")
	core, logs := observer.New(zapcore.DebugLevel)
	ct := newFakeCT(t)
	ct.set("p1", good)
	clock := newClock()
	r := newResolver(t, Config{Source: ct.client(), Now: clock.Now, TTL: time.Minute, Logger: zap.New(core)})
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	// A bad update found by revalidation, then the source failing.
	ct.set("p1", bad)
	clock.Advance(2 * time.Minute)
	_, _ = r.Get(ctx, "p1")
	waitFor(t, "the rejected update to be logged", func() bool { return logs.FilterMessageSnippet("malformed").Len() > 0 })
	ct.setStatus(http.StatusInternalServerError)
	clock.Advance(2 * time.Minute)
	_, _ = r.Get(ctx, "p1")
	waitFor(t, "stale serving to be logged", func() bool { return logs.FilterMessageSnippet("still serving the cached").Len() > 0 })

	for _, e := range logs.All() {
		if e.Level < zapcore.WarnLevel {
			continue
		}
		if e.ContextMap()["project"] != "p1" {
			t.Errorf("log %q lacks the project field: %v", e.Message, e.ContextMap())
		}
		if _, ok := e.ContextMap()["error"]; !ok {
			t.Errorf("log %q lacks the error", e.Message)
		}
		if s := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(s, secret) {
			t.Errorf("log leaks manifest contents: %s", s)
		}
	}
}

// funcSource is a Source whose Fetch is a test function.
type funcSource func(ctx context.Context, id string) ([]byte, error)

func (funcSource) Name() string                                           { return "func" }
func (f funcSource) Fetch(ctx context.Context, id string) ([]byte, error) { return f(ctx, id) }
func (funcSource) List(context.Context) ([]string, error)                 { return nil, nil }

// TestResolverOlderFetchNeverOverwritesNewer checks the generation ordering: a revalidation that started
// before a Reload but finishes after it must not reinstate the version it fetched.
func TestResolverOlderFetchNeverOverwritesNewer(t *testing.T) {
	var calls atomic.Int32
	slowStarted, releaseSlow := make(chan struct{}), make(chan struct{})
	src := funcSource(func(ctx context.Context, id string) ([]byte, error) {
		switch calls.Add(1) {
		case 1:
			return doc(id, "1"), nil
		case 2: // the background revalidation: sees the old version, slowly
			close(slowStarted)
			<-releaseSlow
			return doc(id, "old"), nil
		default:
			return doc(id, "3"), nil
		}
	})
	clock := newClock()
	r := newResolver(t, Config{Source: src, Now: clock.Now, TTL: time.Minute})
	ctx := context.Background()
	if _, err := r.Get(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	_, _ = r.Get(ctx, "p1") // starts the slow revalidation
	<-slowStarted
	if e, err := r.Reload(ctx, "p1"); err != nil || version(t, e) != "3" {
		t.Fatalf("Reload = %v, %v", e, err)
	}
	close(releaseSlow)
	r.Wait()
	if e, _ := r.Get(ctx, "p1"); version(t, e) != "3" {
		t.Errorf("version = %s after a slow older revalidation finished, want 3", version(t, e))
	}

	// Invalidate drops the entry; the next Get loads the current version again.
	r.Invalidate("p1")
	if e, _ := r.Get(ctx, "p1"); version(t, e) != "3" {
		t.Errorf("version after Invalidate = %s, want 3", version(t, e))
	}
}

// outageSource fails every call while down is set, the way an unreachable Control Tower does.
type outageSource struct {
	down  atomic.Bool
	lists atomic.Int32
}

func (*outageSource) Name() string { return "outage" }
func (s *outageSource) Fetch(_ context.Context, id string) ([]byte, error) {
	if s.down.Load() {
		return nil, fmt.Errorf("fetching %s: %w", id, ErrUnavailable)
	}
	return doc(id, "1"), nil
}
func (s *outageSource) List(context.Context) ([]string, error) {
	s.lists.Add(1)
	if s.down.Load() {
		return nil, fmt.Errorf("listing: %w", ErrUnavailable)
	}
	return []string{"p1"}, nil
}

// TestResolverProbesFailedSourceWhenIdle: an instance whose only source call failed, with nothing in
// memory to refresh, learns that the source came back without waiting for a request.
func TestResolverProbesFailedSourceWhenIdle(t *testing.T) {
	src := &outageSource{}
	src.down.Store(true)
	r := newResolver(t, Config{Source: src, Refresh: 10 * time.Millisecond})
	if _, err := r.Get(context.Background(), "p1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get during the outage = %v, want ErrUnavailable", err)
	}
	if st := r.Status(); st.Healthy || st.Projects != 0 {
		t.Fatalf("status during the outage = %+v, want unhealthy with no projects", st)
	}
	waitFor(t, "a probe during the outage", func() bool { return src.lists.Load() > 0 })
	if r.Status().Healthy {
		t.Fatal("a failed probe reported the source healthy")
	}
	src.down.Store(false)
	waitFor(t, "the source to be reported healthy again", func() bool { return r.Status().Healthy })

	// A healthy source is not probed: the loop adds no calls of its own.
	n := src.lists.Load()
	time.Sleep(60 * time.Millisecond)
	if got := src.lists.Load(); got != n {
		t.Fatalf("a healthy source was listed %d more times", got-n)
	}
}
