// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// ErrNotFound is returned by a Store for an id it does not hold: never stored, deleted, evicted or
// expired.
var ErrNotFound = errors.New("response not found")

// DefaultTTL is how long a stored response can be continued, read or deleted. OpenAI keeps responses for
// 30 days; FD2's store is a short-term conversation memory and does not pretend to be more: a client that
// needs a conversation for longer resends it as input.
const DefaultTTL = 24 * time.Hour

// MaxRecordBytes bounds one record (response, input items and conversation, as stored). A conversation
// that outgrows it is answered all the same, with "store": false, and cannot be continued by id: the client
// resends its history as input instead, which is what it must do with store: false anyway.
const MaxRecordBytes = 4 << 20

// Record is what FD2 keeps of a response. Records are immutable once stored: a Store and its callers
// share them and must not modify one after Put.
type Record struct {
	// Response is the response object as it was answered (the GET /v1/responses/{id} body). It is nil
	// for an ownership record (see Remember): a response an OpenAI-compatible provider created and keeps
	// itself.
	Response json.RawMessage `json:"response,omitempty"`
	// Conversation is everything a continuation (previous_response_id) is built on: the previous
	// response's conversation, then this request's input items (as sent, each given an id), then this
	// response's output items. Instructions are not part of it: OpenAI does not carry them over to a
	// continued response either.
	Conversation []json.RawMessage `json:"conversation,omitempty"`
	// Inputs is how many items of Conversation, from the first, were the response's input: the items
	// used to generate it, which GET /v1/responses/{id}/input_items lists.
	Inputs int `json:"inputs,omitempty"`
	// Owner is the model (the client-facing alias) the client asked for, so that a later GET, DELETE or
	// model-less continuation is routed to the deployments that served it.
	Owner string `json:"owner,omitempty"`
	// Created is when the response was created.
	Created time.Time `json:"created"`
}

// size is the record's footprint, the sum of its JSON parts.
func (r *Record) size() int {
	n := len(r.Response) + len(r.Owner)
	for _, it := range r.Conversation {
		n += len(it)
	}
	return n
}

// Store keeps responses for previous_response_id and the id endpoints. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the record of id, or ErrNotFound when it is absent or expired.
	Get(ctx context.Context, id string) (*Record, error)
	// Put stores rec under id, replacing any record of that id.
	Put(ctx context.Context, id string, rec *Record) error
	// Delete removes id, or returns ErrNotFound when it is absent.
	Delete(ctx context.Context, id string) error
}

// Defaults of NewMemoryStore.
const (
	// DefaultMemoryRecords is the default bound on the records of a memory store.
	DefaultMemoryRecords = 10000
	// MemoryStoreBytes bounds the bytes a memory store holds, whatever its record bound: records are up
	// to MaxRecordBytes each, and the count alone would let a few long conversations take gigabytes.
	MemoryStoreBytes = 256 << 20
)

// memoryStore is an LRU of records with a TTL: the least recently used record goes first when either
// bound is reached, and an expired record is dropped when it is next looked at (or evicted as the oldest).
type memoryStore struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	bytes int
	ll    *list.List // front: most recently used
	byID  map[string]*list.Element
	now   func() time.Time
}

type memEntry struct {
	id      string
	rec     *Record
	size    int
	expires time.Time
}

// NewMemoryStore returns a Store in process memory, holding at most max records (≤ 0:
// DefaultMemoryRecords) and MemoryStoreBytes, each for ttl (≤ 0: DefaultTTL). It is lost on restart and
// not shared between instances: use NewRedisStore behind a load balancer.
func NewMemoryStore(max int, ttl time.Duration) Store {
	return newMemoryStore(max, ttl, time.Now)
}

func newMemoryStore(max int, ttl time.Duration, now func() time.Time) *memoryStore {
	if max <= 0 {
		max = DefaultMemoryRecords
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &memoryStore{max: max, ttl: ttl, ll: list.New(), byID: make(map[string]*list.Element), now: now}
}

func (s *memoryStore) Get(_ context.Context, id string) (*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return nil, ErrNotFound
	}
	e := el.Value.(*memEntry)
	if !s.now().Before(e.expires) {
		s.remove(el)
		return nil, ErrNotFound
	}
	s.ll.MoveToFront(el)
	return e.rec, nil
}

func (s *memoryStore) Put(_ context.Context, id string, rec *Record) error {
	size := rec.size() + len(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byID[id]; ok {
		s.remove(el)
	}
	s.byID[id] = s.ll.PushFront(&memEntry{id: id, rec: rec, size: size, expires: s.now().Add(s.ttl)})
	s.bytes += size
	for s.ll.Len() > s.max || (s.bytes > MemoryStoreBytes && s.ll.Len() > 1) {
		s.remove(s.ll.Back())
	}
	return nil
}

func (s *memoryStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return ErrNotFound
	}
	expired := !s.now().Before(el.Value.(*memEntry).expires)
	s.remove(el)
	if expired {
		return ErrNotFound
	}
	return nil
}

func (s *memoryStore) remove(el *list.Element) {
	e := el.Value.(*memEntry)
	s.ll.Remove(el)
	delete(s.byID, e.id)
	s.bytes -= e.size
}

// Len reports the records held, expired ones included until they are looked at or evicted.
func (s *memoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ll.Len()
}
