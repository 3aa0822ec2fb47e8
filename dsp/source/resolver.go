// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Origins of an Entry.
const (
	OriginSource   = "source"
	OriginRedis    = "redis"
	OriginLastGood = "last_good"
)

const (
	defaultTTL         = 5 * time.Minute
	defaultMaxProjects = 1000
	defaultNegativeTTL = 5 * time.Second
	maxRetryInterval   = 30 * time.Second
	// negativeCap bounds the negative cache; it is cleared when full, because a flood of random ids must not
	// grow memory and losing the cache only costs some source requests.
	negativeCap = 10000
	// droppedCap bounds the drop tombstones the same way.
	droppedCap = 10000
	// loadTimeout bounds one shared load or background revalidation: a Control Tower client with its
	// defaults needs at most ~35 s for three attempts.
	loadTimeout = time.Minute
	// concurrency bounds Sync and the refresh loop, so that a Control Tower with many projects is not hit
	// with all of them at once.
	concurrency = 4
	// accessGranularity limits writes of the per-entry access stamp: concurrent warm Gets of a hot project
	// would otherwise bounce its cache line between cores for an LRU order nobody needs to the nanosecond.
	accessGranularity = int64(time.Millisecond)
)

// Entry is one project's manifest as served. It is immutable once returned: updates publish a new Entry.
type Entry struct {
	// ID is the project id.
	ID string
	// Raw is the resolved manifest JSON. It holds secrets: never log it, never store it unsealed.
	Raw []byte
	// Hash is manifest.Hash(Raw); empty when the source returned no usable bytes.
	Hash string
	// DocHash is manifest.Hash of the document as the source serves it: before resolution for a Resolving
	// source, else equal to Hash. A refresh that fetches the same document again skips resolution (and so
	// compilation) while the entry was resolved less than TTL ago.
	DocHash string
	// Rejected is set when the source's latest document was refused (it does not decode, resolve or compile,
	// or is too large) while this entry, the previous good version, goes on being served; RejectedAt is when.
	// The next good document clears it.
	Rejected   error
	RejectedAt time.Time
	// Value is what Config.Compile returned (for example the compiled route table); nil when Err is set.
	Value any
	// Err, when set, means the manifest is malformed (it wraps ErrMalformed): the project answers 503 while
	// this entry is current. Such an entry is only cached when no good version was.
	Err error
	// FetchedAt is when the source last produced or confirmed these bytes; it survives the trip through
	// Redis and the last-good store, so it is the manifest's true age.
	FetchedAt time.Time
	// Origin is the tier the entry was loaded from: "source", "redis" or "last_good".
	Origin string
	// Stale is set while the entry is served because the source failed (stale-while-error).
	Stale bool

	doc        []byte    // the document as fetched (shares the source's buffer; never modified)
	resolvedAt time.Time // when Raw was resolved from doc
	writtenAt  time.Time // when Redis and last-good last got the whole document
}

func (e *Entry) clone() *Entry {
	c := *e
	return &c
}

// Observer receives metrics hooks. Calls happen on request paths (the memory hit included), so they must be
// cheap and must not block. Results by tier:
//   - memory: "hit" (fresh), "stale" (past its TTL or marked Stale, served anyway), "not_found" (negative
//     cache), "error" (stale beyond MaxStale, refused);
//   - redis: "hit", "miss", "error";
//   - source: "hit", "not_found", "error";
//   - last_good: "hit" (a disk copy served because the source failed), "stale" (memory's previous entry
//     kept because the source failed), "miss" (nothing to fall back on), "error" (unreadable, too old for
//     MaxStale, or not compiling).
type Observer interface {
	CacheResult(tier, result string)
	// Loaded reports a load below memory (miss, revalidation or reload) that finished, with its duration.
	Loaded(id string, d time.Duration, err error)
	// Age reports now - FetchedAt of an entry served from a lower tier or refreshed from the source.
	Age(id string, age time.Duration)
}

// Config configures a Resolver. Source and Compile are required.
type Config struct {
	// Source produces manifests. Required.
	Source Source
	// Redis is the optional shared tier and invalidation bus.
	Redis *RedisTier
	// LastGood is the optional on-disk store served when the source fails and memory is empty.
	LastGood *LastGood
	// TTL is how long a memory entry counts as fresh. Default 5m. An older entry is still served at once while
	// one background revalidation runs (stale-while-revalidate): a warm Get never waits on the network.
	TTL time.Duration
	// RetryInterval is how soon an entry is revalidated again after the source failed, or while it is
	// malformed (so a fix is picked up). Default min(TTL, 30s).
	RetryInterval time.Duration
	// Refresh, when positive, revalidates every cached project from the source at that interval (with
	// nothing cached, it lists a source whose last call failed, so Status recovers). 0 disables the loop;
	// TTL expiry still revalidates on access.
	Refresh time.Duration
	// MaxProjects bounds memory; inserting beyond it evicts the least recently used project. Default 1000.
	MaxProjects int
	// MaxStale, when positive, is the oldest (by FetchedAt) copy served while the source fails, whether a
	// stale memory entry or a last-good file; beyond it Get returns ErrUnavailable. 0 means unlimited.
	MaxStale time.Duration
	// NegativeTTL is how long ErrNotFound is remembered, so floods of unknown ids do not reach the source.
	// Default 5s; negative disables the negative cache.
	NegativeTTL time.Duration
	// Compile turns a resolved manifest into the value served (Entry.Value). An error makes the entry
	// malformed. It must not keep raw. Required.
	Compile func(id string, raw []byte) (any, error)
	// Logger receives source failures, stale serving and malformed manifests, with the project id and error,
	// never manifest contents. Default zap.NewNop().
	Logger *zap.Logger
	// Observer receives metrics hooks. Optional.
	Observer Observer
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// InstanceID identifies this instance on the invalidation channel; it must not contain a space.
	// Default: random.
	InstanceID string
	// CacheKey is the 32-byte AES-256-GCM key that seals documents which arrive resolved (from a Source that
	// is not Resolving) before they go to Redis or last-good. Without it such documents stay in memory only
	// (logged once). Documents of a Resolving source are stored unresolved and need no key.
	CacheKey []byte
}

// SourceStatus summarises the health of a Resolver for admin and health endpoints.
type SourceStatus struct {
	// Source is the source's Name().
	Source string
	// LastSuccess and LastError are the times of the last source answer and the last source failure. A
	// not-found or malformed answer counts as an answer.
	LastSuccess, LastError time.Time
	// LastErr is the last source failure's message.
	LastErr string
	// LastFetchDuration is how long the last source call (a fetch or a listing, answered or failed) took;
	// zero before the first.
	LastFetchDuration time.Duration
	// Healthy is true unless the last source call failed.
	Healthy bool
	// Redis says whether a Redis tier is configured; RedisOK whether its last operation succeeded.
	Redis, RedisOK bool
	// Projects is the number of projects in memory.
	Projects int
	// InstanceID is this instance's id on the invalidation channel.
	InstanceID string
}

// slot is one project's place in the memory table. The table is replaced on insert and eviction; the entry
// inside a slot is replaced in place, so revalidations do not copy the table.
type slot struct {
	entry        atomic.Pointer[Entry]
	access       atomic.Int64 // unix nanos of the last Get, for LRU
	nextCheck    atomic.Int64 // unix nanos after which a Get triggers a background revalidation
	revalidating atomic.Bool  // deduplicates background revalidations
	gen          uint64       // generation of the operation that installed entry; guarded by Resolver.mu
}

type table map[string]*slot

// Resolver serves project manifests through the cache tiers. Concurrency contract: Get is lock-free and
// allocation-free on a memory hit; everything that writes the memory table is serialised by mu and
// publishes a new immutable table (copy-on-write), so readers never see a partial update.
//
// Ordering: every load, revalidation, reload and drop takes a generation number when it starts; a result
// is installed only if no later operation installed or dropped the project meanwhile. So a slow
// revalidation cannot overwrite a newer Reload, and a load that read Redis just before another instance
// published a change cannot reinstate the old version after the invalidation.
type Resolver struct {
	cfg Config
	log *zap.Logger

	mem atomic.Pointer[table]
	gen atomic.Uint64

	mu      sync.Mutex        // serialises writers of mem
	dropped map[string]uint64 // generation of the last drop per id; guarded by mu

	negMu sync.Mutex
	neg   map[string]int64 // id → expiry, unix nanos

	sf      singleflight.Group
	base    atomic.Pointer[context.Context] // the Start context; background work derives from it
	started atomic.Bool
	wg      sync.WaitGroup

	aead          cipher.AEAD // seals resolved documents at rest; nil without Config.CacheKey
	resolving     Resolving   // the source, when it resolves after loading
	memoryOnlyLog sync.Once

	statusMu    sync.Mutex
	lastSuccess time.Time
	lastError   time.Time
	lastErr     string
	lastFetch   time.Duration
	redisOK     atomic.Bool
}

// New validates cfg, applies defaults and returns a Resolver. Call Start to run the background work.
func New(cfg Config) (*Resolver, error) {
	if cfg.Source == nil {
		return nil, errors.New("creating manifest resolver: Source is required")
	}
	if cfg.Compile == nil {
		return nil, errors.New("creating manifest resolver: Compile is required")
	}
	if cfg.Redis != nil && cfg.Redis.Client == nil {
		return nil, errors.New("creating manifest resolver: Redis.Client is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = defaultTTL
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = min(cfg.TTL, maxRetryInterval)
	}
	if cfg.MaxProjects <= 0 {
		cfg.MaxProjects = defaultMaxProjects
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = defaultNegativeTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = rand.Text()[:16]
	}
	if strings.ContainsAny(cfg.InstanceID, " \t\r\n") {
		return nil, fmt.Errorf("creating manifest resolver: instance id %q contains white space", cfg.InstanceID)
	}
	r := &Resolver{
		cfg:     cfg,
		log:     cfg.Logger,
		dropped: make(map[string]uint64),
		neg:     make(map[string]int64),
	}
	r.resolving, _ = cfg.Source.(Resolving)
	if cfg.CacheKey != nil {
		aead, err := newAEAD(cfg.CacheKey)
		if err != nil {
			return nil, fmt.Errorf("creating manifest resolver: %w", err)
		}
		r.aead = aead
	}
	r.mem.Store(&table{})
	bg := context.Background()
	r.base.Store(&bg)
	r.redisOK.Store(cfg.Redis != nil)
	return r, nil
}

// Start runs the refresh loop (when Config.Refresh is set) and the Redis invalidation subscription (when a
// Redis tier is set), and makes ctx the parent of all background loads and revalidations. Everything returns
// once ctx is done. Calls after the first are no-ops.
func (r *Resolver) Start(ctx context.Context) {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	r.base.Store(&ctx)
	if r.cfg.Refresh > 0 {
		r.wg.Add(1)
		background.Go(r.log, "manifest_refresh_loop", func() { r.refreshLoop(ctx) })
	}
	if r.cfg.Redis != nil {
		r.wg.Add(1)
		background.Go(r.log, "manifest_invalidations", func() {
			defer r.wg.Done()
			r.cfg.Redis.Subscribe(ctx, func(inst, id string) {
				// Our own messages come back too; the publisher already holds the new version.
				if inst != r.cfg.InstanceID && manifest.ValidProjectID(id) {
					r.Invalidate(id)
				}
			})
		})
	}
}

// Wait blocks until the background goroutines (refresh loop, subscription, revalidations, shared loads)
// have returned. Call it after the Start context is done and requests have stopped, e.g. in a Cleanup.
func (r *Resolver) Wait() { r.wg.Wait() }

// Get returns the manifest of project id.
//
//   - A memory hit returns at once without locks or allocations, even when the entry is past its TTL: one
//     background revalidation is started and the caller gets the current entry meanwhile.
//   - A miss loads once per id however many callers wait (single flight) from Redis, else from the source,
//     in a context derived from the Start context: a caller whose ctx ends gets ctx.Err() while the shared
//     load goes on for the others.
//   - When the source fails (ErrUnavailable), a stale memory entry or the last-good copy is served with
//     Stale set, unless older than MaxStale.
//   - ErrNotFound is remembered for NegativeTTL and removes the project from memory, Redis and last-good.
//   - A malformed manifest is returned as an Entry with Err set and a nil error, so that only this project
//     answers 503, and is cached until RetryInterval so it is not refetched per request. If a good version
//     is already cached (in memory, or on a miss in last-good), the good version stays, with the refusal in
//     Entry.Rejected: a bad push never takes a working project down.
func (r *Resolver) Get(ctx context.Context, id string) (*Entry, error) {
	e, _, err := r.GetTier(ctx, id)
	return e, err
}

// Tiers GetTier reports: the memory tier's fresh and stale answers, else the Entry's Origin.
const (
	TierMemory      = "memory"
	TierMemoryStale = "memory_stale"
)

// GetTier is Get that also names the tier that answered: TierMemory, TierMemoryStale (served while a
// revalidation runs or the source fails), or, on a memory miss, the loaded entry's Origin ("redis",
// "source", "last_good"). The tier is a constant string: reporting it costs nothing.
func (r *Resolver) GetTier(ctx context.Context, id string) (*Entry, string, error) {
	if s := (*r.mem.Load())[id]; s != nil {
		e := s.entry.Load()
		now := r.cfg.Now().UnixNano()
		if now-s.access.Load() >= accessGranularity {
			s.access.Store(now)
		}
		fresh := now < s.nextCheck.Load()
		if !fresh {
			r.revalidateAsync(id, s)
		}
		if e.Stale && r.cfg.MaxStale > 0 && now-e.FetchedAt.UnixNano() > int64(r.cfg.MaxStale) {
			r.observe("memory", "error")
			return nil, TierMemoryStale, fmt.Errorf("serving project %q: the cached manifest is older than max_stale and the source is failing: %w", id, ErrUnavailable)
		}
		if fresh && !e.Stale {
			r.observe("memory", "hit")
			return e, TierMemory, nil
		}
		r.observe("memory", "stale")
		return e, TierMemoryStale, nil
	}
	e, err := r.miss(ctx, id)
	if e != nil {
		return e, e.Origin, err
	}
	return e, "", err
}

func (r *Resolver) miss(ctx context.Context, id string) (*Entry, error) {
	if !manifest.ValidProjectID(id) {
		// The id comes from a request path: do not echo arbitrary input into errors.
		return nil, fmt.Errorf("resolving project: invalid project id: %w", ErrNotFound)
	}
	if r.isNegative(id) {
		r.observe("memory", "not_found")
		return nil, fmt.Errorf("resolving project %q: %w", id, ErrNotFound)
	}
	ch := r.sf.DoChan(id, func() (any, error) {
		// singleflight re-raises a panic of this function on a new goroutine, on purpose, which ends the
		// process: a manifest that breaks the loader must cost its project, not every project.
		var e *Entry
		err := background.Run(r.log, "manifest_load", func() (err error) {
			e, err = r.load(id)
			return err
		}, zap.String("project", id))
		return e, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Entry), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("resolving project %q: %w", id, ctx.Err())
	}
}

// load is the single-flight body of a miss.
func (r *Resolver) load(id string) (*Entry, error) {
	r.wg.Add(1)
	defer r.wg.Done()
	gen := r.gen.Add(1)
	// A previous flight or a Reload may have installed the project since the caller looked.
	if s := (*r.mem.Load())[id]; s != nil {
		return s.entry.Load(), nil
	}
	ctx, cancel := context.WithTimeout(r.baseCtx(), loadTimeout)
	defer cancel()
	start := r.cfg.Now()
	e, err := r.loadTiers(ctx, id, gen)
	if r.cfg.Observer != nil {
		r.cfg.Observer.Loaded(id, r.cfg.Now().Sub(start), err)
	}
	return e, err
}

func (r *Resolver) loadTiers(ctx context.Context, id string, gen uint64) (*Entry, error) {
	if r.cfg.Redis != nil {
		if e := r.fromRedis(ctx, id, gen); e != nil {
			return e, nil
		}
	}
	raw, err := r.fetch(ctx, id)
	var l loaded
	if err == nil {
		l, err = r.prepare(ctx, id, raw, false, nil, true)
	}
	switch {
	case err == nil || errors.Is(err, manifest.ErrInvalid):
		e, _ := r.apply(ctx, id, gen, l, err, false)
		if e != nil && e.Err != nil && r.cfg.LastGood != nil {
			// Nothing in memory (a restart) and the source serves a refused document: a bad push must not
			// take down a project that has a good copy on disk.
			if lg, lerr := r.fromLastGood(ctx, id, gen, e.Err, true); lerr == nil {
				return lg, nil
			}
		}
		return e, nil
	case errors.Is(err, ErrNotFound):
		r.notFound(ctx, id, false)
		return nil, fmt.Errorf("resolving project %q: %w", id, err)
	default:
		return r.fromLastGood(ctx, id, gen, err, false)
	}
}

// fromRedis returns the installed entry, or nil to fall through to the source.
func (r *Resolver) fromRedis(ctx context.Context, id string, gen uint64) *Entry {
	raw, fetchedAt, ok, err := r.cfg.Redis.Get(ctx, id)
	r.redisOK.Store(err == nil)
	if err != nil {
		r.observe("redis", "error")
		r.log.Warn("reading the redis manifest cache failed; asking the source", zap.String("project", id), zap.Error(err))
		return nil
	}
	if !ok {
		r.observe("redis", "miss")
		return nil
	}
	l, err := r.openStored(ctx, id, raw)
	if err != nil {
		r.observe("redis", "error")
		r.log.Warn("ignoring a redis-cached manifest that cannot be opened or resolved; asking the source", zap.String("project", id), zap.Error(err))
		return nil
	}
	value, err := r.compile(id, l.served)
	if err != nil {
		// Only compiling manifests are written to Redis, so this is another FD2 version's output.
		r.observe("redis", "error")
		r.log.Warn("ignoring a redis-cached manifest that does not compile; asking the source", zap.String("project", id), zap.Error(err))
		return nil
	}
	r.observe("redis", "hit")
	r.age(id, fetchedAt)
	now := r.cfg.Now()
	e := &Entry{ID: id, Raw: l.served, Hash: manifest.Hash(l.served), DocHash: l.docHash, doc: l.doc, Value: value,
		FetchedAt: fetchedAt, Origin: OriginRedis, resolvedAt: now}
	// The Redis copy is as fresh as its FetchedAt: an old one is revalidated on the next access.
	cur, _ := r.install(id, gen, e, fetchedAt.Add(r.cfg.TTL))
	return cur
}

// fromLastGood serves the disk copy after the source failed with cause on a miss, or, when rejected is set,
// after it served a document refused with cause (which the entry then records as Rejected).
func (r *Resolver) fromLastGood(ctx context.Context, id string, gen uint64, cause error, rejected bool) (*Entry, error) {
	fail := fmt.Errorf("resolving project %q: %w", id, asUnavailable(cause))
	if r.cfg.LastGood == nil {
		return nil, fail
	}
	raw, mod, err := r.cfg.LastGood.Load(id)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			r.observe("last_good", "miss")
		} else {
			r.observe("last_good", "error")
			r.log.Error("reading the last-good manifest failed", zap.String("project", id), zap.Error(err))
		}
		return nil, fail
	}
	now := r.cfg.Now()
	age := now.Sub(mod)
	if r.cfg.MaxStale > 0 && age > r.cfg.MaxStale {
		r.observe("last_good", "error")
		r.log.Warn("the last-good manifest is older than max_stale; not serving it",
			zap.String("project", id), zap.Duration("age", age), zap.Error(cause))
		return nil, fmt.Errorf("%w (last-good copy is %s old, beyond max_stale)", fail, age.Round(time.Second))
	}
	l, err := r.openStored(ctx, id, raw)
	if err != nil {
		r.observe("last_good", "error")
		r.log.Error("the last-good manifest cannot be opened or resolved", zap.String("project", id), zap.Error(err))
		return nil, fail
	}
	value, err := r.compile(id, l.served)
	if err != nil {
		r.observe("last_good", "error")
		r.log.Error("the last-good manifest does not compile", zap.String("project", id), zap.Error(err))
		return nil, fail
	}
	r.observe("last_good", "hit")
	r.age(id, mod)
	e := &Entry{ID: id, Raw: l.served, Hash: manifest.Hash(l.served), DocHash: l.docHash, doc: l.doc, Value: value,
		FetchedAt: mod, Origin: OriginLastGood, Stale: true, resolvedAt: now}
	if rejected {
		e.Rejected, e.RejectedAt = cause, now
		r.log.Warn("the source's manifest was refused; serving the last-good manifest",
			zap.String("project", id), zap.Duration("age", age), zap.Error(cause))
	} else {
		r.log.Warn("manifest source failed; serving the last-good manifest",
			zap.String("project", id), zap.Duration("age", age), zap.Error(cause))
	}
	cur, _ := r.install(id, gen, e, now.Add(r.cfg.RetryInterval))
	return cur, nil
}

// Reload fetches project id from the source now. On success it updates memory, Redis and last-good and
// publishes an invalidation (always, so instances holding another version drop it). On a source failure
// the cached entry, if any, stays and is returned together with the error (wrapping ErrUnavailable, or
// ErrNotFound after which the project is dropped everywhere). A malformed manifest over a good cached one
// returns the good entry and an error wrapping ErrMalformed; with nothing good cached it returns the
// malformed entry and a nil error, like Get.
func (r *Resolver) Reload(ctx context.Context, id string) (*Entry, error) {
	if !manifest.ValidProjectID(id) {
		return nil, fmt.Errorf("reloading project %q: invalid project id: %w", id, ErrNotFound)
	}
	r.clearNegative(id)
	return r.refresh(ctx, id, true)
}

// refresh fetches from the source and applies the result; used by revalidation (force=false) and Reload.
func (r *Resolver) refresh(ctx context.Context, id string, force bool) (*Entry, error) {
	gen := r.gen.Add(1)
	start := r.cfg.Now()
	raw, err := r.fetch(ctx, id)
	var l loaded
	if err == nil {
		l, err = r.prepare(ctx, id, raw, false, r.current(id), force)
	}
	var e *Entry
	switch {
	case err == nil || errors.Is(err, manifest.ErrInvalid):
		e, err = r.apply(ctx, id, gen, l, err, force)
	case errors.Is(err, ErrNotFound):
		r.notFound(ctx, id, true)
		err = fmt.Errorf("reloading project %q: %w", id, err)
	default:
		err = fmt.Errorf("reloading project %q: %w", id, asUnavailable(err))
		if !force && r.baseCtx().Err() != nil {
			// Shutting down: the source did not fail, our context did. Leave the entry as it is.
			return r.current(id), err
		}
		if cur := r.current(id); cur != nil {
			st := cur
			if !cur.Stale {
				st = cur.clone()
				st.Stale = true
			}
			e, _ = r.install(id, gen, st, r.cfg.Now().Add(r.cfg.RetryInterval))
			r.observe("last_good", "stale")
			if !force { // Reload returns the error instead
				r.log.Warn("manifest source failed; still serving the cached manifest",
					zap.String("project", id), zap.Duration("age", r.cfg.Now().Sub(cur.FetchedAt)), zap.Error(err))
			}
		}
	}
	if r.cfg.Observer != nil {
		r.cfg.Observer.Loaded(id, r.cfg.Now().Sub(start), err)
	}
	return e, err
}

// apply installs what the source returned: l, or fetchErr (wrapping manifest.ErrInvalid) when the document
// could not even be read, decoded or resolved. It returns the entry now current and, when a malformed update
// was rejected in favour of the good cached entry, an error wrapping ErrMalformed. force marks a Reload: it
// always publishes, and a rejected update is returned to the caller rather than logged.
func (r *Resolver) apply(ctx context.Context, id string, gen uint64, l loaded, fetchErr error, force bool) (*Entry, error) {
	now := r.cfg.Now()
	cur := r.current(id)
	var hash string
	if fetchErr == nil {
		if cur != nil && sameBytes(l.served, cur.Raw) {
			hash = cur.Hash // prepare reused cur's resolution: no need to hash megabytes again
		} else {
			hash = manifest.Hash(l.served)
		}
	}
	if cur != nil && fetchErr == nil && cur.Hash == hash {
		if cur.Err != nil { // still the same malformed document
			got, _ := r.install(id, gen, cur, now.Add(r.cfg.RetryInterval))
			return got, nil
		}
		// Unchanged: confirm it without recompiling.
		e := cur.clone()
		e.FetchedAt, e.Origin, e.Stale = now, OriginSource, false
		e.DocHash, e.doc = l.docHash, l.doc
		e.Rejected, e.RejectedAt = nil, time.Time{}
		if l.resolvedNow {
			e.resolvedAt = now
		}
		full := cur.DocHash != l.docHash || now.Sub(cur.writtenAt) >= r.rewriteEvery()
		if full {
			e.writtenAt = now
		}
		if got, ok := r.install(id, gen, e, now.Add(r.cfg.TTL)); !ok {
			return got, nil
		}
		r.age(id, now)
		if full {
			r.writeThrough(ctx, id, l.doc, now)
		} else {
			r.touch(id, l.doc)
		}
		if force {
			r.publish(ctx, id)
		}
		return e, nil
	}
	cerr := fetchErr
	var value any
	if cerr == nil {
		value, cerr = r.compile(id, l.served)
	}
	if cerr != nil {
		cerr = fmt.Errorf("%w: %w", ErrMalformed, cerr)
		if cur != nil && cur.Err == nil {
			if !force {
				r.log.Error("rejected a malformed manifest update; still serving the previous version",
					zap.String("project", id), zap.String("hash", cur.Hash), zap.Error(cerr))
			}
			keep := cur.clone()
			keep.Rejected, keep.RejectedAt = cerr, now
			got, _ := r.install(id, gen, keep, now.Add(r.cfg.RetryInterval))
			return got, fmt.Errorf("applying manifest of %q: keeping the previous version: %w", id, cerr)
		}
		r.log.Error("malformed manifest; the project answers 503 until it is fixed", zap.String("project", id), zap.Error(cerr))
		e := &Entry{ID: id, Raw: l.served, Hash: hash, DocHash: l.docHash, Err: cerr, FetchedAt: now, Origin: OriginSource}
		got, _ := r.install(id, gen, e, now.Add(r.cfg.RetryInterval))
		return got, nil
	}
	e := &Entry{ID: id, Raw: l.served, Hash: hash, DocHash: l.docHash, doc: l.doc, Value: value, FetchedAt: now,
		Origin: OriginSource, resolvedAt: now, writtenAt: now}
	if got, ok := r.install(id, gen, e, now.Add(r.cfg.TTL)); !ok {
		return got, nil // a later operation won or dropped the project; the side effects are its own
	}
	r.age(id, now)
	r.writeThrough(ctx, id, l.doc, now)
	// A miss has no previous version to replace on other instances; a change or a Reload does.
	if force || cur != nil {
		r.publish(ctx, id)
	}
	return e, nil
}

// notFound forgets a project the source says does not exist, in every tier and on every instance.
func (r *Resolver) notFound(ctx context.Context, id string, wasCached bool) {
	r.addNegative(id)
	had := r.drop(id)
	if r.cfg.LastGood != nil {
		if err := r.cfg.LastGood.Delete(id); err != nil {
			r.log.Error("deleting the last-good manifest of a deleted project failed", zap.String("project", id), zap.Error(err))
		}
	}
	if r.cfg.Redis != nil && (had || wasCached) {
		err := r.cfg.Redis.Delete(ctx, id)
		r.redisOK.Store(err == nil)
		if err != nil {
			r.log.Warn("deleting a cached manifest from redis failed", zap.String("project", id), zap.Error(err))
		}
		r.publish(ctx, id)
	}
}

// writeThrough stores a compiled manifest's document in Redis and the last-good store, in its stored form
// (see seal.go). Failures are logged only: the entry is already served from memory.
func (r *Resolver) writeThrough(ctx context.Context, id string, doc []byte, fetchedAt time.Time) {
	raw, ok := r.storedForm(id, doc)
	if !ok {
		return
	}
	if r.cfg.Redis != nil {
		err := r.cfg.Redis.Set(ctx, id, raw, fetchedAt)
		r.redisOK.Store(err == nil)
		if err != nil {
			r.log.Warn("writing the redis manifest cache failed", zap.String("project", id), zap.Error(err))
		}
	}
	if r.cfg.LastGood != nil {
		if err := r.cfg.LastGood.Store(id, raw); err != nil {
			r.log.Error("writing the last-good manifest failed", zap.String("project", id), zap.Error(err))
		}
	}
}

// touch records in last-good that the source confirmed an unchanged document, without rewriting it.
func (r *Resolver) touch(id string, doc []byte) {
	if r.cfg.LastGood == nil {
		return
	}
	if err := r.cfg.LastGood.Touch(id); err != nil {
		if raw, ok := r.storedForm(id, doc); ok {
			if err := r.cfg.LastGood.Store(id, raw); err != nil {
				r.log.Error("writing the last-good manifest failed", zap.String("project", id), zap.Error(err))
			}
		}
	}
}

// storedForm is what Redis and last-good may hold of doc: doc itself when the source resolves after
// loading (it holds references, not secrets), else doc sealed under the cache key. ok is false when doc
// must stay in memory only.
func (r *Resolver) storedForm(id string, doc []byte) (raw []byte, ok bool) {
	if r.cfg.Redis == nil && r.cfg.LastGood == nil {
		return nil, false
	}
	if r.resolving != nil {
		return doc, true
	}
	if r.aead == nil {
		r.memoryOnlyLog.Do(func() {
			r.log.Warn("manifests from this source arrive with their secrets resolved and no cache_key is set: " +
				"they are kept in memory only, never written to the redis cache or the last-good directory " +
				"(set cache_key in the dsp app to store them encrypted)")
		})
		return nil, false
	}
	sealed, err := seal(r.aead, id, doc)
	if err != nil {
		r.log.Error("sealing a manifest for the cache failed; keeping it in memory only", zap.String("project", id), zap.Error(err))
		return nil, false
	}
	return sealed, true
}

// rewriteEvery is how often an unchanged document is written through again in full, so that the Redis copy
// (and its fetch time) does not expire while the source keeps confirming it.
func (r *Resolver) rewriteEvery() time.Duration {
	every := r.cfg.TTL
	if r.cfg.Redis != nil {
		ttl := r.cfg.Redis.TTL
		if ttl <= 0 {
			ttl = defaultRedisTTL
		}
		every = min(every, ttl)
	}
	return every / 2
}

// loaded is a document on its way to memory: as fetched or stored (doc) and as served (served).
type loaded struct {
	doc, served []byte
	docHash     string
	resolvedNow bool // served was resolved from doc just now (not reused from the current entry)
}

// prepare turns a document into the one served: as is when it is already resolved (or the source serves
// resolved documents), else through the source's Resolve — unless cur serves the same document, resolved
// less than TTL ago and not forced (a Reload re-resolves, picking up rotated secrets at once).
func (r *Resolver) prepare(ctx context.Context, id string, doc []byte, resolved bool, cur *Entry, force bool) (loaded, error) {
	l := loaded{doc: doc}
	if cur != nil && sameBytes(doc, cur.doc) {
		l.docHash = cur.DocHash // the file source hands back its buffer for an unchanged file
	} else {
		l.docHash = manifest.Hash(doc)
	}
	if resolved || r.resolving == nil {
		l.served = doc
		return l, nil
	}
	if !force && cur != nil && cur.Err == nil && cur.DocHash == l.docHash && r.cfg.Now().Sub(cur.resolvedAt) < r.cfg.TTL {
		l.served = cur.Raw
		return l, nil
	}
	err := background.Run(r.log, "manifest_resolve", func() (err error) {
		l.served, err = r.resolving.Resolve(ctx, id, doc)
		return err
	}, zap.String("project", id))
	if errors.Is(err, background.ErrPanic) {
		err = fmt.Errorf("resolving manifest %q: %w: %w", id, manifest.ErrInvalid, err)
	}
	l.resolvedNow = err == nil
	return l, err
}

// openStored turns a value read from Redis or last-good into a loaded document.
func (r *Resolver) openStored(ctx context.Context, id string, raw []byte) (loaded, error) {
	doc, resolved, err := open(r.aead, id, raw)
	if err != nil {
		return loaded{}, err
	}
	if !resolved && r.resolving == nil {
		// A plain document, but this source's documents arrive resolved: written by an instance with a
		// file source under the same prefix, or by an FD2 from before sealing. Neither can be trusted to
		// be what this source serves.
		return loaded{}, fmt.Errorf("opening manifest %q: stored unsealed, but this source serves resolved manifests", id)
	}
	return r.prepare(ctx, id, doc, resolved, nil, true)
}

// compile runs Config.Compile; a panic in it makes this manifest malformed instead of ending the load.
func (r *Resolver) compile(id string, raw []byte) (any, error) {
	var v any
	err := background.Run(r.log, "manifest_compile", func() (err error) {
		v, err = r.cfg.Compile(id, raw)
		return err
	}, zap.String("project", id))
	if errors.Is(err, background.ErrPanic) {
		err = fmt.Errorf("compiling manifest %q: %w: %w", id, manifest.ErrInvalid, err)
	}
	return v, err
}

func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

func (r *Resolver) publish(ctx context.Context, id string) {
	if r.cfg.Redis == nil {
		return
	}
	err := r.cfg.Redis.Publish(ctx, r.cfg.InstanceID, id)
	r.redisOK.Store(err == nil)
	if err != nil {
		r.log.Warn("publishing a manifest invalidation failed", zap.String("project", id), zap.Error(err))
	}
}

// Sync lists the source's projects and reloads each (at most 4 at a time). The map holds every listed id
// with its Reload error, or the Err of a malformed entry, or nil. The error is the listing's.
func (r *Resolver) Sync(ctx context.Context) (map[string]error, error) {
	start := time.Now()
	ids, err := r.cfg.Source.List(ctx)
	r.recordSource(err, time.Since(start))
	if err != nil {
		return nil, fmt.Errorf("syncing manifests: %w", err)
	}
	res := make(map[string]error, len(ids))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(concurrency)
	for _, id := range ids {
		g.Go(func() error {
			var e *Entry
			err := background.Run(r.log, "manifest_sync", func() (err error) {
				e, err = r.Reload(ctx, id)
				return err
			}, zap.String("project", id))
			if err == nil && e != nil && e.Err != nil {
				err = e.Err
			}
			mu.Lock()
			res[id] = err
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return res, nil
}

// Invalidate drops project id from memory (and from the negative cache), so the next Get reloads it from
// Redis or the source. Used by the pub/sub subscription and the admin API.
func (r *Resolver) Invalidate(id string) {
	r.clearNegative(id)
	r.drop(id)
}

// Snapshot returns the entries in memory, sorted by id.
func (r *Resolver) Snapshot() []*Entry {
	t := *r.mem.Load()
	out := make([]*Entry, 0, len(t))
	for _, s := range t {
		out = append(out, s.entry.Load())
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Status reports the source's health; it is cheap (no I/O).
func (r *Resolver) Status() SourceStatus {
	r.statusMu.Lock()
	st := SourceStatus{
		Source:      r.cfg.Source.Name(),
		LastSuccess: r.lastSuccess,
		LastError:   r.lastError,
		LastErr:     r.lastErr,
		Healthy:     r.lastError.IsZero() || !r.lastSuccess.Before(r.lastError),
	}
	st.LastFetchDuration = r.lastFetch
	r.statusMu.Unlock()
	st.Redis = r.cfg.Redis != nil
	st.RedisOK = st.Redis && r.redisOK.Load()
	st.Projects = len(*r.mem.Load())
	st.InstanceID = r.cfg.InstanceID
	return st
}

// fetch calls the source and records the outcome for Status and the observer.
func (r *Resolver) fetch(ctx context.Context, id string) ([]byte, error) {
	start := time.Now()
	var raw []byte
	err := background.Run(r.log, "manifest_fetch", func() (err error) {
		raw, err = r.cfg.Source.Fetch(ctx, id)
		return err
	}, zap.String("project", id))
	if errors.Is(err, background.ErrPanic) {
		err = fmt.Errorf("fetching manifest %q: %w: %w", id, manifest.ErrInvalid, err)
	}
	r.recordSource(err, time.Since(start))
	switch {
	case err == nil:
		r.observe("source", "hit")
	case errors.Is(err, ErrNotFound):
		r.observe("source", "not_found")
	default:
		r.observe("source", "error")
	}
	return raw, err
}

func (r *Resolver) recordSource(err error, took time.Duration) {
	now := r.cfg.Now()
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.lastFetch = took
	// The source answered if it said "not found" or served a malformed document.
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, manifest.ErrInvalid) {
		r.lastSuccess = now
		return
	}
	r.lastError = now
	r.lastErr = err.Error()
}

// revalidateAsync starts one background revalidation of id unless one is running.
func (r *Resolver) revalidateAsync(id string, s *slot) {
	if !s.revalidating.CompareAndSwap(false, true) {
		return
	}
	base := r.baseCtx()
	if base.Err() != nil { // shut down: keep serving what we have
		s.revalidating.Store(false)
		return
	}
	r.wg.Add(1)
	background.Go(r.log, "manifest_revalidate", func() {
		defer r.wg.Done()
		defer s.revalidating.Store(false)
		ctx, cancel := context.WithTimeout(base, loadTimeout)
		defer cancel()
		_, _ = r.refresh(ctx, id, false) // refresh logs what operators need
	}, zap.String("project", id))
}

func (r *Resolver) refreshLoop(ctx context.Context) {
	defer r.wg.Done()
	// Each project's refresh recovers on its own (refreshAll); this guards the loop's own bookkeeping.
	t := time.NewTicker(r.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refreshAll(ctx)
		}
	}
}

// refreshAll revalidates every project in memory, a few at a time, and returns when all are done, so that
// ticks never pile up behind a slow source.
func (r *Resolver) refreshAll(ctx context.Context) {
	if len(*r.mem.Load()) == 0 {
		r.probeSource(ctx)
		return
	}
	var g errgroup.Group
	g.SetLimit(concurrency)
	for id, s := range *r.mem.Load() {
		if ctx.Err() != nil {
			break
		}
		if !s.revalidating.CompareAndSwap(false, true) {
			continue // an access-triggered revalidation is already running
		}
		g.Go(func() error {
			defer background.Recover(r.log, "manifest_refresh", zap.String("project", id))
			defer s.revalidating.Store(false)
			octx, cancel := context.WithTimeout(ctx, loadTimeout)
			defer cancel()
			_, _ = r.refresh(octx, id, false)
			return nil
		})
	}
	_ = g.Wait()
}

// probeSource lists the source when its last call failed. Status reports the last call's outcome, and with
// nothing in memory no refresh calls the source again: an instance that met a source outage before serving
// any project would report it (health "unavailable") long after the source came back.
func (r *Resolver) probeSource(ctx context.Context) {
	if r.Status().Healthy {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := time.Now()
	err := background.Run(r.log, "manifest_source_probe", func() error {
		_, err := r.cfg.Source.List(pctx)
		return err
	})
	if ctx.Err() != nil {
		return // shutting down: the probe's failure says nothing about the source
	}
	r.recordSource(err, time.Since(start))
}

func (r *Resolver) baseCtx() context.Context { return *r.base.Load() }

func (r *Resolver) observe(tier, result string) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.CacheResult(tier, result)
	}
}

func (r *Resolver) age(id string, fetchedAt time.Time) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Age(id, r.cfg.Now().Sub(fetchedAt))
	}
}

// asUnavailable makes sure a source failure wraps ErrUnavailable, whatever a custom Source returned.
func asUnavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
