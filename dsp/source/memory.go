// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import "time"

// current returns the entry in memory for id, or nil.
func (r *Resolver) current(id string) *Entry {
	if s := (*r.mem.Load())[id]; s != nil {
		return s.entry.Load()
	}
	return nil
}

// install makes e the entry of id, due for revalidation at nextCheck, unless an operation that started
// after gen has installed or dropped id meanwhile. It returns the entry current afterwards: e, the newer
// entry that won, or e itself when id was dropped after gen (the caller still gets what it loaded, but it
// is not cached). ok reports whether e was installed.
func (r *Resolver) install(id string, gen uint64, e *Entry, nextCheck time.Time) (cur *Entry, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen <= r.dropped[id] {
		return e, false
	}
	old := *r.mem.Load()
	if s := old[id]; s != nil {
		if gen < s.gen {
			return s.entry.Load(), false
		}
		s.gen = gen
		s.nextCheck.Store(nextCheck.UnixNano())
		s.entry.Store(e)
		return e, true
	}
	s := &slot{gen: gen}
	s.entry.Store(e)
	s.nextCheck.Store(nextCheck.UnixNano())
	s.access.Store(r.cfg.Now().UnixNano())
	next := make(table, min(len(old)+1, r.cfg.MaxProjects))
	for k, v := range old {
		next[k] = v
	}
	// Evict the least recently used projects to make room. Inserts are rare (a new project or one evicted
	// earlier), so an O(n) scan is cheaper than keeping an LRU list up to date on every warm Get.
	for len(next) >= r.cfg.MaxProjects {
		var victim string
		oldest := int64(0)
		for k, v := range next {
			if a := v.access.Load(); victim == "" || a < oldest {
				victim, oldest = k, a
			}
		}
		delete(next, victim)
	}
	next[id] = s
	r.mem.Store(&next)
	delete(r.dropped, id)
	return e, true
}

// drop removes id from memory and makes every operation already running for id unable to install it. It
// reports whether id was in memory.
func (r *Resolver) drop(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dropped) >= droppedCap {
		// Forgetting tombstones only reopens a narrow race; unbounded growth under a flood is worse.
		clear(r.dropped)
	}
	r.dropped[id] = r.gen.Add(1)
	old := *r.mem.Load()
	if _, ok := old[id]; !ok {
		return false
	}
	next := make(table, len(old))
	for k, v := range old {
		if k != id {
			next[k] = v
		}
	}
	r.mem.Store(&next)
	return true
}

func (r *Resolver) isNegative(id string) bool {
	now := r.cfg.Now().UnixNano()
	r.negMu.Lock()
	defer r.negMu.Unlock()
	exp, ok := r.neg[id]
	if ok && now >= exp {
		delete(r.neg, id)
		return false
	}
	return ok
}

func (r *Resolver) addNegative(id string) {
	if r.cfg.NegativeTTL < 0 {
		return
	}
	exp := r.cfg.Now().Add(r.cfg.NegativeTTL).UnixNano()
	r.negMu.Lock()
	defer r.negMu.Unlock()
	if len(r.neg) >= negativeCap {
		clear(r.neg)
	}
	r.neg[id] = exp
}

func (r *Resolver) clearNegative(id string) {
	r.negMu.Lock()
	delete(r.neg, id)
	r.negMu.Unlock()
}
