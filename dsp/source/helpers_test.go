// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/source/redistest"
)

// fakeClock is an injectable clock; Now does not allocate, so it can sit on the measured warm path.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// doc returns a minimal valid manifest whose version tells versions apart.
func doc(id, version string) []byte {
	return fmt.Appendf(nil, `{"project_id":%q,"project_name":"Project %s","version":%q,"environment":"development","modules":[]}`, id, id, version)
}

// badDoc decodes as JSON but fails manifest validation.
func badDoc(id string) []byte {
	return fmt.Appendf(nil, `{"project_id":%q,"modules":[{"module_type":"no_such_type","name":"x","config":{}}]}`, id)
}

// compile is the Config.Compile of the tests: decode and validate.
func compile(_ string, raw []byte) (any, error) {
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func version(t *testing.T, e *Entry) string {
	t.Helper()
	if e == nil {
		t.Fatal("nil entry")
	}
	if e.Err != nil {
		t.Fatalf("entry %s is malformed: %v", e.ID, e.Err)
	}
	return e.Value.(*manifest.Manifest).Version
}

// fakeCT speaks the Control Tower manifest protocol: GET /manifests and GET /manifests/{id}.
type fakeCT struct {
	srv *httptest.Server

	mu      sync.Mutex
	docs    map[string][]byte
	status  int           // when non-zero, every manifest request answers it
	gate    chan struct{} // when non-nil, manifest requests block until it is closed
	entered chan string   // when non-nil, receives the id of every manifest request on arrival
	fetches map[string]int
	secrets []string
	queries []string
}

func newFakeCT(t testing.TB) *fakeCT {
	t.Helper()
	f := &fakeCT{docs: map[string][]byte{}, fetches: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /manifests", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		type item struct {
			ProjectID string `json:"project_id"`
		}
		var list []item
		for id := range f.docs {
			list = append(list, item{id})
		}
		f.mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i].ProjectID < list[j].ProjectID })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"manifests": list, "count": len(list)})
	})
	mux.HandleFunc("GET /manifests/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f.mu.Lock()
		f.fetches[id]++
		f.secrets = append(f.secrets, r.Header.Get(SecretHeader))
		f.queries = append(f.queries, r.URL.RawQuery)
		gate, entered, status := f.gate, f.entered, f.status
		f.mu.Unlock()
		if entered != nil {
			entered <- id
		}
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"detail":"status %d"}`, status)
			return
		}
		if !manifest.ProjectIDPattern.MatchString(id) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"detail":"Invalid project_id format. Use only alphanumeric characters, underscores, and hyphens."}`))
			return
		}
		f.mu.Lock()
		b, ok := f.docs[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"detail":"Manifest not found: %s"}`, id)
			return
		}
		_, _ = w.Write(b)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCT) set(id string, b []byte) {
	f.mu.Lock()
	f.docs[id] = b
	f.mu.Unlock()
}

func (f *fakeCT) remove(id string) {
	f.mu.Lock()
	delete(f.docs, id)
	f.mu.Unlock()
}

func (f *fakeCT) setStatus(s int) {
	f.mu.Lock()
	f.status = s
	f.mu.Unlock()
}

// hold makes manifest requests block until the returned release is called, and announce themselves.
func (f *fakeCT) hold() (entered <-chan string, release func()) {
	gate, ent := make(chan struct{}), make(chan string, 1000)
	f.mu.Lock()
	f.gate, f.entered = gate, ent
	f.mu.Unlock()
	var once sync.Once
	return ent, func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate, f.entered = nil, nil
			f.mu.Unlock()
			close(gate)
		})
	}
}

func (f *fakeCT) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[id]
}

// client returns a ControlTower client with fast retries for tests.
func (f *fakeCT) client() *ControlTower {
	return &ControlTower{BaseURL: f.srv.URL, Timeout: 2 * time.Second, Retries: 1, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
}

// recObserver records observer calls. Recording a seen key does not allocate, so it can observe the
// measured warm path.
type recObserver struct {
	mu      sync.Mutex
	results map[[2]string]int // {tier, result} → count
	loaded  int
}

func (o *recObserver) CacheResult(tier, result string) {
	o.mu.Lock()
	if o.results == nil {
		o.results = map[[2]string]int{}
	}
	o.results[[2]string{tier, result}]++
	o.mu.Unlock()
}

func (o *recObserver) Loaded(string, time.Duration, error) {
	o.mu.Lock()
	o.loaded++
	o.mu.Unlock()
}

func (o *recObserver) Age(string, time.Duration) {}

func (o *recObserver) get(key string) int {
	tier, result, _ := strings.Cut(key, "/")
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[[2]string{tier, result}]
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newResolver builds a Resolver with test defaults, starts it, and stops it (waiting for its goroutines)
// when the test ends.
func newResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	if cfg.Compile == nil {
		cfg.Compile = compile
	}
	if _, resolving := cfg.Source.(Resolving); !resolving && cfg.CacheKey == nil && (cfg.Redis != nil || cfg.LastGood != nil) {
		// A Control Tower's documents arrive resolved: Redis and last-good hold them only sealed.
		cfg.CacheKey = testCacheKey
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() {
		cancel()
		r.Wait()
	})
	return r
}

// testCacheKey is the cache_key of tests that do not test sealing itself.
var testCacheKey = []byte("0123456789abcdef0123456789abcdef")

// sealedDoc is doc as the Resolver stores a resolved document under testCacheKey.
func sealedDoc(t *testing.T, id string, b []byte) []byte {
	t.Helper()
	aead, err := newAEAD(testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := seal(aead, id, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newRedis starts a redis-server and returns a client for it.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
