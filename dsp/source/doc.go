// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package source fetches DSP project manifests and keeps them fresh.
//
// Two sources produce the resolved manifest JSON of a project: FileSource reads DIR/<id>.json and runs the
// Control Tower's environment resolution itself, and ControlTower asks a Control Tower for
// GET /manifests/{id}?resolve_env=true. A Resolver puts tiers in front of a source:
//
//	memory (immutable map, lock-free reads) → Redis (shared by all instances) → source → last-good (disk)
//
// and adds single-flight loading, stale-while-revalidate, stale-while-error with a maximum staleness, a
// negative cache for unknown projects, LRU bounding and a Redis pub/sub channel on which instances tell
// each other that a project changed.
//
// Resolved manifests hold secrets, so nothing in this package logs manifest contents, and none reaches Redis
// or the last-good files in the clear: a file source's documents are stored before resolution and resolved
// after every load, a Control Tower's (resolved by it) are sealed with AES-256-GCM under Config.CacheKey or
// kept in memory only (seal.go).
//
// This package never imports Caddy.
package source
